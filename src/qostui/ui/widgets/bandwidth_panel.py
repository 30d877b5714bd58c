"""Throughput per interface: current rx/tx Mbps, sparklines, totals and peaks since reset."""

from __future__ import annotations

from rich.text import Text

from qostui.ui.model import InterfaceHistory, fmt_bytes, fmt_mbps, sparkline
from qostui.ui.widgets._css import css_beside
from qostui.ui.widgets.target_panel import Panel


class BandwidthPanel(Panel):
    DEFAULT_CSS = css_beside(__file__)
    kind = "interface"

    def __init__(self, interfaces: dict[str, InterfaceHistory], *, enabled: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.interfaces = interfaces
        self.enabled = enabled
        self.border_title = "bandwidth"
        self._laid_out = -1

    @property  # type: ignore[override]
    def key(self) -> str:  # the detail view opens the first interface (usually the only one)
        return next(iter(self.interfaces), "")

    def update_view(self) -> None:
        # Two lines per interface: the height changes only when an interface appears.
        self.border_subtitle = " Mbps (1e6 bit/s) "
        self.refresh(layout=len(self.interfaces) != self._laid_out)
        self._laid_out = len(self.interfaces)

    def render(self) -> Text:
        out = Text(overflow="fold")
        if not self.enabled:
            out.append("bandwidth metering is off ([bandwidth] enabled = false)", style="dim")
            return out
        if not self.interfaces:
            out.append("waiting for the first sample…", style="dim")
            return out
        width = max(30, self.content_region.width or 76)
        name_w = min(10, max(len(n) for n in self.interfaces))
        for i, (name, ih) in enumerate(self.interfaces.items()):
            if i:
                out.append("\n")
            s = ih.last
            rx = fmt_mbps(s.rx_mbps if s else None).rjust(7)
            tx = fmt_mbps(s.tx_mbps if s else None).rjust(7)
            fixed = name_w + len("  rx ") + 7 + len("  tx ") + 7 + 4
            spark_w = max(4, (width - fixed) // 2)
            out.append(name[:name_w].ljust(name_w), style="bold")
            out.append("  rx ", style="dim")
            out.append(rx, style="green")
            out.append(" ")
            out.append(sparkline([x.rx_mbps for x in ih.samples], spark_w, lo=0.0).ljust(spark_w), style="green")
            out.append("  tx ", style="dim")
            out.append(tx, style="magenta")
            out.append(" ")
            out.append(sparkline([x.tx_mbps for x in ih.samples], spark_w, lo=0.0), style="magenta")
            out.append("\n")
            out.append(" " * name_w)
            out.append("  total ", style="dim")
            out.append(f"rx {fmt_bytes(ih.rx_bytes)}  tx {fmt_bytes(ih.tx_bytes)}")
            out.append("  peak ", style="dim")
            out.append(f"rx {fmt_mbps(ih.peak_rx_mbps)}  tx {fmt_mbps(ih.peak_tx_mbps)}")
        return out
