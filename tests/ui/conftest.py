"""UI tests never touch the user's config or data, and run under a non-UTC zone.

TZ is America/Sao_Paulo (UTC-3; QOSTUI_TEST_TZ picks another), so a label that ignores the clock
rule shows. Snapshot apps (helpers.offline_config) pin `[ui] timezone = "UTC"`, so their SVGs do not
depend on the zone; live apps (helpers.live_config) use local time, the default.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.delenv("QOSTUI_CONFIG", raising=False)
    monkeypatch.setenv("TZ", os.environ.get("QOSTUI_TEST_TZ", "America/Sao_Paulo"))
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
