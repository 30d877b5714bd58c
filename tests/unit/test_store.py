"""The SQLite store on real files: round trips, dedup, ranges, resampling, retention, cursors,
thread safety, crash safety (SIGKILL mid-write) and refusal to touch foreign files."""

from __future__ import annotations

import math
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from qostui.errors import QostuiError
from qostui.records import BandwidthSample, Event, Forecast, PingRound, ProbeState
from qostui.store import SCHEMA_VERSION, Store
from qostui.store.sqlite import pack_rtts, unpack_rtts

T0 = 1_763_000_100.0  # a multiple of 300 s and of 10 s: grid alignment is easy to reason about


def ping(ts: float, target: str = "a", **kw: object) -> PingRound:
    base: dict[str, object] = dict(
        ts=ts, target=target, address="127.0.0.1", probe="icmp", state=ProbeState.OK, sent=5,
        received=5, loss_pct=0.0, rtt_min_ms=1.0, rtt_avg_ms=2.0, rtt_max_ms=3.0, rtt_mdev_ms=0.5,
        rtt_p50_ms=2.0, rtt_p95_ms=2.9, jitter_ms=0.25, mos=4.4, rtts_ms=(1.0, 2.0, 3.0, 2.0, 2.0),
    )  # fmt: skip
    base.update(kw)
    return PingRound(**base)  # type: ignore[arg-type]


def bw(ts: float, interface: str = "eth0", rx: float = 10.0, tx: float = 1.0) -> BandwidthSample:
    return BandwidthSample(ts=ts, interface=interface, rx_mbps=rx, tx_mbps=tx, interval_s=1.0)


@pytest.fixture
def store(db_path: Path):
    s = Store(db_path)
    yield s
    s.close()


# --- round trips ---------------------------------------------------------------------------------


def test_every_field_round_trips(store: Store) -> None:
    rounds = [
        ping(T0, rtts_ms=(1.5, None, 0.123456789012345, None)),
        ping(T0 + 1, target="b", rtts_ms=()),
        ping(T0 + 2, target="c", rtts_ms=(None, None)),
        PingRound(T0 + 3, "d.example", "", "tcp", ProbeState.UNRESOLVED, 0, 0, 0.0, error="no such name"),
        PingRound(T0 + 4, "e", "10.231.9.9", "icmp", ProbeState.NO_ROUTE, 3, 0, 100.0),
        ping(T0 + 5, target="f", state=ProbeState.OK, received=0, loss_pct=100.0, rtt_avg_ms=None),
    ]
    samples = [bw(T0, rx=12.345678901234, tx=0.0), BandwidthSample(T0 + 1, "wlan0", 1e-9, 9e3, 0.5)]
    forecasts = [Forecast(T0, T0 + 300 * k, k, "lstm-1", 10.0 + k) for k in range(1, 4)]
    events = [Event(T0, "latency", "a", "warn", "rtt 120 ms > 100 ms — ünïcode ok")]
    store.write([*reversed(rounds), *samples, *forecasts, *events])  # mixed, unordered
    assert store.ping_rounds() == rounds  # ordered by ts, every field incl. state and rtts
    assert all(isinstance(r.state, ProbeState) for r in store.ping_rounds())
    assert store.bandwidth() == samples
    assert store.forecasts() == forecasts
    assert store.events() == events
    assert store.counts() == {"ping": 6, "bandwidth": 2, "forecast": 3, "event": 1, "path": 0}
    assert store.targets() == ["a", "b", "c", "d.example", "e", "f"]
    assert store.interfaces() == ["eth0", "wlan0"]


def test_rtts_pack_compactly() -> None:
    rtts = (1.0, None, 2.5)
    blob = pack_rtts(rtts)
    assert blob is not None and len(blob) == 24
    assert unpack_rtts(blob) == rtts
    assert pack_rtts(()) is None and unpack_rtts(None) == ()


def test_reopen_keeps_data_and_meta(db_path: Path) -> None:
    with Store(db_path) as s:
        s.write([ping(T0)])
        s.set_meta("influx.cursor.ping", "17")
    with Store(db_path) as s:
        assert s.ping_rounds() == [ping(T0)]
        assert s.get_meta("influx.cursor.ping") == "17"
        assert s.get_meta("missing") is None
        assert s.schema_version == SCHEMA_VERSION


