"""The compact view (20 loopback targets) and the detail chart's RTT smoke, as snapshots.

Offline and deterministic: the compact view is fed fixed rounds (tests/ui/helpers.fixed_records);
the smoke snapshots are fed generated rounds of a jittery host (5 probes a round, 20 ms +- a
seeded jitter, some lossy rounds), since live probes of a lab host never draw the same twice.
tests/ui/test_lab_smoke.py checks the smoke of a real jittery lab host.
Update: pytest tests/ui/test_compact_smoke.py --snapshot-update (then look at the SVGs).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from textual.pilot import Pilot

from qostui.records import PingRound, ProbeState
from qostui.ui.app import QostuiApp
from qostui.ui.screens.detail import DetailScreen
from qostui.ui.widgets.compact_table import CompactTable
from ui.helpers import T0, fixed_records, offline_config, screen_text, wait_for

TWENTY = tuple(f"127.0.0.{i}" for i in range(1, 21))
JITTERY = "10.231.0.7"


def jittery_rounds(n: int = 150, probes: int = 5, seed: int = 7) -> list[PingRound]:
    """A host 20 ms away with up to +-8 ms of jitter, a slow patch in the middle, loss now and then."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        base = 20.0 + (12.0 if 60 <= i < 80 else 0.0)
        rtts: list[float | None] = [round(base + rng.uniform(-8.0, 8.0), 3) for _ in range(probes)]
        lost = 2 if i % 37 == 5 else 1 if i % 11 == 3 else 0
        for k in range(lost):
            rtts[k] = None
        got = sorted(v for v in rtts if v is not None)
        avg = sum(got) / len(got)
        out.append(PingRound(
            ts=T0 + i, target=JITTERY, address=JITTERY, probe="icmp", state=ProbeState.OK, sent=probes,
            received=len(got), loss_pct=100.0 * lost / probes, rtt_min_ms=got[0], rtt_avg_ms=avg,
            rtt_max_ms=got[-1], rtt_p50_ms=got[len(got) // 2], rtt_p95_ms=got[-1], jitter_ms=3.0, mos=4.3,
            rtts_ms=tuple(rtts),
        ))
    return out


def compact_app() -> QostuiApp:
    return QostuiApp(offline_config(",".join(TWENTY)), remember_theme=False)


def feed_compact(*keys: str) -> Callable[[Pilot], object]:
    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, QostuiApp)
        app.apply(fixed_records(60, TWENTY))
        await pilot.pause()
        if keys:
            await pilot.press(*keys)
        await pilot.pause()

    return run_before


def test_compact_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(compact_app(), terminal_size=(80, 24), run_before=feed_compact("j", "j"))


def test_compact_160x48(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(compact_app(), terminal_size=(160, 48), run_before=feed_compact("o", "o", "o", "o", "o"))


def smoke_app() -> QostuiApp:
    return QostuiApp(offline_config(f"127.0.0.1,{JITTERY}", history_rounds=300), remember_theme=False)


def feed_smoke() -> Callable[[Pilot], object]:
    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, QostuiApp)
        app.apply(jittery_rounds())
        await pilot.pause()
        await pilot.press("l", "enter")  # the next panel (two columns at 160 wide)
        detail = app.screen
        assert isinstance(detail, DetailScreen)
        await wait_for(pilot, lambda: detail.loads >= 1, 5, "the detail chart")
        app.smoke = True  # as `d` does (without its notification over the chart)
        await pilot.pause()

    return run_before


def test_detail_smoke_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(smoke_app(), terminal_size=(80, 24), run_before=feed_smoke())


def test_detail_smoke_160x48(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(smoke_app(), terminal_size=(160, 48), run_before=feed_smoke())


async def test_compact_is_chosen_when_panels_do_not_fit_and_works_like_panels() -> None:
    app = compact_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.apply(fixed_records(60, TWENTY))  # the last round of 127.0.0.2 is lossy
        await pilot.pause()
        screen = app.screen
        assert screen.has_class("-compact")
        table = screen.query_one(CompactTable)
        assert table.has_focus
        text = screen_text(app)
        assert "127.0.0.1 " in text and "no route" in text and "eth0" in text
        # sorting by loss (worst last): the lossy target moves; the selection follows its target
        await pilot.press("j")
        assert table.selected == ("target", "127.0.0.2")
        while table.sort_key != "loss":
            await pilot.press("o")
        await pilot.press("O")  # worst first
        assert table.selected == ("target", "127.0.0.2")
        assert table._order[0] == ("target", "127.0.0.2")  # the only lossy one leads
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen) and app.screen.key == "127.0.0.2"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("v")  # panels on request
        await pilot.pause(0.2)
        assert not app.screen.has_class("-compact")
        assert "═ 127.0.0.1" in screen_text(app) or "127.0.0.1" in screen_text(app)
    small = QostuiApp(offline_config(), remember_theme=False)  # 3 targets fit: panels
    async with small.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert not small.screen.has_class("-compact")
