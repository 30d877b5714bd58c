"""Training: the event stream, cancellation, saving, the daily-cycle acceptance and missing Keras."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qostui.config import ForecastConfig
from qostui.forecast import events as ev
from qostui.forecast.dataset import Series, TooLittleData
from qostui.forecast.lstm import Cancelled
from qostui.forecast.model_store import latest_model_id, load_model
from qostui.forecast.training import train

DAY_S = 86400.0


def daily_cycle(days: int = 14, step_s: float = 900.0, noise: float = 3.0, seed: int = 0) -> Series:
    """A clear daily cycle (100 +- 50 Mbps) plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    ts = 1_700_000_000.0 - 1_700_000_000.0 % DAY_S + step_s * np.arange(int(days * DAY_S / step_s))
    v = 100 + 50 * np.sin(2 * np.pi * ts / DAY_S) + rng.normal(0, noise, len(ts))
    return Series(step_s, ts, np.maximum(v, 0.1), {}, "daily-cycle")


@pytest.fixture
def cfg(tmp_path: Path) -> ForecastConfig:
    return ForecastConfig(step_s=900.0, epochs=40, patience=6, model_dir=str(tmp_path / "models"))


def test_daily_cycle_model_and_seasonal_naive_beat_persistence_at_horizon_12(cfg: ForecastConfig) -> None:
    got: list[object] = []
    result = train(daily_cycle(), cfg, on_event=got.append)
    evaluation = result.evaluation
    mae12 = {m.name: m.per_step[-1]["mae"] for m in evaluation.methods}
    # 12 steps of 15 min = 3 h ahead: persistence misses the cycle, the other two do not.
    assert mae12["lstm"] < 0.3 * mae12["persistence"], mae12
    assert mae12["seasonal_naive"] < 0.3 * mae12["persistence"], mae12
    assert mae12["selected"] < 0.3 * mae12["persistence"], mae12
    assert {m.kind for m in evaluation.methods} == {"model", "selected", "baseline"}
    assert evaluation.get("linear").kind == "baseline" and evaluation.get("lstm").kind == "model"
    # Event stream: stages, started, epochs in order, finished last.
    kinds = [type(e).__name__ for e in got]
    assert kinds[0] == "TrainingStage" and kinds[-1] == "TrainingFinished"
    assert "TrainingStarted" in kinds
    epochs = [e for e in got if isinstance(e, ev.EpochEnded)]
    assert [e.epoch for e in epochs] == list(range(1, len(epochs) + 1))
    assert all(e.epochs == cfg.epochs and e.eta_s >= 0 and 0 <= e.patience_left <= cfg.patience for e in epochs)
    finished = got[-1]
    assert isinstance(finished, ev.TrainingFinished)
    # The untrained net (epoch 0: the linear model) is a candidate too.
    assert finished.best_epoch in (0, min(epochs, key=lambda e: e.val_loss).epoch)
    # Saved: weights + metadata, and LATEST points at it.
    saved = load_model(cfg.resolved_model_dir())
    assert saved is not None and saved.model_id == finished.model_id == latest_model_id(cfg.resolved_model_dir())
    info = saved.info
    assert info is not None and info.design.season == 96 and info.design.calendar
    assert info.features[:2] == ("bandwidth_mbps", "daily_lag")
    assert len(info.selection) == cfg.horizon and len(info.anchors) == cfg.horizon
    assert {"keras", "numpy", "qostui"} <= set(info.versions)
    assert info.data["points"] == len(daily_cycle())
    assert (saved.path / "aci_state.npz").is_file() and (saved.path / "calibration.npz").is_file()


def test_cancel_stops_cleanly_and_saves_nothing(cfg: ForecastConfig) -> None:
    cancel = threading.Event()
    got: list[object] = []

    def on_event(e: object) -> None:
        got.append(e)
        if isinstance(e, ev.EpochEnded) and e.epoch == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        train(daily_cycle(days=4), replace(cfg, epochs=50, patience=50), on_event=on_event, cancel=cancel)
    assert isinstance(got[-1], ev.TrainingCancelled) and got[-1].epoch <= 3
    assert latest_model_id(cfg.resolved_model_dir()) is None


