"""While the monitor owns the terminal, log warnings become notifications instead of stray text.

A plain StreamHandler would write over the full-screen UI (an unreachable Influx server, a probe
without ICMP permission). `App.notify` only posts a message, so it is safe from any thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from textual.app import App


class NotifyHandler(logging.Handler):
    def __init__(self, app: App[object]) -> None:
        super().__init__(logging.WARNING)
        self.app = app

    def emit(self, record: logging.LogRecord) -> None:
        try:
            severity = "error" if record.levelno >= logging.ERROR else "warning"
            # First line only: a traceback has no place in a toast.
            self.app.notify(record.getMessage().splitlines()[0], severity=severity, timeout=10, markup=False)
        except Exception:  # logging must never raise into the code that logged
            pass


@contextmanager
def logs_to_notifications(app: App[object]) -> Iterator[NotifyHandler]:
    """Swap the root logger's handlers for a NotifyHandler for the duration of the block."""
    root = logging.getLogger()
    saved = root.handlers[:]
    handler = NotifyHandler(app)
    root.handlers = [handler]
    try:
        yield handler
    finally:
        root.handlers = saved
