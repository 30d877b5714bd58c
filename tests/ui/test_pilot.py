"""The real app, real probes to loopback, a real store file: driven with Textual's pilot."""

from __future__ import annotations

from pathlib import Path

from qostui.pipeline import Pipeline
from qostui.store import Store
from qostui.ui.app import QostuiApp
from qostui.ui.keys import KEYS
from qostui.ui.model import fmt_ms
from qostui.ui.screens.detail import DetailScreen
from qostui.ui.screens.help import HelpScreen
from qostui.ui.screens.monitor import MonitorScreen
from qostui.ui.widgets.chart import ChartView
from qostui.ui.widgets.target_panel import TargetPanel
from ui.helpers import live_config, screen_text, wait_for

TARGETS = ("127.0.0.1", "127.0.0.2", "::1")


async def test_monitor_live_loopback(db_path: Path) -> None:
    config = live_config(db_path)
    app = QostuiApp(config, pipeline=Pipeline(config), remember_theme=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            # one panel per target, in config order
            panels = list(app.screen.query(TargetPanel))
            assert [p.key for p in panels] == list(TARGETS)
            await wait_for(pilot, lambda: all(app.model.targets[t].last is not None for t in TARGETS), 10,
                           "a first round for every target")
            text = screen_text(app)
            for t in TARGETS:
                assert t in text
            assert "rtt " in text and " ms" in text and "UP" in text

            # values update after a round: a later round arrives and the panel shows its RTT
            h = app.model.targets["127.0.0.1"]
            first_ts = h.last.ts  # type: ignore[union-attr]
            await wait_for(pilot, lambda: h.last is not None and h.last.ts > first_ts, 5, "a second round")
            await pilot.pause(0.05)
            assert h.last is not None and h.last.rtt_avg_ms is not None
            assert f"rtt {fmt_ms(h.last.rtt_avg_ms)} ms" in panels[0].render().plain
            assert len(h.rounds) >= 2

            # keys move the selection
            assert app.focused is panels[0]
            await pilot.press("down")
            assert app.focused is panels[1]
            await pilot.press("j")
            assert app.focused is panels[2]
            await pilot.press("k", "up")
            assert app.focused is panels[0]

            # Enter opens the detail chart of the selected target (history read from the store)
            await pilot.press("j", "enter")
            assert isinstance(app.screen, DetailScreen) and app.screen.key == "127.0.0.2"
            detail = app.screen
            await wait_for(pilot, lambda: detail.loads >= 1, 5, "the detail chart to load")
            await pilot.pause(0.05)
            chart = detail.query_one(ChartView).text
            assert "RTT ms" in chart and "┤" in chart  # a plotext chart with a y axis
            loads = detail.loads
            await pilot.press("s")
            assert app.y_scale == "zero"
            await pilot.press("w")
            assert app.window_s == 3600.0
            await wait_for(pilot, lambda: detail.loads > loads, 5, "the 1 h window to load")
            assert "1 h window" in screen_text(app)
            await pilot.press("escape")
            assert isinstance(app.screen, MonitorScreen)

            # ? lists every key
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            await pilot.pause(0.05)
            help_text = screen_text(app)
            await pilot.press("end")  # the list scrolls when the terminal is short
            await pilot.pause(0.05)
            help_text += screen_text(app)
            for k in KEYS:
                assert k.shown in help_text and k.description[:30] in help_text, k
            await pilot.press("escape")
            assert isinstance(app.screen, MonitorScreen)

            # p pauses probing
            await pilot.press("p")
            assert app.pipeline is not None and app.pipeline.collector.paused
            assert "PAUSED" in screen_text(app)
            await pilot.press("p")
            assert not app.pipeline.collector.paused

            seen = app.model.rounds_seen
            await pilot.press("q")
            await pilot.pause(0.05)
        assert app.return_code == 0
    finally:
        app.stop_pipeline()
    # q stopped the pipeline and flushed: the store holds at least every round the UI showed
    with Store(db_path) as store:
        stored = store.ping_rounds()
    assert len(stored) >= seen >= 6
    assert {r.target for r in stored} == set(TARGETS)


async def test_reset_and_command_palette_actions(db_path: Path) -> None:
    config = live_config(db_path)
    app = QostuiApp(config, pipeline=Pipeline(config), remember_theme=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.model.targets["::1"].sent > 0, 10, "a round for ::1")
            await pilot.press("p")  # paused first: on a busy machine a round can land right after `r`
            seen = [-1]
            while seen[-1] != app.model.rounds_seen:  # the round in flight when pausing has arrived
                seen.append(app.model.rounds_seen)
                await pilot.pause(1.0)
            await pilot.press("r")
            assert all(h.sent == 0 and h.min_ms is None for h in app.model.targets.values())
            titles = [c.title for c in app.get_system_commands(app.screen)]
            for wanted in ("Resume probing", "Reset statistics", "Open detail", "Chart scale", "Chart window",
                           "Help: all keys", "Quit", "Theme"):
                assert wanted in titles
            await pilot.press("q")
    finally:
        app.stop_pipeline()


async def test_theme_choice_is_remembered(tmp_path: Path) -> None:
    from qostui.config import load_config
    from ui.helpers import offline_config

    app = QostuiApp(offline_config(), remember_theme=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert not (tmp_path / "xdg-config" / "qostui" / "config.toml").exists()  # starting saves nothing
        app.theme = "nord"
        await wait_for(pilot, lambda: load_config(None).ui.theme == "nord", 5, "the theme to be saved")
    assert load_config(None).ui.theme == "nord"  # conftest points XDG_CONFIG_HOME into tmp_path
    again = QostuiApp(load_config(None), remember_theme=False)
    async with again.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert again.theme == "nord"


async def test_unknown_theme_falls_back_with_a_warning() -> None:
    from dataclasses import replace

    from ui.helpers import offline_config

    cfg = offline_config()
    app = QostuiApp(replace(cfg, ui=replace(cfg.ui, theme="no-such-theme")), remember_theme=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: any("no-such-theme" in str(n.message) for n in app._notifications), 5,
                       "the theme warning")
        assert app.theme == "textual-dark"


async def test_mouse_and_many_targets_at_80x24() -> None:
    """8 targets do not fit 24 rows: the list scrolls to the selection; clicks select, double clicks open."""
    from ui.helpers import fixed_records, offline_config

    targets = tuple(f"127.0.0.{i}" for i in range(1, 9))
    app = QostuiApp(offline_config(",".join(targets), view="panels"), remember_theme=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.apply(fixed_records(30, targets))
        await pilot.pause()
        assert "127.0.0.8" not in screen_text(app)
        await pilot.press(*["j"] * 7)
        await pilot.pause()
        assert app.focused is app.screen.query(TargetPanel)[7]
        text = screen_text(app)
        assert "═ 127.0.0.8 ═" in text  # scrolled into view, selected (double border)
        assert all(len(line) <= 80 for line in text.splitlines())
        panels = list(app.screen.query(TargetPanel))
        visible = next(p for p in panels if p.region.y > 0 and p is not panels[7])
        await pilot.click(visible)
        assert app.focused is visible
        await pilot.double_click(visible)
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen) and app.screen.key == visible.key


async def test_detail_24h_window_from_a_full_store(db_path: Path) -> None:
    """A day of history in the store: the 24 h view loads it in a worker and keeps it compact."""
    import re
    import time

    from qostui.records import PingRound
    from ui.helpers import fixed_records

    now = time.time()
    n = 20_000
    day = [r for r in fixed_records(n, ("127.0.0.1",), t0=0.0) if isinstance(r, PingRound)]
    day = [PingRound(**{**{f: getattr(r, f) for f in r.__slots__}, "ts": now - 86_000 + i * 86_000 / n})  # type: ignore[attr-defined]
           for i, r in enumerate(day)]
    with Store(db_path) as store:
        store.insert(day)
    config = live_config(db_path, "127.0.0.1")
    app = QostuiApp(config, pipeline=Pipeline(config), remember_theme=False)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("enter")
            detail = app.screen
            assert isinstance(detail, DetailScreen)
            await wait_for(pilot, lambda: detail.loads >= 1, 10, "the 5 min window")
            await pilot.press("w", "w")
            assert app.window_s == 86_400.0
            await wait_for(pilot, lambda: detail.loads >= 2 and detail._loaded_window == 86_400.0, 20,
                           "the 24 h window")
            await pilot.pause(0.1)
            assert len(detail._rows) <= 4 * detail._points() + 100  # compacted, not 20 000 rounds
            probes = re.search(r"(\d+) probes", screen_text(app))
            assert probes and int(probes.group(1)) >= n * 5, screen_text(app)
            # leaving while a long window is still loading must not disturb anything
            await pilot.press("escape", "enter", "escape")
            await pilot.pause(1.0)
            assert isinstance(app.screen, MonitorScreen) and app.is_running
            await pilot.press("q")
    finally:
        app.stop_pipeline()


async def test_alert_events_show_on_the_panel_and_pop_up() -> None:
    from qostui.records import Event
    from ui.helpers import T0, fixed_records, offline_config

    app = QostuiApp(offline_config(), remember_theme=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.apply(fixed_records(10))
        app.apply([Event(ts=T0 + 10, kind="loss", target="127.0.0.2", level="crit", message="loss 30% >= 20%")])
        await pilot.pause(0.05)
        panel = app.screen.query(TargetPanel)[1]
        assert "⚠ alert loss crit" in panel.render().plain
        assert "loss crit" in screen_text(app)
        assert any("loss 30%" in str(n.message) for n in app._notifications)
        app.apply([Event(ts=T0 + 20, kind="loss", target="127.0.0.2", level="ok", message="loss back to normal")])
        await pilot.pause(0.05)
        assert "⚠" not in panel.render().plain
        # a burst of alert changes is one notification
        before = len(app._notifications)
        app.apply([Event(ts=T0 + 30, kind="latency", target=t, level="warn", message="rtt high")
                   for t in ("127.0.0.1", "127.0.0.2", "::1", "10.231.255.1")])
        await pilot.pause(0.05)
        assert len(app._notifications) == before + 1


async def test_one_bandwidth_panel_per_interface() -> None:
    from qostui.records import BandwidthSample
    from qostui.ui.widgets.bandwidth_panel import BandwidthPanel
    from ui.helpers import T0, fixed_records, offline_config

    app = QostuiApp(offline_config("127.0.0.1"), remember_theme=False)
    async with app.run_test(size=(80, 24)) as pilot:
        (placeholder,) = app.screen.query(BandwidthPanel)
        assert "waiting for the first sample" in placeholder.render().plain
        app.apply(fixed_records(5, ("127.0.0.1",)))  # eth0
        app.apply([BandwidthSample(ts=T0 + i, interface="wlan0", rx_mbps=50.0, tx_mbps=5.0, interval_s=1.0)
                   for i in range(5)])
        await pilot.pause(0.05)
        panels = list(app.screen.query(BandwidthPanel))
        assert [p.key for p in panels] == ["eth0", "wlan0"] and panels[0] is placeholder
        assert "rx   50.00" in panels[1].render().plain and "total rx 31.2 MB" in panels[1].render().plain
        await pilot.press("j", "j", "enter")
        await pilot.pause(0.05)
        assert isinstance(app.screen, DetailScreen) and app.screen.key == "wlan0"
        assert "bandwidth wlan0" in screen_text(app)


async def test_tall_terminal_previews_the_selected_target() -> None:
    from qostui.ui.widgets.chart import ChartView
    from ui.helpers import fixed_records, offline_config

    app = QostuiApp(offline_config(), remember_theme=False)
    async with app.run_test(size=(100, 40)) as pilot:
        app.apply(fixed_records(60))
        await pilot.pause(0.05)
        preview = app.screen.query_one("#preview", ChartView)
        assert preview.display and "127.0.0.1: RTT ms" in preview.text
        await pilot.press("j")
        await pilot.pause(0.05)
        assert "127.0.0.2: RTT ms" in preview.text and "x" in preview.text  # its losses are marked
    small = QostuiApp(offline_config(), remember_theme=False)
    async with small.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert not small.screen.query_one("#preview", ChartView).display  # no room: panels only
