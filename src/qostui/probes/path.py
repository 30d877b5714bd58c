"""Hop-by-hop path probing (mtr / trippy style): ICMP echo requests with increasing TTL / hop limit.

A *pass* sends one echo request per TTL 1..limit, all at once; passes start `gap_ms` apart and
overlap (each probe has its own timeout), like mtr. A router on the way answers the probe whose
TTL runs out there with time-exceeded (ICMP type 11, ICMPv6 type 3) quoting our request's IP
header and the first bytes of the echo request; the probe is found by the (identifier, sequence)
and destination in that quote. The target answers with an echo reply; the smallest TTL it
answered is the destination hop, and later passes stop there (limit = that hop). If a router
answers at or beyond the destination hop (the path got longer), the next pass goes to max_ttl
again.

Flow identity (Paris traceroute): load balancers hash on the ICMP identifier and checksum, so both
stay constant across TTLs and passes: the identifier is fixed per engine and two payload bytes
compensate the changing sequence number (seq + (seq ^ 0xFFFF) = 0xFFFF in one's complement), so
the checksum never changes.

Sockets come from the ICMP engine (probes/icmp.py): raw as root (its kernel filter here also
passes time-exceeded), else an unprivileged datagram ICMP socket, which gets time-exceeded through
the error queue (IP_RECVERR / IPV6_RECVERR, the offender's address in SO_EE_OFFENDER). Without
either, IcmpPermissionError carries the same three fixes as for ping. Receive times are the
kernel's SO_TIMESTAMPNS stamps where available, as in the ping engine.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from qostui.probes.common import sockaddr
from qostui.probes.icmp import (
    _ECHO_HDR,
    _TIMESPEC,
    IP_RECVERR,
    IPV6_RECVERR,
    MSG_ERRQUEUE,
    NO_ROUTE_ERRNOS,
    SO_EE_ORIGIN_ICMP,
    SO_EE_ORIGIN_ICMP6,
    SO_TIMESTAMPNS,
    _FamilySocket,
    checksum,
)

__all__ = ["PathEngine", "PathTrace", "Sample", "echo_packet", "path_engine"]

V4_TIME_EXCEEDED, V6_TIME_EXCEEDED = 11, 3
_IPV6_UNICAST_HOPS = getattr(socket, "IPV6_UNICAST_HOPS", 16)
_ANC_SPACE = socket.CMSG_SPACE(512) + socket.CMSG_SPACE(_TIMESPEC.size)
_EE = struct.Struct("=IBBBBII")  # struct sock_extended_err
_MAGIC = b"QPTH"  # payload marker after the compensation word: rejects foreign echo requests


@dataclass(frozen=True, slots=True)
class Sample:
    """One probe: which pass, who answered ("" = nobody) and the RTT (None = lost)."""

    pass_index: int
    responder: str
    rtt_ms: float | None
    reached: bool = False  # an echo reply from the target (or its unreachable), not time-exceeded


@dataclass
class PathTrace:
    """Everything one trace saw: samples per TTL, and the destination hop once known."""

    address: str
    family: int
    max_ttl: int
    samples: dict[int, list[Sample]] = field(default_factory=dict)
    dest_hop: int | None = None  # smallest TTL the target answered
    passes: int = 0
    kind: str = ""  # socket kind used: "raw" | "dgram"
    error: str = ""  # the first send failure (no route, ...), "" when every probe went out

    def add(self, ttl: int, sample: Sample) -> None:
        self.samples.setdefault(ttl, []).append(sample)

    def hop_count(self) -> int:
        """Hops to report: up to the destination, else up to the last TTL anybody answered."""
        if self.dest_hop is not None:
            return self.dest_hop
        answered = [ttl for ttl, got in self.samples.items() if any(s.responder for s in got)]
        return max(answered, default=0)


class _Probe:
    __slots__ = ("pass_index", "ttl", "real_ns", "mono_ns")

    def __init__(self, pass_index: int, ttl: int, real_ns: int, mono_ns: int) -> None:
        self.pass_index = pass_index
        self.ttl = ttl
        self.real_ns = real_ns
        self.mono_ns = mono_ns


class PathEngine:
    """Traces the path to one address at a time. mode: "auto" (raw, else dgram), "raw" or "dgram"."""

    def __init__(self, mode: str = "auto") -> None:
        if mode not in ("auto", "raw", "dgram"):
            raise ValueError(f"mode must be auto, raw or dgram, got {mode!r}")
        self.mode = mode
        self._socks: dict[int, _FamilySocket] = {}
        self._ident = int.from_bytes(os.urandom(2), "big")
        self._seq = int.from_bytes(os.urandom(2), "big")

    def socket_for(self, family: int) -> _FamilySocket:
        """The family's socket (opened once). Raises IcmpPermissionError when ICMP is not allowed."""
        fs = self._socks.get(family)
        if fs is None:
            extra = (V6_TIME_EXCEEDED,) if family == socket.AF_INET6 else (V4_TIME_EXCEEDED,)
            fs = self._socks[family] = _FamilySocket(family, self.mode, extra_types=extra)
        return fs

    def close(self) -> None:
        for fs in self._socks.values():
            fs.close()
        self._socks.clear()

    # --- one trace ------------------------------------------------------------------------------
    def trace(
        self,
        address: str,
        family: int,
        *,
        passes: int = 1,
        gap_ms: float = 100.0,
        timeout_ms: float = 1000.0,
        max_ttl: int = 30,
        payload_bytes: int = 56,
        on_pass: Callable[[PathTrace], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> PathTrace:
        """Send `passes` passes `gap_ms` apart; returns when every probe is answered or timed out.

        on_pass(trace) is called (from this thread) each time another pass is complete.
        """
        fs = self.socket_for(family)
        dest, packed = sockaddr(family, address, 0)
        trace = PathTrace(address, family, max_ttl, kind=fs.kind)
        v6 = fs.v6
        ttl_opt = (socket.IPPROTO_IPV6, _IPV6_UNICAST_HOPS) if v6 else (socket.IPPROTO_IP, socket.IP_TTL)
        time_exceeded = V6_TIME_EXCEEDED if v6 else V4_TIME_EXCEEDED
        # at least the compensation word and the marker
        pad = bytes((0x40 + x) & 0xFF for x in range(max(0, payload_bytes - 2 - len(_MAGIC))))
        timeout_ns = int(timeout_ms * 1e6)
        pending: dict[int, _Probe] = {}  # seq -> probe (the identifier is constant)
        expiry: deque[tuple[int, int, _Probe]] = deque()
        outstanding = [0] * passes  # probes of each pass not yet answered or expired
        done_passes = 0
        self._drain(fs)
        fs.grow_rcvbuf(max_ttl * passes * 2048)

        def finish(probe: _Probe) -> None:
            nonlocal done_passes
            outstanding[probe.pass_index] -= 1
            if outstanding[probe.pass_index] == 0:
                done_passes += 1
                trace.passes = done_passes
                if on_pass is not None:
                    on_pass(trace)

        def answered(seq: int, responder: str, kts: int, mono: int, reached: bool) -> None:
            probe = pending.pop(seq, None)
            if probe is None:
                return
            rtt_user = mono - probe.mono_ns
            rtt = kts - probe.real_ns if kts else rtt_user
            if not 0 <= rtt <= rtt_user + 1_000_000:  # wall clock stepped: trust the monotonic one
                rtt = rtt_user
            if rtt > timeout_ns:
                trace.add(probe.ttl, Sample(probe.pass_index, "", None))
            else:
                trace.add(probe.ttl, Sample(probe.pass_index, responder, rtt / 1e6, reached))
                if reached:
                    if trace.dest_hop is None or probe.ttl < trace.dest_hop:
                        trace.dest_hop = probe.ttl
                elif trace.dest_hop is not None and probe.ttl >= trace.dest_hop:
                    trace.dest_hop = None  # a router answers where the target did: the path got longer
            finish(probe)

        def stamp(anc: list) -> int:
            for level, ctype, cdata in anc:
                if level == socket.SOL_SOCKET and ctype == SO_TIMESTAMPNS and len(cdata) >= _TIMESPEC.size:
                    sec, nsec = _TIMESPEC.unpack_from(cdata)
                    return sec * 1_000_000_000 + nsec
            return 0

        def quoted(data: bytes, start: int) -> int | None:
            """Sequence of our echo request quoted in an ICMP error starting at `start`, or None."""
            try:
                if v6:
                    if data[start + 6] != socket.IPPROTO_ICMPV6 or data[start + 24 : start + 40] != packed:
                        return None
                    req = start + 40
                else:
                    ihl = (data[start] & 0x0F) * 4
                    if data[start + 16 : start + 20] != packed:
                        return None
                    req = start + ihl
                req_type, _c, _ck, ident, seq = _ECHO_HDR.unpack_from(data, req)
            except (IndexError, struct.error):
                return None
            if req_type != fs.echo_request or (fs.raw and ident != self._ident):
                return None
            return seq

        def receive() -> None:
            while True:
                try:
                    data, anc, _flags, addr = fs.sock.recvmsg(4096, _ANC_SPACE)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    if not fs.raw and read_errqueue():
                        continue
                    return
                mono = time.monotonic_ns()
                kts = stamp(anc)
                off = (data[0] & 0x0F) * 4 if fs.raw and not v6 and data else 0
                if len(data) < off + 8:
                    continue
                icmp_type = data[off]
                src = str(addr[0]).split("%", 1)[0] if addr else ""
                if icmp_type == fs.echo_reply:
                    _t, _c, _ck, ident, seq = _ECHO_HDR.unpack_from(data, off)
                    if fs.raw and ident != self._ident:
                        continue
                    if data[off + 10 : off + 10 + len(_MAGIC)] != _MAGIC:
                        continue
                    try:
                        if socket.inet_pton(family, src) != packed:
                            continue
                    except OSError:
                        continue
                    answered(seq, src, kts, mono, True)
                elif fs.raw and icmp_type in (time_exceeded, fs.unreach):
                    seq = quoted(data, off + 8)
                    if seq is not None:
                        answered(seq, src, kts, mono, icmp_type == fs.unreach)

        def read_errqueue() -> bool:
            got = False
            while True:
                try:
                    data, anc, _flags, _addr = fs.sock.recvmsg(4096, _ANC_SPACE, MSG_ERRQUEUE)
                except (BlockingIOError, InterruptedError, OSError):
                    return got
                got = True
                mono = time.monotonic_ns()
                ee = None
                offender = ""
                for level, ctype, cdata in anc:
                    if (level, ctype) in ((socket.IPPROTO_IP, IP_RECVERR), (socket.IPPROTO_IPV6, IPV6_RECVERR)):
                        ee = _EE.unpack_from(cdata)
                        offender = _offender(cdata[_EE.size :])
                if ee is None or len(data) < 8:
                    continue
                _errno, origin, ee_type, _code = ee[0], ee[1], ee[2], ee[3]
                if origin not in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6):
                    continue
                _t, _c, _ck, _ident, seq = _ECHO_HDR.unpack_from(data, 0)
                if ee_type == time_exceeded:
                    answered(seq, offender, stamp(anc), mono, False)
                elif ee_type == fs.unreach:
                    answered(seq, offender, stamp(anc), mono, True)

        def expire(now: int) -> None:
            while expiry and expiry[0][0] <= now:
                _deadline, seq, probe = expiry.popleft()
                if pending.get(seq) is probe:
                    del pending[seq]
                    trace.add(probe.ttl, Sample(probe.pass_index, "", None))
                    finish(probe)

        poller = select.poll()
        poller.register(fs.sock.fileno(), select.POLLIN | select.POLLERR)
        gap_ns = int(gap_ms * 1e6)
        t0 = time.monotonic_ns()
        sent_count = 0  # passes sent so far
        try:
            while True:
                now = time.monotonic_ns()
                if sent_count < passes and now >= t0 + sent_count * gap_ns and not (should_stop and should_stop()):
                    p = sent_count
                    limit = trace.dest_hop if trace.dest_hop is not None else max_ttl
                    outstanding[p] = limit
                    sent_count += 1
                    for ttl in range(1, limit + 1):
                        self._send(fs, dest, ttl, ttl_opt, p, pad, pending, expiry, timeout_ns, trace, finish,
                                   read_errqueue)
                    receive()
                elif should_stop and should_stop() and sent_count < passes:
                    passes = sent_count  # stop sending; what is in flight still completes
                    del outstanding[passes:]
                receive()
                now = time.monotonic_ns()
                expire(now)
                if sent_count >= passes and not pending:
                    break
                wake = expiry[0][0] if expiry else now + 50_000_000
                if sent_count < passes:
                    wake = min(wake, t0 + sent_count * gap_ns)
                if wake > now:
                    for _fd, ev in poller.poll(max(0.0, (wake - now) / 1e6)):
                        if ev & select.POLLERR and not fs.raw:
                            read_errqueue()
        finally:
            poller.unregister(fs.sock.fileno())
        return trace

    def _send(
        self, fs: _FamilySocket, dest: tuple, ttl: int, ttl_opt: tuple[int, int], p: int, pad: bytes,
        pending: dict[int, _Probe], expiry: deque, timeout_ns: int, trace: PathTrace,
        finish: Callable[[_Probe], None], read_errqueue: Callable[[], bool],
    ) -> None:
        self._seq = (self._seq + 1) & 0xFFFF
        seq = self._seq
        # the kernel fills ICMPv6 and datagram-socket checksums
        pkt = echo_packet(fs.echo_request, self._ident, seq, pad, with_checksum=fs.raw and not fs.v6)
        fs.sock.setsockopt(*ttl_opt, ttl)
        probe = _Probe(p, ttl, 0, 0)
        for _attempt in range(3):
            probe.mono_ns = time.monotonic_ns()
            probe.real_ns = time.time_ns()
            try:
                fs.sock.sendto(pkt, dest)
                break
            except (BlockingIOError, InterruptedError):
                select.select([], [fs.sock], [], 0.05)
            except OSError as exc:
                # a dgram socket reports a queued ICMP error on the next call: read it, send again
                if not fs.raw and exc.errno in NO_ROUTE_ERRNOS and read_errqueue():
                    continue
                if exc.errno in (*NO_ROUTE_ERRNOS, errno.EACCES, errno.EPERM, errno.EINVAL):
                    if not trace.error:
                        trace.error = f"cannot send to {trace.address}: {exc.strerror or exc}"
                    trace.add(ttl, Sample(p, "", None))
                    finish(probe)
                    return
                raise
        else:
            trace.add(ttl, Sample(p, "", None))
            finish(probe)
            return
        pending[seq] = probe
        expiry.append((probe.mono_ns + timeout_ns, seq, probe))

    @staticmethod
    def _drain(fs: _FamilySocket) -> None:
        """Drop replies left over from an earlier trace."""
        for _ in range(100_000):
            try:
                fs.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                if fs.raw:
                    break
                try:
                    fs.sock.recvmsg(65536, _ANC_SPACE, MSG_ERRQUEUE)
                except OSError:
                    break


def path_engine(protocol: str = "icmp", mode: str = "auto") -> PathEngine:
    """The engine for `path.protocol`: ICMP echo (PathEngine) or UDP (UdpPathEngine, same interface)."""
    if protocol == "udp":
        from qostui.probes.path_udp import UdpPathEngine

        return UdpPathEngine(mode)  # type: ignore[return-value]
    return PathEngine(mode)


def echo_packet(icmp_type: int, ident: int, seq: int, pad: bytes, *, with_checksum: bool) -> bytes:
    """An echo request whose checksum does not depend on seq: the first payload word is seq ^ 0xFFFF."""
    body = struct.pack("!H", seq ^ 0xFFFF) + _MAGIC + pad
    pkt = bytearray(_ECHO_HDR.pack(icmp_type, 0, 0, ident, seq) + body)
    if with_checksum:
        struct.pack_into("=H", pkt, 2, checksum(pkt))
    return bytes(pkt)


def _offender(data: bytes) -> str:
    """The address in SO_EE_OFFENDER (a sockaddr_in / sockaddr_in6 after sock_extended_err)."""
    if len(data) < 8:
        return ""
    fam = struct.unpack_from("=H", data)[0]
    try:
        if fam == socket.AF_INET:
            return socket.inet_ntop(socket.AF_INET, data[4:8])
        if fam == socket.AF_INET6 and len(data) >= 24:
            return socket.inet_ntop(socket.AF_INET6, data[8:24])
    except (OSError, ValueError):
        return ""
    return ""
