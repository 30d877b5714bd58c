"""TCP connect probe: for targets that cannot be pinged (no ICMP permission, ICMP filtered).

Each probe is a non-blocking connect() to (address, port), timed from connect() to writability.
A completed handshake or a refused connection (RST) both mean the host answered; a timeout is a
loss; EHOSTUNREACH / ENETUNREACH mean no route. When the handshake completed, the kernel's own
RTT sample of the SYN -> SYN-ACK exchange (TCP_INFO tcpi_rtt, microseconds) is used instead of the
user-space time, which includes the event-loop wake-up. Sockets close with SO_LINGER 0 (an RST),
so thousands of probes per round leave no TIME_WAIT behind.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import struct
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from qostui.probes.common import Outcome, Schedule, raise_fd_limit, split_valid
from qostui.records import ProbeState

__all__ = ["TcpEngine", "TcpJob"]

NO_ROUTE_ERRNOS = (errno.ENETUNREACH, errno.EHOSTUNREACH)
ANSWERED_ERRNOS = (0, errno.ECONNREFUSED)
_LINGER_RST = struct.pack("ii", 1, 0)
_TCP_INFO = getattr(socket, "TCP_INFO", 11)
_TCPI_RTT_OFFSET = 68  # struct tcp_info: 8 bytes of u8 fields, then u32s; tcpi_rtt is the 16th


@dataclass(frozen=True, slots=True)
class TcpJob:
    family: int
    address: str
    port: int


def kernel_rtt_ns(sock: socket.socket) -> int:
    """The kernel's smoothed RTT (after one handshake: the SYN -> SYN-ACK sample), 0 if unknown."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 104)
    except OSError:
        return 0
    if len(info) < _TCPI_RTT_OFFSET + 4:
        return 0
    return struct.unpack_from("=I", info, _TCPI_RTT_OFFSET)[0] * 1000


class TcpEngine:
    """Runs rounds of TCP connects to many targets concurrently with one selector."""

    def __init__(self, *, use_kernel_rtt: bool = True) -> None:
        self.use_kernel_rtt = use_kernel_rtt

    def close(self) -> None:
        pass

    def ping(
        self, jobs: Sequence[TcpJob], *, count: int, spacing_ms: float, timeout_ms: float
    ) -> list[Outcome]:
        all_outcomes = [Outcome(rtts_ms=[None] * count) for _ in jobs]
        keep, dests, _packed = split_valid(jobs, all_outcomes, lambda job: job.port)
        if not keep:
            return all_outcomes
        jobs = [jobs[idx] for idx in keep]
        outcomes = [all_outcomes[idx] for idx in keep]  # the same objects: filled in place
        n = len(jobs)
        sched = Schedule(n, count, spacing_ms, timeout_ms)
        in_flight_max = n * min(count, 1 + int(timeout_ms // max(spacing_ms, 1e-3)))
        raise_fd_limit(in_flight_max)
        timeout_ns = sched.timeout_ns
        sel = selectors.DefaultSelector()
        expiry: deque[tuple[int, socket.socket]] = deque()
        open_socks: dict[int, tuple[socket.socket, int, int, int]] = {}  # fd -> (sock, j, i, mono_ns)

        def finish(sock: socket.socket) -> None:
            fd = sock.fileno()
            if fd in open_socks:
                del open_socks[fd]
                with contextlib.suppress(KeyError, ValueError):
                    sel.unregister(sock)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            sock.close()

        def record(j: int, i: int, err: int, rtt_ns: int) -> None:
            out = outcomes[j]
            job = jobs[j]
            if err in ANSWERED_ERRNOS:
                if rtt_ns <= timeout_ns:
                    out.rtts_ms[i] = rtt_ns / 1e6
            elif err in NO_ROUTE_ERRNOS:
                out.unreachable += 1
                out.fail(ProbeState.NO_ROUTE, f"no route to {job.address}: {errno.errorcode.get(err, err)}")
            elif err == errno.ETIMEDOUT:
                pass
            else:
                out.fail(
                    ProbeState.ERROR,
                    f"connect to {job.address} port {job.port}: {errno.errorcode.get(err, str(err))}",
                )

        def completed(sock: socket.socket, j: int, i: int, mono_ns: int) -> None:
            now = time.monotonic_ns()
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            rtt = now - mono_ns
            if err == 0 and self.use_kernel_rtt:
                krtt = kernel_rtt_ns(sock)
                if 0 < krtt <= rtt:
                    rtt = krtt
            record(j, i, err, rtt)
            finish(sock)

        t0 = time.monotonic_ns()
        s = 0
        total = sched.total
        try:
            while True:
                now = time.monotonic_ns()
                while s < total and t0 + sched.due_ns(s) <= now:
                    i, j = divmod(s, n)
                    s += 1
                    job = jobs[j]
                    try:
                        sock = socket.socket(job.family, socket.SOCK_STREAM)
                    except OSError as exc:
                        outcomes[j].fail(ProbeState.ERROR, f"cannot open a TCP socket: {exc.strerror}")
                        continue
                    sock.setblocking(False)
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    mono_ns = time.monotonic_ns()
                    err = sock.connect_ex(dests[j])
                    outcomes[j].sent += 1
                    if err in (errno.EINPROGRESS, errno.EAGAIN, errno.EALREADY):
                        open_socks[sock.fileno()] = (sock, j, i, mono_ns)
                        sel.register(sock, selectors.EVENT_WRITE, (j, i, mono_ns))
                        expiry.append((mono_ns + timeout_ns, sock))
                    else:
                        record(j, i, err, time.monotonic_ns() - mono_ns)
                        if err in NO_ROUTE_ERRNOS:
                            outcomes[j].sent -= 1  # the kernel refused to send it
                        finish(sock)
                now = time.monotonic_ns()
                while expiry and expiry[0][0] <= now:
                    _deadline, sock = expiry.popleft()
                    if sock.fileno() in open_socks:
                        finish(sock)  # timed out: lost
                if s >= total and not open_socks:
                    break
                wake = expiry[0][0] if expiry else now
                if s < total:
                    wake = min(wake, t0 + sched.due_ns(s))
                if not open_socks:
                    if wake > now:
                        time.sleep((wake - now) / 1e9)
                    continue
                for key, _ev in sel.select(max(0.0, (wake - now) / 1e9)):
                    j, i, mono_ns = key.data
                    completed(key.fileobj, j, i, mono_ns)  # type: ignore[arg-type]
        finally:
            for sock, *_ in list(open_socks.values()):
                finish(sock)
            sel.close()
        return all_outcomes
