"""`qostui monitor`: open the live monitor (the default), probing and recording as it shows."""

from __future__ import annotations

import argparse
import contextlib
import sys

from qostui.commands import add_prometheus_argument
from qostui.config import Config

HELP = "open the live monitor (the default): probe, record and show"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_prometheus_argument(parser)


def run(args: argparse.Namespace, config: Config) -> int:
    # Heavy imports here: `qostui --help` and the recorder must not pay for Textual.
    from qostui.pipeline import Pipeline
    from qostui.ui.app import HANGUP_STATUS, QostuiApp
    from qostui.ui.log_bridge import logs_to_notifications

    # Open the store before the terminal switches to the full-screen mode, so a bad --db path is
    # one clear error line, not a garbled screen.
    pipeline = Pipeline(config)
    if pipeline.prometheus is not None:  # also in the scrollback once the monitor has ended
        print(f"qostui: Prometheus metrics at {pipeline.prometheus.url}", file=sys.stderr)
    app = QostuiApp(config, pipeline=pipeline)
    app.exit_process_on_hangup = True  # the real command: a gone terminal must not keep it alive
    try:
        with logs_to_notifications(app):
            app.run()
    finally:
        app.stop_pipeline()  # flushes the store whatever way the app ended
    message, status = pipeline.stop_summary()
    if status == 0:
        message = f"{pipeline.collector.rounds_done} round(s) recorded to {pipeline.db_path}"
    with contextlib.suppress(OSError):  # the terminal is gone (SIGHUP)
        print(f"qostui: {message}", file=sys.stderr)
    if app.hung_up:
        return status or HANGUP_STATUS
    return status or int(app.return_code or 0)
