"""Shared test helpers.

Tests that need root, network namespaces or a server call `need(condition, reason)`: it skips with
the reason for an ordinary run, and fails instead when QOSTUI_REQUIRE_LAB=1 (CI sets it), so a
missing install step in CI can never hide behind a skip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lab.netlab import lab_fixture  # noqa: F401  (the `lab` fixture for every test directory)

REQUIRE_LAB = os.environ.get("QOSTUI_REQUIRE_LAB") == "1"
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


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the checkout; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "qostui.db"
