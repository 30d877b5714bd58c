"""Wires the headless pipeline: probes -> collector -> bus -> store (and exporters).

The recorder and the monitor build the same Pipeline; the monitor only adds a UI subscriber.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from qostui.bus import Bus, Handler
from qostui.collector import BandwidthMeterLike, Collector, PingProberLike
from qostui.config import Config
from qostui.errors import QostuiError

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
        # The store gathers a round for up to flush_interval_s and writes it in one transaction.
        self.bus.subscribe("store", self.store.write, batch_wait_s=config.store.flush_interval_s)
        self._closers: list[Callable[[], Any]] = []
        self._status: list[Callable[[], str]] = []
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
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:
                log.exception("closing %r failed", closer)
        self.store.close()
