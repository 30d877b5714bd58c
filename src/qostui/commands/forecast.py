"""`qostui forecast`: forecast the next bandwidth steps and store them for later comparison."""

from __future__ import annotations

import argparse
import json
import time

from qostui.config import Config, ConfigError

HELP = "forecast the next bandwidth steps"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--horizon", metavar="N", type=int, default=None, help="steps ahead (default: the model's horizon)")
    parser.add_argument("--json", action="store_true", default=None, help="print one JSON document")
    parser.add_argument("--from", dest="from_file", metavar="FILE", default=None,
                        help="forecast from a file `qostui import` reads (not stored)")
    parser.add_argument("--model", metavar="ID", default=None, help="a saved model id (default: the latest)")


def run(args: argparse.Namespace, config: Config) -> int:
    from qostui.forecast.baselines import ROLLING_STEPS, WEEK_DAYS
    from qostui.forecast.dataset import season_steps
    from qostui.forecast.forecaster import Forecaster
    from qostui.forecast.source import series_from_file, series_from_store

    if args.horizon is not None and args.horizon < 1:
        raise ConfigError(f"--horizon must be 1 or more, got {args.horizon}")
    cfg = config.forecast
    forecaster = Forecaster.load(cfg, args.model)
    stored = False
    if args.from_file:
        series = series_from_file(args.from_file, cfg)
        result = forecaster.forecast(series, args.horizon)
    else:
        from qostui.errors import QostuiError
        from qostui.store import Store

        path = config.store.resolved_path()
        if not path.exists():
            raise QostuiError(f"{path}: no store yet; run `qostui record` or `qostui import FILE` first")
        store = Store(path)
        try:
            since = None
            span = store.time_range("bandwidth")
            if span is not None and forecaster.saved is not None:
                # Enough recent history for the window and any baseline (a day back, longest median).
                # A week back for the weekly lags, plus the window; at least the longest median.
                season = season_steps(cfg.step_s)
                steps = max(max(ROLLING_STEPS), WEEK_DAYS * season + season) + forecaster.window + 64
                since = span[1] - steps * cfg.step_s
            series = series_from_store(store, cfg, since=since)
            result = forecaster.forecast(series, args.horizon)
            store.write(result.forecasts)
            stored = True
        finally:
            store.close()
    if args.json:
        print(json.dumps(result.to_dict() | {"stored": stored}, allow_nan=False))
        return 0
    print(f"model: {result.model} ({result.reason})")
    print(f"history up to {_clock(result.data_end_ts)}; step {cfg.step_s:g}s")
    print(f"{'step':>4}  {'time (UTC)':<20} {'Mbps':>10}  {'80% interval':>21}  {'95% interval':>21}  method")
    for i, f in enumerate(result.forecasts):
        method = result.methods[i] if i < len(result.methods) else result.method
        print(f"{f.step:>4}  {_clock(f.ts):<20} {f.predicted_mbps:>10.2f}  {_band(f.predicted_lo_mbps, f.predicted_hi_mbps)}"
              f"  {_band(f.predicted_lo95_mbps, f.predicted_hi95_mbps)}  {method}")
    if stored:
        print(f"stored {len(result.forecasts)} forecast(s) in {config.store.resolved_path()}")
    return 0


def _band(lo: float | None, hi: float | None) -> str:
    if lo is None or hi is None:
        return f"{'-':>21}"
    return f"{lo:>10.2f}..{hi:<9.2f}"


def _clock(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))