def test_creates_parent_dirs_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "q.db"
    with Store(path) as s:
        s.write([ping(T0)])
        conn = sqlite3.connect(path)  # a second reader, as another process would see it
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM ping_round").fetchone()[0] == 1
        conn.close()


# --- writes: transactions and duplicates ----------------------------------------------------------


def test_duplicates_are_ignored(store: Store) -> None:
    batch = [
        ping(T0),
        ping(T0, target="b"),
        bw(T0),
        Forecast(T0, T0 + 300, 1, "m", 1.0),
        Event(T0, "k", "a", "ok", "m"),
    ]
    assert store.insert(batch) == {"ping": 2, "bandwidth": 1, "forecast": 1, "event": 1, "path": 0}
    assert store.insert(batch) == {"ping": 0, "bandwidth": 0, "forecast": 0, "event": 0, "path": 0}
    assert store.counts() == {"ping": 2, "bandwidth": 1, "forecast": 1, "event": 1, "path": 0}
    # same time and target but another probe kind is a different round
    store.write([ping(T0, probe="tcp")])
    assert store.counts()["ping"] == 3


def test_a_failing_batch_writes_nothing(store: Store) -> None:
    bad = ping(T0 + 1, target=object())  # type: ignore[arg-type]  # SQLite cannot bind this
    with pytest.raises(sqlite3.Error):
        store.write([bw(T0), ping(T0), bad])
    assert store.counts() == {"ping": 0, "bandwidth": 0, "forecast": 0, "event": 0, "path": 0}
    store.write([ping(T0)])  # the connection is usable afterwards
    assert store.counts()["ping"] == 1


def test_rejects_non_records(store: Store) -> None:
    with pytest.raises(TypeError):
        store.write(["not a record"])  # type: ignore[list-item]


# --- reads ----------------------------------------------------------------------------------------


def test_ranges_are_half_open_and_filtered(store: Store) -> None:
    store.write([ping(T0 + i, target=t) for i in range(10) for t in ("a", "b")])
    got = store.ping_rounds(since=T0 + 2, until=T0 + 5, target="a")
    assert [r.ts for r in got] == [T0 + 2, T0 + 3, T0 + 4]
    assert len(store.ping_rounds(since=T0 + 8)) == 4
    newest = store.ping_rounds(target="b", limit=3)  # the newest three, oldest first
    assert [r.ts for r in newest] == [T0 + 7, T0 + 8, T0 + 9]
    assert store.time_range("ping") == (T0, T0 + 9)
    assert store.time_range("event") is None
    store.write([bw(T0 + i, iface) for i in range(4) for iface in ("eth0", "wlan0")])
    assert [s.ts for s in store.bandwidth(interface="wlan0", since=T0 + 1, limit=2)] == [T0 + 2, T0 + 3]
    store.write([Forecast(T0, T0 + 300 * k, k, m, 1.0) for k in (1, 2) for m in ("x", "y")])
    assert [f.step for f in store.forecasts(model="y", until=T0 + 600)] == [1]
    with pytest.raises(QostuiError, match="unknown record kind"):
        store.time_range("pings")


def test_iter_records_pages_in_ts_order(store: Store) -> None:
    store.write([ping(T0 + 100 - i, target=t) for i in range(100) for t in ("a", "b")])
    got = list(store.iter_records("ping", batch=7))
    assert got == store.ping_rounds()
    assert len(got) == 200
    assert [r.ts for r in store.iter_records("ping", since=T0 + 99, until=T0 + 100, batch=1)] == [T0 + 99] * 2


# --- resampling -----------------------------------------------------------------------------------


