"""Issue 10, finding 2: `qostui record` with its store on a full disk (a real 2 MB tmpfs).

One warning line when writing starts to fail, no traceback, the unwritten rounds kept in memory and
retried: freeing space during the run lets them reach the store; a disk still full at stop gives the
exact count of rounds not written and exit 1.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import PATIENCE_S, need_root, need_tool
from qostui.store import Store


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    need_root()
    need_tool("mount")
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)], check=True, timeout=30)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False, timeout=30)


def fill(disk: Path) -> Path:
    """Take every free byte of the tmpfs with one file; returns it (delete it to free the space)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512):  # big steps first, then the last bytes
            try:
                while os.write(fd, b"\0" * size) == size:
                    pass
            except OSError:  # ENOSPC: full at this step size
                continue
    finally:
        os.close(fd)
    return filler


class Recorder:
    """`qostui record` as a subprocess, its stdout lines read on a thread as they come."""

    def __init__(self, db: Path) -> None:
        env = {**os.environ, "XDG_CONFIG_HOME": str(db.parent.parent / "cfg"),
               "XDG_DATA_HOME": str(db.parent.parent / "data")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qostui", "record", "--targets", "127.0.0.1", "--interval", "0.3",
             "--db", str(db)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for_lines(self, cond: Callable[[str], bool], count: int, what: str) -> None:
        """Wait until `count` more status lines satisfy `cond`."""
        deadline = time.monotonic() + PATIENCE_S
        found = 0
        while found < count:
            remaining = deadline - time.monotonic()
            assert remaining > 0 and self.proc.poll() is None, f"waiting for {what}; got {self.seen[-5:]}"
            try:
                line = self.lines.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                continue
            self.seen.append(line)
            found += cond(line)

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=PATIENCE_S)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return self.proc.returncode, err


def _stored_rounds(db: Path) -> int:
    with Store(db) as store:
        return len({r.ts for r in store.ping_rounds()})


def _rounds_done(err: str) -> int:
    match = re.search(r"stopped after (\d+) round\(s\)", err)
    assert match, err
    return int(match.group(1))


def test_full_disk_until_stop_counts_every_unwritten_round(tiny_disk: Path) -> None:
    db = tiny_disk / "q.db"
    rec = Recorder(db)
    try:
        rec.wait_for_lines(lambda line: "127.0.0.1" in line, 3, "the first rounds")
        fill(tiny_disk)
        rec.wait_for_lines(lambda line: "not written" in line, 5, "rounds reported as not written")
    finally:
        status, err = rec.stop()
    assert status == 1, err
    assert "Traceback" not in err, err
    warnings = [line for line in err.splitlines() if "WARNING" in line]
    assert len(warnings) == 1 and "cannot write to the store" in warnings[0], err
    assert "database or disk is full" in warnings[0]
    assert "store flushed" not in err
    last = err.strip().splitlines()[-1]
    match = re.search(r"; (\d+) round\(s\) could not be written to ", last)
    assert match, last
    unwritten = int(match.group(1))
    stored = _stored_rounds(db)
    assert unwritten >= 5
    assert unwritten == _rounds_done(err) - stored, (last, stored)  # the exact count


def test_space_freed_during_the_run_lets_queued_rounds_reach_the_store(tiny_disk: Path) -> None:
    db = tiny_disk / "q.db"
    rec = Recorder(db)
    try:
        rec.wait_for_lines(lambda line: "127.0.0.1" in line, 3, "the first rounds")
        filler = fill(tiny_disk)
        rec.wait_for_lines(lambda line: "not written" in line, 5, "rounds reported as not written")
        stored_while_full = _stored_rounds(db)
        filler.unlink()
        rec.wait_for_lines(lambda line: "127.0.0.1" in line and "not written" not in line, 2, "writes to work again")
    finally:
        status, err = rec.stop()
    assert status == 0, err
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1].endswith("store flushed"), err
    warnings = [line for line in err.splitlines() if "WARNING" in line]
    assert len(warnings) == 2, err  # the failure, then the recovery
    assert "cannot write to the store" in warnings[0] and "writing works again" in warnings[1], err
    stored = _stored_rounds(db)
    assert stored == _rounds_done(err)  # every round, the queued ones included
    assert stored >= stored_while_full + 5
