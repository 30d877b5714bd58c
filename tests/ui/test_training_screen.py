"""The training screen (`t`): real training on the seed series while the monitor probes loopback.

Snapshots feed recorded events (no TensorFlow): pytest tests/ui/test_training_screen.py --snapshot-update
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input

from qostui.forecast.events import EpochEnded, TrainingCancelled, TrainingFinished, TrainingStage
from qostui.forecast.model_store import latest_model_id
from qostui.pipeline import Pipeline
from qostui.ui.app import QostuiApp
from qostui.ui.screens.monitor import MonitorScreen
from qostui.ui.screens.training import TrainingScreen
from qostui.ui.widgets.plot_view import PlotView
from ui.forecast_fixtures import fill_store, fixed_events, quick_forecast, seed_records
from ui.helpers import fixed_records, live_config, offline_config, screen_text, wait_for


def live_app(db: Path, models: Path, **forecast: int) -> QostuiApp:
    cfg = live_config(db, "127.0.0.1", interval_s=0.3)
    # No live bandwidth: the store's bandwidth is the imported series (5 min steps, two years ago);
    # live samples of today would put a two-year gap into the training series.
    cfg = replace(cfg, bandwidth=replace(cfg.bandwidth, enabled=False))
    cfg = quick_forecast(cfg, models, **forecast)
    return QostuiApp(cfg, pipeline=Pipeline(cfg), remember_theme=False)


async def test_training_live_then_cancel(tmp_path: Path, db_path: Path) -> None:
    records, _source = seed_records()
    fill_store(db_path, records)
    models = tmp_path / "models"
    app = live_app(db_path, models, epochs=4, patience=3)
    try:
        async with app.run_test(size=(100, 40)) as pilot:
            await wait_for(pilot, lambda: app.model.rounds_seen >= 1, 10, "a first loopback round")
            await pilot.press("t")
            screen = app.screen
            assert isinstance(screen, TrainingScreen)
            await pilot.pause(0.1)
            assert "Start" in screen_text(app) and "epochs" in screen_text(app)

            # Start (focused) with Enter: training runs in a worker while probing goes on
            await pilot.press("enter")
            assert screen.running
            await wait_for(pilot, lambda: screen.last_epoch is not None, 60, "the first epoch")
            rounds_at_first_epoch = app.model.rounds_seen
            chart = screen.query_one("#train-chart", PlotView)
            points: list[int] = [len(screen.history)]
            draws = [chart.draws]
            while screen.running:
                await wait_for(pilot, lambda: len(screen.history) > points[-1] or not screen.running, 60, "the next epoch")
                await pilot.pause(0.05)
                points.append(len(screen.history))
                draws.append(chart.draws)
            assert screen.state == "finished", (screen.state, screen.message)
            # epoch by epoch: the history (and the chart) grew one point at a time, in order
            assert [e for e, _, _ in screen.history] == list(range(1, len(screen.history) + 1))
            assert len(screen.history) >= 2 and draws[-1] > draws[0]
            epochs = [ev for ev in screen.events if isinstance(ev, EpochEnded)]
            assert len(epochs) == len(screen.history) <= 4
            assert any(isinstance(ev, TrainingStage) and "TensorFlow" in ev.stage for ev in screen.events) or \
                "keras" in __import__("sys").modules  # the stage line appears on the first load only
            # the monitor kept updating during training
            assert app.model.rounds_seen > rounds_at_first_epoch
            await pilot.pause(0.1)
            text = screen_text(app)
            assert "loss per epoch" in chart.text and "epoch" in chart.text
            for word in ("method", "MAE", "skill", "lstm", "persistence", "forecasts now use"):
                assert word in text, word
            fin = screen.finished
            assert isinstance(fin, TrainingFinished) and fin.path
            assert latest_model_id(models) == fin.model_id
            assert "(the first model)" in text

            # A second, long run is cancelled with `c`; no thread is left behind
            before = set(threading.enumerate())
            screen.query_one("#train-epochs", Input).value = "500"
            screen.query_one("#train-patience", Input).value = "500"
            await pilot.press("enter")  # focus is back on Start
            assert screen.running
            await wait_for(pilot, lambda: screen.last_epoch is not None, 60, "an epoch of the second run")
            t0 = time.monotonic()
            await pilot.press("c")
            await wait_for(pilot, lambda: screen.state == "cancelled", 30, "the cancel to land")
            cancel_s = time.monotonic() - t0
            assert isinstance(screen.events[-1], TrainingCancelled)
            assert "cancelled" in screen_text(app)
            await wait_for(pilot, lambda: set(threading.enumerate()) <= before, 10, "the training thread to end")
            assert not [w for w in app.workers if w.group == "training" and w.is_running]
            assert latest_model_id(models) == fin.model_id  # nothing saved by the cancelled run
            assert cancel_s < 20

            # Esc goes back to the monitor, which is still live
            await pilot.press("escape")
            assert isinstance(app.screen, MonitorScreen)
            seen = app.model.rounds_seen
            await wait_for(pilot, lambda: app.model.rounds_seen > seen, 5, "another round")
            await pilot.press("q")
    finally:
        app.stop_pipeline()


async def test_bad_form_values_say_so_and_start_nothing() -> None:
    app = QostuiApp(offline_config(), remember_theme=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t")
        screen = app.screen
        assert isinstance(screen, TrainingScreen)
        screen.query_one("#train-epochs", Input).value = "0"
        await pilot.press("enter")
        await pilot.pause()
        assert screen.state == "idle" and screen.run == 0
        assert any("epochs: expected 1..100000, got 0" in str(n.message) for n in app._notifications)
        # `c` with nothing running says so; Esc goes back; `t` brings back the same screen
        await pilot.press("c")
        assert any("no training is running" in str(n.message) for n in app._notifications)
        await pilot.press("escape")
        assert isinstance(app.screen, MonitorScreen)
        await pilot.press("t")
        assert app.screen is screen
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Train the forecasting model" in titles and "Bandwidth forecast" in titles


async def test_training_fails_with_one_line_without_a_store(tmp_path: Path) -> None:
    cfg = offline_config()
    cfg = replace(cfg, store=replace(cfg.store, path=str(tmp_path / "none.db")))
    app = QostuiApp(quick_forecast(cfg, tmp_path / "models"), remember_theme=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t")
        screen = app.screen
        assert isinstance(screen, TrainingScreen)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.state == "failed", 10, "the failure")
        await pilot.pause()
        assert "no store yet" in screen.message and "\n" not in screen.message
        assert "training failed" in screen_text(app)
        assert not screen.running and not screen.query_one("#train-start").disabled


def feed_finished(pilot_keys: tuple[str, ...] = ("t",)):  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, QostuiApp)
        app.apply(fixed_records(20))
        await pilot.press(*pilot_keys)
        screen = app.screen
        assert isinstance(screen, TrainingScreen)
        await pilot.pause()
        for event in fixed_events():
            screen.apply_event(event)
        await pilot.pause()

    return run_before


def test_training_finished_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(QostuiApp(offline_config(), remember_theme=False), terminal_size=(80, 24), run_before=feed_finished())


def test_training_finished_160x48(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(QostuiApp(offline_config(), remember_theme=False), terminal_size=(160, 48), run_before=feed_finished())
