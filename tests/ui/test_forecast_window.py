"""The forecast view with little, flat data: the window says what the data holds (never "last 0 h")
and a flat series gets a y axis around its value (not plotext's -1..1 around a flat zero)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from qostui.records import BandwidthSample
from qostui.store import Store
from qostui.ui.app import QostuiApp
from qostui.ui.widgets.plot_view import PlotView
from ui.forecast_fixtures import GEN_T0, STEP_S, open_forecast
from ui.helpers import offline_config


@pytest.mark.parametrize(("mbps", "steps"), [(0.0, 8), (42.0, 3)])
async def test_short_flat_history(tmp_path: Path, mbps: float, steps: int) -> None:
    db = tmp_path / "s.db"
    with Store(db) as store:
        store.write([BandwidthSample(ts=GEN_T0 + i * STEP_S, interface="eth0", rx_mbps=mbps, tx_mbps=0.0,
                                     interval_s=STEP_S) for i in range(steps)])  # fmt: skip
    cfg = offline_config()
    cfg = replace(cfg, store=replace(cfg.store, path=str(db)),
                  forecast=replace(cfg.forecast, model_dir=str(tmp_path / "models")))  # fmt: skip
    app = QostuiApp(cfg, remember_theme=False)
    end = GEN_T0 + (steps - 1) * STEP_S
    async with app.run_test(size=(80, 24)) as pilot:
        with Store(db) as store:
            screen = await open_forecast(pilot, store, end)
            await pilot.pause()
            text = screen.query_one("#fc-chart", PlotView).text
            assert "last 0 h" not in text
            assert f"last {steps * STEP_S / 60:.0f} min" in text, text
            ys = [float(v) for v in re.findall(r"^\s*(-?[\d.]+)┤", text, re.M)]
            assert ys and min(ys) >= 0.0, text  # no negative Mbps on the axis
            if mbps:
                assert min(ys) <= mbps <= max(ys) and max(ys) - min(ys) <= mbps, text  # around the value
            else:
                assert max(ys) <= 1.0, text
