"""Throughput of one interface: current rx/tx Mbps, sparklines, totals and peaks since reset.

One panel per interface (usually one: the default route's, or "all" summed); before the first
sample a single placeholder panel stands in and takes the first interface that appears.
"""

from __future__ import annotations

from rich.text import Text

from qostui.ui.model import InterfaceHistory, fmt_bytes, fmt_mbps, sparkline
from qostui.ui.widgets._css import css_beside
from qostui.ui.widgets.target_panel import Panel


class BandwidthPanel(Panel):
    DEFAULT_CSS = css_beside(__file__)
    kind = "interface"

    def __init__(self, interfaces: dict[str, InterfaceHistory], name: str = "", *, enabled: bool = True,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.interfaces = interfaces
        self.enabled = enabled
        self._had_data = False
        self.bind(name)

    def bind(self, name: str) -> None:
        """Show interface `name` ("" = placeholder until the first sample)."""
        self.key = name
        self.border_title = f"bandwidth {name}" if name else "bandwidth"
        self.border_subtitle = " Mbps (1e6 bit/s) "

    def update_view(self) -> None:
        # The placeholder has one line, an interface two: lay out again only when that changes.
        has_data = self.key in self.interfaces
        self.refresh(layout=has_data != self._had_data)
        self._had_data = has_data

    def render(self) -> Text:
        out = Text(overflow="fold")
        if not self.enabled:
            out.append("bandwidth metering is off ([bandwidth] enabled = false)", style="dim")
            return out
        ih = self.interfaces.get(self.key)
        if ih is None:
            out.append("waiting for the first sample…", style="dim")
            return out
        width = max(30, self.content_region.width or 76)
        s = ih.last
        rx = fmt_mbps(s.rx_mbps if s else None).rjust(7)
        tx = fmt_mbps(s.tx_mbps if s else None).rjust(7)
        fixed = len("rx ") + 7 + 1 + len("  tx ") + 7 + 1
        spark_w = max(4, (width - fixed) // 2)
        out.append("rx ", style="dim")
        out.append(rx, style="green")
        out.append(" ")
        out.append(sparkline([x.rx_mbps for x in ih.samples], spark_w, lo=0.0).ljust(spark_w), style="green")
        out.append("  tx ", style="dim")
        out.append(tx, style="magenta")
        out.append(" ")
        out.append(sparkline([x.tx_mbps for x in ih.samples], spark_w, lo=0.0), style="magenta")
        out.append("\n")
        out.append("total ", style="dim")
        out.append(f"rx {fmt_bytes(ih.rx_bytes)}  tx {fmt_bytes(ih.tx_bytes)}")
        out.append("  peak ", style="dim")
        out.append(f"rx {fmt_mbps(ih.peak_rx_mbps)}  tx {fmt_mbps(ih.peak_tx_mbps)} Mbps")
        return out
