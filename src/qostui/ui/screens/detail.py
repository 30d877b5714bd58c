"""Detail view of one target (RTT band, lost probes) or one interface (rx/tx) over a time window.

History comes from the store in a worker thread (5 min / 1 h / 24 h), then live rounds are
appended as they arrive; the chart is re-bucketed at most once per bucket width so a 24 h view
does not redraw every second.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import Static

from qostui.charts import LOSS_COLORS, SMOKE_SHADES, rich_color
from qostui.records import BandwidthSample, PingRound, Record
from qostui.ui.chart import (
    WINDOW_NAMES,
    bandwidth_lines,
    bandwidth_series,
    compact_rounds,
    compact_samples,
    ping_lines,
    ping_series,
    smoke_lines,
    smoke_series,
)
from qostui.ui.keys import bindings_for
from qostui.ui.model import Changes, fmt_mbps, fmt_ms
from qostui.ui.screens.base import QostuiScreen
from qostui.ui.widgets.chart import ChartView
from qostui.ui.widgets.footer import KeysFooter
from qostui.ui.widgets.header import HeaderBar

if TYPE_CHECKING:
    pass

SCALE_NAMES = {"auto": "auto", "zero": "from zero", "log": "log"}


class DetailScreen(QostuiScreen):
    role = "detail"
    CSS_PATH = "detail.tcss"
    BINDINGS = bindings_for("detail")

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(id="detail")
        self.kind = kind  # "target" | "interface"
        self.key = key
        self._rows: list[Record] = []
        self._loaded_window = 0.0
        self._last_draw = 0.0
        self.loads = 0  # store reads done (tests wait on it)
        self.draws = 0

    @property
    def header_label(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        if self.kind == "interface":
            return f"bandwidth {self.key}"
        h = self.app.model.targets.get(self.key)
        return h.label if h else self.key

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        yield Static(id="detail-title")
        live = self.app.live  # live: redrawn every bucket, so off the event loop (offline: in place)
        yield ChartView(id="chart", background=live, first_too=live)
        yield Static(id="detail-summary")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.watch(self.app, "smoke", lambda _: self.redraw(), init=False)
        self.reload()

    def catch_up(self) -> None:
        self.query_one(ChartView).catch_up()  # back from help or the command palette

    def scale_changed(self, scale: str) -> None:
        self.redraw()

    def window_changed(self, window_s: float) -> None:
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()

    # --- data --------------------------------------------------------------------------------
    def reload(self) -> None:
        """Read the window from the store (or the in-memory history when running without one)."""
        chart = self.query_one(ChartView)
        chart.show_message(f"loading {WINDOW_NAMES[self.app.window_s]} of history…")
        self._load(self.app.window_s, self._points())

    def _points(self) -> int:
        """Buckets on the chart: two per column (plotext's half blocks)."""
        return max(20, (self.query_one(ChartView).content_region.width or 76) * 2)

    @work(thread=True, exclusive=True, group="detail-load", exit_on_error=False)
    def _load(self, window_s: float, points: int) -> None:
        until = self.app.now()
        since = until - window_s
        store = self.app.store
        h = self.app.model.targets.get(self.key)
        try:
            if store is None:
                rows: list[Record] = list(self._memory_rows())
                rows = [r for r in rows if r.ts >= since]
            elif self.kind == "interface":
                rows = list(store.bandwidth(since=since, until=until + 1, interface=self.key))
            else:
                target = h.record_target if h else self.key
                rows = list(store.ping_rounds(since=since, until=until + 1, target=target))
        except Exception as exc:  # a store problem shows on the chart, it must not end the monitor
            self.app.call_from_thread(self._failed, f"cannot read the store: {exc}")
            return
        if len(rows) > 4 * points:  # long windows: keep one summary per bucket, not every round
            if self.kind == "interface":
                rows = list(compact_samples(rows, since, until, points))  # type: ignore[arg-type]
            else:
                rows = list(compact_rounds(rows, since, until, points))  # type: ignore[arg-type]
        self.app.call_from_thread(self._loaded, rows, window_s)

    def _memory_rows(self) -> list[Record]:
        model = self.app.model
        if self.kind == "interface":
            ih = model.interfaces.get(self.key)
            return list(ih.samples) if ih else []
        h = model.targets.get(self.key)
        return list(h.rounds) if h else []

    def _failed(self, message: str) -> None:
        if self.is_mounted:
            self.query_one(ChartView).show_message(message)

    def _loaded(self, rows: list[Record], window_s: float) -> None:
        if not self.is_mounted or window_s != self.app.window_s:  # closed, or w pressed again meanwhile
            return
        # The store lags the screen by up to one flush: add what the ring buffer has beyond it.
        last_ts = rows[-1].ts if rows else self.app.now() - window_s
        rows.extend(r for r in self._memory_rows() if r.ts > last_ts)
        self._rows = rows
        self._loaded_window = window_s
        self.loads += 1
        self.redraw()

    def records_arrived(self, records: list[Record], changes: Changes) -> None:
        """Live rounds for this view are appended; the chart redraws when a new bucket is due."""
        if not self._loaded_window:
            return
        mine = [
            r
            for r in records
            if (self.kind == "interface" and isinstance(r, BandwidthSample) and r.interface == self.key)
            or (self.kind == "target" and isinstance(r, PingRound) and self._is_mine(r))
        ]
        if self._rows:  # the load may already hold these (read while they were being stored)
            last_ts = self._rows[-1].ts
            mine = [r for r in mine if r.ts > last_ts]
        if not mine:
            return
        self._rows.extend(mine)
        bucket_s = self.app.window_s / 300
        if time.monotonic() - self._last_draw >= bucket_s:
            self.redraw()

    def _is_mine(self, r: PingRound) -> bool:
        h = self.app.model.targets.get(self.key)
        return r.target == (h.record_target if h else self.key) or r.target == self.key

    def redraw(self) -> None:
        self._last_draw = time.monotonic()
        self.draws += 1
        window_s = self.app.window_s
        until = self.app.now()
        since = until - window_s
        # drop rows that left the window so a long-open view stays bounded
        if self._rows and self._rows[0].ts < since:
            self._rows = [r for r in self._rows if r.ts >= since]
        chart = self.query_one(ChartView)
        points = self._points()
        scale = self.app.y_scale
        title = self.query_one("#detail-title", Static)
        summary = self.query_one("#detail-summary", Static)
        if self.kind == "interface":
            bs = bandwidth_series([r for r in self._rows if isinstance(r, BandwidthSample)], since, until, points)
            lines = bandwidth_lines(bs)
        else:
            rounds = [r for r in self._rows if isinstance(r, PingRound)]
            ps = ping_series(rounds, since, until, points)
            lines = ping_lines(ps, scale)
        smoke = self.kind == "target" and self.app.smoke
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append(self.label, style="bold")
        head.append(f"  {WINDOW_NAMES[window_s]} window", style="")
        head.append(f"  scale {SCALE_NAMES[scale]}", style="")
        head.append("  ")
        if smoke:
            lost = [ln for ln in lines if ln.marker == "x"]
            lines = smoke_lines(smoke_series(rounds, since, until, points), scale) + lost
            for shade in SMOKE_SHADES[:2]:
                head.append("█", style=rich_color(shade))
            head.append(" probes  median by loss")
            for limit, color in LOSS_COLORS:  # each sample on a band's grey, as the median shows
                head.append(" ")
                head.append("━", style=f"{rich_color(color)} on {rich_color(SMOKE_SHADES[1])}")
                head.append(f"{limit:g}" if limit < 100 else ">")
            head.append("%")
        else:
            for i, ln in enumerate(lines):
                head.append("  " if i else "")
                head.append("x" if ln.marker == "x" else "━", style=rich_color(ln.color))
                head.append(f" {ln.label}")
            if self.kind == "target":
                head.append("  (d smoke)", style="dim")
        title.update(head)
        if self.kind == "interface":
            chart.show(lines, since=since, until=until, scale=scale, title="Mbps")
            rx, tx = bs.rx_mbps, bs.tx_mbps
            text = Text()
            if rx:
                text.append("rx ", style="green")
                text.append(f"min/avg/max {fmt_mbps(min(rx))}/{fmt_mbps(sum(rx) / len(rx))}/{fmt_mbps(max(rx))} Mbps  ")
                text.append("tx ", style="magenta")
                text.append(f"min/avg/max {fmt_mbps(min(tx))}/{fmt_mbps(sum(tx) / len(tx))}/{fmt_mbps(max(tx))} Mbps")
            summary.update(text)
            return
        chart.show(lines, since=since, until=until, scale=scale, title="RTT ms")
        avgs = [v for v in ps.rtt_avg_ms if v is not None]
        mins = [v for v in ps.rtt_min_ms if v is not None]
        maxs = [v for v in ps.rtt_max_ms if v is not None]
        text = Text()
        text.append(f"{ps.sent} probes  ")
        if avgs:
            text.append(f"rtt min/avg/max {fmt_ms(min(mins))}/{fmt_ms(sum(avgs) / len(avgs))}/{fmt_ms(max(maxs))} ms  ")
        loss = ps.loss_total_pct
        text.append("loss ", style="dim")
        text.append(f"{loss:.1f}%" if loss is not None else "-", style="red" if loss else "")
        if ps.loss_ts:
            text.append(f"  ({len(ps.loss_ts)} marked x)", style="red")
        summary.update(text)