def test_resample_bandwidth_grid_mean_nan_and_interface_sum(store: Store) -> None:
    store.write(
        [
            bw(T0 + 10, rx=10, tx=0),
            bw(T0 + 200, rx=20, tx=0),  # same 300 s bin as the first: mean 15
            # bin 2 (T0+600) left empty -> NaN
            bw(T0 + 900, rx=1, tx=2),
            bw(T0 + 901, "wlan0", rx=100, tx=0),
            bw(T0 + 950, "wlan0", rx=200, tx=0),  # wlan0 mean 150, summed with eth0's 3
        ]
    )
    t, v = store.resample("bandwidth_mbps", 300.0)
    np.testing.assert_array_equal(t, T0 + np.array([0.0, 300, 600, 900]))
    assert v[0] == 15.0 and math.isnan(v[1]) and math.isnan(v[2]) and v[3] == 153.0
    _, rx = store.resample("rx_mbps", 300.0, interface="eth0")
    assert rx[-1] == 1.0
    _, tx = store.resample("tx_mbps", 300.0)
    assert tx[-1] == 2.0
    # an explicit window: bins aligned to the step even if since/until are not
    t, v = store.resample("bandwidth_mbps", 300.0, since=T0 - 250, until=T0 + 301)
    np.testing.assert_array_equal(t, T0 + np.array([-300.0, 0.0, 300.0]))
    assert math.isnan(v[0]) and v[1] == 15.0 and math.isnan(v[2])


def test_resample_ping_series_per_target_then_mean(store: Store) -> None:
    store.write(
        [
            ping(T0 + 1, "a", rtt_avg_ms=10.0, loss_pct=0.0),
            ping(T0 + 2, "a", rtt_avg_ms=20.0, loss_pct=20.0),  # a: mean 15, loss 10
            ping(T0 + 3, "b", rtt_avg_ms=45.0, loss_pct=50.0),  # b: 45, loss 50
            PingRound(T0 + 4, "c", "", "icmp", ProbeState.NO_ROUTE, 3, 0, 100.0),  # not OK: ignored
            ping(T0 + 5, "b", rtt_avg_ms=None, jitter_ms=None, loss_pct=100.0),  # all lost: loss only
        ]
    )
    _, rtt = store.resample("rtt_avg_ms", 10.0)
    assert rtt.tolist() == [30.0]  # mean of per-target means (15, 45), not of the three rounds
    _, loss = store.resample("loss_pct", 10.0)
    assert loss.tolist() == [(10.0 + 75.0) / 2]
    _, rtt_b = store.resample("rtt_avg_ms", 10.0, target="b")
    assert rtt_b.tolist() == [45.0]
    _, jit = store.resample("jitter_ms", 10.0, target="a")
    assert jit.tolist() == [0.25]


def test_resample_empty_and_errors(store: Store) -> None:
    t, v = store.resample("bandwidth_mbps", 60.0)
    assert t.size == 0 and v.size == 0
    t, v = store.resample("bandwidth_mbps", 60.0, since=T0, until=T0 + 180)
    assert t.tolist() == [T0, T0 + 60, T0 + 120] and np.isnan(v).all()
    with pytest.raises(QostuiError, match="unknown series"):
        store.resample("latency", 60.0)
    with pytest.raises(QostuiError, match="positive"):
        store.resample("rx_mbps", 0.0)


# --- retention and cursors ------------------------------------------------------------------------


def test_prune_by_retention_and_rowids_not_reused(db_path: Path) -> None:
    with Store(db_path, retention_days=1.0) as s:
        old, new = T0 - 2 * 86400, T0 - 3600
        s.insert(
            [
                ping(old),
                ping(new),
                bw(old),
                bw(new),
                Forecast(old, old, 1, "m", 1.0),
                Event(old, "k", "a", "ok", ""),
            ]
        )
        # insert() pruned once already (relative to the wall clock: everything here is "old")
        assert s.counts() == {"ping": 0, "bandwidth": 0, "forecast": 0, "event": 0, "path": 0}
        s.write([ping(old), ping(new), bw(old), bw(new)])  # within a minute: no second prune
        assert s.counts()["ping"] == 2
        last_id = s.max_rowid("ping")
        assert s.prune(now=T0) == 2  # one ping, one bandwidth row older than a day before T0
        assert [r.ts for r in s.ping_rounds()] == [new]
        s.write([ping(T0)])
        after = s.read_after("ping", last_id, 10)
        assert [rid for rid, _ in after] == [last_id + 1]  # never reuses a pruned rowid
    with Store(db_path) as s:
        assert s.prune(now=T0 + 1e9) == 0  # retention 0 keeps everything


