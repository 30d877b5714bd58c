"""The screen contract (a new screen needs nothing but QostuiScreen) and the one clock rule.

The clock tests run under a non-UTC zone (America/Sao_Paulo, UTC-3 all year since 2019), once with
local time (the default) and once with `[ui] timezone = "UTC"`: the detail chart, the forecast view
and the plots view must all show the same clock.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path

import pytest
from textual import work
from textual.app import ComposeResult

from qostui.records import Record
from qostui.store import Store
from qostui.ui.app import QostuiApp
from qostui.ui.model import Changes
from qostui.ui.screens.base import QostuiScreen
from qostui.ui.screens.detail import DetailScreen
from qostui.ui.screens.plots import PlotsScreen
from qostui.ui.widgets.chart import ChartView
from qostui.ui.widgets.header import HeaderBar
from qostui.ui.widgets.plot_view import PlotView
from ui.forecast_fixtures import STEP_S, fill_store, generated_records, open_forecast
from ui.helpers import T0, fixed_records, offline_config, screen_text, wait_for

SRC = Path(__file__).resolve().parents[2] / "src" / "qostui"


class TallyScreen(QostuiScreen):
    """A screen that only implements the contract."""

    view_name = "tally"

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0
        self.caught_up = 0

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")

    def records_arrived(self, records: list[Record], changes: Changes) -> None:
        self.seen += len(records)

    def catch_up(self) -> None:
        self.caught_up += 1

    def status_text(self) -> str:
        return f"tally {self.seen}"

    @work(thread=True, exit_on_error=False)
    def explode(self) -> None:
        raise RuntimeError("kaboom outside any try")


async def test_a_new_screen_needs_only_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(QostuiApp.VIEWS, "tally", lambda app: TallyScreen())
    app = QostuiApp(offline_config(), remember_theme=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.action_open_view("tally")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TallyScreen)
        records = fixed_records(4)
        app.apply(records)
        assert screen.seen == len(records)  # records arrive
        app.refresh_header()
        header = screen_text(app).splitlines()[0]
        assert "tally" in header and f"tally {len(records)}" in header  # its label and its header part
        before = screen.caught_up
        await pilot.press("question_mark")  # help covers it; Esc shows it again: it catches up
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and screen.caught_up == before + 1
        # a worker that raises outside any try: a one-line notification, nothing vanishes
        screen.explode()
        await wait_for(pilot, lambda: any("kaboom" in str(n.message) for n in app._notifications), 10,
                       "the worker's error notification")
        note = next(n for n in app._notifications if "kaboom" in str(n.message))
        assert str(note.message) == "RuntimeError: kaboom outside any try" and note.severity == "error"
        await pilot.press("escape")


def test_app_drives_screens_without_type_dispatch() -> None:
    app_py = (SRC / "ui" / "app.py").read_text()
    assert not re.search(r"isinstance\([^)]*Screen", app_py)
    assert not re.search(r"hasattr\(\s*(self\.)?screen", app_py) and "getattr(screen" not in app_py
    assert "getattr(self.screen" not in app_py


def test_threshold_to_level_is_defined_once() -> None:
    """Comparisons of a value with warn/crit thresholds exist in qostui/levels.py only."""
    pattern = re.compile(r"(>=|<=)\s*(self\.)?(crit|warn)\b|\b\w+_(warn|crit)_(ms|pct)\b\s*(>=|<=|>|<)")
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name in ("levels.py", "config.py"):  # config validates warn <= crit, it judges no value
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert offenders == []
    assert "_level(" not in (SRC / "ui" / "widgets" / "target_panel.py").read_text()


# --- the clock ------------------------------------------------------------------------------------
HHMM = re.compile(r"\b(\d{2}):(\d{2})\b")


def axis_times(chart_text: str) -> list[str]:
    """HH:MM labels under the chart's x axis (the line after the frame's bottom edge)."""
    lines = chart_text.splitlines()
    bottom = max(i for i, ln in enumerate(lines) if "└" in ln)  # the lowest (sub)plot's axis
    return [f"{h}:{m}" for h, m in HHMM.findall(lines[bottom + 1])]


def shifted(labels: list[str], hours: int) -> list[str]:
    return [f"{(int(x[:2]) + hours) % 24:02d}:{x[3:]}" for x in labels]


async def views_clock(tmp_path: Path, timezone: str) -> dict[str, list[str] | str]:
    """Axis labels of the detail chart, the forecast view and the plots view (multi-target), and
    the forecast view's "from HH:MM" label."""
    db = tmp_path / "clock.db"
    if not db.exists():
        # 17 h of 5 min steps: ticks every 3 h on every chart, so both clocks round to the same times
        fill_store(db, generated_records(n=200), ping_target="10.231.0.1")
    cfg = offline_config()
    cfg = replace(cfg, store=replace(cfg.store, path=str(db)), ui=replace(cfg.ui, timezone=timezone))
    cfg = replace(cfg, forecast=replace(cfg.forecast, model_dir=str(tmp_path / "models")))
    app = QostuiApp(cfg, remember_theme=False)
    out: dict[str, list[str] | str] = {}
    async with app.run_test(size=(100, 30)) as pilot:
        app.apply(fixed_records(150))
        await pilot.pause()
        await pilot.press("down", "enter")
        detail = app.screen
        assert isinstance(detail, DetailScreen)
        await wait_for(pilot, lambda: detail.loads >= 1, 10, "the detail chart")
        out["detail"] = axis_times(detail.query_one(ChartView).text)
        await pilot.press("escape")
        with Store(db) as store:
            end = store.time_range("bandwidth")[1]  # type: ignore[index]
            fc = await open_forecast(pilot, store, end)
            await pilot.pause()
            out["forecast"] = axis_times(fc.query_one("#fc-chart", PlotView).text)
            m = re.search(r"from (\d{2}:\d{2}( UTC)?)", screen_text(app))
            assert m, screen_text(app)
            out["forecast_from"] = m.group(1)
            out["forecast_first_ts"] = str(fc.view.result.forecasts[0].ts)
            app.pop_screen()
            plots = PlotsScreen(store=store, index=4)  # RTT and loss of all targets
            await app.push_screen(plots)
            await wait_for(pilot, lambda: "multi_target" in plots.data or bool(plots.errors), 30, "the plot")
            assert not plots.errors, plots.errors
            await pilot.pause()
            out["plots"] = axis_times(plots.query_one("#plots-chart", PlotView).text)
    return out


