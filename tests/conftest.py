"""Shared test helpers.

Tests that need root, network namespaces or a server call `need(condition, reason)`: it skips with
the reason for an ordinary run, and fails instead when QOSTUI_REQUIRE_LAB=1 (CI sets it), so a
missing install step in CI can never hide behind a skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.netlab import lab_fixture  # noqa: F401  (the `lab` fixture for every test directory)

REQUIRE_LAB = os.environ.get("QOSTUI_REQUIRE_LAB") == "1"
# The bound of every wait on a condition: generous, so a busy 2-core machine never fails a test that
# would pass; a wait that succeeds returns as soon as its condition holds.
PATIENCE_S = 120.0
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def need(condition: bool, reason: str) -> None:
    """Skip (or, with QOSTUI_REQUIRE_LAB=1, fail) unless `condition` holds."""
    if condition:
        return
    if REQUIRE_LAB:
        pytest.fail(f"QOSTUI_REQUIRE_LAB=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def need_root() -> None:
    need(os.geteuid() == 0, "needs root (network namespaces, raw sockets)")


def need_tool(name: str) -> str:
    path = shutil.which(name)
    need(path is not None, f"needs the '{name}' command (apt-get install it)")
    assert path is not None
    return path


def wait_until(cond: Callable[[], object], what: str, timeout_s: float = PATIENCE_S, poll_s: float = 0.1) -> None:
    """Poll `cond()` until it is true; fail naming `what` after `timeout_s` (at least PATIENCE_S)."""
    deadline = time.monotonic() + max(timeout_s, PATIENCE_S)
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {max(timeout_s, PATIENCE_S):g}s waiting for {what}", pytrace=False)
        time.sleep(poll_s)


def stored_rows(db: Path, table: str = "ping_round") -> int:
    """Rows in a store another process is writing, read without taking any lock (0 before it exists)."""
    import sqlite3

    if not db.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet (no table), or busy
        return 0


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the checkout; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "qostui.db"
