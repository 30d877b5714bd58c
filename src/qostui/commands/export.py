"""`qostui export`: write stored records as CSV or JSON lines (both readable by `qostui import`).

CSV: one header naming `type`, `time` (RFC 3339) and every field of the exported kinds; each row
fills the columns of its own type. `ts` keeps full precision, so export -> import round-trips.
JSON: one object per line, as `qostui record --json` prints.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from qostui.config import Config, parse_duration
from qostui.errors import ConfigError, QostuiError

HELP = "export stored samples as CSV or JSON lines"
KINDS = ("ping", "bandwidth", "forecast", "event", "path")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=("csv", "json"), default="csv", help="csv (default) or json (JSON lines)"
    )
    parser.add_argument("--kind", choices=(*KINDS, "all"), default="all", help="which records (default all)")
    parser.add_argument(
        "--since", metavar="T", default=None, help="from T: RFC 3339, epoch seconds or 2h/7d ago"
    )
    parser.add_argument("--until", metavar="T", default=None, help="before T (same forms as --since)")
    parser.add_argument(
        "--out", metavar="FILE", default=None, help="write to FILE instead of standard output"
    )


def parse_when(text: str, option: str, now: float | None = None) -> float:
    """RFC 3339, epoch seconds, or a duration with a unit (30m, 2h, 7d) meaning that long ago."""
    from qostui.interop import parse_time

    text = text.strip()
    if re.fullmatch(r"[0-9]*\.?[0-9]+\s*(ms|s|m|h|d|w)", text):  # a unit makes it relative
        return (time.time() if now is None else now) - parse_duration(text, option)
    try:
        return parse_time(text)
    except ValueError:
        raise ConfigError(
            f"{option}: expected an RFC 3339 time, epoch seconds or a duration like 2h or 7d, got {text!r}"
        ) from None


def _same_file(a: Path, b: Path) -> bool:
    try:
        if os.path.samefile(a, b):  # symlinks, hard links, relative paths
            return True
    except OSError:  # one of them does not exist (yet)
        pass
    return a.resolve() == b.resolve()


def refuse_store_as_output(out_path: Path, db_path: Path) -> None:
    """Writing the export over the store (or its WAL / shared-memory file) would destroy it."""
    store_files = [db_path, *(db_path.with_name(db_path.name + s) for s in ("-wal", "-shm", "-journal"))]
    # the export is written to "<out>.part" first, then renamed: neither may be a store file
    for candidate in (out_path, out_path.with_name(out_path.name + ".part")):
        if any(_same_file(candidate, f) for f in store_files):
            raise ConfigError(
                f"--out {out_path}: that is the store {db_path} (or one of its files); "
                "exporting there would overwrite it, choose another file"
            )


def run(args: argparse.Namespace, config: Config) -> int:
    from qostui import interop
    from qostui.store import Store

    since = parse_when(args.since, "--since") if args.since else None
    until = parse_when(args.until, "--until") if args.until else None
    if since is not None and until is not None and until <= since:
        raise ConfigError(
            f"--until ({args.until}) must be later than --since ({args.since}): the range would be empty"
        )
    kinds = list(KINDS) if args.kind == "all" else [args.kind]
    db_path = config.store.resolved_path()
    if not db_path.exists():
        raise QostuiError(f"{db_path}: no store here (record or import something first, or pass --db)")
    if args.out and args.out != "-":
        refuse_store_as_output(Path(args.out).expanduser(), db_path)
    store = Store(db_path, retention_days=0.0)  # exporting never prunes

    def records():
        for kind in kinds:
            yield from store.iter_records(kind, since=since, until=until)

    def write(fh) -> int:
        if args.format == "json":
            return interop.write_jsonl(fh, records())
        return interop.write_csv(fh, records(), kinds)

    try:
        if args.out and args.out != "-":
            out_path = Path(args.out).expanduser()
            tmp = out_path.with_name(out_path.name + ".part")
            try:
                with tmp.open("w", encoding="utf-8", newline="") as fh:
                    n = write(fh)
                os.replace(tmp, out_path)  # never leave a half-written file under the real name
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise QostuiError(f"{out_path}: cannot write ({exc.strerror})") from None
            print(f"qostui: exported {n} record(s) to {out_path}", file=sys.stderr)
        else:
            try:
                write(sys.stdout)
                sys.stdout.flush()
            except BrokenPipeError:  # `qostui export | head`: the reader had enough
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
    finally:
        store.close()
    return 0
