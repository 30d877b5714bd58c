"""`qostui import`: import InfluxDB annotated-CSV, CSV or JSON lines files into the store.

Every file is read and checked before anything is stored, so a garbled file stores nothing.
Rows already in the store (same time and target/interface) are skipped, so importing the same
file twice adds nothing the second time.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from qostui.config import Config
from qostui.errors import ConfigError

HELP = "import InfluxDB annotated-CSV, CSV or JSON lines files into the store"

_UNIT = {"ping": "rounds", "bandwidth": "samples", "forecast": "forecasts", "event": "events"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files", nargs="+", metavar="FILE", help="files to import (format detected from content)"
    )
    parser.add_argument(
        "--step",
        metavar="SECONDS",
        type=float,
        default=300.0,
        help="spacing of a step,bandwidth_mbps file without timestamps (default 300)",
    )
    parser.add_argument(
        "--column",
        metavar="NAME",
        default=None,
        help="read time,NAME CSV files: their numeric column NAME (e.g. requests) is stored as the series to forecast",
    )


def _key(record: object) -> str:
    """What a record is 'for': target, interface or model."""
    for name in ("target", "interface", "model"):
        value = getattr(record, name, None)
        if value is not None:
            return str(value)
    return ""


def run(args: argparse.Namespace, config: Config) -> int:
    from pathlib import Path

    from qostui.interop import FORMAT_NAMES, KIND_OF, format_time, read_file
    from qostui.store import Store

    step_s = float(args.step)
    if not step_s > 0:
        raise ConfigError(f"--step: expected a positive number of seconds, got {args.step:g}")
    results = [(Path(f), read_file(Path(f), step_s=step_s, column=args.column)) for f in args.files]  # check all first
    db_path = config.store.resolved_path()
    # retention_days=0: importing old history must not prune it (or anything else) right away
    store = Store(db_path, retention_days=0.0)
    out = sys.stdout
    total_new = total_read = 0
    try:
        for path, result in results:
            groups: dict[tuple[str, str], list] = {}
            for record in result.records:
                groups.setdefault((KIND_OF[type(record)], _key(record)), []).append(record)
            span = ""
            if result.records:
                lo = min(r.ts for r in result.records)
                hi = max(r.ts for r in result.records)
                span = f", {format_time(lo)} .. {format_time(hi)}"
            out.write(f"{path}: {FORMAT_NAMES[result.format]}, {len(result.records)} records{span}\n")
            for (kind, key), records in sorted(groups.items()):
                added = store.insert(records)[kind]
                total_new += added
                total_read += len(records)
                dup = len(records) - added
                note = f" ({dup} already stored)" if dup else ""
                out.write(
                    f"  {kind:<9} {key or '-':<20} {len(records):>7} {_UNIT[kind]:<9} {added:>7} new{note}\n"
                )
            for reason, n in sorted(result.skipped.items()):
                out.write(f"  skipped {n} row(s): {reason}\n")
        counts = Counter(store.counts())
    finally:
        store.close()
    out.write(
        f"stored {total_new} new row(s) of {total_read} in {db_path} "
        f"(now {', '.join(f'{v} {k}' for k, v in counts.items())})\n"
    )
    return 0
