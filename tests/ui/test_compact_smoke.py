"""The compact view (20 loopback targets) and the detail chart's RTT smoke, as snapshots.

Offline and deterministic: the compact view is fed fixed rounds (tests/ui/helpers.fixed_records);
the smoke snapshots are fed the rounds of a jittery lab host recorded by
tests/lab/record_smoke_fixture.py (tests/ui/fixtures/smoke_lab_rounds.json: 5 probes a round,
20 ms +- 8 ms from the lab's echo responder, 15% of requests dropped in the middle third), the RTTs
as measured and the first round placed at helpers.T0; in the dark (default) and the light theme.
tests/ui/test_lab_smoke.py checks the smoke of a live jittery lab host.
Update: pytest tests/ui/test_compact_smoke.py --snapshot-update (then look at the SVGs).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from rich.color import Color as RichColor
from textual.color import Color
from textual.pilot import Pilot

from qostui.charts import SMOKE_SHADES, loss_band
from qostui.ui.app import QostuiApp
from qostui.ui.screens.detail import DetailScreen
from qostui.ui.widgets.chart import ChartView
from qostui.ui.widgets.compact_table import CompactTable
from ui.helpers import contrast, fixed_records, offline_config, screen_text, wait_for
from ui.smoke_fixture import lab_smoke_data, lab_smoke_rounds

TWENTY = tuple(f"127.0.0.{i}" for i in range(1, 21))


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


def smoke_app(theme: str = "textual-dark") -> QostuiApp:
    config = offline_config(f"127.0.0.1,{lab_smoke_data()['address']}", history_rounds=300)
    config = config.with_overrides(ui=replace(config.ui, theme=theme))  # as `[ui] theme` does
    return QostuiApp(config, remember_theme=False)


def feed_smoke() -> Callable[[Pilot], object]:
    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, QostuiApp)
        app.apply(lab_smoke_rounds())
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


def test_detail_smoke_light_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(smoke_app("textual-light"), terminal_size=(80, 24), run_before=feed_smoke())


def test_detail_smoke_light_160x48(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(smoke_app("textual-light"), terminal_size=(160, 48), run_before=feed_smoke())


def _xterm(code: int) -> Color:
    return Color(*RichColor.from_ansi(code).get_truecolor())


async def test_smoke_reads_in_light_and_dark_themes() -> None:
    """As drawn: both bands stand out from the chart's background (>= 3:1) and apart from each
    other, and the loss-free median stands out from both bands, in the dark and the light theme."""
    app = smoke_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await feed_smoke()(pilot)
        chart = app.screen.query_one(ChartView)
        outer, inner, median = _xterm(SMOKE_SHADES[0]), _xterm(SMOKE_SHADES[1]), _xterm(loss_band(0.0)[1])
        backgrounds = set()
        for theme in ("textual-dark", "textual-light"):
            app.theme = theme
            await pilot.pause()
            svg = app.export_screenshot()
            styles = dict(re.findall(r"\.(terminal-(?:\w+-)?r\d+) \{ ([^}]*) \}", svg))
            drawn = {m.group(1) for c, txt in re.findall(r'class="(terminal-(?:\w+-)?r\d+)"[^>]*>([^<]*)<', svg)
                     if re.search("[▀-▟]", txt) and (m := re.search(r"fill: (#[0-9a-f]{6})", styles[c]))}  # fmt: skip
            assert {outer.hex.lower(), inner.hex.lower(), median.hex.lower()} <= drawn, (theme, drawn)
            background = chart.background_colors[1]
            backgrounds.add(background.hex)
            for band in (outer, inner):
                assert contrast(band, background) >= 3.0, (theme, band.hex, background.hex)
                assert contrast(median, band) >= 2.5, (theme, median.hex, band.hex)
            assert contrast(outer, inner) >= 1.3
        assert len(backgrounds) == 2  # the theme did change the chart's background


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
