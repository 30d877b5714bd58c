"""`qostui record`: headless recording with one status line (or JSON line) per round."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import signal
import sys
import threading
import time
from collections.abc import Sequence

from qostui.commands import add_prometheus_argument
from qostui.config import Config, parse_duration
from qostui.records import Event, PingRound, Record

HELP = "record headless: probe, store, print one status line per round"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", default=None, help="stop after this long (30s, 5m, 2h, 7d)")
    parser.add_argument("--json", action="store_true", default=None, help="print JSON lines instead of status lines")
    add_prometheus_argument(parser)


def format_status(rounds: Sequence[PingRound], extra: str = "") -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(rounds[0].ts)) if rounds else "--:--:--"
    parts = []
    for r in rounds:
        if r.state.value != "ok":
            parts.append(f"{r.target} {r.state.value.replace('_', ' ')}")
        elif r.rtt_avg_ms is None:
            parts.append(f"{r.target} loss {r.loss_pct:.0f}%")
        else:
            parts.append(
                f"{r.target} {r.rtt_avg_ms:.2f}ms jit {r.jitter_ms or 0:.2f} loss {r.loss_pct:.0f}%"
                + (f" mos {r.mos:.1f}" if r.mos is not None else "")
            )
    line = f"{stamp} " + " | ".join(parts)
    return f"{line} | {extra}" if extra else line


def format_event(event: Event) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(event.ts))
    return f"{stamp} ALERT {event.level.upper()} {event.kind} {event.target}: {event.message}"


def record_to_json(record: Record) -> str:
    data = dataclasses.asdict(record)
    data["type"] = type(record).__name__
    if isinstance(record, PingRound):
        data["state"] = record.state.value
    return json.dumps(data, separators=(",", ":"))


def run(args: argparse.Namespace, config: Config) -> int:
    from qostui.pipeline import Pipeline

    duration_s = parse_duration(args.duration) if args.duration else None
    as_json = bool(args.json)
    pipeline = Pipeline(config)
    expected = len(config.targets)
    pending: list[PingRound] = []
    out_lock = threading.Lock()

    def printer(batch: list[Record]) -> None:
        # Records of one round arrive together; print once all targets of the round are in.
        with out_lock:
            for record in batch:
                if as_json:
                    sys.stdout.write(record_to_json(record) + "\n")
                elif isinstance(record, Event):  # alerts raised/cleared: their own line, right away
                    sys.stdout.write(format_event(record) + "\n")
                elif isinstance(record, PingRound):
                    pending.append(record)
                    if len(pending) >= expected:
                        sys.stdout.write(format_status(pending, pipeline.status_text()) + "\n")
                        pending.clear()
            sys.stdout.flush()

    pipeline.subscribe("recorder-output", printer)
    stop = threading.Event()
    hung_up = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if signum == signal.SIGHUP:
            hung_up.set()
        stop.set()

    pipeline.on_failure(lambda message: stop.set())
    signals = [signal.SIGINT, signal.SIGTERM]
    # A closed terminal or a dropped SSH session (SIGHUP) ends the run like Ctrl-C, unless SIGHUP was
    # ignored on purpose (`nohup qostui record`): then we keep recording.
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signals.append(signal.SIGHUP)
    previous = {sig: signal.signal(sig, on_signal) for sig in signals}
    print(
        f"qostui: recording {expected} target(s) every {config.interval_s:g}s to {pipeline.db_path}"
        + (f" for {duration_s:g}s" if duration_s else "")
        + (f", their paths every {config.path.interval_s:g}s" if config.path.enabled else "")
        + " (Ctrl-C stops)",
        file=sys.stderr,
    )
    if pipeline.prometheus is not None:
        print(f"qostui: Prometheus metrics at {pipeline.prometheus.url}", file=sys.stderr)
    try:
        pipeline.start()
        stop.wait(duration_s)
    finally:
        pipeline.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    message, status = pipeline.stop_summary()
    with contextlib.suppress(OSError):  # the terminal is gone (SIGHUP): the status still tells
        print(f"qostui: {message}", file=sys.stderr)
    if hung_up.is_set() and status == 0:
        return 128 + signal.SIGHUP
    return status
