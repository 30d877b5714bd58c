"""`qostui train`: train the bandwidth forecasting model (progress on stderr, results on stdout)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from dataclasses import replace
from typing import Any

from qostui.config import Config, ConfigError, parse_duration

HELP = "train the bandwidth forecasting model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--from", dest="from_file", metavar="FILE", default=None,
                     help="train on a file `qostui import` reads instead of the store")
    src.add_argument("--from-influx", action="store_true", default=None, help="train on history queried from InfluxDB")
    parser.add_argument("--column", metavar="NAME", default=None,
                        help="with --from: the numeric column of a time,NAME CSV (e.g. requests) to forecast")
    parser.add_argument("--step", metavar="DURATION", default=None,
                        help="resampling step (e.g. 5m, 1h; default: forecast.step_s, or with --from inferred from the file)")
    parser.add_argument("--range", dest="range", metavar="DURATION", default=None,
                        help="with --from-influx: how far back (e.g. 7d; default 30d)")
    parser.add_argument("--target", metavar="T", default=None, help="latency/loss features from this target")
    parser.add_argument("--epochs", metavar="N", type=int, default=None, help="maximum epochs (early stopping may end sooner)")
    parser.add_argument("--json", action="store_true", default=None, help="JSON lines of training events on stdout")


def forecast_config(args: argparse.Namespace, config: Config) -> Config:
    f = config.forecast
    changes: dict[str, Any] = {}
    if getattr(args, "target", None):
        changes["target"] = args.target
    if getattr(args, "epochs", None) is not None:
        if not 1 <= args.epochs <= 100000:
            raise ConfigError(f"--epochs must be 1..100000, got {args.epochs}")
        changes["epochs"] = args.epochs
    if getattr(args, "column", None) and not getattr(args, "from_file", None):
        raise ConfigError("--column only applies with --from FILE")
    step = getattr(args, "step", None)
    if step is not None:
        changes["step_s"] = parse_duration(step, "--step")
        if not changes["step_s"] > 0:
            raise ConfigError(f"--step must be positive, got {step!r}")
    elif getattr(args, "from_file", None) and getattr(args, "column", None):
        from qostui.interop import infer_step_s

        inferred = infer_step_s(args.from_file, args.column)
        if inferred > 0:
            changes["step_s"] = inferred
    return config.with_overrides(forecast=replace(f, **changes)) if changes else config


def load_series(args: argparse.Namespace, config: Config) -> Any:
    from qostui.forecast import source

    if getattr(args, "from_file", None):
        return source.series_from_file(args.from_file, config.forecast, column=getattr(args, "column", None))
    if getattr(args, "from_influx", None):
        range_s = parse_duration(args.range, "--range") if args.range else 30 * 86400.0
        return source.series_from_influx(config, range_s)
    if getattr(args, "range", None):
        raise ConfigError("--range only applies with --from-influx")
    return source.series_from_config_store(config)


class Printer:
    """Training events -> a progress line on stderr (redrawn on a terminal) and JSON lines on stdout."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.tty = sys.stderr.isatty()
        self.open_line = False
        self.epochs = 0

    def __call__(self, event: Any) -> None:
        from qostui.forecast import events as ev
        from qostui.forecast.training import event_dict

        if self.as_json:
            print(json.dumps(event_dict(event), allow_nan=False, default=str), flush=True)
        if isinstance(event, ev.EpochEnded):
            width = 20
            done = int(width * event.epoch / max(event.epochs, 1))
            bar = "#" * done + "." * (width - done)
            line = (
                f"[{bar}] epoch {event.epoch}/{event.epochs} loss {event.loss:.4f} val {event.val_loss:.4f}"
                f" best {event.best_epoch} patience {event.patience_left} eta {event.eta_s:.0f}s"
            )
            if self.tty:
                sys.stderr.write("\r\x1b[2K" + line)
                self.open_line = True
            else:
                sys.stderr.write(line + "\n")
            sys.stderr.flush()
            return
        self._end_line()
        if isinstance(event, ev.TrainingStage):
            print(f"qostui: {event.stage}{': ' + event.detail if event.detail else ''}", file=sys.stderr)
        elif isinstance(event, ev.TrainingStarted):
            self.epochs = event.epochs
            print(
                f"qostui: training on {event.n_train} windows (validation {event.n_val}, test {event.n_test}),"
                f" features {', '.join(event.features)}, backend {event.backend}",
                file=sys.stderr,
            )
        elif isinstance(event, ev.TrainingFinished):
            stop = "early stop" if event.epochs_run < self.epochs else "done"
            print(
                f"qostui: {stop} after {event.epochs_run} epochs (best {event.best_epoch}) in {event.seconds:.1f}s",
                file=sys.stderr,
            )
        elif isinstance(event, ev.TrainingCancelled):
            print(f"qostui: training cancelled after epoch {event.epoch}; nothing saved", file=sys.stderr)

    def _end_line(self) -> None:
        if self.open_line:
            sys.stderr.write("\n")
            self.open_line = False


def run(args: argparse.Namespace, config: Config) -> int:
    from qostui.forecast.evaluate import Evaluation
    from qostui.forecast.training import train

    base_step_s = config.forecast.step_s
    config = forecast_config(args, config)
    series = load_series(args, config)
    printer = Printer(bool(args.json))
    cancel = threading.Event()

    def on_sigint(signum: int, frame: object) -> None:
        if cancel.is_set():  # second Ctrl-C: stop hard
            raise KeyboardInterrupt
        cancel.set()

    previous = signal.signal(signal.SIGINT, on_sigint) if threading.current_thread() is threading.main_thread() else None
    try:
        result = train(series, config.forecast, on_event=printer, cancel=cancel)
    finally:
        printer._end_line()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if not args.json:
        ev: Evaluation = result.evaluation
        print(ev.format_table())
        print(ev.format_intervals())
        print(result.model.info.verdict if result.model is not None else ev.verdict())
        uses = "the LSTM at every step" if result.uses == "lstm" else result.uses
        print(f"saved {result.model_id} to {result.path}; `qostui forecast` will use {uses}")
        if abs(config.forecast.step_s - base_step_s) > 1e-9:
            print(f"note: trained at {config.forecast.step_s:g}s steps; set forecast.step_s = {config.forecast.step_s:g}"
                  " to forecast with it")
    return 0
