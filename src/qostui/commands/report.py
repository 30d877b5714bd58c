"""`qostui report --out DIR`: five analytic PNGs and a report.md with the metrics table."""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qostui.config import Config, parse_duration
from qostui.errors import ConfigError, QostuiError

if TYPE_CHECKING:
    from qostui.store import Store

HELP = "write PNG plots and report.md (model vs baselines, errors, correlations, targets)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR", required=False, default=None,
                        help="directory for report.md and the PNGs (created if missing)")  # fmt: skip
    parser.add_argument("--from", dest="from_file", metavar="FILE", default=None,
                        help="report on a file `qostui import` reads instead of the store")  # fmt: skip
    parser.add_argument("--since", metavar="DURATION", default=None,
                        help="only the last DURATION of the data, counted back from its newest record"
                             " (e.g. 7d, 12h; default: all of it)")  # fmt: skip
    parser.add_argument("--model", metavar="ID", default=None, help="a saved model id (default: the latest)")
    parser.add_argument("--text", action="store_true", default=None,
                        help="also print the charts as text (as the TUI shows them)")  # fmt: skip


@contextlib.contextmanager
def open_source(args: argparse.Namespace, config: Config) -> Iterator[tuple[Store, str]]:
    """The configured store (read as it is), or a throw-away store filled from --from FILE."""
    from qostui.store import Store

    if getattr(args, "from_file", None):
        from qostui.interop import read_records

        path = Path(args.from_file).expanduser()
        if not path.is_file():
            raise QostuiError(f"{path}: file not found (expected a file `qostui import` reads)")
        records = read_records(path, step_s=config.forecast.step_s)
        with tempfile.TemporaryDirectory(prefix="qostui-report-") as tmp:
            store = Store(Path(tmp) / "report.db")
            try:
                store.write(records)
                yield store, str(path)
            finally:
                store.close()
        return
    path = config.store.resolved_path()
    if not path.exists():
        raise QostuiError(f"{path}: no store yet; run `qostui record` or `qostui import FILE` first, or pass --from FILE")
    store = Store(path)
    try:
        yield store, str(path)
    finally:
        store.close()


def _out_dir(text: str) -> Path:
    out = Path(text).expanduser()
    if out.exists() and not out.is_dir():
        raise QostuiError(f"--out {out}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QostuiError(f"--out {out}: cannot create the directory ({exc.strerror})") from None
    return out


def run(args: argparse.Namespace, config: Config) -> int:
    if not getattr(args, "out", None):
        raise ConfigError("report: --out DIR is required (where report.md and the PNGs go)")
    since_s = parse_duration(args.since, "--since") if getattr(args, "since", None) else None
    if since_s is not None and since_s <= 0:
        raise ConfigError(f"--since must be a positive duration, got {args.since!r}")
    from qostui.report import png
    from qostui.report.data import report_data, since_from_latest
    from qostui.report.markdown import write_markdown

    png.check_available()  # fail before the work when matplotlib is missing
    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise QostuiError(f"--out {out}: exists and is not a directory")
    with open_source(args, config) as (store, source):
        counts = store.counts()
        if counts.get("bandwidth", 0) == 0 and counts.get("ping", 0) == 0:
            raise QostuiError(f"{source}: no bandwidth or ping data to report on; record or import some first")
        since = since_from_latest(store, since_s) if since_s is not None else None
        data = report_data(store, config, since=since, model_id=getattr(args, "model", None), source=source)
    out = _out_dir(args.out)  # only now: a failed run leaves no empty directory behind
    images: dict[str, str] = {}
    for stem, plot in data.plots():
        png.write_png(plot, out / f"{stem}.png")
        images[stem] = f"{stem}.png"
    range_text = f"the last {args.since} of the data (from {_iso(since)})" if since is not None else ""
    md = write_markdown(data, images, out / "report.md", range_text)
    if getattr(args, "text", None):
        _print_text(data)
    ev = data.evaluation
    print(f"wrote {md} and {len(images)} PNG(s) in {out}")
    if ev.ok and ev.evaluation is not None:
        print(ev.evaluation.verdict())
    for stem, plot in data.plots():
        if getattr(plot, "note", ""):
            print(f"note: {stem}: {plot.note}", file=sys.stderr)
    return 0


def _iso(ts: float | None) -> str:
    import time

    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ts))


def _print_text(data: Any) -> None:
    import shutil

    from qostui.report.terminal import render

    size = shutil.get_terminal_size((100, 30))
    color = sys.stdout.isatty()
    for _, plot in data.plots():
        print(render(plot, size.columns, max(size.lines - 2, 16), color=color))
        print()
