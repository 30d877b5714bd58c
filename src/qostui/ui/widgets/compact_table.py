"""The compact view: one line per target and per interface, for many targets.

A line-based widget (Textual's line API): only the rows on screen are built, each row's line is
cached until a round touches that target, and a round batch costs one `refresh()` however many
targets it touched, so 1000 targets repaint a round in a few milliseconds (bench/compact_view.py).
Rows are sorted by a column (`o` cycles it, `O` reverses); the selection follows its target when the
order changes; Enter (or a double click) opens the detail, as in the panel view.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from qostui.config import ThresholdConfig
from qostui.levels import Level, ping_metrics, round_levels
from qostui.ui.model import (
    InterfaceHistory,
    MonitorModel,
    TargetHistory,
    classify,
    fmt_mbps,
    fmt_ms,
    sparkline,
)
from qostui.ui.widgets._css import css_beside
from qostui.ui.widgets.target_panel import OpenDetail

LEVEL_STYLE = {
    Level.OK: Style(color="green"),
    Level.WARN: Style(color="yellow"),
    Level.CRIT: Style(color="red", bold=True),
    Level.IDLE: Style(dim=True),
}
DIM = Style(dim=True)
PLAIN = Style()
BOLD = Style(bold=True)
SPARK = Style(color="cyan")
RX = Style(color="green")
TX = Style(color="magenta")


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int  # 0: the name column, which takes what is left up to NAME_MAX
    sort: Callable[[TargetHistory], float | str] | None  # None: state (needs the thresholds)


def _num(v: float | None, worst_first: bool = True) -> float:
    """Sort value: missing values last."""
    return v if v is not None and math.isfinite(v) else (math.inf if worst_first else -math.inf)


def _last(attr: str) -> Callable[[TargetHistory], float]:
    def get(h: TargetHistory) -> float:
        r = h.last
        return _num(getattr(r, attr) if r is not None else None)

    return get


def natural(text: str) -> tuple[object, ...]:
    """127.0.0.2 before 127.0.0.10."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text.lower()))


STATE_ORDER = {"down": 0, "no route": 1, "no permission": 2, "unresolved": 3, "error": 4, "lossy": 5, "up": 6,
               "waiting": 7}  # fmt: skip
COLUMNS: tuple[Column, ...] = (
    Column("state", "state", 8, None),
    Column("name", "target", 0, lambda h: natural(h.label)),  # type: ignore[arg-type,return-value]
    Column("rtt", "rtt", 7, _last("rtt_avg_ms")),
    Column("avg", "avg", 7, lambda h: _num(h.avg_ms)),
    Column("p95", "p95", 7, _last("rtt_p95_ms")),
    Column("jitter", "jitter", 6, _last("jitter_ms")),
    Column("loss", "loss", 5, _last("loss_pct")),
    Column("mos", "MOS", 4, lambda h: -_num(h.last.mos if h.last else None, worst_first=False)),
)
SORT_KEYS = ("", *(c.key for c in COLUMNS))  # "": the configured order
NAME_MIN, NAME_MAX = 10, 28
SPARK_MIN = 8


