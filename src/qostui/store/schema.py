"""Store schema: ordered migrations, applied once each, tracked in `schema_version`.

Rules for a new migration: append to MIGRATIONS (never edit a released one), keep it idempotent
within its own transaction, and bump nothing else: SCHEMA_VERSION follows the list.

Duplicates: every record table has a UNIQUE key and rows go in with INSERT OR IGNORE, so importing
the same file twice (or a replayed batch) never duplicates rows:
  ping_round  (ts, target, probe)
  bandwidth   (ts, interface)
  forecast    (model, made_at, step)
  event       (ts, kind, target, level, message)
  path_hop    (ts, target, hop)
The UNIQUE keys of ping_round, bandwidth and event start with ts, so they double as the ts index.
Rowids are AUTOINCREMENT, so they are never reused after a prune: an exporter's cursor stays valid.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: initial schema
    """
    CREATE TABLE IF NOT EXISTS meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS ping_round (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        ts          REAL NOT NULL,
        target      TEXT NOT NULL,
        address     TEXT NOT NULL,
        probe       TEXT NOT NULL,
        state       TEXT NOT NULL,
        sent        INTEGER NOT NULL,
        received    INTEGER NOT NULL,
        loss_pct    REAL NOT NULL,
        rtt_min_ms  REAL,
        rtt_avg_ms  REAL,
        rtt_max_ms  REAL,
        rtt_mdev_ms REAL,
        rtt_p50_ms  REAL,
        rtt_p95_ms  REAL,
        jitter_ms   REAL,
        mos         REAL,
        rtts        BLOB,          -- little-endian float64 per probe, NaN = lost
        error       TEXT NOT NULL DEFAULT '',
        UNIQUE (ts, target, probe)
    );
    CREATE INDEX IF NOT EXISTS ping_round_target_ts ON ping_round (target, ts);
    CREATE TABLE IF NOT EXISTS bandwidth (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        ts         REAL NOT NULL,
        interface  TEXT NOT NULL,
        rx_mbps    REAL NOT NULL,
        tx_mbps    REAL NOT NULL,
        interval_s REAL NOT NULL,
        UNIQUE (ts, interface)
    );
    CREATE INDEX IF NOT EXISTS bandwidth_interface_ts ON bandwidth (interface, ts);
    CREATE TABLE IF NOT EXISTS forecast (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        made_at        REAL NOT NULL,
        ts             REAL NOT NULL,
        step           INTEGER NOT NULL,
        model          TEXT NOT NULL,
        predicted_mbps REAL NOT NULL,
        UNIQUE (model, made_at, step)
    );
    CREATE INDEX IF NOT EXISTS forecast_ts ON forecast (ts);
    CREATE TABLE IF NOT EXISTS event (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        ts      REAL NOT NULL,
        kind    TEXT NOT NULL,
        target  TEXT NOT NULL,
        level   TEXT NOT NULL,
        message TEXT NOT NULL,
        UNIQUE (ts, kind, target, level, message)
    );
    """,
    # 2: prediction interval bounds (80% and 95%) on each forecast step; NULL where none was made
    """
    ALTER TABLE forecast ADD COLUMN predicted_lo_mbps REAL;
    ALTER TABLE forecast ADD COLUMN predicted_hi_mbps REAL;
    ALTER TABLE forecast ADD COLUMN predicted_lo95_mbps REAL;
    ALTER TABLE forecast ADD COLUMN predicted_hi95_mbps REAL;
    """,
    # 3: hop-by-hop path rounds (records.PathHop); addresses ';'-separated
    """
    CREATE TABLE IF NOT EXISTS path_hop (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        ts           REAL NOT NULL,
        target       TEXT NOT NULL,
        address      TEXT NOT NULL,
        hop          INTEGER NOT NULL,
        hop_address  TEXT NOT NULL,
        addresses    TEXT NOT NULL,
        sent         INTEGER NOT NULL,
        received     INTEGER NOT NULL,
        loss_pct     REAL NOT NULL,
        rtt_last_ms  REAL,
        rtt_avg_ms   REAL,
        rtt_best_ms  REAL,
        rtt_worst_ms REAL,
        rtt_stdev_ms REAL,
        jitter_ms    REAL,
        reached      INTEGER NOT NULL,
        verdict      TEXT NOT NULL DEFAULT '',
        UNIQUE (ts, target, hop)
    );
    CREATE INDEX IF NOT EXISTS path_hop_target_ts ON path_hop (target, ts);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

# record kind -> table name (the public API speaks in kinds)
TABLES: dict[str, str] = {
    "ping": "ping_round",
    "bandwidth": "bandwidth",
    "forecast": "forecast",
    "event": "event",
    "path": "path_hop",
}
KINDS: tuple[str, ...] = tuple(TABLES)
