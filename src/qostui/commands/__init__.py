"""Sub-commands: one module each (see qostui.cli). Shared argument definitions live here."""

from __future__ import annotations

import argparse
from typing import Any


def add_prometheus_argument(parser: argparse.ArgumentParser, default: Any = argparse.SUPPRESS) -> None:
    """`--prometheus ADDR` (record, monitor and the top level, where the monitor is the default)."""
    parser.add_argument(
        "--prometheus",
        metavar="ADDR",
        default=default,
        help="serve Prometheus metrics on http://ADDR/metrics (host:port, [::1]:port, or a port on 127.0.0.1)",
    )
