"""The forecast view (`f`): actual bandwidth, the next `horizon` steps, baselines, past forecasts,
the shaded 80%/95% intervals and the coverage of past forecasts' intervals.

Snapshots use a generated series, no trained model (the best baseline forecasts) and stored
forecasts with intervals (tests/ui/forecast_fixtures.interval_forecasts), with a fixed clock:
pytest tests/ui/test_forecast_view.py --snapshot-update
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from textual.color import Color
from textual.pilot import Pilot

from qostui.pipeline import Pipeline
from qostui.records import Forecast
from qostui.store import Store
from qostui.ui.app import QostuiApp
from qostui.ui.screens.forecast import ForecastScreen, interval_forecast
from qostui.ui.screens.monitor import MonitorScreen
from qostui.ui.widgets.plot_view import PlotView
from ui.forecast_fixtures import (
    INTERVAL_MODEL,
    fill_store,
    generated_records,
    interval_forecasts,
    open_forecast,
    quick_forecast,
    seed_records,
)
from ui.helpers import contrast, live_config, offline_config, screen_text, wait_for


async def test_f_shows_actual_and_horizon_forecast_points(tmp_path: Path, db_path: Path) -> None:
    records, _ = seed_records()
    fill_store(db_path, records)
    cfg = live_config(db_path, "127.0.0.1", interval_s=0.3)
    cfg = quick_forecast(replace(cfg, bandwidth=replace(cfg.bandwidth, enabled=False)), tmp_path / "models")
    horizon = cfg.forecast.horizon
    app = QostuiApp(cfg, pipeline=Pipeline(cfg), remember_theme=False)
    try:
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.press("f")
            screen = app.screen
            assert isinstance(screen, ForecastScreen)
            await wait_for(pilot, lambda: screen.view is not None, 20, "the first forecast")
            await pilot.pause(0.1)
            view = screen.view
            assert view is not None and not screen.error
            # the actual series (hours of 5-min steps) and exactly `horizon` forecast points after it
            assert len(view.hist_ts) >= 36
            assert len(view.result.forecasts) == horizon
            steps = [f.ts - view.result.data_end_ts for f in view.result.forecasts]
            assert steps == [cfg.forecast.step_s * (k + 1) for k in range(horizon)]
            chart = screen.query_one("#fc-chart", PlotView)
            lines = screen.lines
            assert [ln.label for ln in lines][:2] == ["actual", f"forecast ({view.result.model.removeprefix('baseline:')})"]
            assert len(lines[1].values) == horizon + 1  # anchored at the last reading
            assert len(chart.data.lines) == len(lines)
            assert "bandwidth Mbps" in chart.text and "┤" in chart.text
            assert "━ actual  ━ forecast" in screen_text(app)  # the legend line
            assert "no trained model" in screen_text(app)
            # nothing stored by opening the view; F stores `horizon` forecasts and shows them
            with Store(db_path) as s:
                assert s.forecasts() == []
            n = screen.computes
            await pilot.press("F")
            await wait_for(pilot, lambda: screen.computes > n and screen.stored_total == horizon, 10, "the re-forecast")
            app.stop_pipeline()  # flush, then read what F stored
            with Store(db_path) as s:
                stored = s.forecasts()
            assert len(stored) == horizon and {f.model for f in stored} == {view.result.model}
            # b hides and shows the baselines
            shown = len(screen.lines)
            await pilot.press("b")
            assert not screen.show_baselines and len(screen.lines) < shown
            await pilot.press("b")
            assert len(screen.lines) == shown
            await pilot.press("escape")
            assert isinstance(app.screen, MonitorScreen)
    finally:
        app.stop_pipeline()


async def test_past_forecasts_are_drawn_against_actuals(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    records = generated_records()
    fill_store(db, records)
    end = max(r.ts for r in records)
    from qostui.records import Forecast

    # forecasts "made" an hour before the end, for the last hour: they have actuals to compare with
    past = [Forecast(made_at=end - 3600, ts=end - 3600 + 300 * k, step=k, model="baseline:persistence",
                     predicted_mbps=50.0) for k in range(1, 13)]
    with Store(db) as s:
        s.write(past)
    cfg = quick_forecast(offline_config(), tmp_path / "models")
    app = QostuiApp(cfg, remember_theme=False)
    async with app.run_test(size=(80, 24)) as pilot:
        with Store(db) as store:
            screen = await open_forecast(pilot, store, end)
            assert len(screen.view.past_ts) == 12 and screen.view.past_n >= 10
            assert any(ln.label == "past forecasts" for ln in screen.lines)
            assert screen.query_one("#fc-chart", PlotView).data.lines[-1].style == "points"
            assert "past forecasts: 12" in screen_text(app)
            # these forecasts carry no intervals (as rows stored before the bounds existed): no band
            await wait_for(pilot, lambda: screen.coverage_runs >= 1, 20, "the coverage")
            await pilot.pause()
            assert screen.bands == () and "░" not in screen.query_one("#fc-chart", PlotView).text
            # scored: all but the forecast for the last step, whose 5 minutes have not ended by the clock
            assert screen.coverage is not None and screen.coverage.overall.n == 11 == screen.view.past_n - 1
            text = screen_text(app)
            assert "intervals not available" in text
            assert "no intervals stored (n=11)" in text


async def test_band_and_coverage_of_stored_intervals(tmp_path: Path) -> None:
    app, db, end = snapshot_app(tmp_path)
    records = generated_records()
    cfg = app.config
    with Store(db) as s:
        stored = s.forecasts()
    async with app.run_test(size=(100, 32)) as pilot:
        with Store(db) as store:
            screen = await open_forecast(pilot, store, end, lambda s: s.view is not None and s.coverage_runs >= 1)
            await pilot.pause()
            view = screen.view
            assert view is not None and not screen.error and not screen.coverage_error
            # the band: the stored forecast made at the end, both intervals, fanning out from the last reading
            current = sorted((f for f in stored if f.made_at == end), key=lambda f: f.step)
            assert len(current) == cfg.forecast.horizon and view.band == current
            b95, b80 = screen.bands
            assert (b95.label, b80.label) == ("95%", "80%")
            assert list(b80.ts) == [view.hist_ts[-1]] + [f.ts for f in current]
            assert list(b80.lo[1:]) == [f.predicted_lo_mbps for f in current]
            assert list(b95.hi[1:]) == [f.predicted_hi95_mbps for f in current]
            assert b80.lo[0] == b80.hi[0] == view.hist_mbps[-1]
            chart = screen.query_one("#fc-chart", PlotView).text
            assert chart.count("▒") >= 10 and chart.count("░") >= 10  # both shades are drawn
            text = screen_text(app)
            assert "▒▒ 80%  ░░ 95%" in text and f"intervals: {INTERVAL_MODEL} made" in text
            assert "intervals not available" not in text
            # the coverage line, counted here by hand: a forecast is scored when its 5-minute step has a
            # reading (one sample per step in this series) and has ended by the clock
            actual = {r.ts: r.rx_mbps for r in records}  # type: ignore[union-attr]
            scored = [f for f in stored if f.ts in actual and f.ts + 300 <= end]
            held80 = sum(f.predicted_lo_mbps <= actual[f.ts] <= f.predicted_hi_mbps for f in scored)  # type: ignore[operator]
            held95 = sum(f.predicted_lo95_mbps <= actual[f.ts] <= f.predicted_hi95_mbps for f in scored)  # type: ignore[operator]
            assert len(scored) >= 100
            cov = screen.coverage
            assert cov is not None and (cov.overall.n_80, cov.overall.held_80, cov.overall.held_95) == (
                len(scored), held80, held95,
            )
            pct80, pct95 = 100 * held80 / len(scored), 100 * held95 / len(scored)
            assert f"past forecasts: 80% band held {pct80:.0f}% (n={len(scored)}), 95% held {pct95:.0f}%" in text
            assert 60 <= pct80 <= 95 and 85 <= pct95 <= 100  # the fixture's empirical bounds roughly hold


async def test_band_reads_in_light_and_dark_themes(tmp_path: Path) -> None:
    """The shades are drawn in a colour that stands out from the chart's background in both themes."""
    app, db, end = snapshot_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        with Store(db) as store:
            screen = await open_forecast(pilot, store, end, lambda s: s.computes >= 1)
            chart = screen.query_one("#fc-chart", PlotView)
            for theme in ("textual-dark", "textual-light"):
                app.theme = theme
                await pilot.pause()
                svg = app.export_screenshot()
                styles = dict(re.findall(r"\.(terminal-\w+-r\d+) \{ ([^}]*) \}", svg))
                shades = {c for c, txt in re.findall(r'class="(terminal-\w+-r\d+)"[^>]*>([^<]*)<', svg)
                          if "░" in txt or "▒" in txt}  # fmt: skip
                fills = {m.group(1) for c in shades if (m := re.search(r"fill: (#[0-9a-f]{6})", styles[c]))}
                assert fills, f"{theme}: no band drawn"
                background = chart.background_colors[1]
                for fill in fills:
                    assert contrast(Color.parse(fill), background) >= 3.0, (theme, fill, background)


