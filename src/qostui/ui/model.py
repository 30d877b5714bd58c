"""What the monitor shows, kept apart from Textual: per-target and per-interface history.

Bounded ring buffers (deque maxlen = ui.history_rounds) so memory stays flat however long the
monitor runs; statistics since the last reset are running sums, never lists.
Pure Python: the benchmark and tests drive it without a terminal.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from qostui.config import Config, TargetConfig, ThresholdConfig
from qostui.levels import Level, ping_metrics, round_levels, worst
from qostui.records import BandwidthSample, Event, PingRound, ProbeState, Record

# Displayed state names (the vocabulary) and their severity level.
UP, LOSSY, DOWN, NO_ROUTE, NO_PERMISSION, UNRESOLVED, ERROR, WAITING = (
    "up",
    "lossy",
    "down",
    "no route",
    "no permission",
    "unresolved",
    "error",
    "waiting",
)
OK, WARN, CRIT, IDLE = Level.OK, Level.WARN, Level.CRIT, Level.IDLE


def classify(r: PingRound | None, t: ThresholdConfig) -> tuple[str, Level]:
    """(state name, level) of one round; the level colours the panel."""
    if r is None:
        return WAITING, IDLE
    if r.state is ProbeState.NO_ROUTE:
        return NO_ROUTE, CRIT
    if r.state is ProbeState.NO_PERMISSION:
        return NO_PERMISSION, CRIT
    if r.state is ProbeState.UNRESOLVED:
        return UNRESOLVED, CRIT
    if r.state is not ProbeState.OK:
        return ERROR, CRIT
    if r.received == 0 or r.loss_pct >= 100.0:
        return DOWN, CRIT
    levels = round_levels(r, ping_metrics(t))
    state = LOSSY if levels["loss"] is not OK else UP
    return state, worst(*levels.values())


class TargetHistory:
    """The last N rounds of one target plus running statistics since the last reset."""

    __slots__ = ("key", "label", "address", "record_target", "rounds", "alerts", "last", "_sent", "_received", "_rtt_sum", "_rtt_n", "min_ms", "max_ms")

    def __init__(self, key: str, label: str, history_rounds: int) -> None:
        self.key = key
        self.label = label
        self.address = ""
        self.record_target = key  # PingRound.target as the probes write it (the store's key)
        self.rounds: deque[PingRound] = deque(maxlen=history_rounds)
        self.last: PingRound | None = None
        self.alerts: dict[str, str] = {}  # active alerts from the alert engine: kind -> "warn" | "crit"
        self.reset()

    def reset(self) -> None:
        self._sent = 0
        self._received = 0
        self._rtt_sum = 0.0  # sum of per-probe RTTs (avg * received) for a probe-weighted mean
        self._rtt_n = 0
        self.min_ms: float | None = None
        self.max_ms: float | None = None

    def add(self, r: PingRound) -> None:
        self.rounds.append(r)
        self.last = r
        self.record_target = r.target
        if r.address:
            self.address = r.address
        if r.state is not ProbeState.OK:
            return
        self._sent += r.sent
        self._received += r.received
        if r.rtt_avg_ms is not None and r.received:
            self._rtt_sum += r.rtt_avg_ms * r.received
            self._rtt_n += r.received
        if r.rtt_min_ms is not None:
            self.min_ms = r.rtt_min_ms if self.min_ms is None else min(self.min_ms, r.rtt_min_ms)
        if r.rtt_max_ms is not None:
            self.max_ms = r.rtt_max_ms if self.max_ms is None else max(self.max_ms, r.rtt_max_ms)

    @property
    def avg_ms(self) -> float | None:
        return self._rtt_sum / self._rtt_n if self._rtt_n else None

    @property
    def total_loss_pct(self) -> float | None:
        return 100.0 * (self._sent - self._received) / self._sent if self._sent else None

    @property
    def sent(self) -> int:
        return self._sent

    def rtt_series(self) -> list[float | None]:
        return [r.rtt_avg_ms if r.state is ProbeState.OK else None for r in self.rounds]

    def loss_series(self) -> list[float | None]:
        return [r.loss_pct if r.state is ProbeState.OK else 100.0 for r in self.rounds]


class InterfaceHistory:
    """The last N samples of one interface plus byte totals since the last reset."""

    __slots__ = ("key", "samples", "last", "rx_bytes", "tx_bytes", "peak_rx_mbps", "peak_tx_mbps")

    def __init__(self, key: str, history_rounds: int) -> None:
        self.key = key
        self.samples: deque[BandwidthSample] = deque(maxlen=history_rounds)
        self.last: BandwidthSample | None = None
        self.reset()

    def reset(self) -> None:
        self.rx_bytes = 0.0
        self.tx_bytes = 0.0
        self.peak_rx_mbps = 0.0
        self.peak_tx_mbps = 0.0

    def add(self, s: BandwidthSample) -> None:
        self.samples.append(s)
        self.last = s
        # Mbps * s * 1e6 / 8 = bytes moved during the sample's interval
        self.rx_bytes += s.rx_mbps * s.interval_s * 125_000
        self.tx_bytes += s.tx_mbps * s.interval_s * 125_000
        self.peak_rx_mbps = max(self.peak_rx_mbps, s.rx_mbps)
        self.peak_tx_mbps = max(self.peak_tx_mbps, s.tx_mbps)


@dataclass(frozen=True)
class Changes:
    """What one batch touched, so the screen repaints only those panels, once."""

    targets: frozenset[str]
    interfaces: frozenset[str]
    new_interfaces: bool
    events: tuple[Event, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.targets or self.interfaces or self.events)


class MonitorModel:
    def __init__(self, config: Config) -> None:
        self.config = config
        n = max(2, config.ui.history_rounds)
        self.history_rounds = n
        self.targets: dict[str, TargetHistory] = {}
        # PingRound.target carries the configured name or address: accept either.
        self._lookup: dict[str, TargetHistory] = {}
        for tc in config.targets:
            self._add_target(tc)
        self.interfaces: dict[str, InterfaceHistory] = {}
        self.rounds_seen = 0
        self.events: deque[Event] = deque(maxlen=100)  # the latest alerts, newest last

    def _add_target(self, tc: TargetConfig) -> TargetHistory:
        h = TargetHistory(tc.address, tc.label, self.history_rounds)
        if tc.name:
            h.address = tc.address
        self.targets[tc.address] = h
        self._lookup[tc.address] = h
        self._lookup.setdefault(tc.label, h)
        return h

    def ingest(self, records: Iterable[Record]) -> Changes:
        targets: set[str] = set()
        ifaces: set[str] = set()
        new_ifaces = False
        events: list[Event] = []
        for rec in records:
            if isinstance(rec, PingRound):
                h = self._lookup.get(rec.target)
                if h is None:  # a target not in the config (should not happen): show it anyway
                    h = self._add_target(TargetConfig(address=rec.target))
                h.add(rec)
                targets.add(h.key)
                self.rounds_seen += 1
            elif isinstance(rec, BandwidthSample):
                ih = self.interfaces.get(rec.interface)
                if ih is None:
                    ih = self.interfaces[rec.interface] = InterfaceHistory(rec.interface, self.history_rounds)
                    new_ifaces = True
                ih.add(rec)
                ifaces.add(rec.interface)
            elif isinstance(rec, Event):
                events.append(rec)
                self.events.append(rec)
                h = self._lookup.get(rec.target)
                if h is not None:
                    if rec.level in (WARN, CRIT):
                        h.alerts[rec.kind] = rec.level
                    else:
                        h.alerts.pop(rec.kind, None)
                    targets.add(h.key)
        return Changes(frozenset(targets), frozenset(ifaces), new_ifaces, tuple(events))

    def reset_stats(self) -> None:
        for h in self.targets.values():
            h.reset()
        for ih in self.interfaces.values():
            ih.reset()


# --- formatting helpers shared by the panels -------------------------------------------------
BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float | None], width: int, *, lo: float | None = None, hi: float | None = None) -> str:
    """The last `width` values as block characters; None (no reply) shows as '·'."""
    if width <= 0:
        return ""
    tail = values[-width:]
    nums = [v for v in tail if v is not None and math.isfinite(v)]
    if not nums:
        return "·" * len(tail)
    low = min(nums) if lo is None else lo
    high = max(nums) if hi is None else hi
    span = high - low
    top = len(BLOCKS) - 1
    out = []
    for v in tail:
        if v is None or not math.isfinite(v):
            out.append("·")
        elif span <= 0:
            out.append(BLOCKS[0])
        else:
            out.append(BLOCKS[max(0, min(top, round((v - low) / span * top)))])
    return "".join(out)


def fmt_ms(v: float | None) -> str:
    if v is None:
        return "-"
    if v < 10:
        return f"{v:.2f}"
    if v < 100:
        return f"{v:.1f}"
    return f"{v:.0f}"


def fmt_mbps(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if v < 100 else f"{v:.0f}"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover
