"""Immutable sample records: what probes produce and every consumer reads.

Units live in field names. Timestamps (`ts`) are UTC epoch seconds (float).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ProbeState(str, Enum):
    """Outcome of one round towards one target. Only OK rounds carry loss statistics."""

    OK = "ok"  # probes were sent; loss_pct says how many came back (100% loss is still OK-state)
    NO_ROUTE = "no_route"  # the kernel refused to send: network or host unreachable
    UNRESOLVED = "unresolved"  # the name does not resolve
    NO_PERMISSION = "no_permission"  # ICMP sockets not allowed and no fallback
    ERROR = "error"  # anything else; see PingRound.error


@dataclass(frozen=True, slots=True)
class PingRound:
    """One round of `sent` echo requests (or TCP connects) to one target."""

    ts: float
    target: str  # the name the user configured (hostname or address)
    address: str  # the resolved address probed, "" when unresolved
    probe: str  # "icmp" | "tcp"
    state: ProbeState
    sent: int
    received: int
    loss_pct: float
    rtt_min_ms: float | None = None
    rtt_avg_ms: float | None = None
    rtt_max_ms: float | None = None
    rtt_mdev_ms: float | None = None
    rtt_p50_ms: float | None = None
    rtt_p95_ms: float | None = None
    jitter_ms: float | None = None
    mos: float | None = None
    # Per-probe RTTs in send order; None marks a lost probe.
    rtts_ms: tuple[float | None, ...] = ()
    error: str = ""


@dataclass(frozen=True, slots=True)
class BandwidthSample:
    """Throughput of one interface over the interval ending at `ts` (SI: 1 Mbps = 1e6 bit/s)."""

    ts: float
    interface: str
    rx_mbps: float
    tx_mbps: float
    interval_s: float


@dataclass(frozen=True, slots=True)
class Forecast:
    """One predicted step: bandwidth expected at `ts`, made at `made_at` by `model`."""

    made_at: float
    ts: float
    step: int  # 1..horizon
    model: str
    predicted_mbps: float
    # Prediction interval bounds (80% and 95%); None where no calibrated interval exists.
    predicted_lo_mbps: float | None = None
    predicted_hi_mbps: float | None = None
    predicted_lo95_mbps: float | None = None
    predicted_hi95_mbps: float | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """An alert raised or cleared, or another notable happening."""

    ts: float
    kind: str  # "latency" | "jitter" | "loss" | "mos" | "bandwidth" | ...
    target: str
    level: str  # "ok" | "warn" | "crit"
    message: str


@dataclass(frozen=True, slots=True)
class PathHop:
    """One hop of the path to a target over one path round (`sent` probes with this TTL).

    `hop_address` is the address that answered most often ("" when none did), `addresses` every
    one that answered (several on load-balanced paths). RTTs over the received probes; jitter is
    the mean absolute difference of consecutive RTTs. `verdict`: "" (no loss or no reply at all),
    "not forwarding loss" (this hop drops or rate-limits its own replies; later hops lose nothing)
    or "loss from hop k" (loss that starts at hop k and continues to the destination).
    """

    ts: float
    target: str  # the configured name
    address: str  # the target's address traced
    hop: int  # 1-based TTL / hop limit
    hop_address: str
    addresses: tuple[str, ...]
    sent: int
    received: int
    loss_pct: float
    rtt_last_ms: float | None = None
    rtt_avg_ms: float | None = None
    rtt_best_ms: float | None = None
    rtt_worst_ms: float | None = None
    rtt_stdev_ms: float | None = None
    jitter_ms: float | None = None
    reached: bool = False  # this hop is the target (its echo reply, not time-exceeded)
    verdict: str = ""


Record = PingRound | BandwidthSample | Forecast | Event | PathHop
