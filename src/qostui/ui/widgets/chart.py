"""A plotext chart sized to the widget; the data comes ready-bucketed from the screen."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from qostui.ui.chart import Line, ansi_to_text, render
from qostui.ui.widgets._css import css_beside


class ChartView(Widget):
    DEFAULT_CSS = css_beside(__file__)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines: list[Line] = []
        self._since = 0.0
        self._until = 0.0
        self._scale = "auto"
        self._title = ""
        self._message = "loading…"
        self._cache: tuple[tuple[int, int], Text] | None = None

    def show(self, lines: list[Line], *, since: float, until: float, scale: str, title: str) -> None:
        self._lines, self._since, self._until, self._scale, self._title = lines, since, until, scale, title
        self._message = "" if any(any(y is not None for y in ln.ys) for ln in lines) else "no data in this window yet"
        self._cache = None
        self.refresh()

    def show_message(self, message: str) -> None:
        self._message = message
        self._lines = []
        self._cache = None
        self.refresh()

    @property
    def empty(self) -> bool:
        """Showing a message (loading, no data) instead of a chart."""
        return bool(self._message)

    @property
    def text(self) -> str:
        """The chart as plain text (tests read it)."""
        return self.render().plain

    def render(self) -> Text:
        w, h = self.content_region.width or 76, self.content_region.height or 16
        if self._message:
            return Text(self._message, style="dim")
        if self._cache is not None and self._cache[0] == (w, h):
            return self._cache[1]
        raw = render(self._lines, width=w, height=h, since=self._since, until=self._until, scale=self._scale, title=self._title)
        text = ansi_to_text(raw)
        self._cache = ((w, h), text)
        return text
