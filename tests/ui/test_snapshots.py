"""Snapshots of the monitor (80x24, 160x48) and the detail views, fed fixed records (no probing).

Update after an intended change:  pytest tests/ui/test_snapshots.py --snapshot-update
and look at the SVGs in tests/ui/__snapshots__/ before committing them. (The help screen is not
snapshotted: other screens add their keys to it; test_pilot checks that it lists every key.)
"""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot

from qostui.ui.app import QostuiApp
from qostui.ui.screens.detail import DetailScreen
from ui.helpers import fixed_records, offline_config, wait_for


def feed(n: int = 150, *keys: str) -> Callable[[Pilot], object]:
    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, QostuiApp)
        app.apply(fixed_records(n))
        await pilot.pause()
        if keys:
            await pilot.press(*keys)
        if isinstance(app.screen, DetailScreen):
            detail = app.screen
            await wait_for(pilot, lambda: detail.loads >= 1, 5, "the detail chart")
        await pilot.pause()

    return run_before


def make_app() -> QostuiApp:
    return QostuiApp(offline_config(), remember_theme=False)


def test_monitor_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=feed())


def test_monitor_160x48(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=feed())


def test_detail_target_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=feed(150, "down", "enter"))


def test_detail_target_log_scale_120x36(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(), terminal_size=(120, 36), run_before=feed(150, "down", "enter", "s", "s"))


def test_detail_bandwidth_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=feed(150, "down", "down", "down", "enter"))

