"""A lab host dropping 20% of echo requests shows as lossy, with the loss marked on its chart."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lab.netlab import Lab
from qostui.ui.model import LOSSY, classify
from qostui.ui.screens.detail import DetailScreen
from qostui.ui.widgets.chart import ChartView
from qostui.ui.widgets.target_panel import TargetPanel
from ui.helpers import live_app, live_config, screen_text, wait_for

pytestmark = pytest.mark.lab


async def test_lossy_lab_host(lab: Lab, db_path: Path) -> None:
    host = lab.add_host("loss", loss_pct=20)
    # 30 probes a round: a round without any loss has a chance of 0.8**30 = 0.1%
    config = live_config(db_path, f"127.0.0.1,{host.address}", interval_s=1.0, count=30)
    async with live_app(config, (100, 32)) as (app, pilot):
        h = app.model.targets[host.address]
        # A round without any loss has a 0.1% chance: wait (bounded) for a lossy last round.
        await wait_for(pilot, lambda: len(h.rounds) >= 3 and classify(h.last, config.thresholds)[0] == LOSSY,
                       15, "a lossy round from the lossy host")
        await pilot.pause(0.05)
        state, level = classify(h.last, config.thresholds)
        assert state == LOSSY, h.last
        lossy = sum(classify(r, config.thresholds)[0] == LOSSY for r in h.rounds)
        assert lossy >= len(h.rounds) - 1, list(h.rounds)
        panel = app.screen.query(TargetPanel)[1]
        assert panel.key == host.address
        assert "LOSSY" in str(panel.border_subtitle)
        assert "lossy" not in panel.classes and f"-{level}" in panel.classes
        assert 3.0 < h.total_loss_pct < 45.0  # type: ignore[operator]
        local = app.model.targets["127.0.0.1"]
        assert classify(local.last, config.thresholds)[0] == "up"

        await pilot.press("down", "enter")
        assert isinstance(app.screen, DetailScreen) and app.screen.key == host.address
        detail = app.screen
        await wait_for(pilot, lambda: detail.loads >= 1, 5, "the detail chart")
        await pilot.pause(0.05)
        chart = detail.query_one(ChartView).text
        plot_area = "\n".join(line for line in chart.splitlines() if "│" in line or "┤" in line)
        assert "x" in plot_area, chart  # lost probes marked
        marked = re.search(r"\((\d+) marked x\)", screen_text(app))
        assert marked and int(marked.group(1)) >= 1, screen_text(app)  # one mark per bucket with loss
        await pilot.press("q")