def test_too_little_data_fails_with_one_line_event(cfg: ForecastConfig) -> None:
    got: list[object] = []
    with pytest.raises(TooLittleData, match=r"40 point\(s\).*need at least"):
        train(Series.from_values(np.ones(40), 900.0), cfg, on_event=got.append)
    assert isinstance(got[-1], ev.TrainingFailed) and "40 point(s)" in got[-1].message


def test_without_keras_train_says_how_to_install_and_baselines_still_forecast(tmp_path: Path) -> None:
    """Block keras/tensorflow imports in a subprocess: train fails in one line, forecast works."""
    from qostui.records import BandwidthSample
    from qostui.store import Store

    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('keras', 'tensorflow'):\n"
        "            raise ImportError('blocked for the test: ' + name)\n"
        "sys.meta_path.insert(0, _Block())\n"
    )
    db = tmp_path / "q.db"
    with Store(db) as store:
        store.write([BandwidthSample(1_700_000_000.0 + 300 * i, "eth0", 10.0 + i % 7, 0.0, 300.0) for i in range(200)])
    conf = tmp_path / "c.toml"
    conf.write_text(f'[forecast]\nmodel_dir = "{tmp_path / "models"}"\n')
    env = dict(os.environ, PYTHONPATH=f"{block}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    base = [sys.executable, "-m", "qostui"]
    opts = ["--config", str(conf), "--db", str(db)]
    out = subprocess.run([*base, "train", *opts], capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 1
    err_lines = [line for line in out.stderr.splitlines() if line.startswith("qostui: error")]
    assert len(err_lines) == 1 and "pip install 'qostui[ml]'" in err_lines[0], out.stderr
    assert "Traceback" not in out.stderr
    out = subprocess.run([*base, "forecast", "--json", *opts], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["method"] == "baseline" and doc["model"].startswith("baseline:") and len(doc["steps"]) == 12


def test_recorded_store_with_latency_trains_and_forecasts(tmp_path: Path) -> None:
    """A store as `qostui record` leaves it: bandwidth plus ping rounds -> latency/loss features."""
    from qostui.forecast.forecaster import Forecaster
    from qostui.forecast.source import series_from_store
    from qostui.records import BandwidthSample, PingRound, ProbeState
    from qostui.store import Store

    t0 = 1_700_000_000.0 - 1_700_000_000.0 % 300
    records: list[object] = []
    for i in range(3 * 288):  # three days at one record per 5 min
        ts = t0 + 300 * i + 7
        records.append(BandwidthSample(ts, "eth0", 20 + 10 * np.sin(i / 20), 2.0, 300.0))
        for target, rtt in (("a", 10.0), ("b", 30.0)):
            records.append(PingRound(ts, target, "127.0.0.1", "icmp", ProbeState.OK, 5, 5, 0.0, rtt_avg_ms=rtt + i % 3))
    db = tmp_path / "q.db"
    with Store(db) as store:
        store.write(records)  # type: ignore[arg-type]
        cfg = ForecastConfig(epochs=2, model_dir=str(tmp_path / "models"))
        series = series_from_store(store, cfg)
        by_target = series_from_store(store, replace(cfg, target="b"))
        with pytest.raises(Exception, match="has no latency data"):
            series_from_store(store, replace(cfg, target="zz"))
    assert len(series) == 3 * 288 and series.observed == 3 * 288
    assert np.nanmean(series.extras["rtt_avg_ms"]) == pytest.approx(21.0, abs=0.1)  # mean over targets
    assert np.nanmean(by_target.extras["rtt_avg_ms"]) == pytest.approx(31.0, abs=0.1)
    result = train(series, cfg)
    assert result.model is not None and result.model.info.design.aux == ("rtt_avg_ms", "loss_pct")
    fc = Forecaster.load(cfg).forecast(series, horizon=4)
    assert len(fc.forecasts) == 4 and fc.forecasts[0].ts == pytest.approx(series.ts[-1] + 300)