def test_read_after_cursor(store: Store) -> None:
    store.write([ping(T0 + i) for i in range(5)])
    assert store.max_rowid("ping") == 5 and store.max_rowid("bandwidth") == 0
    page = store.read_after("ping", 0, 2)
    assert [rid for rid, _ in page] == [1, 2] and page[0][1] == ping(T0)
    assert [rid for rid, _ in store.read_after("ping", 2, 100)] == [3, 4, 5]
    assert store.read_after("ping", 5, 100) == []


# --- concurrency and crash safety -----------------------------------------------------------------


def test_threads_write_and_read_concurrently(store: Store) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(target: str) -> None:
        try:
            for i in range(200):
                store.write([ping(T0 + i, target), bw(T0 + i, target)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            while not stop.is_set():
                store.ping_rounds(limit=50)
                store.resample("bandwidth_mbps", 10.0)
                store.counts()
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    writers = [threading.Thread(target=writer, args=(f"t{i}",)) for i in range(3)]
    readers = [threading.Thread(target=reader) for _ in range(2)]
    for th in readers + writers:
        th.start()
    for th in writers:
        th.join(30)
    stop.set()
    for th in readers:
        th.join(30)
    assert not errors
    assert store.counts()["ping"] == 600 and store.counts()["bandwidth"] == 600


_WRITER = textwrap.dedent(
    """
    import sys, time
    from qostui.records import PingRound, ProbeState
    from qostui.store import Store
    store = Store(sys.argv[1])
    batch = int(sys.argv[2])
    deadline = time.monotonic() + 20  # bounded even if nobody kills us
    i = 0
    while time.monotonic() < deadline and i < 200_000:
        store.write([PingRound(float(i * batch + j), "t", "127.0.0.1", "icmp", ProbeState.OK, 3, 3, 0.0,
                               rtt_avg_ms=1.0, rtts_ms=(1.0, 1.0, 1.0)) for j in range(batch)])
        i += 1
        if i == 20:
            print("ready", flush=True)
    """
)


@pytest.mark.parametrize("delay_s", [0.05, 0.3])
def test_sigkill_mid_write_loses_only_the_open_batch(db_path: Path, tmp_path: Path, delay_s: float) -> None:
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    batch = 97  # odd size: a torn batch would show as a remainder
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db_path), str(batch)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay_s)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    with Store(db_path) as s:
        assert s.integrity_check() == "ok"
        n = s.counts()["ping"]
        assert n >= 20 * batch and n % batch == 0
        rounds = s.ping_rounds(limit=3)
        assert all(r.rtts_ms == (1.0, 1.0, 1.0) for r in rounds)
        s.write([ping(1e9)])  # and it is writable again
        assert s.counts()["ping"] == n + 1


# --- refusing files that are not ours -------------------------------------------------------------


def test_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"hello, this is not sqlite\n" * 10)
    before = path.read_bytes()
    with pytest.raises(QostuiError) as info:
        Store(path)
    assert str(path) in str(info.value) and "not a SQLite database" in str(info.value)
    assert "\n" not in str(info.value)
    assert path.read_bytes() == before
    assert not (tmp_path / "notes.db-wal").exists()


def test_foreign_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(QostuiError, match="not a qostui store"):
        Store(path)
    assert path.read_bytes() == before


def test_newer_schema_is_refused(db_path: Path) -> None:
    Store(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 5,))
    conn.commit()
    conn.close()
    with pytest.raises(QostuiError, match=f"schema version {SCHEMA_VERSION + 5} is newer"):
        Store(db_path)


def test_directory_and_closed_store(tmp_path: Path) -> None:
    with pytest.raises(QostuiError, match="is a directory"):
        Store(tmp_path)
    s = Store(tmp_path / "q.db")
    s.close()
    s.close()  # idempotent
    with pytest.raises(QostuiError, match="closed"):
        s.write([ping(T0)])