async def test_local_time_everywhere_then_utc_everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/Sao_Paulo")
    time.tzset()
    local = await views_clock(tmp_path, "")
    utc = await views_clock(tmp_path, "UTC")
    # the fixed rounds start at T0 = 22:13:20 UTC = 19:13:20 in Sao Paulo
    assert time.strftime("%H:%M", time.localtime(T0)) == "19:13"
    assert local["detail"] and all(x.startswith("19:1") for x in local["detail"]), local
    assert utc["detail"] and all(x.startswith("22:1") for x in utc["detail"]), utc
    for view in ("detail", "forecast", "plots"):
        assert len(local[view]) >= 2, (view, local)
        assert local[view] == shifted(utc[view], -3), (view, local[view], utc[view])  # same clock in all views
    first = float(local["forecast_first_ts"])  # type: ignore[arg-type]
    assert local["forecast_from"] == time.strftime("%H:%M", time.localtime(first))
    assert utc["forecast_from"] == time.strftime("%H:%M", time.gmtime(first)) + " UTC"
    assert STEP_S == 300.0


def test_bad_timezone_is_one_line_error(tmp_path: Path) -> None:
    from qostui.config import ConfigError, load_config

    cfg = tmp_path / "c.toml"
    cfg.write_text('[ui]\ntimezone = "Mars/Olympus"\n')
    with pytest.raises(ConfigError) as err:
        load_config(str(cfg))
    msg = str(err.value)
    assert "\n" not in msg and "ui.timezone" in msg and "Mars/Olympus" in msg and str(cfg) in msg
