"""The main screen: a header, one panel per target and per interface (or, in the compact view, one
line each), the preview chart on tall terminals and the footer keys.

The compact view is chosen when the panels do not fit the terminal (`[ui] view = "auto"`), or with
`v`; panels are only created once the panel view is shown, so 1000 targets start quickly."""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterator

from textual.app import ComposeResult, SystemCommand
from textual.containers import VerticalScroll
from textual.timer import Timer

from qostui.records import Record
from qostui.ui.chart import Line, ping_lines, ping_series
from qostui.ui.keys import bindings_for
from qostui.ui.model import Changes
from qostui.ui.screens.base import QostuiScreen
from qostui.ui.widgets.bandwidth_panel import BandwidthPanel
from qostui.ui.widgets.chart import ChartView
from qostui.ui.widgets.compact_table import CompactTable
from qostui.ui.widgets.footer import KeysFooter
from qostui.ui.widgets.header import HeaderBar
from qostui.ui.widgets.target_panel import OpenDetail, Panel, TargetPanel

PANEL_MIN_WIDTH = 78  # one more column of panels for every this many terminal columns
PREVIEW_MIN_HEIGHT = 36  # taller terminals also show a chart of the selected target
PREVIEW_EVERY_S = 5.0  # live redraws of the preview at most this often: it costs more than all panels
PANEL_ROWS = 4  # a panel's height (border, values, sparklines)


