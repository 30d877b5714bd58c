"""The path view (`m`): hop table with sparklines, the loss verdict and the route history.

Snapshots (80x24, 160x48) read path rounds from a store filled with tests/ui/fixtures/path_lab.json:
hop rows and route events qostui's path rounds recorded on the routed lab (r1 rate-limiting its
ICMP replies throughout, a route change to the alternate router and back, then 20% of r2's
forwarded packets dropped: "loss from hop 3"), timestamps shifted to a fixed epoch so the pictures
are stable. Re-record (root): PYTHONPATH=src python tests/lab/record_path_fixture.py (see there).
The live test traces the real lab chain. Update: pytest tests/ui/test_path_view.py --snapshot-update
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from textual.pilot import Pilot

from qostui.records import Event, PathHop
from qostui.store import Store
from qostui.ui.app import QostuiApp
from qostui.ui.screens.monitor import MonitorScreen
from qostui.ui.screens.path import PathScreen
from ui.helpers import T0, offline_config, screen_text, wait_for

FIXTURE = Path(__file__).parent / "fixtures" / "path_lab.json"


def load_path_fixture(path: Path = FIXTURE) -> tuple[dict, list[PathHop | Event]]:
    """(header, records) of a fixture written by tests/lab/record_path_fixture.py."""
    data = json.loads(path.read_text())
    out: list[PathHop | Event] = []
    for row in data["records"]:
        row = dict(row)
        if row.pop("type") == "path_hop":
            out.append(PathHop(**{**row, "addresses": tuple(row["addresses"])}))
        else:
            out.append(Event(**row))
    return data["header"], out


HEADER, RECORDS = load_path_fixture()
TARGET: str = HEADER["target"]
PRIMARY: list[str] = HEADER["hops_primary"]
ALTERNATE: list[str] = HEADER["hops_alternate"]
ROUNDS = sum(p["rounds"] for p in HEADER["phases"])


@pytest.fixture
def path_store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "path.db")
    store.insert(RECORDS)
    yield store
    store.close()


def _open(store: Store):
    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        await app.push_screen(PathScreen(TARGET, store=store, live=False))
        screen = app.screen
        assert isinstance(screen, PathScreen)
        await wait_for(pilot, lambda: screen.loads >= 1, 10, "the stored path rounds")
        await pilot.pause()

    return run_before


def _app() -> QostuiApp:
    return QostuiApp(offline_config(TARGET), remember_theme=False)


def test_path_view_80x24(snap_compare, path_store: Store) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(_app(), terminal_size=(80, 24), run_before=_open(path_store))


def test_path_view_160x48(snap_compare, path_store: Store) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(_app(), terminal_size=(160, 48), run_before=_open(path_store))


async def test_stored_rounds_verdict_and_route_history(path_store: Store) -> None:
    app = _app()
    async with app.run_test(size=(100, 30)) as pilot:
        await app.push_screen(PathScreen(TARGET, store=path_store, live=False))
        screen = app.screen
        assert isinstance(screen, PathScreen)
        await wait_for(pilot, lambda: screen.loads >= 1, 10, "the stored path rounds")
        await pilot.pause()
        assert len(screen.rounds) == ROUNDS and [h.hop_address for h in screen.rounds[-1]] == PRIMARY
        text = screen_text(app)
        assert "loss from hop 3" in text and "not fwd loss" in text
        assert "route history" in text and f"{ALTERNATE[0]} > {ALTERNATE[1]}" in text
        await pilot.press("escape")
        assert isinstance(app.screen, MonitorScreen)


async def test_m_opens_the_selected_targets_path_view() -> None:
    app = QostuiApp(offline_config("127.0.0.1,::1"), remember_theme=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("down")  # select the second panel
        await pilot.press("m")
        screen = app.screen
        assert isinstance(screen, PathScreen)
        await wait_for(pilot, lambda: screen.loads >= 1, 10, "the store read")
        assert screen.target in ("127.0.0.1", "::1")
        assert "path to" in screen_text(app)


@pytest.mark.lab
async def test_live_path_view_on_the_lab(lab) -> None:  # type: ignore[no-untyped-def]
    chain = lab.add_chain()
    cfg = offline_config(chain.address)
    cfg = replace(cfg, path=replace(cfg.path, probes_per_hop=20, spacing_ms=10.0, timeout_ms=1000.0, max_ttl=8))
    app = QostuiApp(cfg, remember_theme=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await app.push_screen(PathScreen(chain.address, live=True))
        screen = app.screen
        assert isinstance(screen, PathScreen)
        await wait_for(pilot, lambda: screen.live_rounds >= 2, 60, "two live path rounds")
        assert [h.hop_address for h in screen.rounds[-1]] == chain.hop_addresses(4)
        text = screen_text(app)
        for addr in chain.hop_addresses(4):
            assert addr in text
        assert "no path loss" in text
        chain.drop_forwarded(20)
        await wait_for(pilot, lambda: "loss from hop 3" in screen_text(app), 120, "the verdict under 20% drop")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not any(w.is_running for w in screen.workers), 30, "the live worker to stop")


async def test_path_view_follows_the_screen_contract(path_store: Store) -> None:
    """Under the QostuiScreen contract: the header names the path, record batches from the bus reach
    the view (drawn at once when shown, on catch-up when covered), `m` again keeps the one view."""
    from qostui.ui.screens.help import HelpScreen

    app = _app()
    async with app.run_test(size=(100, 30)) as pilot:
        await _open(path_store)(pilot)
        screen = app.screen
        assert app.contract() is screen and app.role == "view"
        assert f"path {TARGET}" in screen_text(app)  # the header's view label
        await pilot.press("m")
        await pilot.pause()
        assert app.screen is screen  # one view at a time, not a second path view
        change = Event(T0 + 60 * 31, "route", TARGET, "warn", "path changed after 2 round(s): via 10.231.9.9")
        app.apply([change])
        await pilot.pause()
        assert screen.routes[-1] == change and "via 10.231.9.9" in screen_text(app)
        await app.push_screen(HelpScreen())
        back = Event(T0 + 60 * 32, "route", TARGET, "warn", "path changed after 2 round(s): via 10.231.8.8")
        app.apply([back])
        await pilot.pause()
        assert screen.routes[-1] == back  # recorded while covered
        app.pop_screen()
        await wait_for(pilot, lambda: "via 10.231.8.8" in screen_text(app), 10, "the catch-up draw")
