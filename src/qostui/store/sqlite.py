"""The embedded store: one SQLite file in WAL mode holding every record qostui produces.

Thread model: one connection shared by all threads behind a lock (the bus writes from its own
thread, the UI/CLI read from others). WAL lets other *processes* (an export while recording) read
while this one writes.

Durability: each write() is one transaction; with WAL and synchronous=NORMAL a SIGKILL loses at most
the batch being written and never corrupts the file (a power cut may also lose the last commits).

Time ranges everywhere are half-open: since <= ts < until.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qostui.errors import QostuiError
from qostui.records import BandwidthSample, Event, Forecast, PathHop, PingRound, ProbeState, Record
from qostui.store.schema import KINDS, MIGRATIONS, SCHEMA_VERSION, TABLES

if TYPE_CHECKING:
    import numpy as np

_SQLITE_MAGIC = b"SQLite format 3\x00"
_PRUNE_EVERY_S = 60.0
_MAX_GRID_POINTS = 20_000_000  # a resample grid beyond this is a mistaken step, not a request

# --- record <-> row ------------------------------------------------------------------------------

_PING_COLS = (
    "ts, target, address, probe, state, sent, received, loss_pct, rtt_min_ms, rtt_avg_ms, rtt_max_ms, "
    "rtt_mdev_ms, rtt_p50_ms, rtt_p95_ms, jitter_ms, mos, rtts, error"
)
_BW_COLS = "ts, interface, rx_mbps, tx_mbps, interval_s"
_FC_COLS = (
    "made_at, ts, step, model, predicted_mbps,"
    " predicted_lo_mbps, predicted_hi_mbps, predicted_lo95_mbps, predicted_hi95_mbps"
)
_EV_COLS = "ts, kind, target, level, message"
_PATH_COLS = (  # the field order of PathHop
    "ts, target, address, hop, hop_address, addresses, sent, received, loss_pct, rtt_last_ms, rtt_avg_ms, "
    "rtt_best_ms, rtt_worst_ms, rtt_stdev_ms, jitter_ms, reached, verdict"
)
_COLS: dict[str, str] = {
    "ping": _PING_COLS, "bandwidth": _BW_COLS, "forecast": _FC_COLS, "event": _EV_COLS, "path": _PATH_COLS,
}
_TYPES: dict[type, str] = {
    PingRound: "ping",
    BandwidthSample: "bandwidth",
    Forecast: "forecast",
    Event: "event",
    PathHop: "path",
}
_STATES = {s.value: s for s in ProbeState}


def pack_rtts(rtts_ms: Sequence[float | None]) -> bytes | None:
    """Per-probe RTTs as little-endian float64 (8 bytes each); a lost probe is NaN."""
    if not rtts_ms:
        return None
    return struct.pack(f"<{len(rtts_ms)}d", *(math.nan if v is None else v for v in rtts_ms))


def unpack_rtts(blob: bytes | None) -> tuple[float | None, ...]:
    if not blob:
        return ()
    # v == v is False only for NaN (a lost probe); cheaper than math.isnan per value
    return tuple(v if v == v else None for v in struct.unpack(f"<{len(blob) // 8}d", blob))


def _ping_row(r: PingRound) -> tuple[Any, ...]:
    state = r.state.value if isinstance(r.state, ProbeState) else str(r.state)
    return (
        r.ts, r.target, r.address, r.probe, state, r.sent, r.received, r.loss_pct, r.rtt_min_ms,
        r.rtt_avg_ms, r.rtt_max_ms, r.rtt_mdev_ms, r.rtt_p50_ms, r.rtt_p95_ms, r.jitter_ms, r.mos,
        pack_rtts(r.rtts_ms), r.error,
    )  # fmt: skip


def _ping_record(row: Sequence[Any]) -> PingRound:
    # positional: the column order of _PING_COLS is the field order of PingRound (hot path on reads)
    return PingRound(
        row[0], row[1], row[2], row[3], _STATES.get(row[4], ProbeState.ERROR), row[5], row[6], row[7],
        row[8], row[9], row[10], row[11], row[12], row[13], row[14], row[15], unpack_rtts(row[16]), row[17],
    )  # fmt: skip


_TO_ROW: dict[str, Callable[[Any], tuple[Any, ...]]] = {
    "ping": _ping_row,
    "bandwidth": lambda r: (r.ts, r.interface, r.rx_mbps, r.tx_mbps, r.interval_s),
    "forecast": lambda r: (
        r.made_at, r.ts, r.step, r.model, r.predicted_mbps,
        r.predicted_lo_mbps, r.predicted_hi_mbps, r.predicted_lo95_mbps, r.predicted_hi95_mbps,
    ),  # fmt: skip
    "event": lambda r: (r.ts, r.kind, r.target, r.level, r.message),
    "path": lambda r: (
        r.ts, r.target, r.address, r.hop, r.hop_address, ";".join(r.addresses), r.sent, r.received, r.loss_pct,
        r.rtt_last_ms, r.rtt_avg_ms, r.rtt_best_ms, r.rtt_worst_ms, r.rtt_stdev_ms, r.jitter_ms, int(r.reached),
        r.verdict,
    ),  # fmt: skip
}
_FROM_ROW: dict[str, Callable[[Sequence[Any]], Record]] = {
    "ping": _ping_record,
    "bandwidth": lambda row: BandwidthSample(*row),
    "forecast": lambda row: Forecast(*row),
    "event": lambda row: Event(*row),
    "path": lambda row: PathHop(
        *row[:5], tuple(a for a in row[5].split(";") if a), *row[6:15], bool(row[15]), row[16]
    ),
}
_INSERT = {
    kind: f"INSERT OR IGNORE INTO {TABLES[kind]} ({cols}) VALUES ({', '.join('?' * len(cols.split(',')))})"
    for kind, cols in _COLS.items()
}

# the UNIQUE key of each table (schema.py): what makes two rows "the same reading"
_UNIQUE_KEYS: dict[str, tuple[str, ...]] = {
    "ping": ("ts", "target", "probe"),
    "bandwidth": ("ts", "interface"),
    "forecast": ("model", "made_at", "step"),
    "event": ("ts", "kind", "target", "level", "message"),
    "path": ("ts", "target", "hop"),
}


@dataclass
class ImportCounts:
    """What Store.import_records did, per kind: added, same, conflicts, replaced, failed."""

    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, kind: str, outcome: str) -> None:
        per = self.by_kind.setdefault(kind, dict.fromkeys(("added", "same", "conflicts", "replaced", "failed"), 0))
        per[outcome] += 1

    def get(self, kind: str, outcome: str) -> int:
        return self.by_kind.get(kind, {}).get(outcome, 0)

    def total(self, outcome: str) -> int:
        return sum(per.get(outcome, 0) for per in self.by_kind.values())


# resample series -> (kind, SQL expression, extra condition)
_SERIES: dict[str, tuple[str, str, str]] = {
    "bandwidth_mbps": ("bandwidth", "rx_mbps + tx_mbps", ""),
    "rx_mbps": ("bandwidth", "rx_mbps", ""),
    "tx_mbps": ("bandwidth", "tx_mbps", ""),
    "rtt_avg_ms": ("ping", "rtt_avg_ms", "state = 'ok' AND rtt_avg_ms IS NOT NULL"),
    "jitter_ms": ("ping", "jitter_ms", "state = 'ok' AND jitter_ms IS NOT NULL"),
    "loss_pct": ("ping", "loss_pct", "state = 'ok'"),
}
SERIES: tuple[str, ...] = tuple(_SERIES)


def _check_kind(kind: str) -> str:
    if kind not in TABLES:
        raise QostuiError(f"unknown record kind {kind!r} (expected one of: {', '.join(KINDS)})")
    return TABLES[kind]


def _range_where(
    since: float | None, until: float | None, column: str = "ts", **equal: str | None
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append(f"{column} >= ?")
        params.append(float(since))
    if until is not None:
        clauses.append(f"{column} < ?")
        params.append(float(until))
    for name, value in equal.items():
        if value is not None:
            clauses.append(f"{name} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _rollback(conn: sqlite3.Connection) -> None:
    """Undo a failed write without hiding why it failed: on a full disk or an I/O error SQLite may
    have rolled back already, and a second ROLLBACK would raise its own, misleading error."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


