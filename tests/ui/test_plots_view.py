"""The analytic plots view (`g`): the report's five charts, one at a time, cycled with n / N."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from qostui.report.data import PLOTS
from qostui.ui.app import QostuiApp
from qostui.ui.screens.monitor import MonitorScreen
from qostui.ui.screens.plots import PlotsScreen
from qostui.ui.widgets.plot_view import PlotView
from ui.forecast_fixtures import fill_store, generated_records, quick_forecast
from ui.helpers import offline_config, screen_text, wait_for


def store_config(tmp_path: Path, db: Path) -> QostuiApp:
    cfg = quick_forecast(offline_config(), tmp_path / "models", epochs=2, patience=2)
    return QostuiApp(replace(cfg, store=replace(cfg.store, path=str(db))), remember_theme=False)


async def test_cycle_through_the_five_plots(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    fill_store(db, generated_records(), ping_target="10.231.0.1")  # a recorded target: no traffic is sent
    app = store_config(tmp_path, db)
    # a trained model, so plot 2 has a loss history (2 small epochs)
    from qostui.forecast.source import series_from_config_store
    from qostui.forecast.training import train

    result = train(series_from_config_store(app.config), app.config.forecast)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("g")
        screen = app.screen
        assert isinstance(screen, PlotsScreen)
        chart = screen.query_one("#plots-chart", PlotView)
        seen = []
        for i, (stem, name) in enumerate(PLOTS):
            assert screen.current == stem
            await wait_for(pilot, lambda stem=stem: stem in screen.data or stem in screen.errors, 30, f"plot {stem}")
            assert stem not in screen.errors, screen.errors
            await wait_for(pilot, lambda stem=stem: chart.data is screen.data[stem] and chart.draws >= 1, 10,
                           f"plot {stem} drawn")
            text = screen_text(app)
            assert f"{i + 1}/{len(PLOTS)} {name}" in text
            assert chart.data is screen.data[stem] and chart.draws >= 1
            seen.append(chart.text)
            await pilot.press("n")
        assert screen.current == PLOTS[0][0]  # wrapped around
        assert result.model_id in seen[1] or "best epoch" in seen[1]  # the loss history of the new model
        assert "10.231.0.1" in seen[4]  # the multi-target chart names the target
        await pilot.press("N")
        assert screen.current == PLOTS[-1][0]
        await pilot.press("left")
        assert screen.current == PLOTS[-2][0]
        # plots 1-3 were scored once, not once per plot
        assert screen.loads == len(PLOTS)
        titles = [c.title for c in app.get_system_commands(screen)]
        assert f"Plot: {PLOTS[0][1]}" in titles
        await pilot.press("escape")
        assert isinstance(app.screen, MonitorScreen)


async def test_plots_without_store_say_so(tmp_path: Path) -> None:
    app = store_config(tmp_path, tmp_path / "missing.db")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("g")
        screen = app.screen
        assert isinstance(screen, PlotsScreen)
        await wait_for(pilot, lambda: bool(screen.errors), 10, "the error")
        await pilot.pause()
        assert "no store yet" in screen.errors[screen.current]
        assert "cannot compute this plot" in screen_text(app)
