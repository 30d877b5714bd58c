"""Data for the training, forecast and plots views' tests: a seeded store, fixed training events.

The store holds the shared seed series (../shared/data/seed_bandwidth_5min.csv) when it is present,
else a generated series of the same shape (5-minute steps, about 6 days, a daily cycle and spikes),
so these tests run (and never skip) in a clean clone without shared/.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from textual.pilot import Pilot

from qostui.config import Config
from qostui.forecast.events import EpochEnded, TrainingFinished, TrainingStage, TrainingStarted
from qostui.records import BandwidthSample, Forecast, PingRound, ProbeState, Record
from qostui.store import Store
from qostui.ui.screens.forecast import ForecastScreen
from ui.helpers import wait_for

SHARED_SEED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "seed_bandwidth_5min.csv"
STEP_S = 300.0
GEN_T0 = 1_735_689_600.0  # 2025-01-01T00:00Z, where the seed CSV starts too


def generated_records(n: int = 1714, t0: float = GEN_T0, seed: int = 7) -> list[Record]:
    """A deterministic stand-in for the seed: daily cycle, noise, a few spikes, ~3% missing."""
    rng = np.random.default_rng(seed)
    out: list[Record] = []
    for i in range(n):
        if rng.random() < 0.03:
            continue
        ts = t0 + i * STEP_S
        day = math.sin(2 * math.pi * (ts % 86400) / 86400)
        bw = max(0.1, 60 + 35 * day + rng.normal(0, 12) + (150 if rng.random() < 0.02 else 0))
        out.append(BandwidthSample(ts=ts, interface="imported", rx_mbps=float(bw), tx_mbps=0.0, interval_s=STEP_S))
    return out


def seed_records(prefer_shared: bool = True) -> tuple[list[Record], str]:
    if prefer_shared and SHARED_SEED.is_file():
        from qostui.interop import read_records

        return read_records(SHARED_SEED, step_s=STEP_S), str(SHARED_SEED)
    return generated_records(), "generated"


INTERVAL_MODEL = "lstm-a1"


def interval_forecasts(
    records: list[Record], *, runs: int = 12, every_steps: int = 6, horizon: int = 12, model: str = INTERVAL_MODEL
) -> list[Forecast]:
    """Forecasts with 80% and 95% bounds, written straight into a store the way the forecasting engine
    stores them: `runs` made every `every_steps` steps before the data's end (their steps have actual
    readings to be scored against) and one made at the end (the coming steps, the view's band).

    Each forecasts the median of the last 6 readings for every step (what the best baseline of this
    series, rolling_median(6), says, so the view's band sits around its forecast line) with empirical
    bounds: the 80th and 95th percentiles of |reading k steps later - that median| over the series,
    so they hold about as often as they say.
    """
    samples = sorted((r for r in records if isinstance(r, BandwidthSample)), key=lambda r: r.ts)
    t0, end = samples[0].ts, samples[-1].ts
    grid = np.full(int(round((end - t0) / STEP_S)) + 1, np.nan)
    for r in samples:
        grid[int(round((r.ts - t0) / STEP_S))] = r.rx_mbps
    last = np.array([np.nanmedian(grid[max(0, i - 5) : i + 1]) for i in range(len(grid))])  # median of the last 6
    q80, q95 = [], []
    for k in range(1, horizon + 1):
        change = np.abs(grid[k:] - last[:-k])
        change = change[~np.isnan(change)]
        q80.append(float(np.percentile(change, 80)))
        q95.append(float(np.percentile(change, 95)))
    out: list[Forecast] = []
    for j in range(runs, -1, -1):
        i = len(grid) - 1 - j * every_steps
        made_at, centre = t0 + i * STEP_S, float(last[i])
        for k in range(1, horizon + 1):
            out.append(Forecast(made_at=made_at, ts=made_at + k * STEP_S, step=k, model=model, predicted_mbps=centre,
                                predicted_lo_mbps=max(0.0, centre - q80[k - 1]), predicted_hi_mbps=centre + q80[k - 1],
                                predicted_lo95_mbps=max(0.0, centre - q95[k - 1]),
                                predicted_hi95_mbps=centre + q95[k - 1]))  # fmt: skip
    return out


def fill_store(db: Path, records: list[Record], *, ping_target: str | None = None) -> None:
    """Write records (and optionally a ping round per step for one target) into a store file."""
    extra: list[Record] = []
    if ping_target:
        for r in records:
            extra.append(PingRound(ts=r.ts, target=ping_target, address=ping_target, probe="icmp", state=ProbeState.OK,
                                   sent=3, received=3, loss_pct=0.0, rtt_min_ms=10.0, rtt_avg_ms=12.0 + (r.ts % 7),
                                   rtt_max_ms=20.0, rtt_mdev_ms=1.0, jitter_ms=1.0, mos=4.3, rtts_ms=(12.0,) * 3))
    with Store(db) as store:
        store.write(records + extra)


def quick_forecast(config: Config, model_dir: Path, *, epochs: int = 4, patience: int = 3) -> Config:
    """A small, fast model: the pilot tests train for real but must stay short on 2 cores."""
    f = replace(config.forecast, epochs=epochs, patience=patience, units=8, batch_size=64, model_dir=str(model_dir))
    return replace(config, forecast=f, store=replace(config.store, retention_days=0.0))


def fixed_events(epochs: int = 20, run: int = 12, horizon: int = 12) -> list[Any]:
    """A finished training as recorded events (deterministic: no TensorFlow in snapshot tests)."""
    events: list[Any] = [
        TrainingStage("reading history"),
        TrainingStage("loading TensorFlow"),
        TrainingStarted(epochs=epochs, patience=4, n_train=1050, n_val=262, n_test=330,
                        features=("bandwidth_mbps", "tod_sin", "tod_cos"), backend="tensorflow"),
    ]
    best, best_val = 0, math.inf
    for e in range(1, run + 1):
        loss = 0.5 * math.exp(-e / 4) + 0.1
        val = 0.45 * math.exp(-e / 3) + 0.15 + (0.01 * (e - 8) if e > 8 else 0.0)
        if val < best_val:
            best, best_val = e, val
        left = 4 - min(4, e - best)
        events.append(EpochEnded(epoch=e, epochs=epochs, loss=loss, val_loss=val, best_epoch=best,
                                 best_val_loss=best_val, patience_left=left, elapsed_s=1.5 * e,
                                 eta_s=1.5 * min(epochs - e, left)))

    def method(name: str, kind: str, mae: float, skill: float) -> dict[str, Any]:
        return {
            "name": name, "kind": kind,
            "overall": {"mae": mae, "rmse": mae * 1.4, "r2": 0.12, "mape": 30.0, "smape": 25.0, "n": 3960},
            "per_step": [{"mae": mae * (0.8 + 0.04 * s), "n": 330} for s in range(horizon)],
            "skill": skill, "skill_per_step": [skill] * horizon,
        }

    evaluation = {
        "horizon": horizon, "n_windows": 330, "best_baseline": "ewm_log(0.3)", "model_has_skill": True,
        "methods": [method("lstm", "model", 40.1, 0.05), method("persistence", "baseline", 48.0, -0.137),
                    method("seasonal_naive", "baseline", 55.2, -0.308), method("rolling_median(12)", "baseline", 43.0, -0.019),
                    method("ewm_log(0.3)", "baseline", 42.2, 0.0)],
    }
    events.append(TrainingStage("evaluating"))
    events.append(TrainingFinished(model_id="lstm-20231114T221320Z", path="/var/tmp/models/lstm-20231114T221320Z",
                                   epochs_run=run, best_epoch=best, seconds=18.0, uses="lstm",
                                   verdict="the model beats the best baseline (ewm_log(0.3)) by 5.0% in MAE",
                                   evaluation=evaluation))
    return events


async def open_forecast(
    pilot: Pilot, store: Store, end: float, ready: Callable[[ForecastScreen], bool] | None = None,
    what: str = "the forecast",
) -> ForecastScreen:
    """Push the forecast view with its clock at `end` and wait until `ready(screen)`; by default
    until it has a view or an error, and then it must have the view."""
    screen = ForecastScreen(store=store, clock=lambda: end)
    await pilot.app.push_screen(screen)
    if ready is None:
        await wait_for(pilot, lambda: screen.view is not None or bool(screen.error), 30, what)
        assert screen.view is not None, screen.error
    else:
        await wait_for(pilot, lambda: ready(screen), 30, what)
    return screen
