"""Thresholds with hysteresis: PingRounds (and bandwidth vs forecast) -> Event records.

Each (kind, target) pair has two alarm levels, warn and crit. A level is raised after
`hysteresis_rounds` consecutive rounds at or beyond its threshold and cleared after as many
consecutive rounds below it, so one bad round never pages anyone and a flapping link does not
produce an event per round. An Event is emitted only when the resulting level changes:
level "warn"/"crit" on a raise (or a crit -> warn step down) and "ok" when everything cleared.

Rounds without a value for a metric (no RTT under 100% loss) leave that metric's alarm as it is.
A round whose probe could not run (no route, unresolved, no permission) is not loss: it feeds a
"reachability" alarm of its own (crit), and leaves the ping metrics' alarms as they are.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from qostui.config import ThresholdConfig
from qostui.levels import Level, Metric, bandwidth_metric, ping_metrics
from qostui.records import BandwidthSample, Event, Forecast, PingRound, ProbeState, Record


@dataclass
class _Alarm:
    """Hysteresis state of one (kind, target): consecutive rounds at/over and under each level."""

    level: int = 0
    over: list[int] = field(default_factory=lambda: [0, 0, 0])  # index 1 warn, 2 crit
    under: list[int] = field(default_factory=lambda: [0, 0, 0])
    active: list[bool] = field(default_factory=lambda: [True, False, False])

    def update(self, observed: int, rounds: int) -> int:
        for lvl in (1, 2):
            if observed >= lvl:
                self.over[lvl] += 1
                self.under[lvl] = 0
                if not self.active[lvl] and self.over[lvl] >= rounds:
                    self.active[lvl] = True
            else:
                self.under[lvl] += 1
                self.over[lvl] = 0
                if self.active[lvl] and self.under[lvl] >= rounds:
                    self.active[lvl] = False
        self.level = 2 if self.active[2] else 1 if self.active[1] else 0
        return self.level


class AlertEngine:
    """Feed records in order; get the Events they cause. Thread-safe (one lock, cheap work)."""

    def __init__(self, thresholds: ThresholdConfig, *, forecast_tolerance_s: float = 0.0) -> None:
        t = thresholds
        self.rounds = max(1, int(t.hysteresis_rounds))
        self.metrics: dict[str, Metric] = ping_metrics(t)
        self.bandwidth = bandwidth_metric(t)
        self.bandwidth_warn_pct = self.bandwidth.warn
        self.bandwidth_crit_pct = self.bandwidth.crit
        self.forecast_tolerance_s = forecast_tolerance_s
        self._alarms: dict[tuple[str, str], _Alarm] = {}
        self._forecast_ts: list[float] = []  # sorted predicted times (best step per time kept)
        self._forecast: dict[float, Forecast] = {}
        self._lock = threading.Lock()

    # --- feeding ---------------------------------------------------------------------------
    def feed(self, records: Iterable[Record]) -> list[Event]:
        events: list[Event] = []
        with self._lock:
            for record in records:
                if isinstance(record, PingRound):
                    events.extend(self._ping(record))
                elif isinstance(record, Forecast):
                    self._remember_forecast(record)
                elif isinstance(record, BandwidthSample):
                    event = self._bandwidth(record)
                    if event is not None:
                        events.append(event)
        return events

    def levels(self) -> dict[tuple[str, str], str]:
        """Current non-ok alarms: (kind, target) -> "warn" | "crit" (for a UI panel)."""
        with self._lock:
            return {key: Level.of_rank(a.level) for key, a in self._alarms.items() if a.level}

    # --- ping metrics ------------------------------------------------------------------------
    def _ping(self, r: PingRound) -> list[Event]:
        if r.state == ProbeState.OK:
            values = {kind: m.value(r) for kind, m in self.metrics.items()}
        else:  # the probe could not run: a state of its own, not loss
            values: dict[str, float | None] = {}
        events = []
        reachability = self._reachability(r)
        if reachability is not None:
            events.append(reachability)
        for kind, value in values.items():
            if value is None:
                continue
            event = self._step(self.metrics[kind], r.target, value, r.ts)
            if event is not None:
                events.append(event)
        return events

    def _reachability(self, r: PingRound) -> Event | None:
        alarm = self._alarms.setdefault(("reachability", r.target), _Alarm())
        before = alarm.level
        after = alarm.update(0 if r.state == ProbeState.OK else 2, self.rounds)
        if after == before:
            return None
        n = self.rounds
        if after:
            state = r.state.value.replace("_", " ")
            message = f"{r.target}: {state} for {n} round{'s' if n > 1 else ''}" + (f" ({r.error})" if r.error else "")
        else:
            message = f"{r.target}: reachable again ({n} rounds)"
        return Event(ts=r.ts, kind="reachability", target=r.target, level=Level.of_rank(after), message=message)

    def _step(self, metric: Metric, target: str, value: float, ts: float, detail: str = "") -> Event | None:
        alarm = self._alarms.setdefault((metric.kind, target), _Alarm())
        before = alarm.level
        after = alarm.update(metric.level_of(value).rank, self.rounds)
        if after == before:
            return None
        n = self.rounds
        if after > before:
            message = (
                f"{metric.label} {metric.fmt(value)} to {target} "
                f"({metric.threshold_text(Level.of_rank(after))} for {n} round{'s' if n > 1 else ''}){detail}"
            )
        elif after:
            message = f"{metric.label} {metric.fmt(value)} to {target}: down to warn ({n} rounds under crit){detail}"
        else:
            message = f"{metric.label} back to normal: {metric.fmt(value)} to {target} ({n} rounds under warn){detail}"
        return Event(ts=ts, kind=metric.kind, target=target, level=Level.of_rank(after), message=message)

    # --- bandwidth against the forecast -------------------------------------------------------
    def _remember_forecast(self, f: Forecast) -> None:
        # For a predicted time, the forecast made latest (shortest step) is the best guess.
        old = self._forecast.get(f.ts)
        if old is None:
            bisect.insort(self._forecast_ts, f.ts)
        elif old.made_at > f.made_at:
            return
        self._forecast[f.ts] = f
        if len(self._forecast_ts) > 1000:  # keep memory bounded: forget the oldest predictions
            for ts in self._forecast_ts[:-1000]:
                self._forecast.pop(ts, None)
            del self._forecast_ts[:-1000]

    def _matching_forecast(self, ts: float) -> Forecast | None:
        if not self._forecast_ts:
            return None
        i = bisect.bisect_left(self._forecast_ts, ts)
        best = None
        for j in (i - 1, i):
            if 0 <= j < len(self._forecast_ts):
                cand = self._forecast_ts[j]
                if best is None or abs(cand - ts) < abs(best - ts):
                    best = cand
        assert best is not None
        if self.forecast_tolerance_s and abs(best - ts) > self.forecast_tolerance_s:
            return None
        return self._forecast[best]

    def _bandwidth(self, s: BandwidthSample) -> Event | None:
        forecast = self._matching_forecast(s.ts)
        if forecast is None or forecast.predicted_mbps <= 0:
            return None
        actual = s.rx_mbps + s.tx_mbps  # the forecast is of the store's bandwidth_mbps series: rx + tx
        shortfall_pct = max(0.0, (forecast.predicted_mbps - actual) / forecast.predicted_mbps * 100.0)
        metric = self.bandwidth
        detail = (
            f"; rx+tx {actual:.2f} Mbps vs forecast {forecast.predicted_mbps:.2f} Mbps ({forecast.model})"
        )
        return self._step(metric, s.interface, shortfall_pct, s.ts, detail)


def make_subscriber(
    engine: AlertEngine, publish: Callable[[list[Event]], None]
) -> Callable[[list[Record]], None]:
    """A bus handler: feed a batch, publish the Events it caused back on the bus.

    Events fed back are ignored by the engine, so there is no loop.
    """

    def handler(batch: list[Record]) -> None:
        events = engine.feed(batch)
        if events:
            publish(events)

    return handler


class RouteTracker:
    """Route changes: a `route` Event when a target's hop sequence differs for `hysteresis_rounds`.

    A path round gives the signature (main responding address per hop, "*" = no reply). "*"
    matches any address, so a hop that skips its replies for a round is not a new path. The first
    round of a target sets its path without an event.
    """

    def __init__(self, hysteresis_rounds: int) -> None:
        self.rounds = hysteresis_rounds
        self._current: dict[str, tuple[str, ...]] = {}
        self._candidate: dict[str, tuple[tuple[str, ...], int]] = {}

    @staticmethod
    def same(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
        return len(a) == len(b) and all(x == y or "*" in (x, y) for x, y in zip(a, b, strict=True))

    def observe(self, target: str, signature: tuple[str, ...], ts: float) -> Event | None:
        current = self._current.get(target)
        if current is None:
            self._current[target] = signature
            return None
        if self.same(signature, current):
            self._candidate.pop(target, None)
            return None
        seen, count = self._candidate.get(target, (signature, 0))
        count = count + 1 if self.same(signature, seen) else 1
        if count < self.rounds:
            self._candidate[target] = (signature, count)
            return None
        self._candidate.pop(target, None)
        self._current[target] = signature
        return Event(ts, "route", target, "warn",
                     f"path changed after {count} round(s): {' > '.join(current)} -> {' > '.join(signature)}")
