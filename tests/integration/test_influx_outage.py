"""Nothing lost: `qostui record` against victoria-metrics while the server goes away and comes back.

The outage (8 s) outlasts several of the writer's retries (0.5, 1, 2, 4 s ...): influxdb-client's
batching write API with a comparable retry budget would have dropped those batches
(test_influxdb_client_batching_drops_points shows it). Every round in the SQLite store must be in
the server exactly once, with the same values (to victoria-metrics' 12 significant digits).
"""

from __future__ import annotations

import math
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import PATIENCE_S
from integration.vm import VictoriaMetrics, recorder, write_config
from qostui.exporters.line_protocol import ts_us
from qostui.records import PingRound
from qostui.store import Store

pytestmark = [pytest.mark.server, pytest.mark.slow]

OUTAGE_S = 8.0
NUMERIC_FIELDS = (
    "rtt_min_ms", "rtt_avg_ms", "rtt_max_ms", "rtt_mdev_ms", "rtt_p50_ms", "rtt_p95_ms", "jitter_ms", "loss_pct",
    "sent", "received", "mos",
)  # fmt: skip


def record_args(config: Path, db: Path) -> list[str]:
    return ["--config", str(config), "--targets", "127.0.0.1", "--interval", "0.5", "--db", str(db)]


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(40)


def wait_rounds(db: Path, n: int, timeout_s: float = 120.0) -> int:
    """Poll the store (WAL: readable while the recorder writes) until it holds n rounds."""
    deadline = time.monotonic() + timeout_s
    count = 0
    while time.monotonic() < deadline:
        if db.exists():
            with Store(db) as store:
                count = len(store.ping_rounds())
            if count >= n:
                return count
        time.sleep(0.25)
    return count


def assert_exactly_once(vm: VictoriaMetrics, db: Path, host: str) -> int:
    with Store(db) as store:
        rounds: list[PingRound] = store.ping_rounds()
        cursor = int(store.get_meta("influx.cursor.ping") or 0)
        assert cursor == store.max_rowid("ping"), "cursor must have reached the end of the store"
    assert len(rounds) >= 10
    got = vm.samples(f'{{host="{host}",__name__=~"qos_ping_.*"}}')
    for field in NUMERIC_FIELDS:
        expected = {
            ts_us(r.ts) // 1000: float(getattr(r, field)) for r in rounds if getattr(r, field) is not None
        }
        samples = [s for (name, labels), values in got.items() if name == f"qos_ping_{field}" for s in values]
        stamps = [ts for ts, _ in samples]
        assert len(stamps) == len(set(stamps)), f"{field}: duplicates in the server"
        assert len(samples) == len(expected), f"{field}: server has {len(samples)}, store {len(expected)}"
        for ts, value in samples:
            assert ts in expected, f"{field}: unknown sample at {ts}"
            assert math.isclose(value, expected[ts], rel_tol=1e-11, abs_tol=1e-12), (
                field,
                ts,
                value,
                expected[ts],
            )
    # every series carries the round's tags
    for _name, labels in got:
        tags = dict(labels)
        assert tags["host"] == host and tags["target"] == "127.0.0.1" and tags["address"] == "127.0.0.1"
        assert tags["probe"] in ("icmp", "tcp")
    return len(rounds)


def test_server_outage_nothing_lost(fresh_victoria: VictoriaMetrics, tmp_path: Path) -> None:
    vm = fresh_victoria
    host = f"outage-{uuid.uuid4().hex[:6]}"
    db = tmp_path / "a.db"
    config = write_config(tmp_path / "c.toml", vm.url, host_tag=host)
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with recorder(record_args(config, db), stdout_path=out, stderr_path=err) as proc:
        assert wait_rounds(db, 4) >= 4
        assert vm.wait_for_count(f'qos_ping_loss_pct{{host="{host}"}}', 3) >= 3  # flowing before the outage
        vm.stop()
        before = wait_rounds(db, 0)
        # the outage lasts OUTAGE_S and at least as many rounds as that makes (a busy machine is slower)
        time.sleep(OUTAGE_S)
        during = wait_rounds(db, before + int(OUTAGE_S / 0.5) - 3) - before
        vm.start()
        time.sleep(1.0)  # stop soon after: the writer may still be in its backoff; close() must drain
        assert stop(proc) == 0, err.read_text()
    stdout, stderr = out.read_text(), err.read_text()
    assert during >= OUTAGE_S / 0.5 - 3, "recording must go on during the outage"
    assert "influx retrying (unreachable" in stdout, stdout
    assert "Traceback" not in stderr, stderr
    assert stderr.count("cannot reach") == 1, stderr  # one line for the outage, not one per retry
    total = assert_exactly_once(vm, db, host)
    assert total >= 20


def test_recorder_restarted_during_outage_nothing_lost(
    fresh_victoria: VictoriaMetrics, tmp_path: Path
) -> None:
    vm = fresh_victoria
    host = f"restart-{uuid.uuid4().hex[:6]}"
    db = tmp_path / "a.db"
    config = write_config(tmp_path / "c.toml", vm.url, host_tag=host)
    with recorder(record_args(config, db), stdout_path=tmp_path / "o1", stderr_path=tmp_path / "e1") as first:
        assert wait_rounds(db, 4) >= 4
        vm.stop()
        time.sleep(3.0)
        assert stop(first) == 0
    stderr1 = (tmp_path / "e1").read_text()
    assert "not yet sent; they stay in the store" in stderr1, stderr1
    with Store(db) as store:
        unsent = store.max_rowid("ping") - int(store.get_meta("influx.cursor.ping") or 0)
    assert unsent >= 4, "the first run must leave unsent rounds behind"
    with recorder(
        record_args(config, db), stdout_path=tmp_path / "o2", stderr_path=tmp_path / "e2"
    ) as second:
        n = wait_rounds(db, 0)
        assert wait_rounds(db, n + 4) >= n + 4
        vm.start()
        time.sleep(1.0)
        assert stop(second) == 0, (tmp_path / "e2").read_text()
    assert "Traceback" not in stderr1 + (tmp_path / "e2").read_text()
    assert_exactly_once(vm, db, host)


def test_influxdb_client_batching_drops_points(fresh_victoria: VictoriaMetrics) -> None:
    """Why qostui keeps its own outbox: the library's batching gives up on a batch after its retries."""
    from influxdb_client import InfluxDBClient, WriteOptions

    vm = fresh_victoria
    vm.stop()
    client = InfluxDBClient(url=vm.url, token="t", org="o", timeout=1000)
    given_up = threading.Event()
    api = client.write_api(
        error_callback=lambda conf, data, exc: given_up.set(),  # the batch is dropped for good
        write_options=WriteOptions(
            batch_size=10,
            flush_interval=100,
            retry_interval=200,
            max_retries=2,
            max_retry_time=2000,
            max_retry_delay=500,
        )  # fmt: skip
    )
    t0 = int(time.time()) - 100
    try:
        api.write(bucket="b", record=[f"lib_drop,host=x v={i}i {t0 + i}000000000" for i in range(10)])
        # past max_retry_time the library gives the batch up (waited on, not slept: load delays it)
        assert given_up.wait(PATIENCE_S), "the library never gave the batch up"
        vm.start()
        api.flush()
        time.sleep(1.0)
    finally:
        api.close()
        client.close()
    assert vm.wait_for_count('lib_drop_v{host="x"}', 10, timeout_s=3) == 0
