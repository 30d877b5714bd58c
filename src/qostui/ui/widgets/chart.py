"""A plotext chart sized to the widget; the data comes ready-bucketed from the screen.

plotext costs 10-40 ms per chart (more while training competes for the CPU; its first import
another ~110 ms). With `background=True` charts (new data, another target, a new size) are drawn in
a thread worker while the previous chart stays on screen, and replace it when done, so keys and
rounds never wait for plotext. The very first chart is drawn in `render()` unless `first_too`
(then "drawing…" shows meanwhile): offline snapshots need it on the first frame. At most one draw runs at a time
and requests made meanwhile collapse into one more draw of the newest data. The last few drawings
are kept per `stamp` (the caller's name for its data), so showing the same data again costs nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widget import Widget

from qostui.ui.chart import Line, ansi_to_text, render
from qostui.ui.widgets._css import css_beside

KEEP_DRAWINGS = 8  # stamps remembered (the preview: one per recently selected target)


@dataclass(frozen=True, eq=False)
class _Plot:
    """Everything one drawing depends on, except the size."""

    lines: tuple[Line, ...]
    since: float
    until: float
    scale: str
    title: str

    def draw(self, size: tuple[int, int]) -> Text:
        raw = render(self.lines, width=size[0], height=size[1], since=self.since, until=self.until,
                     scale=self.scale, title=self.title)
        return ansi_to_text(raw)


class ChartView(Widget):
    DEFAULT_CSS = css_beside(__file__)

    class Drawn(Message, bubble=False):
        """A background drawing is done (posted from the worker thread)."""

        def __init__(self, plot: _Plot, stamp: Hashable, size: tuple[int, int], text: Text | None) -> None:
            super().__init__()
            self.plot, self.stamp, self.size, self.text = plot, stamp, size, text

    def __init__(self, *, id: str | None = None, background: bool = False, first_too: bool = False) -> None:
        super().__init__(id=id)
        self.background = background
        self.first_too = first_too and background
        self._plot: _Plot | None = None
        self._stamp: Hashable = None
        self._message = "loading…"
        self._cache: tuple[_Plot, tuple[int, int], Text] | None = None  # the current plot, drawn
        self._shown: Text | None = None  # what is on screen while a newer drawing is on its way
        self._drawings: OrderedDict[Hashable, tuple[_Plot, tuple[int, int], Text]] = OrderedDict()
        self._busy = False  # a background drawing is running
        self._again = False  # ... and another was asked for meanwhile
        self._deferred = False  # asked for while the screen was hidden

    def show(self, lines: list[Line], *, since: float, until: float, scale: str, title: str,
             stamp: Hashable = None) -> None:
        """Chart these lines. `stamp` names the data: the same stamp and size reuse a drawing."""
        plot = _Plot(tuple(lines), since, until, scale, title)
        self._plot, self._stamp = plot, stamp
        self._message = "" if any(any(y is not None for y in ln.ys) for ln in lines) else "no data in this window yet"
        if self._message:
            self._shown = None
        else:
            kept = self._drawings.get(stamp) if stamp is not None else None
            if kept is not None and kept[1] == self._chart_size():  # this data, drawn at this size before
                self._cache = (plot, kept[1], kept[2])
                self._shown = kept[2]
            elif self.background and (self._shown is not None or self.first_too):
                self._request()
                if self._shown is not None:
                    return  # the previous chart stays until the new one is drawn
        self.refresh()

    def show_message(self, message: str) -> None:
        self._message = message
        self._plot = None
        self._cache = None
        self._shown = None
        self.refresh()

    @property
    def empty(self) -> bool:
        """Showing a message (loading, no data) instead of a chart."""
        return bool(self._message)

    @property
    def text(self) -> str:
        """The chart of the current data as plain text (tests read it; drawn now if a background
        drawing has not arrived yet)."""
        if self._message or self._plot is None:
            return self._message
        return self._current(self._chart_size()).plain

    def _chart_size(self) -> tuple[int, int]:
        return self.content_region.width or 76, self.content_region.height or 16

    def _current(self, size: tuple[int, int]) -> Text:
        """The current plot at this size, drawn here if it is not cached."""
        assert self._plot is not None
        if self._cache is None or self._cache[0] is not self._plot or self._cache[1] != size:
            self._keep(self._plot, self._stamp, size, self._plot.draw(size))
        assert self._cache is not None
        return self._cache[2]

    def _keep(self, plot: _Plot, stamp: Hashable, size: tuple[int, int], text: Text) -> None:
        entry = (plot, size, text)
        if plot is self._plot:
            self._cache = entry
            self._shown = text
        if stamp is not None:
            self._drawings[stamp] = entry
            self._drawings.move_to_end(stamp)
            while len(self._drawings) > KEEP_DRAWINGS:
                self._drawings.popitem(last=False)

    def render(self) -> Text:
        if self._message or self._plot is None:
            return Text(self._message, style="dim")
        size = self._chart_size()
        if self._cache is not None and self._cache[0] is self._plot and self._cache[1] == size:
            return self._cache[2]
        if self.background and (self._shown is not None or self.first_too):
            self.call_later(self._request)  # e.g. a new size: redraw off the event loop
            return self._shown if self._shown is not None else Text("drawing…", style="dim")
        return self._current(size)

    # --- background drawing --------------------------------------------------------------------
    def _request(self) -> None:
        if self._busy:
            self._again = True
            return
        if self._plot is None or self._message or not self.is_mounted:
            return
        if not self.screen.is_current:  # hidden (e.g. training shown): draw when it is back
            self._deferred = True
            return
        size = self._chart_size()
        if self._cache is not None and self._cache[0] is self._plot and self._cache[1] == size:
            return  # already drawn (e.g. two requests for one resize)
        self._busy = True
        plot, stamp = self._plot, self._stamp
        self.run_worker(lambda: self._draw(plot, stamp, size), thread=True, group="chart-draw", exit_on_error=False)

    def catch_up(self) -> None:
        """The screen is shown again: draw what was asked for while it was hidden."""
        if self._deferred:
            self._deferred = False
            self._request()

    def _draw(self, plot: _Plot, stamp: Hashable, size: tuple[int, int]) -> None:
        """Worker thread: plotext under its lock; the result goes back as a message."""
        try:
            text: Text | None = plot.draw(size)
        except Exception:  # never a traceback on screen: the chart is drawn in render() instead
            text = None
        self.post_message(self.Drawn(plot, stamp, size, text))

    def on_chart_view_drawn(self, message: ChartView.Drawn) -> None:
        self._busy = False
        if message.text is not None:
            self._keep(message.plot, message.stamp, message.size, message.text)
            if message.plot is self._plot:
                self.refresh()
        elif message.plot is self._plot:
            self._shown = None  # draw it synchronously in render(), where errors surface
            self.first_too = False
            self.refresh()
        if self._again or (self._plot is not None and self._plot is not message.plot):
            self._again = False
            self._request()
