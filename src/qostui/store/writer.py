"""The recorder's way into the store: a batch that cannot be written is kept and retried, not lost.

A full disk, an I/O error or a store locked for too long makes `Store.write` raise. The bus handler
here keeps such batches in a bounded memory queue (oldest dropped first, and counted), retries them
with every later batch and once more at close, and says so: one warning when writing starts to fail,
at most one a minute while it goes on, one when the queued rounds reached the store.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from qostui.errors import QostuiError
from qostui.records import PingRound, Record
from qostui.store.sqlite import Store

log = logging.getLogger(__name__)

WARN_EVERY_S = 60.0
MAX_PENDING_RECORDS = 200_000  # ~ a day of 1 s rounds for two targets; bounded memory


def _round_times(records: Sequence[Record]) -> set[float]:
    # the records of one probing round share its start time
    return {r.ts for r in records if isinstance(r, PingRound)}


class StoreWriter:
    def __init__(
        self,
        store: Store,
        *,
        max_pending: int = MAX_PENDING_RECORDS,
        warn_every_s: float = WARN_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.max_pending = max_pending
        self.warn_every_s = warn_every_s
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: deque[list[Record]] = deque()
        self._pending_records = 0
        self._dropped_rounds: set[float] = set()  # rounds whose records were pushed out of the queue
        self.dropped_records = 0
        self.last_error = ""
        self._failing_since: float | None = None
        self._last_warning = -float("inf")
        self.warnings = 0

    # --- the bus handler ------------------------------------------------------------------------
    def write(self, records: Sequence[Record]) -> None:
        with self._lock:
            if records:
                self._queue(list(records))
            self._try_pending()

    def flush(self) -> bool:
        """Retry what is queued; True when nothing is left unwritten (the store holds it all)."""
        with self._lock:
            self._try_pending()
            return not self._pending and not self._dropped_rounds and not self.dropped_records

    # --- state ----------------------------------------------------------------------------------
    @property
    def pending_records(self) -> int:
        return self._pending_records

    def unwritten_rounds(self) -> int:
        """Probing rounds with at least one record not in the store (queued or dropped)."""
        with self._lock:
            times = set(self._dropped_rounds)
            for batch in self._pending:
                times |= _round_times(batch)
            return len(times)

    def unwritten_records(self) -> int:
        return self._pending_records + self.dropped_records

    def status(self) -> str:
        """For the recorder's status line and the monitor header; empty while all is written."""
        if not self._pending and not self.dropped_records:
            return ""
        rounds = self.unwritten_rounds()
        return f"store: {rounds} round(s) not written ({self.last_error})"

    # --- inside the lock ------------------------------------------------------------------------
    def _queue(self, batch: list[Record]) -> None:
        self._pending.append(batch)
        self._pending_records += len(batch)
        while self._pending_records > self.max_pending and len(self._pending) > 1:
            old = self._pending.popleft()
            self._pending_records -= len(old)
            self.dropped_records += len(old)
            self._dropped_rounds |= _round_times(old)

    def _try_pending(self) -> None:
        if not self._pending:
            return
        batch = [r for b in self._pending for r in b]
        try:
            self.store.write(batch)  # one transaction; duplicates are ignored, so a retry is safe
        except (sqlite3.Error, QostuiError, OSError) as exc:
            self._failed(exc)
            return
        queued_rounds = len(_round_times(batch))
        self._pending.clear()
        self._pending_records = 0
        if self._failing_since is not None:
            self._failing_since = None
            if self.warnings:
                log.warning("%s: writing works again; %d queued round(s) stored", self.store.path, queued_rounds)

    def _failed(self, exc: BaseException) -> None:
        self.last_error = str(exc) or type(exc).__name__
        now = self._clock()
        if self._failing_since is None:
            self._failing_since = now
        if now - self._last_warning < self.warn_every_s:
            return
        rounds = set(self._dropped_rounds)
        for b in self._pending:
            rounds |= _round_times(b)
        first = self.warnings == 0
        self._last_warning = now
        self.warnings += 1
        log.warning(
            "%s: %s the store (%s); %d round(s) kept in memory, retrying with each round",
            self.store.path,
            "cannot write to" if first else "still cannot write to",
            self.last_error,
            len(rounds),
        )
