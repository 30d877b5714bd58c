"""`qostui evaluate`: score the saved model against naive baselines on the test part."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

from qostui.config import Config

HELP = "compare the model with naive baselines"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="from_file", metavar="FILE", default=None,
                        help="evaluate on a file `qostui import` reads instead of the store")
    parser.add_argument("--model", metavar="ID", default=None, help="a saved model id (default: the latest)")
    parser.add_argument("--json", action="store_true", default=None, help="print one JSON document")


def run(args: argparse.Namespace, config: Config) -> int:
    from qostui.errors import QostuiError
    from qostui.forecast.dataset import Scaler, prepare
    from qostui.forecast.infer import NumpyLSTM
    from qostui.forecast.model_store import load_model
    from qostui.forecast.source import series_from_config_store, series_from_file
    from qostui.forecast.training import evaluate_prepared, tuned_baselines

    cfg = config.forecast
    series = series_from_file(args.from_file, cfg) if args.from_file else series_from_config_store(config)
    saved = load_model(cfg.resolved_model_dir(), args.model)
    if saved is not None:
        meta = saved.meta
        if abs(float(meta["step_s"]) - cfg.step_s) > 1e-9:
            raise QostuiError(f"model {saved.model_id} uses step {meta['step_s']:g}s but forecast.step_s is {cfg.step_s:g}s")
        # Score with the model's own window, horizon, split, features and scaler.
        cfg = replace(cfg, sequence_length=int(meta["window"]), horizon=int(meta["horizon"]),
                      split=tuple(meta["split"]), max_gap_steps=int(meta.get("max_gap_steps", cfg.max_gap_steps)))
        prep = prepare(series, cfg, names=meta["features"], scaler=Scaler.from_dict(meta["scaler"]), purpose="evaluation")
        model = NumpyLSTM(saved.weights, meta["architecture"]["activation"]) if saved.weights is not None else None
    else:
        prep = prepare(series, cfg, purpose="evaluation")
        model = None
    ev = evaluate_prepared(prep, model, tuned_baselines(prep))
    uses = "lstm" if model is not None and (ev.model_has_skill or not cfg.use_baseline_without_skill) else ev.best_baseline
    if args.json:
        doc = ev.to_dict() | {"model_id": saved.model_id if saved else None, "data": series.source,
                              "verdict": ev.verdict(), "forecasts_use": uses}
        print(json.dumps(doc, allow_nan=False))
        return 0
    print(f"data: {series.source} ({series.observed} readings); model: {saved.model_id if saved else 'none trained'}")
    print(ev.format_table())
    print(ev.verdict())
    return 0
