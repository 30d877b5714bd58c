"""What the ICMP and TCP engines share: the send schedule and the per-target outcome."""

from __future__ import annotations

import contextlib
import functools
import resource
import socket
from dataclasses import dataclass

from qostui.records import ProbeState

__all__ = ["Outcome", "Schedule", "raise_fd_limit", "sockaddr"]

MAX_GAP_NS = 1_000_000  # never pace targets more than 1 ms apart inside one tick


@dataclass
class Outcome:
    """Per-target result of one round, filled in by an engine."""

    rtts_ms: list[float | None]  # per probe, send order; None = lost (or refused / unreachable)
    sent: int = 0  # probes the kernel accepted
    unreachable: int = 0  # probes refused with no route / answered by destination-unreachable
    error: str = ""  # first problem seen, for PingRound.error
    error_state: ProbeState | None = None  # the state to report if no probe was answered

    @property
    def received(self) -> int:
        return sum(r is not None for r in self.rtts_ms)

    def fail(self, state: ProbeState, message: str) -> None:
        if self.error_state is None or (self.error_state is ProbeState.ERROR and state is ProbeState.NO_ROUTE):
            self.error_state = state
            self.error = message


class Schedule:
    """When probe i of target j is due, relative to the round's start (nanoseconds).

    Probe i of every target belongs to tick i (ticks are `spacing` apart). Inside a tick the targets are
    staggered `gap` apart instead of sent in one burst: gap = min(min(spacing, timeout) / 2 / N, 1 ms),
    so the N sends of a tick take at most half a spacing, and each target still sees exactly `spacing`
    between its own probes. Sends happen in (tick, target) order, which is also time order.
    """

    def __init__(self, n_targets: int, count: int, spacing_ms: float, timeout_ms: float) -> None:
        self.n = n_targets
        self.count = count
        self.total = n_targets * count
        self.spacing_ns = int(spacing_ms * 1e6)
        self.timeout_ns = int(timeout_ms * 1e6)
        window_ns = min(self.spacing_ns, self.timeout_ns) / 2
        self.gap_ns = int(min(window_ns / n_targets, MAX_GAP_NS)) if n_targets else 0

    def target_probe(self, s: int) -> tuple[int, int]:
        """Send number s -> (target index j, probe index i)."""
        i, j = divmod(s, self.n)
        return j, i

    def due_ns(self, s: int) -> int:
        i, j = divmod(s, self.n)
        return i * self.spacing_ns + j * self.gap_ns


def raise_fd_limit(needed: int) -> None:
    """Raise the soft RLIMIT_NOFILE towards the hard limit when `needed` descriptors may be open."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed + 64
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        if new > soft:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def address_text(addr: tuple) -> str:
    """The IP of a sockaddr as text, without an IPv6 scope (fe80::1%eth0 -> fe80::1)."""
    return str(addr[0]).split("%", 1)[0]


@functools.lru_cache(maxsize=65536)
def sockaddr(family: int, address: str, port: int) -> tuple[tuple, bytes]:
    """(sockaddr for sendto/connect, packed address) of an IP literal; keeps an IPv6 scope (fe80::1%eth0).

    Raises OSError (socket.gaierror) for an address the system cannot use.
    """
    info = socket.getaddrinfo(address, port, family, socket.SOCK_DGRAM, 0, socket.AI_NUMERICHOST)
    addr = info[0][4]
    return addr, socket.inet_pton(family, address_text(addr))


def split_valid(jobs, outcomes: list[Outcome], port_of=lambda job: 0) -> tuple[list[int], list[tuple], list[bytes]]:
    """Indices of jobs with usable addresses, their sockaddrs and packed addresses; marks the rest ERROR."""
    keep, dests, packed = [], [], []
    for idx, job in enumerate(jobs):
        try:
            dest, pk = sockaddr(job.family, job.address, port_of(job))
        except OSError as exc:
            outcomes[idx].fail(ProbeState.ERROR, f"unusable address {job.address!r}: {exc}")
            continue
        keep.append(idx)
        dests.append(dest)
        packed.append(pk)
    return keep, dests, packed
