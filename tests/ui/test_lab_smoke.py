"""RTT smoke of a real jittery lab host: the bands spread with the jitter, a steady host stays thin.

Live ICMP to a lab host (its echo responder adds delay and jitter) and to 127.0.0.1; every round's
probe RTTs are stored (PingRound.rtts_ms) and the detail chart draws their distribution (`d`).
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from pathlib import Path

import pytest

from lab.netlab import Lab
from qostui.store import Store
from qostui.ui.chart import smoke_series
from qostui.ui.screens.detail import DetailScreen
from qostui.ui.widgets.chart import ChartView
from ui.helpers import live_app, live_config, screen_text, wait_for

pytestmark = pytest.mark.lab


def spread_ms(rounds: list) -> float:  # type: ignore[type-arg]
    s = smoke_series(rounds, rounds[0].ts, rounds[-1].ts, len(rounds))
    lo, hi = s.bands[0]
    widths = [h - low for low, h in zip(lo, hi, strict=True) if low is not None and h is not None]
    return statistics.median(widths)


async def test_smoke_of_a_jittery_lab_host(lab: Lab, db_path: Path) -> None:
    host = lab.add_host("jitter", delay_ms=20, jitter_ms=8)
    config = live_config(db_path, f"127.0.0.1,{host.address}", interval_s=1.0, count=10)
    config = config.with_overrides(probe=replace(config.probe, timeout_ms=1000.0))  # 20 ms +- 8 is no timeout
    async with live_app(config, (80, 24)) as (app, pilot):
        h = app.model.targets[host.address]
        await wait_for(pilot, lambda: sum(r.received > 5 for r in h.rounds) >= 4, 30, "rounds from the host")
        await pilot.press("down", "enter")
        detail = app.screen
        assert isinstance(detail, DetailScreen) and detail.key == host.address
        await wait_for(pilot, lambda: detail.loads >= 1, 10, "the detail chart")
        await pilot.press("d")
        await pilot.pause(0.1)
        assert app.smoke
        chart = detail.query_one(ChartView).text
        assert "┤" in chart and "probes" in screen_text(app) and "median by loss" in screen_text(app)
        jittery = [r for r in h.rounds if r.received >= 5]
        steady = [r for r in app.model.targets["127.0.0.1"].rounds if r.received >= 5]
        # each round kept every probe's RTT; the host's spread shows its jitter, loopback's does not
        assert all(len(r.rtts_ms) == 10 for r in jittery)
        assert spread_ms(jittery) > 4.0, [r.rtts_ms for r in jittery]
        assert spread_ms(steady) < 1.0
        await pilot.press("d")
        assert not app.smoke
        await pilot.press("q")
    with Store(db_path) as store:  # the store holds the probes' RTTs too (what a 24 h smoke reads)
        stored = store.ping_rounds(target=host.address)
    assert stored and max(len(r.rtts_ms) for r in stored) == 10
