"""The contract between the app and its screens: every qostui screen derives from `QostuiScreen`.

What the app relies on (and nothing else: it never asks a screen what class it is):
- `records_arrived(records, changes)`: every record batch, once, while the screen is mounted
  (also when another screen covers it; `self.is_current` says whether it is shown).
- `catch_up()`: the screen is shown again (back from help, a view, the palette): draw what was
  deferred meanwhile. Called by the base class; the header is refreshed then too.
- `header_label` names the screen in the header; `status_text()` adds to the header of every
  screen while this one is mounted (e.g. training progress seen from the monitor).
- `scale_changed(scale)` / `window_changed(window_s)`: the app's reactive `y_scale` / `window_s`
  changed (`s` / `w`); the base class watches them.
- `system_commands()`: the screen's own command palette entries; `stats_reset()` after `r`;
  `open_selected()` for the palette's "Open detail".
- `role`: "monitor" | "detail" | "view" (one at a time, opened by key) | "help"; `view_name` names a view.
- Worker errors: a worker of this screen (or of a widget on it) that ends in an exception, even
  one raised outside any `try`, becomes a one-line notification and a log line (`report_error`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from textual.screen import Screen
from textual.worker import Worker, WorkerState

from qostui.errors import QostuiError

if TYPE_CHECKING:
    from textual.app import SystemCommand

    from qostui.records import Record
    from qostui.ui.app import QostuiApp
    from qostui.ui.model import Changes

log = logging.getLogger(__name__)


def one_line(exc: BaseException) -> str:
    """An exception as one line for the screen: our own errors as they are, others with their type."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, QostuiError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class QostuiScreen(Screen[None]):
    role: ClassVar[str] = "view"
    view_name: ClassVar[str] = ""

    app: QostuiApp  # type: ignore[assignment]

    # --- the contract (defaults do nothing) ----------------------------------------------------
    @property
    def header_label(self) -> str:
        return self.view_name

    def records_arrived(self, records: list[Record], changes: Changes) -> None:
        """A batch of records (the model already holds them)."""

    def catch_up(self) -> None:
        """Shown again: bring the view up to date with what arrived while it was covered."""

    def status_text(self) -> str:
        """A part of every screen's header while this screen is mounted ("" for none)."""
        return ""

    def scale_changed(self, scale: str) -> None:
        """The app's y_scale changed."""

    def window_changed(self, window_s: float) -> None:
        """The app's window_s changed."""

    def system_commands(self) -> Iterable[SystemCommand]:
        return ()

    def stats_reset(self) -> None:
        """`r` reset the model's statistics."""

    def open_selected(self) -> None:
        """The palette's "Open detail"."""

    # --- wiring (subclasses' own on_mount / on_screen_resume run as well) ----------------------
    def on_mount(self) -> None:
        self.app.attach_screen(self)
        self.watch(self.app, "y_scale", self.scale_changed, init=False)
        self.watch(self.app, "window_s", self.window_changed, init=False)
        self.app.refresh_header(self)

    def on_unmount(self) -> None:
        self.app.detach_screen(self)

    def on_screen_resume(self) -> None:
        self.app.refresh_header(self)
        self.catch_up()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.report_error(event.worker.error, event.worker.name or "a background task")

    def report_error(self, exc: BaseException, what: str) -> str:
        """One line on screen (a notification) and the traceback in the log; returns the line."""
        line = one_line(exc)
        log.error("%s (%s) failed: %s", self.header_label or type(self).__name__, what, line,
                  exc_info=(type(exc), exc, exc.__traceback__))  # fmt: skip
        if self.is_attached:
            self.app.notify(line, title=f"{what} failed", severity="error", timeout=8)
        return line