def test_interval_forecast_prefers_the_current_forecasts_own_bounds() -> None:
    t = 1_795_800_000.0
    plain = [Forecast(t, t + 300 * k, k, "baseline:persistence", 10.0) for k in (1, 2)]
    own = [Forecast(t, t + 300 * k, k, "lstm-b", 10.0, 8.0, 12.0, 6.0, 14.0) for k in (1, 2)]
    older = [Forecast(t - 300, t + 300 * k, k, "lstm-a", 11.0, 9.0, 13.0) for k in (1, 2)]
    assert interval_forecast(own, older) == (own, "")
    run, source = interval_forecast(plain, older)
    assert run == older and source.startswith("lstm-a made ")
    # the newest stored forecast has no bounds (stored by a model without intervals): no band
    assert interval_forecast(plain, older + plain) == ([], "")
    assert interval_forecast(plain, []) == ([], "")


async def test_refreshes_as_rounds_arrive_and_stores_each_new_step(tmp_path: Path) -> None:
    from qostui.records import BandwidthSample

    db = tmp_path / "s.db"
    records = generated_records()
    fill_store(db, records)
    end = max(r.ts for r in records)
    cfg = quick_forecast(offline_config(), tmp_path / "models")
    app = QostuiApp(cfg, remember_theme=False)
    async with app.run_test(size=(80, 24)) as pilot:
        with Store(db) as store:
            screen = await open_forecast(pilot, store, end, lambda s: s.computes >= 1, "the first forecast")
            assert screen.stored_total == 0 and store.forecasts() == []
            first_end = screen.view.result.data_end_ts  # type: ignore[union-attr]
            # a new 5-minute reading arrives (the pipeline would have stored it): forecast again, store it
            new = BandwidthSample(ts=end + 300, interface="imported", rx_mbps=77.0, tx_mbps=0.0, interval_s=300)
            store.write([new])
            screen._last_start = 0.0  # no need to wait out the 1 s throttle
            app.apply([new])
            await wait_for(pilot, lambda: screen.computes >= 2, 20, "the refresh")
            assert screen.view is not None and screen.view.result.data_end_ts == first_end + 300
            assert screen.stored_total == cfg.forecast.horizon
            assert len(store.forecasts(since=end + 600)) == cfg.forecast.horizon
            # a round without a new step forecasts again but stores nothing more
            screen._last_start = 0.0
            app.apply([new])
            await wait_for(pilot, lambda: screen.computes >= 3, 20, "the second refresh")
            assert screen.stored_total == cfg.forecast.horizon


