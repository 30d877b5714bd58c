"""Wires the headless pipeline: probes -> collector -> bus -> store (and exporters).

The recorder and the monitor build the same Pipeline; the monitor only adds a UI subscriber.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qostui.bus import Bus, Handler, Subscription
from qostui.collector import BandwidthMeterLike, Collector, PingProberLike
from qostui.config import Config
from qostui.errors import QostuiError

if TYPE_CHECKING:
    from qostui.exporters.prometheus import PrometheusExporter

log = logging.getLogger(__name__)


class Pipeline:
    def __init__(
        self,
        config: Config,
        *,
        prober: PingProberLike | None = None,
        meter: BandwidthMeterLike | None = None,
    ) -> None:
        from qostui.store import Store

        self.config = config
        self.db_path = config.store.resolved_path()
        try:
            self.store = Store(self.db_path, retention_days=config.store.retention_days)
        except QostuiError:
            raise
        except Exception as exc:  # sqlite3 errors: unreadable file, not a database, read-only dir
            raise QostuiError(f"{self.db_path}: cannot open the store ({exc})") from None
        self.bus = Bus()
        # A subscriber thread that dies stops the run (record / monitor watch on_failure): never silently.
        self.failure: str | None = None
        self._failure_callbacks: list[Callable[[str], Any]] = []
        self.bus.on_failure(self._subscriber_died)
        # The store gathers a round for up to flush_interval_s and writes it in one transaction;
        # a write that fails (full disk) is queued in memory and retried by the writer.
        from qostui.store.writer import StoreWriter

        self.writer = StoreWriter(self.store)
        self._store_sub = self.bus.subscribe(
            "store", self.writer.write, batch_wait_s=config.store.flush_interval_s
        )
        self.flushed = False  # true after stop() once every record reached the store
        self._closers: list[Callable[[], Any]] = []
        self._status: list[Callable[[], str]] = [self.writer.status]
        self.collector = Collector(config, self.bus, prober=prober, meter=meter)
        self.path = None  # hop-by-hop path rounds, when [path] enabled
        if config.path.enabled:
            from qostui.pathwatch import PathWatcher

            self.path = PathWatcher(config, self.bus, paused=lambda: self.collector.paused)
        self._started = False
        # Alerts, always on: their Events go back on the bus to reach the store, UI and exporters.
        from qostui.alerts import AlertEngine, make_subscriber

        self.alerts = AlertEngine(config.thresholds, forecast_tolerance_s=config.forecast.step_s / 2)
        self.bus.subscribe("alerts", make_subscriber(self.alerts, self.bus.publish), feeds_back=True)
        # Influx export reads the store (the durable outbox); the bus only tells it new rows exist.
        self.influx = None
        if config.influx.enabled:
            from qostui.exporters.influx import InfluxWriter

            self.influx = InfluxWriter(config.influx, self.store)
            self.bus.subscribe("influx", self.influx.notify)
            self.add_status(self.influx.status)
            self.add_closer(self.influx.close)
            self.influx.start()
        # Prometheus /metrics (off unless prometheus.listen is set). Bound here, before probing, so a
        # port in use is one error line; what was built so far is closed again.
        self.prometheus: PrometheusExporter | None = None
        if config.prometheus.listen:
            import socket

            from qostui.exporters.prometheus import PrometheusExporter

            influx = self.influx
            self.prometheus = PrometheusExporter(
                config.prometheus.listen,
                host=influx.host if influx is not None else (config.influx.host_tag or socket.gethostname()),
                influx_backlog=(lambda: float(influx.backlog)) if influx is not None else None,
            )
            try:
                self.prometheus.start()
            except QostuiError:
                self.stop()
                raise
            self.bus.subscribe("prometheus", self.prometheus.handle)
            self.add_closer(self.prometheus.close)

    def on_failure(self, callback: Callable[[str], Any]) -> None:
        """`callback(message)` (on the dying thread) when a subscriber thread dies."""
        self._failure_callbacks.append(callback)

    def _subscriber_died(self, sub: Subscription) -> None:
        message = f"the {sub.name} thread stopped ({sub.failure})"
        if self.failure is None:
            self.failure = message
        for callback in list(self._failure_callbacks):
            callback(message)

    def unwritten_rounds(self) -> int:
        return self.writer.unwritten_rounds()

    def stop_summary(self) -> tuple[str, int]:
        """After stop(): the recorder's and the monitor's closing words about the store, and the exit
        status (0 when everything reached it, 1 otherwise)."""
        rounds = self.collector.rounds_done
        head = f"stopped after {rounds} round(s)"
        lost = self.unwritten_rounds()
        if lost or not self.flushed:
            why = f" ({self.writer.last_error})" if self.writer.last_error else ""
            tail = f"{lost} round(s) could not be written to {self.db_path}{why}"
            if not lost:  # the writer thread did not finish: what it still held is unknown
                tail = f"the store writer did not finish; the last rounds may be missing from {self.db_path}"
            if self.failure:
                tail = f"{self.failure}; {tail}"
            return f"error: {head}; {tail}", 1
        if self.failure:
            return f"error: {head}; {self.failure}; store flushed", 1
        return f"{head}; store flushed", 0

    def subscribe(self, name: str, handler: Handler, **kwargs: Any) -> None:
        self.bus.subscribe(name, handler, **kwargs)

    def add_status(self, provider: Callable[[], str]) -> None:
        """Extra status text (an exporter's state) for the recorder line and the UI header."""
        self._status.append(provider)

    def add_closer(self, closer: Callable[[], Any]) -> None:
        self._closers.append(closer)

    def status_text(self) -> str:
        parts = []
        for provider in self._status:
            try:
                text = provider()
            except Exception:  # status must never break a round
                log.exception("status provider failed")
                continue
            if text:
                parts.append(text)
        return " ".join(parts)

    def start(self) -> None:
        self.collector.start()
        if self.path is not None:
            self.path.start()
        self._started = True

    def stop(self) -> None:
        """Stop probing, deliver everything queued to every subscriber, close the store."""
        if self.path is not None:
            self.path.stop()
        if self._started:
            self.collector.stop()
        else:
            self.collector.prober.close()
        self.bus.close()
        store_sub = self._store_sub
        if store_sub.thread is not None and store_sub.alive:  # a write waiting on a locked store
            store_sub.thread.join(60.0)
        if store_sub.failure is not None:  # its thread died: write what it had taken and left queued
            self.writer.write(store_sub.leftovers())
        self.flushed = self.writer.flush() and not store_sub.alive
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:
                log.exception("closing %r failed", closer)
        self.store.close()
