"""Path rounds in the recorder and the monitor: traces every target every path.interval_s.

One thread, one PathEngine (its own sockets, apart from the ping engine's). Each path round of a
target publishes its PathHop records and, when RouteTracker says the hop sequence changed, a
`route` Event, together on the bus (store, UI, exporters, recorder output).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from qostui.alerts import RouteTracker
from qostui.bus import Bus
from qostui.config import Config
from qostui.records import Event, PathHop, Record

log = logging.getLogger(__name__)


class PathWatcher:
    def __init__(self, config: Config, bus: Bus, *, paused: Callable[[], bool] = lambda: False) -> None:
        self.config = config
        self.bus = bus
        self.paused = paused
        self.rounds_done = 0
        self.routes = RouteTracker(config.path.hysteresis_rounds)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="probe-path", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def round(self, engine, resolver) -> list[Record]:  # noqa: ANN001  (PathEngine, Resolver)
        """One path round over every target: hop records and route events."""
        from qostui.probes.pathstats import hops_from_trace, path_signature

        pc = self.config.path
        out: list[Record] = []
        names = [t.address for t in self.config.targets]
        resolved = resolver.resolve_all(names)
        for target in self.config.targets:
            if self._stop.is_set():
                break
            res = resolved[target.address]
            if not res.ok:
                continue
            ts = time.time()
            try:
                trace = engine.trace(res.address, res.family, passes=pc.probes_per_hop, gap_ms=pc.spacing_ms,
                                     timeout_ms=pc.timeout_ms, max_ttl=pc.max_ttl,
                                     payload_bytes=self.config.probe.payload_bytes,
                                     should_stop=self._stop.is_set)
            except OSError as exc:
                log.warning("path to %s: %s", target.label, exc.strerror or exc)
                continue
            hops: list[PathHop] = hops_from_trace(trace, target.label, ts)
            out.extend(hops)
            if hops:
                event: Event | None = self.routes.observe(target.label, path_signature(hops), ts)
                if event is not None:
                    out.append(event)
        return out

    def _loop(self) -> None:
        from qostui.probes.icmp import IcmpPermissionError
        from qostui.probes.path import path_engine
        from qostui.probes.resolve import Resolver

        engine = path_engine(self.config.path.protocol)
        resolver = Resolver(self.config.probe.resolve_retry_s)
        interval = self.config.path.interval_s
        start = time.monotonic()
        slot = 0
        try:
            while not self._stop.is_set():
                if self._stop.wait(max(0.0, start + slot * interval - time.monotonic())):
                    return
                if not self.paused():
                    try:
                        records = self.round(engine, resolver)
                    except IcmpPermissionError as exc:
                        log.warning("path probing off: %s", exc.help)
                        return
                    except Exception:  # a bug in one round must not end path probing for good
                        log.exception("path round failed")
                        records = []
                    self.rounds_done += 1
                    if records:
                        self.bus.publish(records)
                slot = max(slot + 1, math.floor((time.monotonic() - start) / interval) + 1)
        finally:
            engine.close()