# Rows that retention never prunes (imported history).
_KEEP_ON_PRUNE = {"ping": " AND probe != 'import'", "bandwidth": " AND interface != 'imported'"}


def _read_only_reason(path: Path) -> str:
    """Why the store cannot be written ('' when it can, as far as access(2) tells)."""
    import os

    for candidate, what in (
        (path, "the file"),
        (path.with_name(path.name + "-wal"), "its -wal file"),
        (path.with_name(path.name + "-shm"), "its -shm file"),
    ):
        if candidate.exists() and not os.access(candidate, os.W_OK):
            return f"{what} is not writable"
    if not os.access(path.parent, os.W_OK):
        return f"its folder {path.parent} is not writable"
    return ""


class Store:
    """Records in, records and resampled series out. See module docstring for the rules."""

    def __init__(self, path: Path | str, retention_days: float = 0.0) -> None:
        self.path = Path(path).expanduser()
        self.retention_days = float(retention_days)
        self._lock = threading.RLock()
        self._last_prune = -math.inf  # monotonic; the first write prunes
        self._closed = False
        self._conn = self._open()

    # --- opening ------------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        path = self.path
        if path.is_dir():
            raise QostuiError(f"{path}: is a directory, expected a SQLite store file")
        try:
            with path.open("rb") as fh:
                head = fh.read(len(_SQLITE_MAGIC))
        except FileNotFoundError:
            head = b""
        except OSError as exc:
            raise QostuiError(f"{path}: cannot read the store ({exc.strerror})") from None
        # Check the header ourselves: never let SQLite (or a migration) touch a foreign file.
        if head and head != _SQLITE_MAGIC:
            raise QostuiError(f"{path}: not a SQLite database (expected a qostui store or a new file)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise QostuiError(f"{path.parent}: cannot create the store directory ({exc.strerror})") from None
        conn: sqlite3.Connection | None = None
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves (one transaction per batch).
            conn = sqlite3.connect(str(path), timeout=10.0, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 10000")
            self._check_ours(conn)  # read-only: switching to WAL would already rewrite the header
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._migrate(conn)
        except QostuiError:
            if conn is not None:
                conn.close()
            raise
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            readonly = _read_only_reason(path)
            if readonly:
                raise QostuiError(
                    f"{path}: the store is read-only ({readonly}); qostui writes the store and its -wal "
                    "and -shm files beside it: make them writable or use another --db"
                ) from None
            raise QostuiError(f"{path}: cannot open the store ({exc})") from None
        return conn

    def _check_ours(self, conn: sqlite3.Connection) -> int:
        """The file's schema version (0 for an empty database); raises for foreign or newer files."""
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "schema_version" not in names:
            foreign = {n for n in names if not n.startswith("sqlite_")}
            if foreign:
                raise QostuiError(
                    f"{self.path}: a SQLite database but not a qostui store "
                    f"(tables {', '.join(sorted(foreign)[:5])}; no schema_version)"
                )
            return 0
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        version = int(row[0] or 0)
        if version > SCHEMA_VERSION:
            raise QostuiError(
                f"{self.path}: store schema version {version} is newer than this qostui supports "
                f"({SCHEMA_VERSION}); upgrade qostui or use another --db"
            )
        return version

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # check again inside the write lock: another process may have migrated meanwhile
            version = self._check_ours(conn)
            if (
                version == 0
                and conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_version'").fetchone()
                is None
            ):
                conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                conn.execute("INSERT INTO schema_version (version) VALUES (0)")
            for number in range(version + 1, SCHEMA_VERSION + 1):
                # executescript() would commit mid-way; run statement by statement inside our transaction.
                for statement in MIGRATIONS[number - 1].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("UPDATE schema_version SET version = ?", (number,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT max(version) FROM schema_version").fetchone()[0])

    # --- writing ------------------------------------------------------------------------------

    def write(self, records: Sequence[Record]) -> None:
        """Store a mixed batch in one transaction (the bus handler). Duplicates are ignored."""
        self.insert(records)

    def insert(self, records: Sequence[Record]) -> dict[str, int]:
        """Like write(); returns rows actually added per kind (duplicates are not counted)."""
        rows: dict[str, list[tuple[Any, ...]]] = {}
        for record in records:
            kind = _TYPES.get(type(record))
            if kind is None:
                raise TypeError(f"Store.write: not a record: {record!r}")
            rows.setdefault(kind, []).append(_TO_ROW[kind](record))
        added = dict.fromkeys(KINDS, 0)
        if rows:
            with self._lock:
                conn = self._live()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for kind, kind_rows in rows.items():
                        cur = conn.executemany(_INSERT[kind], kind_rows)
                        added[kind] = max(cur.rowcount, 0)
                    conn.execute("COMMIT")
                except BaseException:
                    _rollback(conn)
                    raise
        if self.retention_days > 0 and time.monotonic() - self._last_prune >= _PRUNE_EVERY_S:
            self.prune()
        return added

    def import_records(self, records: Sequence[Record], *, replace: bool = False) -> ImportCounts:
        """Insert imported records in one transaction, telling new, identical and conflicting rows apart.

        A record whose unique key (schema.py) is already stored with the same values is `same`; with
        other values it is a conflict: the stored row is kept (`conflicts`), or with replace=True
        deleted and the new one inserted under a new rowid (`replaced`), so exporters send it again.
        """
        counts = ImportCounts()
        rows: dict[str, list[tuple[Any, ...]]] = {}
        for record in records:
            kind = _TYPES.get(type(record))
            if kind is None:
                raise TypeError(f"Store.import_records: not a record: {record!r}")
            rows.setdefault(kind, []).append(_TO_ROW[kind](record))
        if not rows:
            return counts
        with self._lock:
            conn = self._live()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for kind, kind_rows in rows.items():
                    self._import_kind(conn, kind, kind_rows, replace, counts)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return counts

    @staticmethod
    def _import_kind(
        conn: sqlite3.Connection, kind: str, rows: list[tuple[Any, ...]], replace: bool, counts: ImportCounts
    ) -> None:
        cols = [c.strip() for c in _COLS[kind].split(",")]
        key_idx = [cols.index(c) for c in _UNIQUE_KEYS[kind]]
        where = " AND ".join(f"{cols[i]} = ?" for i in key_idx)
        table = TABLES[kind]
        select = f"SELECT {_COLS[kind]} FROM {table} WHERE {where}"
        delete = f"DELETE FROM {table} WHERE {where}"
        insert = _INSERT[kind]
        for row in rows:
            if conn.execute(insert, row).rowcount == 1:
                counts.add(kind, "added")
                continue
            key = [row[i] for i in key_idx]
            stored = conn.execute(select, key).fetchone()
            if stored is None:  # ignored for another reason (a NOT NULL column got NULL): not stored
                counts.add(kind, "failed")
            elif tuple(stored) == tuple(row):
                counts.add(kind, "same")
            elif replace:
                conn.execute(delete, key)
                conn.execute(insert, row)
                counts.add(kind, "replaced")
            else:
                counts.add(kind, "conflicts")

    def prune(self, now: float | None = None) -> int:
        """Delete recorded rows older than retention_days (by ts); returns how many. 0 keeps everything.

        Imported history (probe 'import', interface 'imported') is kept: the user brought it in on
        purpose, and it is usually older than the retention window.
        """
        self._last_prune = time.monotonic()
        if self.retention_days <= 0:
            return 0
        cutoff = (time.time() if now is None else now) - self.retention_days * 86400.0
        deleted = 0
        with self._lock:
            conn = self._live()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for kind, table in TABLES.items():
                    keep = _KEEP_ON_PRUNE.get(kind, "")
                    deleted += conn.execute(f"DELETE FROM {table} WHERE ts < ?{keep}", (cutoff,)).rowcount
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
        return deleted

    # --- reading records ----------------------------------------------------------------------

    def _select(self, kind: str, where: str, params: list[Any], limit: int | None) -> list[Record]:
        table = _check_kind(kind)
        sql = f"SELECT {_COLS[kind]}, id FROM {table}{where}"
        if limit is not None:
            # the newest `limit` rows, returned oldest first
            sql = f"SELECT * FROM ({sql} ORDER BY ts DESC, id DESC LIMIT ?) ORDER BY ts, id"
            params = [*params, int(limit)]
        else:
            sql += " ORDER BY ts, id"
        with self._lock:
            rows = self._live().execute(sql, params).fetchall()
        convert = _FROM_ROW[kind]
        return [convert(row[:-1]) for row in rows]

    def ping_rounds(
        self,
        since: float | None = None,
        until: float | None = None,
        target: str | None = None,
        limit: int | None = None,
    ) -> list[PingRound]:
        """Rounds with since <= ts < until, ordered by ts; with `limit`, the newest `limit` of them."""
        where, params = _range_where(since, until, target=target)
        return self._select("ping", where, params, limit)  # type: ignore[return-value]

    def bandwidth(
        self,
        since: float | None = None,
        until: float | None = None,
        interface: str | None = None,
        limit: int | None = None,
    ) -> list[BandwidthSample]:
        where, params = _range_where(since, until, interface=interface)
        return self._select("bandwidth", where, params, limit)  # type: ignore[return-value]

    def path_hops(
        self,
        since: float | None = None,
        until: float | None = None,
        target: str | None = None,
        limit: int | None = None,
    ) -> list[PathHop]:
        """Path hop rows with since <= ts < until, ordered by (ts, hop); `limit` keeps the newest rows."""
        where, params = _range_where(since, until, target=target)
        return self._select("path", where, params, limit)  # type: ignore[return-value]

    def forecasts(
        self, since: float | None = None, until: float | None = None, model: str | None = None
    ) -> list[Forecast]:
        """Forecasts whose predicted time `ts` is in [since, until), ordered by ts."""
        where, params = _range_where(since, until, model=model)
        return self._select("forecast", where, params, None)  # type: ignore[return-value]

    def events(self, since: float | None = None, until: float | None = None) -> list[Event]:
        where, params = _range_where(since, until)
        return self._select("event", where, params, None)  # type: ignore[return-value]

    def iter_records(
        self, kind: str, since: float | None = None, until: float | None = None, batch: int = 5000
    ) -> Iterator[Record]:
        """All records of a kind in [since, until), ordered by ts, fetched in batches (for export)."""
        table = _check_kind(kind)
        where, params = _range_where(since, until)
        last: tuple[float, int] | None = None
        convert = _FROM_ROW[kind]
        while True:
            clause, args = where, list(params)
            if last is not None:  # keyset pagination: stable even while rows are being added
                clause = (clause + " AND" if clause else " WHERE") + " (ts > ? OR (ts = ? AND id > ?))"
                args += [last[0], last[0], last[1]]
            sql = f"SELECT {_COLS[kind]}, id FROM {table}{clause} ORDER BY ts, id LIMIT ?"
            with self._lock:
                rows = self._live().execute(sql, [*args, batch]).fetchall()
            for row in rows:
                yield convert(row[:-1])
            if len(rows) < batch:
                return
            last = (rows[-1][_COLS[kind].split(", ").index("ts")], rows[-1][-1])

    def targets(self) -> list[str]:
        with self._lock:
            return [
                r[0] for r in self._live().execute("SELECT DISTINCT target FROM ping_round ORDER BY target")
            ]

    def interfaces(self) -> list[str]:
        with self._lock:
            rows = self._live().execute("SELECT DISTINCT interface FROM bandwidth ORDER BY interface")
            return [r[0] for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            conn = self._live()
            return {
                kind: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
                for kind, t in TABLES.items()
            }

    def time_range(self, kind: str = "bandwidth") -> tuple[float, float] | None:
        """(oldest ts, newest ts) of a kind, or None when it has no rows."""
        table = _check_kind(kind)
        with self._lock:
            lo, hi = self._live().execute(f"SELECT min(ts), max(ts) FROM {table}").fetchone()
        return None if lo is None else (float(lo), float(hi))

    # --- resampling ---------------------------------------------------------------------------

    def resample(
        self,
        series: str,
        step_s: float,
        since: float | None = None,
        until: float | None = None,
        target: str | None = None,
        interface: str | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """A fixed-step series: (bin start times, values), bins aligned to multiples of step_s.

        Each value is the mean of the samples in [t, t + step_s); NaN where there are none.
        Bandwidth series are averaged per interface, then summed over interfaces (unless
        `interface` is given). Ping series use OK rounds only; without `target` they are averaged
        per target first, then over targets, so a target probed more often does not weigh more.
        The grid spans [since, until) when given, else the data's own range.
        """
        if series not in _SERIES:
            raise QostuiError(f"unknown series {series!r} (expected one of: {', '.join(SERIES)})")
        if not step_s > 0 or not math.isfinite(step_s):
            raise QostuiError(f"resample step must be a positive number of seconds, got {step_s!r}")
        kind, expr, condition = _SERIES[series]
        group = "interface" if kind == "bandwidth" else "target"
        where, params = _range_where(since, until, **{group: interface if kind == "bandwidth" else target})
        if condition:
            where = (where + " AND " if where else " WHERE ") + condition
        combine = "sum" if kind == "bandwidth" else "avg"
        # Bucket in SQL (CAST truncates; ts are positive epochs) so only one row per bin comes back.
        sql = (
            f"SELECT b, {combine}(m) FROM ("
            f"SELECT CAST(ts / ? AS INTEGER) AS b, {group}, avg({expr}) AS m "
            f"FROM {TABLES[kind]}{where} GROUP BY b, {group}) GROUP BY b ORDER BY b"
        )
        with self._lock:
            rows = self._live().execute(sql, [float(step_s), *params]).fetchall()
        import numpy as np  # lazily: the recorder and the monitor's first frame do not need it

        empty = (np.empty(0, dtype=np.float64), np.empty(0, dtype=np.float64))
        if since is not None:
            first = math.floor(since / step_s)
        elif rows:
            first = int(rows[0][0])
        else:
            return empty
        if until is not None:
            last = math.ceil(until / step_s) - 1  # bins starting before `until`
        elif rows:
            last = int(rows[-1][0])
        else:
            return empty
        n = last - first + 1
        if n <= 0:
            return empty
        if n > _MAX_GRID_POINTS:
            raise QostuiError(
                f"resample: {n} bins of {step_s:g}s is too many; use a larger step or a shorter range"
            )
        values = np.full(n, np.nan, dtype=np.float64)
        if rows:
            data = np.asarray(rows, dtype=np.float64)
            idx = data[:, 0].astype(np.int64) - first
            keep = (idx >= 0) & (idx < n)
            values[idx[keep]] = data[keep, 1]
        times = (np.arange(n, dtype=np.float64) + first) * step_s
        return times, values

    # --- cursors for exporters (the store is the durable outbox) ------------------------------

    def read_after(self, kind: str, after_rowid: int, limit: int) -> list[tuple[int, Record]]:
        """Up to `limit` (rowid, record) with rowid > after_rowid, ordered by rowid."""
        table = _check_kind(kind)
        sql = f"SELECT id, {_COLS[kind]} FROM {table} WHERE id > ? ORDER BY id LIMIT ?"
        with self._lock:
            rows = self._live().execute(sql, (int(after_rowid), int(limit))).fetchall()
        convert = _FROM_ROW[kind]
        return [(int(row[0]), convert(row[1:])) for row in rows]

    def max_rowid(self, kind: str) -> int:
        """The largest rowid present for a kind, 0 when the table is empty.

        Rowids only grow (AUTOINCREMENT) but may have gaps (ignored duplicates, pruned rows), so a
        cursor below max_rowid means "maybe more"; read_after() is the truth.
        """
        table = _check_kind(kind)
        with self._lock:
            row = self._live().execute(f"SELECT max(id) FROM {table}").fetchone()
        return int(row[0] or 0)

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._live().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Committed immediately (autocommit)."""
        with self._lock:
            self._live().execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, str(value)),
            )

    def integrity_check(self) -> str:
        """'ok' for a sound file, else SQLite's first complaint."""
        with self._lock:
            return str(self._live().execute("PRAGMA integrity_check").fetchone()[0])

    # --- lifetime -----------------------------------------------------------------------------

    def _live(self) -> sqlite3.Connection:
        if self._closed:
            raise QostuiError(f"{self.path}: the store is closed")
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with contextlib.suppress(sqlite3.Error):  # best effort; closing matters more
                self._conn.execute("PRAGMA optimize")
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}, retention_days={self.retention_days:g})"
