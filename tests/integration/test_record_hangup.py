"""Issue 10, finding 4 for `qostui record`: SIGHUP flushes and exits (status 129), unless SIGHUP was
ignored on purpose (`nohup`, SIG_IGN inherited): then recording goes on."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import PATIENCE_S, need_tool
from qostui.store import Store


def start(db: Path, *, nohup: bool) -> subprocess.Popen[str]:
    # the real `nohup` (it sets SIGHUP to ignored, then execs; with pipes it redirects nothing)
    prefix = [need_tool("nohup")] if nohup else []
    return subprocess.Popen(
        [*prefix, sys.executable, "-m", "qostui", "record", "--targets", "127.0.0.1", "--interval", "0.3",
         "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def read_rounds(proc: subprocess.Popen[str], n: int) -> int:
    assert proc.stdout is not None
    deadline = time.monotonic() + PATIENCE_S
    got = 0
    while got < n:
        assert time.monotonic() < deadline and proc.poll() is None, "no status lines"
        if "127.0.0.1" in proc.stdout.readline():
            got += 1
    return got


def test_sighup_flushes_and_exits_129(db_path: Path) -> None:
    proc = start(db_path, nohup=False)
    try:
        printed = read_rounds(proc, 3)
        proc.send_signal(signal.SIGHUP)
        out, err = proc.communicate(timeout=PATIENCE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 129, err
    assert "Traceback" not in err and err.strip().endswith("store flushed"), err
    printed += sum("127.0.0.1" in line for line in out.splitlines())
    with Store(db_path) as store:
        assert len(store.ping_rounds()) >= printed


def test_sighup_ignored_under_nohup_keeps_recording(db_path: Path) -> None:
    proc = start(db_path, nohup=True)
    try:
        read_rounds(proc, 2)
        proc.send_signal(signal.SIGHUP)
        read_rounds(proc, 3)  # still recording after the hang-up
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=PATIENCE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert err.strip().endswith("store flushed"), err
    with Store(db_path) as store:
        assert len(store.ping_rounds()) >= 5
