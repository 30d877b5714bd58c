"""`qostui record` end to end: real ICMP to loopback, a real SQLite file, real signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from qostui.store import Store


def qostui(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qostui", *args], capture_output=True, text=True, timeout=timeout)


def test_record_five_seconds_on_loopback(db_path: Path) -> None:
    proc = qostui("record", "--targets", "127.0.0.1,::1", "--interval", "1", "--duration", "5s", "--db", str(db_path))
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    # 5 rounds on a quiet machine; a busy one may start the prober late, so at least 3
    assert len(lines) >= 3, proc.stdout
    assert all("127.0.0.1" in line and "::1" in line for line in lines)
    store = Store(db_path)
    try:
        for target in ("127.0.0.1", "::1"):
            rounds = store.ping_rounds(target=target)
            assert len(rounds) == len(lines)  # every round printed is stored
            assert all(r.state.value == "ok" and r.loss_pct == 0.0 and r.received == r.sent > 0 for r in rounds)
            assert all(r.rtt_avg_ms is not None and 0 < r.rtt_avg_ms < 1000 for r in rounds)
    finally:
        store.close()


def test_record_json_lines(db_path: Path) -> None:
    proc = qostui("--record", "--json", "--targets", "127.0.0.1", "--interval", "0.5", "--duration", "2s", "--db", str(db_path))
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    pings = [r for r in records if r["type"] == "PingRound"]
    assert len(pings) >= 2  # 4 rounds on a quiet machine
    assert {r["target"] for r in pings} == {"127.0.0.1"}
    assert all(r["state"] == "ok" and r["sent"] >= 1 for r in pings)


def test_sigterm_and_sigint_flush_and_exit_zero(db_path: Path) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = subprocess.Popen(
            [sys.executable, "-m", "qostui", "record", "--targets", "127.0.0.1", "--interval", "0.5", "--db", str(db_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            deadline = time.monotonic() + 120
            lines = 0
            while lines < 3 and time.monotonic() < deadline:  # wait for a few printed rounds
                if proc.stdout and proc.stdout.readline():
                    lines += 1
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        printed = lines + len([line for line in out.splitlines() if line.strip()])
        store = Store(db_path)
        try:
            # every printed round was flushed to the store before exit
            assert len(store.ping_rounds(target="127.0.0.1")) >= printed
        finally:
            store.close()
        db_path.unlink()
        for suffix in ("-wal", "-shm"):
            Path(str(db_path) + suffix).unlink(missing_ok=True)
