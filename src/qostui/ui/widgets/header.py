"""One-line header: store path, round interval, recording state and exporter status."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from qostui.ui.widgets._css import css_beside


def short_path(path: str, room: int) -> str:
    """Keep the file name and as many trailing directories as fit; never cut a name in half."""
    if len(path) <= room:
        return path
    parts = path.split("/")
    out = parts[-1]
    for part in reversed(parts[:-1]):
        candidate = f"{part}/{out}"
        if len(candidate) + 2 > room:
            break
        out = candidate
    return "…/" + out


class HeaderBar(Static):
    DEFAULT_CSS = css_beside(__file__)

    _args: dict[str, object] | None = None
    _shown = ""

    def on_resize(self) -> None:
        if self._args is not None:
            self.show(**self._args)  # type: ignore[arg-type]

    def show(self, *, store: str, interval_s: float, state: str, extra: str = "", view: str = "") -> None:
        self._args = {"store": store, "interval_s": interval_s, "state": state, "extra": extra, "view": view}
        width = max(40, self.size.width or 80)
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(" qostui ", style="bold reverse")
        if view:
            t.append(f" {view}", style="bold")
        styles = {"REC": "bold green", "PAUSED": "bold yellow", "OFFLINE": "dim", "STOPPED": "bold red"}
        t.append("  ")
        t.append(f"● {state}" if state == "REC" else state, style=styles.get(state, ""))
        t.append(f"  every {interval_s:g}s", style="")
        if extra:
            t.append(f"  {extra}", style="italic")
        room = width - t.cell_len - 2
        if room >= 12:
            t.append("  ")
            t.append(short_path(store, room), style="dim")
        if t.plain != self._shown:  # the header changes rarely: skip the repaint otherwise
            self._shown = t.plain
            self.update(t, layout=False)
