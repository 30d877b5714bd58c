"""`qostui evaluate`: score the saved model, the per-step selected forecast and the baselines on the test part."""

from __future__ import annotations

import argparse
import json

from qostui.config import Config

HELP = "compare the model with naive baselines"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="from_file", metavar="FILE", default=None,
                        help="evaluate on a file `qostui import` reads instead of the store")
    parser.add_argument("--column", metavar="NAME", default=None,
                        help="with --from: the numeric column of a time,NAME CSV to use as the series")
    parser.add_argument("--model", metavar="ID", default=None, help="a saved model id (default: the latest)")
    parser.add_argument("--json", action="store_true", default=None, help="print one JSON document")


def run(args: argparse.Namespace, config: Config) -> int:
    from qostui.errors import ConfigError
    from qostui.forecast import service
    from qostui.forecast.dataset import prepare, season_steps
    from qostui.forecast.evaluate import evaluate
    from qostui.forecast.source import series_from_config_store, series_from_file
    from qostui.forecast.training import tuned_baselines

    cfg = config.forecast
    if args.column and not args.from_file:
        raise ConfigError("--column only applies with --from FILE")
    series = series_from_file(args.from_file, cfg, column=args.column) if args.from_file else series_from_config_store(config)
    model = service.load_model_for(cfg, args.model)
    if model is not None:
        scored = service.score(model, prepare(series, service.model_config(model.info, cfg), purpose="evaluation"))
        ev = scored.evaluation
        uses = model.info.uses
    else:
        prep = prepare(series, cfg, purpose="evaluation")
        test = prep.origins("test")
        season = season_steps(series.step_s)
        preds = {b.label: b.predict(prep.filled_mbps, test, prep.horizon, season) for b in tuned_baselines(prep)}
        ev = evaluate(preds, prep.targets_mbps(test), {name: "baseline" for name in preds})
        uses = ev.best_baseline
    verdict = _verdict(ev)
    if args.json:
        doc = ev.to_dict() | {"model_id": model.model_id if model else None, "data": series.source,
                              "verdict": verdict, "forecasts_use": uses}
        print(json.dumps(doc, allow_nan=False))
        return 0
    print(f"data: {series.source} ({series.observed} readings); model: {model.model_id if model else 'none trained'}")
    print(ev.format_table())
    if model is not None:
        print(ev.format_intervals())
    print(verdict)
    if model is not None:
        print(f"forecasts use: {uses}")
    return 0


def _verdict(ev: object) -> str:
    from qostui.forecast.training import verdict

    return verdict(ev)  # type: ignore[arg-type]
