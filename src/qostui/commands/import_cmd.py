"""`qostui import`: import InfluxDB annotated-CSV, CSV or JSON lines files into the store.

Every file is read and checked before anything is stored, so a garbled file stores nothing.
Impossible readings (inf, negative bandwidth, loss over 100%, times outside 1970..9999, names over
256 characters) are rejected row by row, counted per reason with their first line numbers; a file
whose every row is rejected is an error. A row already in the store with the same values (same time
and target/interface) is "already stored", so importing the same file twice adds nothing; one stored
with *different* values is a conflict: the stored value is kept unless --replace is given.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter

from qostui.config import Config
from qostui.errors import ConfigError, QostuiError

HELP = "import InfluxDB annotated-CSV, CSV or JSON lines files into the store"

_UNIT = {"ping": "rounds", "bandwidth": "samples", "forecast": "forecasts", "event": "events", "path": "hop rows"}


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
        "--replace",
        action="store_true",
        help="where a row differs from the one stored for the same time, take the file's value",
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


def _lines(lines: list[int], shown: int = 3) -> str:
    first = ", ".join(str(n) for n in lines[:shown])
    return f"line {first}" + (", ..." if len(lines) > shown else "")


def run(args: argparse.Namespace, config: Config) -> int:
    from pathlib import Path

    from qostui.interop import FORMAT_NAMES, KIND_OF, format_time, read_file
    from qostui.store import Store

    step_s = float(args.step)
    if not (step_s > 0 and math.isfinite(step_s)):
        raise ConfigError(f"--step: expected a positive number of seconds, got {args.step:g}")
    results = [(Path(f), read_file(Path(f), step_s=step_s, column=args.column)) for f in args.files]  # check all first
    for path, result in results:
        if result.rejected and not result.records:
            reasons = "; ".join(f"{len(v)} {k} ({_lines(v, 1)})" for k, v in sorted(result.rejected.items()))
            raise QostuiError(f"{path}: every row rejected as an impossible reading: {reasons}")
    replace = bool(getattr(args, "replace", False))
    db_path = config.store.resolved_path()
    # retention_days=0: importing old history must not prune it (or anything else) right away
    store = Store(db_path, retention_days=0.0)
    out = sys.stdout
    total_new = total_read = total_conflicts = total_rejected = 0
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
                counts = store.import_records(records, replace=replace)
                added = counts.get(kind, "added") + counts.get(kind, "replaced")
                total_new += added
                total_read += len(records)
                notes = []
                if counts.get(kind, "same"):
                    notes.append(f"{counts.get(kind, 'same')} already stored")
                if counts.get(kind, "replaced"):
                    notes.append(f"{counts.get(kind, 'replaced')} replaced stored values that differed")
                if counts.get(kind, "conflicts"):
                    total_conflicts += counts.get(kind, "conflicts")
                    notes.append(f"{counts.get(kind, 'conflicts')} differ from the stored values: kept the stored ones")
                if counts.get(kind, "failed"):
                    notes.append(f"{counts.get(kind, 'failed')} could not be stored")
                note = f" ({'; '.join(notes)})" if notes else ""
                out.write(
                    f"  {kind:<9} {key or '-':<20} {len(records):>7} {_UNIT[kind]:<9} {added:>7} new{note}\n"
                )
            for reason, n in sorted(result.skipped.items()):
                out.write(f"  skipped {n} row(s): {reason}\n")
            for reason, lines in sorted(result.rejected.items()):
                total_rejected += len(lines)
                out.write(f"  rejected {len(lines)} row(s): {reason} ({_lines(lines)})\n")
        counts_now = Counter(store.counts())
    finally:
        store.close()
    out.write(
        f"stored {total_new} new row(s) of {total_read} in {db_path} "
        f"(now {', '.join(f'{v} {k}' for k, v in counts_now.items())})\n"
    )
    if total_rejected:
        out.write(f"rejected {total_rejected} impossible reading(s); they were not stored\n")
    if total_conflicts:
        out.write(
            f"{total_conflicts} row(s) differ from what the store holds for the same time: kept the stored "
            "values; run again with --replace to take the file's values\n"
        )
    return 0
