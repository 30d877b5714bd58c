"""Where training series come from: the store, an import file, or InfluxDB.

All roads go through `Store.resample` so there is one resampling implementation: records read from
a file or from InfluxDB are written into a temporary store first.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qostui.config import Config, ForecastConfig
from qostui.errors import QostuiError
from qostui.forecast.dataset import AUX_SERIES, Series
from qostui.redact import redact_url

if TYPE_CHECKING:
    from qostui.records import Record
    from qostui.store import Store


def series_from_store(
    store: Store, cfg: ForecastConfig, *, since: float | None = None, until: float | None = None, source: str = ""
) -> Series:
    """Bandwidth (summed over interfaces) plus latency and loss of `cfg.target` (or the mean over targets)."""
    ts, bw = store.resample("bandwidth_mbps", cfg.step_s, since=since, until=until)
    if len(ts) == 0:
        return Series(cfg.step_s, ts, bw, {}, source or str(store.path))
    lo, hi = float(ts[0]), float(ts[-1]) + cfg.step_s
    extras: dict[str, np.ndarray] = {}
    target = cfg.target or None
    if target is not None and target not in store.targets():
        known = ", ".join(store.targets()) or "none recorded"
        raise QostuiError(f"forecast target {target!r} has no latency data in the store (targets: {known})")
    for name in AUX_SERIES:
        ats, av = store.resample(name, cfg.step_s, since=lo, until=hi, target=target)
        if len(ats) and not np.isnan(av).all():
            aligned = np.full(len(ts), np.nan)
            idx = np.round((ats - lo) / cfg.step_s).astype(np.int64)
            keep = (idx >= 0) & (idx < len(ts))
            aligned[idx[keep]] = av[keep]
            extras[name] = aligned
    return Series(cfg.step_s, ts, bw, extras, source or str(store.path))


def series_from_records(records: Sequence[Record], cfg: ForecastConfig, source: str = "") -> Series:
    """Resample in-memory records through a throw-away store (same rules as recorded data)."""
    from qostui.store import Store

    with tempfile.TemporaryDirectory(prefix="qostui-train-") as tmp:
        store = Store(Path(tmp) / "import.db")
        try:
            store.write(list(records))
            return series_from_store(store, cfg, source=source)
        finally:
            store.close()


def series_from_file(path: str | Path, cfg: ForecastConfig, column: str | None = None) -> Series:
    """Any format `qostui import` reads (including the seed CSV); with `column`, a
    `time,<column>` CSV whose column is the series."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise QostuiError(f"{p}: file not found (expected a file `qostui import` reads)")
    try:
        from qostui.interop import read_records
    except ImportError:
        raise QostuiError("reading files needs qostui.interop, which is not available in this build") from None
    records = read_records(p, step_s=cfg.step_s, column=column)
    return series_from_records(records, cfg, source=str(p))


def series_from_influx(config: Config, range_s: float) -> Series:
    try:
        from qostui.exporters.influx_query import query_history
    except ImportError:
        raise QostuiError(
            "--from-influx needs qostui.exporters.influx_query, which is not available in this build"
        ) from None
    records = query_history(config, range_s)
    return series_from_records(records, config.forecast, source=f"influx {redact_url(config.influx.url)}")


def series_from_config_store(config: Config, *, since: float | None = None) -> Series:
    """The recorded history in the configured store (read-only use)."""
    from qostui.store import Store

    path = config.store.resolved_path()
    if not path.exists():
        raise QostuiError(f"{path}: no store yet; run `qostui record` or `qostui import FILE` first, or pass --from FILE")
    store = Store(path)
    try:
        return series_from_store(store, config.forecast, since=since)
    finally:
        store.close()