async def test_views_replace_each_other() -> None:
    app = QostuiApp(offline_config(), remember_theme=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f")
        assert isinstance(app.screen, ForecastScreen)
        await pilot.press("f")  # already open: nothing stacks up
        await pilot.press("t")
        assert type(app.screen).__name__ == "TrainingScreen" and len(app.screen_stack) == 3  # _default, monitor, the view
        await pilot.press("g")
        assert type(app.screen).__name__ == "PlotsScreen" and len(app.screen_stack) == 3  # _default, monitor, the view
        await pilot.press("escape")
        assert isinstance(app.screen, MonitorScreen)


async def test_without_store_one_line() -> None:
    cfg = offline_config()
    cfg = replace(cfg, store=replace(cfg.store, path="/nonexistent/dir/none.db"))
    app = QostuiApp(cfg, remember_theme=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f")
        screen = app.screen
        assert isinstance(screen, ForecastScreen)
        await wait_for(pilot, lambda: screen.computes >= 1, 10, "the attempt")
        await pilot.pause()
        assert "no store yet" in screen.error
        assert "no store yet" in screen_text(app)


def snapshot_app(tmp_path: Path) -> tuple[QostuiApp, Path, float]:
    """The generated series with stored interval forecasts (runs with actuals after them, and one
    for the coming steps); no model: the best baseline forecasts."""
    db = tmp_path / "snap.db"
    records = generated_records()
    fill_store(db, records)
    with Store(db) as s:
        s.write(interval_forecasts(records))
    cfg = quick_forecast(offline_config(), tmp_path / "models")
    return QostuiApp(cfg, remember_theme=False), db, max(r.ts for r in records)


def forecast_run_before(db: Path, end: float):  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot) -> None:
        store = Store(db)
        await open_forecast(pilot, store, end, lambda s: s.computes >= 1 and s.coverage_runs >= 1)
        await pilot.pause()

    return run_before


def test_forecast_80x24(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app, db, end = snapshot_app(tmp_path)
    assert snap_compare(app, terminal_size=(80, 24), run_before=forecast_run_before(db, end))


def test_forecast_160x48(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app, db, end = snapshot_app(tmp_path)
    assert snap_compare(app, terminal_size=(160, 48), run_before=forecast_run_before(db, end))
