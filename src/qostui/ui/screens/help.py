"""`?`: every key, where it works and what it does (read from the one key table)."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from qostui.ui.keys import KEYS
from qostui.ui.screens.base import QostuiScreen


def keys_table() -> Table:
    table = Table(box=None, expand=True, show_header=True, header_style="bold")
    table.add_column("key", no_wrap=True, style="bold cyan")
    table.add_column("what it does", ratio=1)
    table.add_column("where", no_wrap=True, style="dim")
    for k in KEYS:
        table.add_row(k.shown, k.description, k.where)
    table.add_row("mouse", "click selects a panel, double click opens its detail; wheel scrolls", "monitor")
    return table


class HelpScreen(QostuiScreen, ModalScreen[None]):
    role = "help"
    CSS_PATH = "help.tcss"
    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "close help", key_display="Esc"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("qostui keys  (↑/↓ PgUp/PgDn scroll · Esc closes)", id="help-title")
            yield Static(keys_table(), id="help-keys")
            yield Static("Esc, ? or q closes this help.  Themes: Ctrl+P → Theme.", id="help-foot")

    def on_click(self) -> None:
        self.dismiss()
