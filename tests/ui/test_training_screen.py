"""The training screen (`t`): real training on the seed series while the monitor probes loopback.

Snapshots feed recorded events (no TensorFlow): pytest tests/ui/test_training_screen.py --snapshot-update
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input

from conftest import PATIENCE_S
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
            keras_loaded = "keras" in sys.modules
            rounds_at_start = app.model.rounds_seen
            started = time.monotonic()
            start_button = screen.query_one("#train-start")
            await wait_for(pilot, lambda: start_button.has_focus, 5, "the Start button to have focus")
            await pilot.press("enter")
            # Button.Pressed is a message of its own: give it a moment to be handled
            await wait_for(pilot, lambda: screen.running or screen.state != "idle", 5, "training to start")
            assert screen.running or screen.state == "finished", (screen.state, screen.message)
            await wait_for(pilot, lambda: screen.last_epoch is not None, 60, "the first epoch")
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
            assert len(screen.history) >= 2
            # the chart is redrawn for the later epochs (draws are coalesced, so wait for the last one)
            await wait_for(pilot, lambda: chart.draws > draws[0], 5, "the loss chart to redraw")
            epochs = [ev for ev in screen.events if isinstance(ev, EpochEnded)]
            assert len(epochs) == len(screen.history) <= 4
            if not keras_loaded:  # the status line while TensorFlow loads (first training in a process)
                assert any(isinstance(ev, TrainingStage) and ev.stage == "loading TensorFlow" for ev in screen.events)
            # the monitor kept updating during training (rounds come every 0.3 s; with Keras already
            # loaded a 4-epoch run can be shorter than that, so only a long enough run must show one)
            if time.monotonic() - started > 1.0:
                assert app.model.rounds_seen > rounds_at_start
            await pilot.pause(0.1)
            assert "loss per epoch" in chart.text and "epoch" in chart.text
            assert "forecasts now use" in screen_text(app)
            await pilot.press("e")  # the evaluation table takes the chart's place
            await pilot.pause(0.1)
            text = screen_text(app)
            for word in ("method", "MAE", "skill", "lstm", "persistence", "forecasts now use"):
                assert word in text, word
            await pilot.press("e")
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
            assert cancel_s < PATIENCE_S  # at the next epoch boundary, not after 500 epochs

            # A third run keeps training after Esc (the monitor is live meanwhile) until q quits the app
            await pilot.press("enter")
            await pilot.press("escape")
            assert isinstance(app.screen, MonitorScreen) and screen.running
            seen = app.model.rounds_seen
            await wait_for(pilot, lambda: app.model.rounds_seen > seen, 5, "another round")
            await wait_for(pilot, lambda: screen.last_epoch is not None, 60, "an epoch in the background")
            # the header shows the progress ("training 3/500")
            await wait_for(pilot, lambda: "training " in screen_text(app).splitlines()[0], 5, "the header's progress")
            await pilot.press("q")
    finally:
        app.stop_pipeline()
    # quitting cancelled the background training: its thread ends, nothing is saved
    def left_over() -> set[threading.Thread]:
        # asyncio_N: the event loop's executor (q flushes the store through asyncio.to_thread)
        return {t for t in set(threading.enumerate()) - before if not t.name.startswith("asyncio_")}

    deadline = time.monotonic() + PATIENCE_S
    while left_over() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left_over()
    assert latest_model_id(models) == fin.model_id


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
        assert "Start training" in titles and "Cancel training" not in titles


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


async def test_finished_training_at_80x24_chart_legend_and_evaluation_tab() -> None:
    """80x24: the loss chart keeps at least 10 rows of plot with its legend; `e` swaps in the table."""
    app = QostuiApp(offline_config(), remember_theme=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await feed_finished()(pilot)
        screen = app.screen
        assert isinstance(screen, TrainingScreen)
        chart = screen.query_one("#train-chart", PlotView)
        plot_rows = [ln for ln in chart.text.splitlines() if "│" in ln or "┤" in ln]
        assert len(plot_rows) >= 10, chart.text
        text = screen_text(app)
        assert "val_loss" in text and "best 8" in text and "•" in chart.text  # legend and best-epoch marker
        assert "MAE@" not in text
        await pilot.press("e")
        await pilot.pause()
        assert screen.tab == "evaluation"
        text = screen_text(app)
        assert "MAE@1" in text and "persistence" in text and "forecasts now use" in text
        await pilot.press("e")
        await pilot.pause()
        assert screen.tab == "chart"


def test_tensorflow_log_lines_never_reach_the_screen(tmp_path: Path) -> None:
    """While TensorFlow loads, fd 2 (where Textual draws) goes through a filter: screen output
    passes, TensorFlow's native log lines are dropped (run in a child: it rewires fd 2)."""
    import subprocess
    import sys

    out = tmp_path / "fd2.txt"
    script = f"""
import os
fd = os.open({str(out)!r}, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.dup2(fd, 2)
from qostui.forecast.tf_preload import relay_fd2
with relay_fd2():
    os.write(2, b"\\x1b[2;1Hscreen-before")
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
    os.write(2, b"I0000 00:00:1795809892.084037   17733 port.cc:153] oneDNN custom operations are on.\\n")
    os.write(2, b"\\x1b[3;1Hscreen-after")
os.write(2, b"|restored")
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    text = out.read_text()
    assert text == "\x1b[2;1Hscreen-before\x1b[3;1Hscreen-after|restored"


def test_tmux_training_keeps_the_screen_clean(tmp_path: Path) -> None:
    """The real command in a real terminal: `t`, Enter trains; TensorFlow's native log lines never
    land on the screen (Textual draws on fd 2, where TensorFlow logs), the monitor still answers."""
    import os
    import subprocess
    import sys

    from conftest import need_tool
    from ui.helpers import kill_tmux_server

    tmux = need_tool("tmux")
    socket = f"qostui-train-test-{os.getpid()}"  # a private tmux server
    db = tmp_path / "t.db"
    records, _ = seed_records()
    fill_store(db, records)
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        "[bandwidth]\nenabled = false\n[store]\nretention_days = 0\n"
        f"[forecast]\nepochs = 6\npatience = 6\nunits = 8\nmodel_dir = \"{tmp_path / 'models'}\"\n"
    )
    cmd = (
        f"env XDG_CONFIG_HOME={tmp_path / 'xdg'} XDG_DATA_HOME={tmp_path / 'data'} TERM=xterm-256color "
        f"{sys.executable} -m qostui --config {cfg} --targets 127.0.0.1 --db {db} --interval 1"
        f"; echo exit=$? > {tmp_path / 'status.txt'}"
    )

    def tm(*args: str, check: bool = True) -> str:
        return subprocess.run([tmux, "-L", socket, *args], capture_output=True, text=True, timeout=60,
                              check=check).stdout

    def screen() -> str:
        return tm("capture-pane", "-p", "-t", "q")

    def wait_screen(cond: object, timeout_s: float, what: str) -> str:
        deadline = time.monotonic() + max(timeout_s, PATIENCE_S)
        while time.monotonic() < deadline:
            text = screen()
            if cond(text):  # type: ignore[operator]
                return text
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}:\n{screen()}")

    raw = tmp_path / "pane.raw"  # every byte the app writes to the terminal
    tm("new-session", "-d", "-x", "100", "-y", "32", "-s", "q", cmd)
    try:
        tm("pipe-pane", "-o", "-t", "q", f"cat >> {raw}")
        wait_screen(lambda s: "rtt " in s and " UP " in s, 15, "the monitor")
        tm("send-keys", "-t", "q", "t")
        wait_screen(lambda s: "Start" in s and "patience" in s, 10, "the training screen")
        tm("send-keys", "-t", "q", "Enter")
        wait_screen(lambda s: "forecasts now use" in s, 90, "the end of training")
        assert "val_loss" in screen()  # the chart's legend
        tm("send-keys", "-t", "q", "e")  # the evaluation table, in place of the chart
        done = wait_screen(lambda s: "MAE@" in s, 10, "the evaluation table")
        written = raw.read_bytes()
        assert b"loss per epoch" in written  # the capture works
        for noise in (b"oneDNN", b"absl", b"I0000", b"port.cc"):
            assert noise not in written, noise
        assert "method" in done and "MAE" in done and "lstm" in done
        lines = done.splitlines()
        assert len(lines) <= 32 and all(len(line) <= 100 for line in lines)
        tm("send-keys", "-t", "q", "Escape")
        wait_screen(lambda s: "Enter detail" in s and "127.0.0.1" in s, 5, "the monitor again")
        tm("send-keys", "-t", "q", "q")
        deadline = time.monotonic() + PATIENCE_S
        while time.monotonic() < deadline and "q:" in tm("list-sessions", check=False):
            time.sleep(0.2)
    finally:
        kill_tmux_server(tmux, socket)
    assert (tmp_path / "status.txt").read_text().strip() == "exit=0"
