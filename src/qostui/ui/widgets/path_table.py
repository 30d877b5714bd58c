"""The hop table of the path view: one row per hop of the latest path round, with sparklines of
each hop's average RTT and loss over the rounds kept, and the honest loss verdict per hop.

Columns drop out as the width shrinks (80 columns keep hop, address, loss, sent, avg, worst, the
RTT sparkline and the verdict)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from qostui.probes.pathstats import NOT_FORWARDING
from qostui.records import PathHop
from qostui.ui.model import fmt_ms, sparkline
from qostui.ui.widgets._css import css_beside


def hop_history(rounds: Sequence[Sequence[PathHop]], hop: int) -> tuple[list[float | None], list[float | None]]:
    """(avg RTT per round, loss % per round) of one hop number, oldest first."""
    rtts: list[float | None] = []
    losses: list[float | None] = []
    for hops in rounds:
        found = next((h for h in hops if h.hop == hop), None)
        rtts.append(found.rtt_avg_ms if found else None)
        losses.append(found.loss_pct if found and found.sent else None)
    return rtts, losses


class PathTable(Static):
    DEFAULT_CSS = css_beside(__file__)

    _rounds: Sequence[Sequence[PathHop]] = ()
    _names: dict[str, str] = {}
    _message = ""

    def on_resize(self) -> None:
        self._draw()

    def show(self, rounds: Sequence[Sequence[PathHop]], names: dict[str, str] | None = None) -> None:
        self._rounds = rounds
        self._names = names or {}
        self._message = ""
        self._draw()

    def show_message(self, message: str) -> None:
        self._message = message
        self.update(Text(message, style="dim"))

    def _draw(self) -> None:
        if self._message:
            return
        if not self._rounds or not self._rounds[-1]:
            self.update(Text("no path round yet", style="dim"))
            return
        width = self.size.width or 80
        wide = width >= 120
        spark_w = max(6, min(30, (width - 70) // (2 if wide else 1)))
        table = Table(box=None, expand=True, padding=(0, 1), show_edge=False, header_style="bold")
        table.add_column("Hop", justify="right", width=3, no_wrap=True)
        table.add_column("Address", ratio=1, no_wrap=True, overflow="ellipsis", min_width=12)
        table.add_column("Loss%", justify="right", width=5, no_wrap=True)
        table.add_column("Snt", justify="right", width=4, no_wrap=True)
        if wide:
            table.add_column("Last", justify="right", width=6, no_wrap=True)
        table.add_column("Avg", justify="right", width=6, no_wrap=True)
        if wide:
            table.add_column("Best", justify="right", width=6, no_wrap=True)
        table.add_column("Wrst", justify="right", width=6, no_wrap=True)
        if wide:
            table.add_column("StDev", justify="right", width=6, no_wrap=True)
        table.add_column("RTT", width=spark_w, no_wrap=True)
        if wide:
            table.add_column("Loss", width=spark_w, no_wrap=True)
        table.add_column("Verdict", no_wrap=True, overflow="ellipsis", width=19 if wide else 13)
        for h in self._rounds[-1]:
            rtts, losses = hop_history(self._rounds, h.hop)
            who = h.hop_address or "???"
            name = self._names.get(h.hop_address, "")
            if name:
                who = f"{name} ({h.hop_address})"
            if len(h.addresses) > 1:
                who += f" +{len(h.addresses) - 1}"
            loss_style = "" if h.loss_pct == 0 else ("yellow" if h.verdict == NOT_FORWARDING else "bold red")
            verdict = h.verdict
            if not wide and verdict == NOT_FORWARDING:
                verdict = "not fwd loss"
            elif not wide and verdict.startswith("loss from hop"):
                verdict = verdict.replace("loss from hop", "loss from")
            verdict_style = "yellow" if h.verdict == NOT_FORWARDING else "bold red"
            cells: list[Text | str] = [str(h.hop), Text(who, style="bold" if h.reached else ""),
                                       Text(f"{h.loss_pct:.1f}", style=loss_style), str(h.sent)]
            if wide:
                cells.append(fmt_ms(h.rtt_last_ms))
            cells.append(fmt_ms(h.rtt_avg_ms))
            if wide:
                cells.append(fmt_ms(h.rtt_best_ms))
            cells.append(fmt_ms(h.rtt_worst_ms))
            if wide:
                cells.append(fmt_ms(h.rtt_stdev_ms))
            cells.append(Text(sparkline(rtts, spark_w), style="cyan"))  # per-hop scale, like mtr
            if wide:
                cells.append(Text(sparkline(losses, spark_w, lo=0.0, hi=100.0), style=loss_style or "green"))
            cells.append(Text(verdict, style=verdict_style if verdict else ""))
            table.add_row(*cells)
        self.update(table)
