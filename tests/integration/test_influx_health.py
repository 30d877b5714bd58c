"""Start-up health check: a wrong port, a bad token (401) and an unknown bucket (404) each give one
clear line on stderr, and `qostui record` keeps recording locally (exit 0, rounds in the store)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PATIENCE_S, wait_until
from integration.vm import StubServer, free_port, qostui_env, write_config
from qostui.store import Store

pytestmark = pytest.mark.server

TOKEN = "t0ps3cret-token-value"


def record(config: Path, db: Path, rounds: int = 5) -> subprocess.CompletedProcess[str]:
    """Record until `rounds` status lines are out and the last two show the failed health check
    (however long a busy machine takes for it), then Ctrl-C."""
    env = qostui_env()
    env["INFLUXDB_TOKEN"] = TOKEN
    proc = subprocess.Popen(
        [sys.executable, "-m", "qostui", "record", "--config", str(config), "--targets", "127.0.0.1",
         "--interval", "0.5", "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + PATIENCE_S
        def enough() -> bool:
            status = [line for line in lines if "127.0.0.1" in line]
            return len(status) >= rounds and all("influx retrying" in line for line in status[-2:])

        while not enough() and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=PATIENCE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, "".join(lines) + out, err)


def influx_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "influx" in line]


def assert_recorded_locally(proc: subprocess.CompletedProcess[str], db: Path) -> None:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    status = [line for line in proc.stdout.splitlines() if "127.0.0.1" in line]
    assert len(status) >= 4, proc.stdout
    # the state is on the status line: once the failed health check is in, on every line after it
    first = next(i for i, line in enumerate(status) if "influx retrying" in line)
    assert all("influx retrying" in line for line in status[first:]), status
    with Store(db) as store:
        assert len(store.ping_rounds()) >= 4
        assert store.max_rowid("ping") > int(store.get_meta("influx.cursor.ping") or 0)  # kept for replay


def test_wrong_port(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    proc = record(write_config(tmp_path / "c.toml", url, host_tag="h"), tmp_path / "a.db")
    lines = influx_lines(proc.stderr)
    assert lines[0] == (
        f"qostui: WARNING: influx: cannot reach {url} (connection refused); "
        "recording continues locally and unsent points are replayed later"
    ), proc.stderr
    assert len([line for line in lines if "cannot reach" in line]) == 1, (
        proc.stderr
    )  # one line, not one per retry
    assert_recorded_locally(proc, tmp_path / "a.db")


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (
            401,
            "unauthorized access",
            "rejected the token (HTTP 401: unauthorized access); set $INFLUXDB_TOKEN or influx.token_file "
            "to a token that may write to bucket 'qostui-bucket'",
        ),
        (
            404,
            'bucket "qostui-bucket" not found',
            "does not know org 'qostui-org' or bucket 'qostui-bucket' (HTTP 404: bucket \"qostui-bucket\" "
            "not found); check influx.org and influx.bucket",
        ),
    ],
)
def test_server_refuses(tmp_path: Path, status: int, message: str, expected: str) -> None:
    with StubServer(status, message) as stub:
        proc = record(write_config(tmp_path / "c.toml", stub.url, host_tag="h"), tmp_path / "a.db")
    problem_lines = [line for line in influx_lines(proc.stderr) if f"HTTP {status}" in line]
    assert problem_lines == [
        f"qostui: WARNING: influx: {stub.url} {expected}; recording continues locally and unsent points "
        "are replayed later"
    ], proc.stderr
    assert TOKEN not in proc.stderr + proc.stdout
    # the token did reach the server (so 401 means the server refused it, not that we sent none)
    assert any(h.get("Authorization") == f"Token {TOKEN}" for _, _, h in stub.requests)
    assert_recorded_locally(proc, tmp_path / "a.db")


def test_backoff_does_not_hammer_and_close_cuts_it_short(tmp_path: Path) -> None:
    """Against a dead port: retries back off (0.5, 1, 2 s ...), and stopping does not wait for the next one."""
    import time

    from qostui.config import InfluxConfig
    from qostui.exporters.influx import InfluxWriter
    from qostui.records import PingRound, ProbeState

    cfg = InfluxConfig(enabled=True, url=f"http://127.0.0.1:{free_port()}", org="o", bucket="b", host_tag="h",
                       flush_interval_ms=50, timeout_ms=1000)  # fmt: skip
    with Store(tmp_path / "a.db") as store:
        store.write(
            [
                PingRound(1_795_800_000.0 + i, "gw", "10.0.0.1", "icmp", ProbeState.OK, 1, 1, 0.0)
                for i in range(5)
            ]
        )
        writer = InfluxWriter(cfg, store)
        started = time.monotonic()
        writer.start()
        # Waits on the count, not on a clock: a busy machine only makes attempts later, never sooner.
        wait_until(lambda: writer.failures >= 4, "four failed attempts")
        elapsed_s = time.monotonic() - started
        failures = writer.failures
        assert writer.status() == "influx retrying (unreachable, backlog 5)"
        closing = time.monotonic()
        writer.close()  # the next retry is >= 3.2 s away: closing must not wait for it
        assert time.monotonic() - closing < 2.0
        assert store.get_meta("influx.cursor.ping") == "0"  # nothing acknowledged, nothing skipped
    # retries back off from 0.5 s (x0.8..1), doubling: 3 gaps of at least 0.4 s, not a hammering loop
    assert elapsed_s >= 1.2, (elapsed_s, failures)
    assert failures <= 5, failures
