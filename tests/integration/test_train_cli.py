"""`qostui import` -> `qostui train` -> `qostui forecast --json` -> `qostui evaluate`, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qostui.config import ForecastConfig
from qostui.forecast.dataset import points_needed
from qostui.records import BandwidthSample
from qostui.store import Store


def qostui(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "qostui", *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture
def opts(tmp_path: Path) -> list[str]:
    conf = tmp_path / "c.toml"
    conf.write_text(f'[forecast]\nmodel_dir = "{tmp_path / "models"}"\n')
    return ["--config", str(conf), "--db", str(tmp_path / "q.db")]


@pytest.mark.slow
def test_import_train_forecast_evaluate(shared_data: Path, opts: list[str], tmp_path: Path) -> None:
    csv = shared_data / "seed_bandwidth_5min.csv"
    out = qostui("import", str(csv), *opts)
    assert out.returncode == 0, out.stderr

    out = qostui("train", "--epochs", "4", "--json", *opts)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    names = [e["event"] for e in events]
    assert names[-1] == "TrainingFinished" and names.count("EpochEnded") == 4
    finished = events[-1]
    assert Path(finished["path"], "weights.npz").is_file() and Path(finished["path"], "meta.json").is_file()
    assert "epoch 4/4" in out.stderr  # progress goes to stderr

    out = qostui("forecast", "--json", "--horizon", "6", *opts)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [s["step"] for s in doc["steps"]] == [1, 2, 3, 4, 5, 6]
    assert doc["stored"] and doc["model"] in (finished["model_id"], "baseline:" + finished["uses"])
    last_ts = 1735689600 + 1713 * 300
    assert doc["steps"][0]["ts"] == last_ts + 300
    with Store(tmp_path / "q.db") as store:
        assert len(store.forecasts(model=doc["model"])) == 6

    assert all(s["lo95_mbps"] <= s["lo_mbps"] <= s["predicted_mbps"] <= s["hi_mbps"] <= s["hi95_mbps"] for s in doc["steps"])

    out = qostui("evaluate", *opts)
    assert out.returncode == 0, out.stderr
    assert "persistence" in out.stdout and "lstm" in out.stdout and "best baseline" in out.stdout
    assert "cover80%" in out.stdout and "linear model" in out.stdout

    out = qostui("evaluate", "--json", *opts)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    kinds = {m["name"]: m["kind"] for m in doc["methods"]}
    assert kinds["lstm"] == "model" and kinds["linear"] == "baseline" and kinds["selected"] == "selected"
    sel = next(m for m in doc["methods"] if m["kind"] == "selected")
    assert len(sel["per_step"]) == 12 and {"method", "coverage_80", "coverage_95", "width_80", "width_95"} <= set(sel["per_step"][0])

    out = qostui("forecast", "--horizon", "13", *opts)
    assert out.returncode == 2 and "--horizon must be 1..12" in out.stderr


def test_train_from_file_and_too_little_data(shared_data: Path, opts: list[str], tmp_path: Path) -> None:
    out = qostui("train", "--from", str(shared_data / "seed_bandwidth_5min.csv"), "--epochs", "2", *opts)
    assert out.returncode == 0, out.stderr
    assert "saved lstm-" in out.stdout and "MAE@12" in out.stdout

    small = tmp_path / "small.db"
    with Store(small) as store:
        store.write([BandwidthSample(1_700_000_000.0 + 300 * i, "eth0", 5.0, 1.0, 300.0) for i in range(30)])
    out = qostui("train", "--config", opts[1], "--db", str(small))
    assert out.returncode == 1
    need = points_needed(ForecastConfig())
    errors = [line for line in out.stderr.splitlines() if line.startswith("qostui: error:")]
    assert len(errors) == 1 and "30 point(s)" in errors[0] and f"need at least {need}" in errors[0], out.stderr
    assert "Traceback" not in out.stderr

    out = qostui("train", "--from", str(tmp_path / "nope.csv"), *opts)
    assert out.returncode == 1 and "nope.csv: file not found" in out.stderr

    out = qostui("train", "--from-influx", "--range", "banana", *opts)
    assert out.returncode == 2 and "--range" in out.stderr


def test_any_series_by_column(shared_data: Path, opts: list[str], tmp_path: Path) -> None:
    """`--column` reads a time,NAME CSV (the wc98 files: time,requests); bad columns: one line."""
    csv = shared_data / "wc98_requests_hour.csv"
    out = qostui("train", "--from", str(csv), "--column", "requests", "--epochs", "2", *opts)
    assert out.returncode == 0, out.stderr
    assert "saved lstm-" in out.stdout and "MAE@12" in out.stdout
    assert "forecast.step_s = 3600" in out.stdout  # inferred from the timestamps (the config says 300)

    for args, expected in (
        (("train", "--from", str(csv), "--column", "bytes"), "--column 'bytes': no such column (columns besides 'time': requests)"),
        (("import", str(csv), "--column", "nope"), "--column 'nope': no such column"),
        (("train", "--column", "requests"), "--column only applies with --from FILE"),
    ):
        out = qostui(*args, *opts)
        errors = [line for line in out.stderr.splitlines() if line.startswith("qostui: error")]
        assert out.returncode in (1, 2) and len(errors) == 1 and expected in errors[0], out.stderr
        assert "Traceback" not in out.stderr

    out = qostui("import", str(csv), "--column", "requests", *opts)
    assert out.returncode == 0, out.stderr
    assert "time-series CSV, 1466 records" in out.stdout, out.stdout
    with Store(Path(opts[3])) as store:
        assert store.counts()["bandwidth"] >= 1465