class CompactTable(ScrollView, can_focus=True):
    DEFAULT_CSS = css_beside(__file__)
    COMPONENT_CLASSES = {"compact--cursor", "compact--header"}

    def __init__(self, model: MonitorModel, thresholds: ThresholdConfig, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self.thresholds = thresholds
        self.sort_key = ""
        self.reverse = False
        self._order: list[tuple[str, str]] = []  # (kind, key) per row, targets first
        self._lines_index: dict[tuple[str, str], int] = {}  # row of each (kind, key)
        self._lines: dict[tuple[str, str], list[Segment]] = {}  # cached row contents (no cursor)
        self._cursor: tuple[str, str] | None = None
        self._width = 0  # the width the cached lines were built for
        self.repaints = 0  # rows built (the bench and tests read it)
        self.resort()

    # --- rows ----------------------------------------------------------------------------------
    @property
    def selected(self) -> tuple[str, str] | None:
        """(kind, key) of the selected row: kind "target" | "interface"."""
        return self._cursor

    def resort(self) -> None:
        targets = list(self.model.targets.values())
        if not self.sort_key:
            if self.reverse:
                targets.reverse()
        elif self.sort_key == "state":
            t = self.thresholds
            def key(h: TargetHistory) -> float | str:  # noqa: E306 - worst first, then by name
                state, level = classify(h.last, t)
                return (-level.rank, STATE_ORDER.get(state, 9), h.label.lower())  # type: ignore[return-value]
        else:
            key = next(c.sort for c in COLUMNS if c.key == self.sort_key)  # type: ignore[assignment]
        if self.sort_key:
            targets.sort(key=key, reverse=self.reverse)
        order = [("target", h.key) for h in targets] + [("interface", k) for k in self.model.interfaces]
        if order != self._order:
            self._order = order
            self._lines_index = {ident: i for i, ident in enumerate(order)}
            self.virtual_size = Size(self.size.width, len(order) + 1)
            self.refresh()
        if self._cursor is None and order:
            self._cursor = order[0]

    def rows_changed(self, targets: Iterable[str], interfaces: Iterable[str], new_rows: bool) -> None:
        """One round batch: drop the touched rows' cached lines; one repaint for all of them."""
        for k in targets:
            self._lines.pop(("target", k), None)
        for k in interfaces:
            self._lines.pop(("interface", k), None)
        new_rows = new_rows or any(("target", k) not in self._lines_index for k in targets)
        if new_rows or self.sort_key:
            self.resort()
        self.refresh()

    def refresh_all(self) -> None:
        self._lines.clear()
        self.resort()
        self.refresh()

    def set_sort(self, key: str | None = None, *, reverse: bool | None = None) -> str:
        """Sort by `key` (None: the next column); returns the new key."""
        if key is None:
            key = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]
        self.sort_key = key
        if reverse is not None:
            self.reverse = reverse
        self.resort()
        self.refresh()
        self._scroll_to_cursor()
        return key

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._order) + 1)

    # --- moving the selection ------------------------------------------------------------------
    def move(self, step: int) -> None:
        if not self._order:
            return
        i = self._lines_index.get(self._cursor, -1) if self._cursor is not None else -1
        i = min(len(self._order) - 1, max(0, i + step)) if i >= 0 else 0
        self._cursor = self._order[i]
        self.refresh()
        self._scroll_to_cursor()

    def _scroll_to_cursor(self) -> None:
        if self._cursor in self._lines_index:
            y = self._lines_index[self._cursor] + 1  # + the header line
            self.scroll_to_region(Region(0, y, 1, 1), animate=False, spacing=None, force=True)
            if y - 1 < self.scroll_offset.y:  # keep the header row out of the way
                self.scroll_to(y=max(0, y - 1), animate=False)

    def open_selected(self) -> None:
        if self._cursor is not None:
            self.post_message(OpenDetail(*self._cursor))

    def on_click(self, event: events.Click) -> None:
        row = event.y + self.scroll_offset.y - 1
        if event.y >= 1 and 0 <= row < len(self._order):
            self._cursor = self._order[row]
            self.focus()
            self.refresh()
            if event.chain >= 2:
                self.open_selected()

    # --- drawing -------------------------------------------------------------------------------
    def _widths(self, width: int) -> tuple[int, int]:
        fixed = sum(c.width + 1 for c in COLUMNS if c.width)
        name_w = max(NAME_MIN, min(NAME_MAX, width - fixed - SPARK_MIN - 1))
        spark_w = max(0, width - fixed - name_w - 1)
        return name_w, spark_w

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if width != self._width:
            self._width = width
            self._lines.clear()
        name_w, spark_w = self._widths(width)
        if y == 0:
            return Strip(self._header(name_w, spark_w), width).extend_cell_length(width).crop(0, width)
        row = y + self.scroll_offset.y - 1
        if row >= len(self._order):
            return Strip.blank(width)
        ident = self._order[row]
        segs = self._lines.get(ident)
        if segs is None:
            segs = self._target_row(ident[1], name_w, spark_w) if ident[0] == "target" else \
                self._interface_row(ident[1], name_w, spark_w)
            self._lines[ident] = segs
            self.repaints += 1
        strip = Strip(segs).extend_cell_length(width).crop(0, width)
        if ident == self._cursor:
            strip = strip.apply_style(self.get_component_rich_style("compact--cursor"))
        return strip

    def _header(self, name_w: int, spark_w: int) -> list[Segment]:
        style = self.get_component_rich_style("compact--header")
        out: list[Segment] = []
        for c in COLUMNS:
            w = c.width or name_w
            mark = ("▲" if not self.reverse else "▼") if c.key == self.sort_key else ""
            title = (c.title + mark)[:w]
            out.append(Segment((title.ljust(w) if not c.width or c.key == "state" else title.rjust(w)) + " ", style))
        if spark_w:
            out.append(Segment("ms; rtt of the last rounds"[:spark_w].ljust(spark_w), style))
        return out

    def _target_row(self, key: str, name_w: int, spark_w: int) -> list[Segment]:
        h = self.model.targets[key]
        r = h.last
        state, level = classify(r, self.thresholds)
        out = [Segment(state[:8].ljust(8) + " ", LEVEL_STYLE[level]), Segment(h.label[:name_w].ljust(name_w) + " ", BOLD)]
        if r is None or r.state.value != "ok":
            reason = (r.error or r.state.value.replace("_", " ")) if r is not None else "waiting for the first round…"
            rest = sum(c.width + 1 for c in COLUMNS[2:])
            out.append(Segment(reason[: rest - 1].ljust(rest), LEVEL_STYLE[level] if r is not None else DIM))
        else:
            lv = round_levels(r, ping_metrics(self.thresholds))
            for value, w, style in (
                (fmt_ms(r.rtt_avg_ms), 7, LEVEL_STYLE[lv["latency"]]),
                (fmt_ms(h.avg_ms), 7, PLAIN),
                (fmt_ms(r.rtt_p95_ms), 7, PLAIN),
                (fmt_ms(r.jitter_ms), 6, LEVEL_STYLE[lv["jitter"]]),
                (f"{r.loss_pct:.0f}%", 5, LEVEL_STYLE[lv["loss"]]),
                (f"{r.mos:.2f}" if r.mos is not None else "-", 4, LEVEL_STYLE[lv["mos"]]),
            ):
                out.append(Segment(value.rjust(w) + " ", style))
        if spark_w:
            out.append(Segment(sparkline(h.rtt_series(), spark_w).ljust(spark_w), SPARK))
        return out

    def _interface_row(self, key: str, name_w: int, spark_w: int) -> list[Segment]:
        ih: InterfaceHistory | None = self.model.interfaces.get(key)
        out = [Segment("iface".ljust(8) + " ", DIM), Segment(key[:name_w].ljust(name_w) + " ", BOLD)]
        s = ih.last if ih is not None else None
        rest = sum(c.width + 1 for c in COLUMNS[2:])
        text = f"rx {fmt_mbps(s.rx_mbps if s else None)}  tx {fmt_mbps(s.tx_mbps if s else None)} Mbps"
        out.append(Segment(text[: rest - 1].ljust(rest), RX))
        if spark_w and ih is not None:
            out.append(Segment(sparkline([x.rx_mbps + x.tx_mbps for x in ih.samples], spark_w, lo=0.0).ljust(spark_w), TX))
        return out
