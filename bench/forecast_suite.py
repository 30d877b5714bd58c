"""Forecasting benchmark: the LSTM, the per-step selected forecast and every baseline on real and
generated series, with the prediction intervals' coverage and width.

Series (../shared/data beside the checkout, and one generated):
  seed_bandwidth_5min.csv   home-link bandwidth, 5 min, ~6 days (noise-dominated)
  wc98_requests_5min.csv    WC98 web requests per 5 min (time,requests), 61 days
  wc98_requests_hour.csv    the same per hour
  daily_cycle               generated: 100 +- 50 Mbps daily sine + N(0, 3), 15 min steps, 14 days

For each series and seed (default 0, 1, 2): `qostui.forecast.training.train` with the config
defaults (split 64/16/20 at fractions of the readings, horizon 12); every method is scored on the
same test windows (the last 20%), MAE per step; the selected forecast is the product forecast
exactly as `qostui forecast` makes it (per step the method best on validation); intervals are the
selected forecast's 80%/95% split-conformal intervals adapted online through the test part, each
outcome used only once it would have been known. Figures are means over the seeds. Training
seconds: `train()` wall time without the Keras import (data preparation, both fits, scoring);
inference ms: one `service.forecast` call (the numpy path of `qostui forecast`), mean of 50.

    PYTHONPATH=src python bench/forecast_suite.py [--seeds 0,1,2] [--only wc98_requests_hour] [--json OUT]
        [--set learning_rate=0.001 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
DAY_S = 86400.0
SERIES = ("seed_bandwidth_5min", "wc98_requests_5min", "wc98_requests_hour", "daily_cycle")


def daily_cycle(days: int = 14, step_s: float = 900.0, noise: float = 3.0, seed: int = 0) -> Any:
    """The unit tests' generated series: a clear daily cycle (100 +- 50 Mbps) plus Gaussian noise."""
    from qostui.forecast.dataset import Series

    rng = np.random.default_rng(seed)
    ts = 1_700_000_000.0 - 1_700_000_000.0 % DAY_S + step_s * np.arange(int(days * DAY_S / step_s))
    v = 100 + 50 * np.sin(2 * np.pi * ts / DAY_S) + rng.normal(0, noise, len(ts))
    return Series(step_s, ts, np.maximum(v, 0.1), {}, "daily_cycle")


def load(name: str) -> tuple[Any, float]:
    from qostui.config import ForecastConfig
    from qostui.forecast.source import series_from_file

    if name == "daily_cycle":
        return daily_cycle(), 900.0
    step = 3600.0 if name.endswith("_hour") else 300.0
    column = "requests" if name.startswith("wc98") else None
    return series_from_file(DATA / f"{name}.csv", ForecastConfig(step_s=step), column=column), step


