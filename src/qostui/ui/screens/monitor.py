"""The main screen: a header, one panel per target, the bandwidth panel and the footer keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer

from qostui.ui.keys import KEYS
from qostui.ui.model import Changes
from qostui.ui.widgets.bandwidth_panel import BandwidthPanel
from qostui.ui.widgets.header import HeaderBar
from qostui.ui.widgets.target_panel import OpenDetail, Panel, TargetPanel

if TYPE_CHECKING:
    from qostui.ui.app import QostuiApp

PANEL_MIN_WIDTH = 78  # one more column of panels for every this many terminal columns


class MonitorScreen(Screen[None]):
    CSS_PATH = "monitor.tcss"
    BINDINGS = [
        Binding(k.keys, k.action, k.label, show=k.footer, key_display=k.shown)
        for k in KEYS
        if k.where == "monitor"
    ]

    app: QostuiApp  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__(id="monitor")
        self._panels: dict[str, TargetPanel] = {}
        self._columns = 1

    def compose(self) -> ComposeResult:
        model = self.app.model
        yield HeaderBar(id="header")
        with VerticalScroll(id="panels"):
            for i, h in enumerate(model.targets.values()):
                panel = TargetPanel(h, model.config.thresholds, id=f"target-{i}")
                self._panels[h.key] = panel
                yield panel
            yield BandwidthPanel(model.interfaces, enabled=model.config.bandwidth.enabled, id="bandwidth")
        yield Footer()

    def on_mount(self) -> None:
        self.app.refresh_header(self)
        first = next(iter(self._panels.values()), None)
        if first is not None:
            first.focus()

    def on_resize(self) -> None:
        columns = max(1, self.size.width // PANEL_MIN_WIDTH)
        if columns != self._columns:
            self._columns = columns
            self.query_one("#panels").styles.grid_size_columns = columns

    # --- updates (once per round batch) ------------------------------------------------------
    def records_changed(self, changes: Changes) -> None:
        for key in changes.targets:
            panel = self._panels.get(key)
            if panel is not None:
                panel.update_view()
            elif self.is_mounted:  # a target that was not configured: add its panel
                h = self.app.model.targets[key]
                panel = TargetPanel(h, self.app.model.config.thresholds, id=f"target-{len(self._panels)}")
                self._panels[key] = panel
                self.query_one("#panels").mount(panel, before="#bandwidth")
        if changes.interfaces:
            self.query_one(BandwidthPanel).update_view()

    def refresh_all(self) -> None:
        for panel in self._panels.values():
            panel.update_view()
        self.query_one(BandwidthPanel).update_view()

    # --- keys --------------------------------------------------------------------------------
    def _move(self, step: int) -> None:
        panels = list(self.query(Panel))
        if not panels:
            return
        focused = self.focused
        idx = panels.index(focused) if focused in panels else -1
        new = min(len(panels) - 1, max(0, idx + step)) if idx >= 0 else 0
        panels[new].focus()
        panels[new].scroll_visible()

    def action_focus_down(self) -> None:
        self._move(self._columns)

    def action_focus_up(self) -> None:
        self._move(-self._columns)

    def action_focus_next_panel(self) -> None:
        self._move(1)

    def action_focus_previous_panel(self) -> None:
        self._move(-1)

    def action_open_detail(self) -> None:
        focused = self.focused
        if isinstance(focused, Panel):
            self.app.open_detail(focused.kind, focused.key)

    def on_open_detail(self, message: OpenDetail) -> None:
        self.app.open_detail(message.kind, message.key)

    @property
    def selected_key(self) -> str | None:
        focused = self.focused
        return focused.key if isinstance(focused, Panel) else None
