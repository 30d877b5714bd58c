"""One panel per target: state, current RTT, min/avg/max, jitter, loss, MOS and two sparklines."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget

from qostui.config import ThresholdConfig
from qostui.levels import Level, ping_metrics, round_levels
from qostui.ui.model import TargetHistory, classify, fmt_ms, sparkline
from qostui.ui.widgets._css import css_beside

# The longest values line: "rtt 9999 ms  min/avg/max 9999/9999/9999  jit 9999  loss 100%  MOS 4.40"
VALUES_MAX_LEN = 74
LEVEL_STYLE = {Level.OK: "green", Level.WARN: "yellow", Level.CRIT: "bold red", Level.IDLE: "dim"}


class OpenDetail(Message):
    """A panel asks for its detail view (Enter or a double click)."""

    def __init__(self, kind: str, key: str) -> None:
        super().__init__()
        self.kind = kind  # "target" | "interface"
        self.key = key


class Panel(Widget, can_focus=True):
    """Shared behaviour: focus on click, detail on double click."""

    kind = "target"
    key = ""

    def on_click(self, event: events.Click) -> None:
        self.focus()
        if event.chain >= 2:
            self.post_message(OpenDetail(self.kind, self.key))


class TargetPanel(Panel):
    DEFAULT_CSS = css_beside(__file__)

    def __init__(self, history: TargetHistory, thresholds: ThresholdConfig, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.history = history
        self.key = history.key
        self.thresholds = thresholds
        self._level = ""
        self._title = self._subtitle = ""
        self._rows: tuple[int, int] = (0, 0)
        self.update_view()

    def update_view(self) -> None:
        """Called once per round batch that touched this target."""
        h = self.history
        state, level = classify(h.last, self.thresholds)
        title = h.label if not h.address or h.address == h.label else f"{h.label} ({h.address})"
        subtitle = f" {state.upper()} "
        if title != self._title or subtitle != self._subtitle:
            self._title, self._subtitle = title, subtitle
            self.border_title = title
            self.border_subtitle = subtitle
        # height: auto, so a change in row count needs a new layout: the waiting line; values and
        # sparklines (+ alerts); and in narrow terminals the values line wraps by its length.
        rows: tuple[int, int] = (1, 0) if h.last is None else (2 + bool(h.alerts), 0)
        width = self.content_region.width or 76
        if h.last is not None and width < VALUES_MAX_LEN:  # only narrow panels can wrap it
            n = len(self._values_line().plain)
            if n > width:
                rows = (rows[0], n)
        if rows != self._rows:
            self._rows = rows
            self.refresh(layout=True)
        if level != self._level:
            if self._level:
                self.remove_class(f"-{self._level}")
            self.add_class(f"-{level}")
            self._level = level
        self.refresh()

    def _values_line(self) -> Text:
        """Current RTT, min/avg/max since reset, jitter, loss and MOS (or why there are none)."""
        h = self.history
        r = h.last
        out = Text()
        if r is None:
            return out
        if r.state.value != "ok":
            out.append(r.error or r.state.value.replace("_", " "), style="bold red")
            return out

        levels = round_levels(r, ping_metrics(self.thresholds))

        def field(label: str, value: str, level: Level) -> None:
            if out.plain:
                out.append("  ")
            out.append(f"{label} ", style="dim")
            out.append(value, style=LEVEL_STYLE[level])

        field("rtt", f"{fmt_ms(r.rtt_avg_ms)} ms", levels["latency"])
        field("min/avg/max", f"{fmt_ms(h.min_ms)}/{fmt_ms(h.avg_ms)}/{fmt_ms(h.max_ms)}", Level.OK)
        field("jit", fmt_ms(r.jitter_ms), levels["jitter"])
        field("loss", f"{r.loss_pct:.0f}%", levels["loss"])
        field("MOS", f"{r.mos:.2f}" if r.mos is not None else "-", levels["mos"])
        return out

    def render(self) -> Text:
        h = self.history
        r = h.last
        width = max(20, self.content_region.width or 76)
        out = Text(overflow="fold")
        if r is None:
            out.append("waiting for the first round…", style="dim")
            return out
        out.append_text(self._values_line())
        out.append("\n")
        if h.alerts:
            out.append("⚠ alert ", style="bold")
            for i, (kind, lv) in enumerate(sorted(h.alerts.items())):
                out.append(("  " if i else "") + f"{kind} {lv}", style=LEVEL_STYLE.get(lv, ""))
            out.append("\n")
        spark_w = max(4, (width - len("rtt ") - len("  loss ")) // 2)
        out.append("rtt ", style="dim")
        out.append(sparkline(h.rtt_series(), spark_w).ljust(spark_w), style="cyan")
        out.append("  loss ", style="dim")
        out.append(sparkline(h.loss_series(), spark_w, lo=0.0, hi=100.0), style="red")
        return out
