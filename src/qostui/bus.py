"""Fan-out of records to subscribers.

Each subscriber has its own bounded queue and thread, so a slow one (a dead server, a busy UI)
never stalls probing: when its queue is full the oldest record is dropped and counted.
A handler that raises is logged and counted, and its thread goes on; a subscriber thread that dies
anyway (an error outside the handler, or a BaseException) is reported to the bus's on_failure
callbacks, and what it had taken or still queued stays available through `leftovers()`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from qostui.records import Record

log = logging.getLogger(__name__)

Handler = Callable[[list[Record]], None]
_STOP = object()


@dataclass
class Subscription:
    name: str
    handler: Handler
    batch_wait_s: float
    max_batch: int
    queue: queue.Queue = field(repr=False)
    feeds_back: bool = False  # its handler publishes on this bus (alerts): closed first
    dropped: int = 0
    delivered: int = 0
    errors: int = 0
    thread: threading.Thread | None = field(default=None, repr=False)
    failure: str | None = None  # why its thread ended before close(); None while healthy
    in_flight: list[Record] = field(default_factory=list, repr=False)  # taken, not yet handled

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def leftovers(self) -> list[Record]:
        """After the thread died: the records it had taken but not handled, then those still queued."""
        out = list(self.in_flight)
        self.in_flight = []
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return out
            if item is not _STOP:
                out.append(item)


FailureCallback = Callable[[Subscription], None]


class Bus:
    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()
        self._closed = False
        self._on_failure: list[FailureCallback] = []

    def on_failure(self, callback: FailureCallback) -> None:
        """Call `callback(subscription)` (on the dying thread) when a subscriber thread dies."""
        self._on_failure.append(callback)

    def subscribe(
        self,
        name: str,
        handler: Handler,
        *,
        max_queue: int = 100_000,
        batch_wait_s: float = 0.0,
        max_batch: int = 10_000,
        feeds_back: bool = False,
    ) -> Subscription:
        """`handler` gets lists of records on the subscription's own thread.

        With batch_wait_s > 0 records are gathered for up to that long before one call
        (the store uses this to write a round in one transaction). A subscriber whose handler
        publishes back on this bus says feeds_back=True, so close() lets it finish first and what
        it publishes while closing still reaches the others.
        """
        sub = Subscription(name, handler, batch_wait_s, max_batch, queue.Queue(maxsize=max_queue), feeds_back=feeds_back)
        sub.thread = threading.Thread(target=self._pump, args=(sub,), name=f"bus-{name}", daemon=True)
        with self._lock:
            self._subs.append(sub)
        sub.thread.start()
        return sub

    def publish(self, records: Record | Iterable[Record]) -> None:
        batch = list(records) if isinstance(records, (list, tuple)) else [records]
        if not batch:
            return
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            for record in batch:
                self._put(sub, record)

    @staticmethod
    def _put(sub: Subscription, record: Record) -> None:
        while True:
            try:
                sub.queue.put_nowait(record)
                return
            except queue.Full:
                try:
                    sub.queue.get_nowait()
                    sub.dropped += 1
                except queue.Empty:
                    pass

    def _pump(self, sub: Subscription) -> None:
        try:
            self._pump_batches(sub)
        except BaseException as exc:  # the thread is ending: never silently
            sub.failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            log.debug("subscriber %s stopped", sub.name, exc_info=True)
            for callback in list(self._on_failure):
                try:
                    callback(sub)
                except Exception:
                    log.exception("failure callback for %s failed", sub.name)

    def _pump_batches(self, sub: Subscription) -> None:
        while True:
            item = sub.queue.get()
            if item is _STOP:
                return
            batch = sub.in_flight = [item]
            deadline = time.monotonic() + sub.batch_wait_s
            stop_after = False
            while len(batch) < sub.max_batch:
                remaining = deadline - time.monotonic()
                try:
                    nxt = sub.queue.get(timeout=remaining) if remaining > 0 else sub.queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop_after = True
                    break
                batch.append(nxt)
            try:
                sub.handler(batch)
                sub.delivered += len(batch)
            except Exception:  # a broken subscriber must not take the others down
                sub.errors += 1
                log.exception("subscriber %s failed on a batch of %d", sub.name, len(batch))
            sub.in_flight = []
            if stop_after:
                return

    def close(self, timeout_s: float = 10.0) -> None:
        """Deliver what is queued, then stop every subscriber thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            subs = list(self._subs)
        deadline = time.monotonic() + timeout_s
        for group in ([s for s in subs if s.feeds_back], [s for s in subs if not s.feeds_back]):
            for sub in group:
                self._put_stop(sub)
            for sub in group:
                if sub.thread is not None:
                    sub.thread.join(max(0.0, deadline - time.monotonic()))

    @staticmethod
    def _put_stop(sub: Subscription) -> None:
        # waits only while the queue is full and its pump is draining it; a dead pump never will
        while sub.alive:
            try:
                sub.queue.put(_STOP, timeout=0.2)
                return
            except queue.Full:
                continue

    @property
    def subscriptions(self) -> list[Subscription]:
        with self._lock:
            return list(self._subs)