class MonitorScreen(QostuiScreen):
    role = "monitor"
    CSS_PATH = "monitor.tcss"
    BINDINGS = bindings_for("monitor")

    def __init__(self) -> None:
        super().__init__(id="monitor")
        self._panels: dict[str, TargetPanel] = {}
        self._bandwidth: dict[str, BandwidthPanel] = {}  # interface -> panel ("" = placeholder)
        self._columns = 1
        self._preview_drawn = 0.0
        self._stale: set[str] = set()  # targets whose panels are off screen and out of date
        self._preview_timer: Timer | None = None
        # target -> (drawn at, stamp, lines, since, until, title) of its latest preview chart
        self._preview_last: dict[str, tuple[float, Hashable, list[Line], float, float, str]] = {}
        self._chosen = ""  # "panels" | "compact" once chosen by config or `v`; "" = auto
        self._panels_built = False

    def compose(self) -> ComposeResult:
        model = self.app.model
        view = model.config.ui.view
        self._chosen = "" if view == "auto" else view
        compact = self._want_compact(self.app.size.width, self.app.size.height)
        self.set_class(compact, "-compact")
        yield HeaderBar(id="header")
        with VerticalScroll(id="panels"):
            if not compact:
                yield from self._new_panels()
        yield CompactTable(model, model.config.thresholds, id="compact")
        # drawn off the event loop: keys never wait (offline, e.g. snapshots, the first chart in place)
        yield ChartView(id="preview", background=True, first_too=self.app.live)
        yield KeysFooter()

    def _new_panels(self) -> list[Panel]:
        model = self.app.model
        self._panels_built = True
        out: list[Panel] = []
        for h in model.targets.values():
            panel = TargetPanel(h, model.config.thresholds, id=f"target-{len(self._panels)}")
            self._panels[h.key] = panel
            out.append(panel)
        enabled = model.config.bandwidth.enabled
        for name in list(model.interfaces) or [""]:
            bw = BandwidthPanel(model.interfaces, name, enabled=enabled, id=f"bandwidth-{len(self._bandwidth)}")
            self._bandwidth[name] = bw
            out.append(bw)
        return out

    def on_mount(self) -> None:
        self.watch(self.query_one("#panels"), "scroll_y", self._scrolled, init=False)
        self._focus_view()

    # --- panels or compact ---------------------------------------------------------------------
    @property
    def compact(self) -> bool:
        return self.has_class("-compact")

    def _want_compact(self, width: int, height: int) -> bool:
        if self._chosen:
            return self._chosen == "compact"
        model = self.app.model
        columns = max(1, width // PANEL_MIN_WIDTH)
        panels = len(model.targets) + max(1, len(model.interfaces))
        room = max(1, height - 2)  # header and footer
        if height >= PREVIEW_MIN_HEIGHT:
            room = int(room * 0.6)  # the preview chart takes the rest
        return -(-panels // columns) * PANEL_ROWS > room

    def _set_view(self, compact: bool) -> None:
        if compact == self.compact:
            return
        self.set_class(compact, "-compact")
        if compact:
            self.query_one(CompactTable).refresh_all()
        else:
            if not self._panels_built:
                self.query_one("#panels").mount_all(self._new_panels())
            self.call_after_refresh(self.refresh_all)
        self.call_after_refresh(self._focus_view)

    def _focus_view(self) -> None:
        if self.compact:
            self.query_one(CompactTable).focus()
            return
        first = next(iter(self._panels.values()), None)
        if first is not None:
            first.focus()

    def action_toggle_compact(self) -> None:
        self._chosen = "panels" if self.compact else "compact"
        self._set_view(self._chosen == "compact")

    def action_sort_next(self) -> None:
        if not self.compact:
            self.app.notify("sorting is for the compact view (v)", timeout=1.5)
            return
        key = self.query_one(CompactTable).set_sort()
        self.app.notify(f"sorted by {key or 'the configured order'}", timeout=1.5)

    def action_sort_reverse(self) -> None:
        table = self.query_one(CompactTable)
        if self.compact:
            table.set_sort(table.sort_key, reverse=not table.reverse)

    def on_resize(self) -> None:
        self._set_view(self._want_compact(self.size.width, self.size.height))
        columns = max(1, self.size.width // PANEL_MIN_WIDTH)
        if columns != self._columns:
            self._columns = columns
            self.query_one("#panels").styles.grid_size_columns = columns
        if self._stale:
            self.call_after_refresh(self._refresh_stale)
        roomy = self.size.height >= PREVIEW_MIN_HEIGHT
        if roomy != self.has_class("-roomy"):
            self.set_class(roomy, "-roomy")
            self.update_preview()

    # --- the preview chart (big terminals only): the selected target's ring buffer, no store reads
    def _preview_soon(self) -> None:
        """Redraw now if the last redraw is old enough, else once when it is (never a backlog)."""
        if not self.has_class("-roomy") or self._preview_timer is not None:
            return
        wait_s = self._preview_drawn + PREVIEW_EVERY_S - time.monotonic()
        if wait_s <= 0 or self.query_one("#preview", ChartView).empty:  # first data: draw at once
            self.update_preview()
        else:
            self._preview_timer = self.set_timer(wait_s, self._preview_due)

    def _preview_due(self) -> None:
        self._preview_timer = None
        self.update_preview()

    def update_preview(self, *, recent_ok: bool = False) -> None:
        """Chart the selected target's rounds. `recent_ok`: a chart of it drawn less than
        PREVIEW_EVERY_S ago will do (what the live throttle would show anyway): moving the
        selection back and forth then draws nothing at all."""
        if not self.has_class("-roomy"):
            return
        chart = self.query_one("#preview", ChartView)
        key = self.selected_key
        h = self.app.model.targets.get(key) if key else None
        if h is None or not h.rounds:
            self._preview_drawn = time.monotonic()
            chart.show_message("select a target to see its recent rounds here" if h is None else "waiting for rounds…")
            return
        assert key is not None
        last = self._preview_last.get(key)
        if recent_ok and last is not None and time.monotonic() - last[0] < PREVIEW_EVERY_S:
            self._preview_drawn, stamp, lines, since, until, title = last
            chart.show(lines, since=since, until=until, scale="auto", title=title, stamp=stamp)
            return
        self._preview_drawn = now = time.monotonic()
        rounds = list(h.rounds)
        until = rounds[-1].ts
        since = min(rounds[0].ts, until - self.app.config.interval_s * len(rounds))
        series = ping_series(rounds, since, until, max(20, (chart.content_region.width or 80) * 2))
        title = f"{h.label}: RTT ms, last {len(rounds)} rounds (Enter: full detail)"
        lines = ping_lines(series, "auto")
        stamp = (key, now)
        self._preview_last[key] = (now, stamp, lines, since, until, title)
        chart.show(lines, since=since, until=until, scale="auto", title=title, stamp=stamp)

    def catch_up(self) -> None:
        self.query_one("#preview", ChartView).catch_up()  # new rounds came while a view was open

    def on_descendant_focus(self) -> None:
        self.update_preview(recent_ok=True)

    def _visible(self, panel: TargetPanel) -> bool:
        """Inside the scrolled viewport as of the last paint (not yet painted counts as visible)."""
        region = panel.region
        return not region or self.query_one("#panels").region.overlaps(region)

    def _scrolled(self) -> None:
        if self._stale:
            self.call_after_refresh(self._refresh_stale)  # on-screen state is known after the repaint

    def _refresh_stale(self) -> None:
        for key in list(self._stale):
            panel = self._panels.get(key)
            if panel is None:
                self._stale.discard(key)
            elif self._visible(panel):
                self._stale.discard(key)
                panel.update_view()

    # --- updates (once per round batch) ------------------------------------------------------
    def records_arrived(self, records: list[Record], changes: Changes) -> None:
        if changes:
            self.records_changed(changes)

    def stats_reset(self) -> None:
        self.refresh_all()

    def open_selected(self) -> None:
        self.action_open_detail()

    def system_commands(self) -> Iterator[SystemCommand]:
        yield SystemCommand("Open detail", "Enter: chart of the selected panel", self.action_open_detail)

    def records_changed(self, changes: Changes) -> None:
        if self.compact:
            self.query_one(CompactTable).rows_changed(changes.targets, changes.interfaces, changes.new_interfaces)
            if self._panels_built:  # hidden panels: brought up to date when shown
                self._stale.update(k for k in changes.targets if k in self._panels)
            if changes.new_interfaces or len(self.app.model.targets) != len(self._panels):
                self._set_view(self._want_compact(self.size.width, self.size.height))  # still fits?
            if self.selected_key in changes.targets:
                self._preview_soon()
            return
        # Only panels on screen repaint now; the others are marked stale and repaint when they
        # scroll into view (100 targets at 80x24: ~5 repaints per round, not 100).
        stale = False
        for key in changes.targets:
            panel = self._panels.get(key)
            if panel is not None:
                if self._visible(panel):
                    panel.update_view()
                else:
                    self._stale.add(key)
                    stale = True
            elif self.is_mounted:  # a target that was not configured: add its panel
                h = self.app.model.targets[key]
                panel = TargetPanel(h, self.app.model.config.thresholds, id=f"target-{len(self._panels)}")
                self._panels[key] = panel
                self.query_one("#panels").mount(panel, before=self.query(BandwidthPanel).first())
        if stale:  # panels mounted but not painted yet count as off screen until the next paint
            self.call_after_refresh(self._refresh_stale)
        if changes.new_interfaces:
            self._add_interface_panels()
            self._set_view(self._want_compact(self.size.width, self.size.height))  # still fits?
        for name in changes.interfaces:
            bw = self._bandwidth.get(name)
            if bw is not None:
                bw.update_view()
        if self.selected_key in changes.targets:
            self._preview_soon()

    def _add_interface_panels(self) -> None:
        model = self.app.model
        for name in model.interfaces:
            if name in self._bandwidth:
                continue
            placeholder = self._bandwidth.pop("", None)
            if placeholder is not None:  # the first interface takes over the placeholder
                placeholder.bind(name)
                self._bandwidth[name] = placeholder
                continue
            panel = BandwidthPanel(model.interfaces, name, id=f"bandwidth-{len(self._bandwidth)}")
            self._bandwidth[name] = panel
            if self.is_mounted:
                self.query_one("#panels").mount(panel)

    def refresh_all(self) -> None:
        self.query_one(CompactTable).refresh_all()
        self._stale.clear()
        for panel in self._panels.values():
            panel.update_view()
        for bw in self._bandwidth.values():
            bw.update_view()
        self.update_preview()

    # --- keys --------------------------------------------------------------------------------
    def _move(self, step: int) -> None:
        if self.compact:
            self.query_one(CompactTable).move(step)
            self.update_preview(recent_ok=True)
            return
        panels = list(self.query(Panel))
        if not panels:
            return
        focused = self.focused
        idx = panels.index(focused) if focused in panels else -1
        new = min(len(panels) - 1, max(0, idx + step)) if idx >= 0 else 0
        panels[new].focus()
        panels[new].scroll_visible()

    def action_focus_down(self) -> None:
        self._move(1 if self.compact else self._columns)

    def action_focus_up(self) -> None:
        self._move(-1 if self.compact else -self._columns)

    def action_focus_next_panel(self) -> None:
        self._move(1)

    def action_focus_previous_panel(self) -> None:
        self._move(-1)

    def action_open_detail(self) -> None:
        if self.compact:
            self.query_one(CompactTable).open_selected()
            return
        focused = self.focused
        if isinstance(focused, Panel):
            self.app.open_detail(focused.kind, focused.key)

    def on_open_detail(self, message: OpenDetail) -> None:
        self.app.open_detail(message.kind, message.key)

    @property
    def selected_key(self) -> str | None:
        if self.compact:
            sel = self.query_one(CompactTable).selected
            return sel[1] if sel is not None and sel[0] == "target" else None
        focused = self.focused
        return focused.key if isinstance(focused, Panel) else None
