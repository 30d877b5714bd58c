"""A report plot (any object from `qostui.report.data`) drawn with plotext at the widget's size.

Rendering happens in `render()` on the UI thread through the chart layer (`qostui.charts`, whose
lock guards plotext's one global figure, shared with the monitor's charts drawn in workers). The text is cached per
size, so a repaint that does not change the data or the size costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.widget import Widget

from qostui.ui.chart import ansi_to_text
from qostui.ui.widgets._css import css_beside


class PlotView(Widget):
    DEFAULT_CSS = css_beside(__file__)

    def __init__(self, *, id: str | None = None, message: str = "loading…") -> None:
        super().__init__(id=id)
        self._data: Any = None
        self._renderer: Callable[..., str] | None = None
        self._message = message
        self._cache: tuple[tuple[int, int], Text] | None = None
        self.draws = 0  # charts actually rendered (tests read it)

    @property
    def data(self) -> Any:
        return self._data

    def show(self, data: Any, renderer: Callable[..., str] | None = None) -> None:
        """Draw this plot data (None: keep the message) with `renderer(data, width=, height=, color=)`,
        by default `qostui.report.terminal.render`."""
        self._data = data
        self._renderer = renderer
        self._message = ""
        self._cache = None
        self.refresh()

    def show_message(self, message: str) -> None:
        self._data = None
        self._message = message
        self._cache = None
        self.refresh()

    @property
    def text(self) -> str:
        """The chart as plain text (tests read it)."""
        return self.render().plain

    def render(self) -> Text:
        if self._data is None:
            return Text(self._message, style="dim")
        w, h = self.content_region.width or 76, self.content_region.height or 16
        if self._cache is not None and self._cache[0] == (w, h):
            return self._cache[1]
        from qostui.report.terminal import render

        try:
            # every renderer draws through the chart layer, which holds its lock
            raw = (self._renderer or render)(self._data, width=w, height=h, color=True)
        except Exception as exc:  # a chart that cannot be drawn must not take the UI down
            return Text(f"cannot draw this chart: {type(exc).__name__}: {exc}", style="red")
        text = ansi_to_text(raw)
        self.draws += 1
        self._cache = ((w, h), text)
        return text