def test_store_import_stays_headless() -> None:
    code = (
        "import sys, qostui.store, qostui.interop, qostui.commands.import_cmd, qostui.commands.export\n"
        "bad = [m for m in ('textual', 'tensorflow', 'keras', 'pandas') if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == ""


# --- migrations and a second connection -----------------------------------------------------------


def test_pending_migrations_apply_in_order_and_keep_data(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qostui.store.sqlite as sqlite_mod

    with Store(db_path) as s:
        s.write([ping(T0)])
    extra = (
        "ALTER TABLE event ADD COLUMN note TEXT NOT NULL DEFAULT ''; CREATE INDEX event_kind ON event (kind)"
    )
    monkeypatch.setattr(sqlite_mod, "MIGRATIONS", (*sqlite_mod.MIGRATIONS, extra))
    monkeypatch.setattr(sqlite_mod, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with Store(db_path) as s:
        assert s.schema_version == SCHEMA_VERSION + 1
        assert s.ping_rounds() == [ping(T0)]
    conn = sqlite3.connect(db_path)
    assert "note" in [row[1] for row in conn.execute("PRAGMA table_info(event)")]
    conn.close()


def test_a_second_store_on_the_same_file_sees_commits(db_path: Path) -> None:
    # as `qostui export` (another process) would while the recorder writes
    with Store(db_path) as writer, Store(db_path) as reader:
        writer.write([ping(T0)])
        assert reader.ping_rounds() == [ping(T0)]
        reader.write([ping(T0 + 1)])
        assert writer.counts()["ping"] == 2


def test_retention_keeps_imported_history(tmp_path: Path) -> None:
    from qostui.records import BandwidthSample, PingRound, ProbeState

    old = 1_000_000.0  # far older than any retention window
    store = Store(tmp_path / "r.db", retention_days=0.0)
    try:
        store.write(
            [
                PingRound(old, "a", "a", "import", ProbeState.OK, 0, 0, 0.0, rtt_avg_ms=5.0),
                PingRound(old, "a", "a", "icmp", ProbeState.OK, 1, 1, 0.0, rtt_avg_ms=5.0),
                BandwidthSample(old, "imported", 1.0, 0.0, 300.0),
                BandwidthSample(old, "eth0", 1.0, 0.0, 1.0),
            ]
        )
        store.retention_days = 1.0
        assert store.prune() == 2
        assert [r.probe for r in store.ping_rounds()] == ["import"]
        assert [b.interface for b in store.bandwidth()] == ["imported"]
    finally:
        store.close()


def test_path_hops_round_trip_and_export(tmp_path) -> None:
    """PathHop rows (schema migration 3) come back equal, and `qostui export` writes them."""
    import json

    from qostui.cli import main
    from qostui.records import PathHop

    db = tmp_path / "p.db"
    hops = [
        PathHop(100.0, "lab", "10.231.4.2", 1, "10.231.1.2", ("10.231.1.2",), 10, 10, 0.0, 0.05, 0.06, 0.04,
                0.09, 0.01, 0.005, False, ""),
        PathHop(100.0, "lab", "10.231.4.2", 2, "10.231.2.2", ("10.231.2.2", "10.231.9.2"), 10, 8, 20.0,
                None, 0.1, 0.1, 0.1, 0.0, 0.0, True, "loss from hop 2"),
    ]
    with Store(db) as store:
        assert store.insert(hops)["path"] == 2
        assert store.insert(hops)["path"] == 0  # (ts, target, hop) is unique
        assert store.path_hops(target="lab") == hops
        assert store.schema_version >= 3
    out = tmp_path / "p.jsonl"
    assert main(["export", "--db", str(db), "--kind", "path", "--format", "json", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["type"], r["hop"], r["addresses"], r["verdict"]) for r in rows] == [
        ("PathHop", 1, ["10.231.1.2"], ""), ("PathHop", 2, ["10.231.2.2", "10.231.9.2"], "loss from hop 2")]
    csv_out = tmp_path / "p.csv"
    assert main(["export", "--db", str(db), "--kind", "path", "--out", str(csv_out)]) == 0
    db2 = tmp_path / "q.db"
    assert main(["import", str(csv_out), "--db", str(db2)]) == 0
    with Store(db2) as store:
        assert store.path_hops() == hops  # CSV export -> import round-trips