def run_one(name: str, seeds: list[int], keras: Any, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    from qostui.config import ForecastConfig
    from qostui.forecast import service
    from qostui.forecast.training import train

    series, step = load(name)
    cfg = replace(ForecastConfig(step_s=step), **(overrides or {}))
    runs = []
    for seed in seeds:
        print(f"{name}: seed {seed} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        result = train(series, replace(cfg, seed=seed), save=False, keras=keras)
        train_s = time.perf_counter() - t0
        model = result.model
        assert model is not None and result.scored is not None
        state = result.scored.state.copy()
        service.forecast(model, series, update_intervals=False, state=state)
        t0 = time.perf_counter()
        for _ in range(50):
            service.forecast(model, series, update_intervals=False, state=state)
        infer_ms = (time.perf_counter() - t0) / 50 * 1000
        ev = result.evaluation
        sel = ev.get("selected")
        runs.append({
            "seed": seed, "train_s": train_s, "infer_ms": infer_ms, "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch, "n_test": ev.n_windows,
            "best_val_loss": result.meta.get("training", {}).get("best_val_loss"),
            "mae": {m.name: [s["mae"] for s in m.per_step] for m in ev.methods},
            "kind": {m.name: m.kind for m in ev.methods},
            "selection": [s["method"] for s in sel.per_step],
            "coverage_80": [s["coverage_80"] for s in sel.per_step], "coverage_95": [s["coverage_95"] for s in sel.per_step],
            "width_80": [s["width_80"] for s in sel.per_step], "width_95": [s["width_95"] for s in sel.per_step],
        })  # fmt: skip
    names = list(runs[0]["mae"])
    mean = {n: np.mean([r["mae"][n] for r in runs if n in r["mae"]], axis=0).tolist() for n in names}
    out: dict[str, Any] = {
        "series": name, "readings": int(series.observed), "step_s": step, "seeds": seeds, "runs": runs,
        "mae": mean, "kind": runs[0]["kind"],
        "train_s": float(np.mean([r["train_s"] for r in runs])), "infer_ms": float(np.mean([r["infer_ms"] for r in runs])),
    }  # fmt: skip
    for key in ("coverage_80", "coverage_95", "width_80", "width_95"):
        out[key] = np.mean([r[key] for r in runs], axis=0).tolist()
    out["checks"] = checks(out)
    return out


NOT_NAIVE = ("lstm", "lstm+linear", "selected", "linear")


def checks(r: dict[str, Any]) -> dict[str, Any]:
    """The issue's acceptance figures on the seed means."""
    mae = {k: np.asarray(v) for k, v in r["mae"].items()}
    naive = [k for k in mae if k not in NOT_NAIVE]
    best_naive = np.min([mae[k] for k in naive], axis=0)
    singles = [k for k in mae if k not in ("selected",)]
    best_single = np.min([mae[k] for k in singles], axis=0)
    c80, c95 = np.asarray(r["coverage_80"]), np.asarray(r["coverage_95"])
    return {
        "lstm_beats_every_naive_at_steps": int(np.sum(mae["lstm"] < best_naive)),
        "selected_over_best_single_max": float(np.max(mae["selected"] / best_single)),
        "coverage_80_range": [float(c80.min()), float(c80.max())],
        "coverage_95_range": [float(c95.min()), float(c95.max())],
        "coverage_within_5pp": bool(np.all(np.abs(c80 - 0.8) <= 0.05) and np.all(np.abs(c95 - 0.95) <= 0.05)),
    }


def table(r: dict[str, Any]) -> str:
    H = len(r["mae"]["lstm"])
    lines = [f"### {r['series']} ({r['readings']} readings, step {r['step_s']:g} s; mean over seeds {r['seeds']})", ""]
    head = "| method | kind | " + " | ".join(f"@{h + 1}" for h in range(H)) + " |"
    lines += [head, "|" + "---|" * (H + 2)]
    digits = 0 if max(max(v) for v in r["mae"].values()) > 1000 else 2
    for name, v in r["mae"].items():
        lines.append(f"| {name} | {r['kind'][name]} | " + " | ".join(f"{x:.{digits}f}" for x in v) + " |")
    for key, label in (("coverage_80", "coverage 80% (%)"), ("coverage_95", "coverage 95% (%)")):
        lines.append(f"| {label} | selected | " + " | ".join(f"{100 * x:.1f}" for x in r[key]) + " |")
    for key, label in (("width_80", "width 80%"), ("width_95", "width 95%")):
        lines.append(f"| {label} | selected | " + " | ".join(f"{x:.{digits}f}" for x in r[key]) + " |")
    c = r["checks"]
    lines += [
        "",
        f"LSTM below every naive baseline at {c['lstm_beats_every_naive_at_steps']}/{H} steps; selected / best single"
        f" method at most {c['selected_over_best_single_max']:.3f}; coverage 80% {100 * c['coverage_80_range'][0]:.1f}.."
        f"{100 * c['coverage_80_range'][1]:.1f}, 95% {100 * c['coverage_95_range'][0]:.1f}..{100 * c['coverage_95_range'][1]:.1f};"
        f" training {r['train_s']:.1f} s, inference {r['infer_ms']:.2f} ms; selection seed {r['seeds'][0]}:"
        f" {', '.join(r['runs'][0]['selection'])}",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--only", default="", help="comma-separated subset of " + ", ".join(SERIES))
    ap.add_argument("--json", default="", help="also write the figures to this file")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a [forecast] setting for every series (e.g. learning_rate=0.001)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from qostui.forecast.lstm import import_keras

    seeds = [int(s) for s in args.seeds.split(",")]
    from qostui.config import ForecastConfig

    defaults = ForecastConfig()
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        if not hasattr(defaults, key):
            ap.error(f"--set {item}: no forecast setting {key!r}")
        overrides[key] = type(getattr(defaults, key))(value)
    if overrides:
        print(f"overrides: {overrides}")
    t0 = time.perf_counter()
    keras = import_keras()
    print(f"Keras import: {time.perf_counter() - t0:.1f} s (once, not in the training seconds)")
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores)")
    results = []
    for name in (args.only.split(",") if args.only else SERIES):
        r = run_one(name, seeds, keras, overrides)
        results.append(r)
        print(table(r), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
