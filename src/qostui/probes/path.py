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

The loop of a trace (passes, timeouts, the destination hop, stopping) is TraceRun, shared with the
UDP mode (probes/path_udp.py); each mode supplies only its sockets, packets and reply parsing.

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
from typing import Any

from qostui.probes.common import address_text, sockaddr
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
    V4_UNREACH,
    V6_UNREACH,
    _FamilySocket,
    checksum,
)

__all__ = ["PathEngine", "PathTrace", "Sample", "TraceEngine", "TraceRun", "echo_packet", "kernel_stamp", "path_engine", "read_errqueue"]

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


def kernel_stamp(anc: list) -> int:
    """The SO_TIMESTAMPNS receive time (ns, wall clock) in recvmsg's ancillary data, 0 when absent."""
    for level, ctype, cdata in anc:
        if level == socket.SOL_SOCKET and ctype == SO_TIMESTAMPNS and len(cdata) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(cdata)
            return sec * 1_000_000_000 + nsec
    return 0


SEND_FAILS = (*NO_ROUTE_ERRNOS, errno.EACCES, errno.EPERM, errno.EINVAL)  # the path cannot be probed


def send_probe(
    sock: socket.socket, send: Callable[[], object], trace: PathTrace,
    retry: Callable[[OSError], bool] = lambda exc: False, fails: tuple[int, ...] = SEND_FAILS,
) -> tuple[int, int] | None:
    """Send one probe with `send()`, at most three attempts: a full buffer waits for `sock` to be
    writable, an error `retry` accepts (e.g. it read a queued ICMP error) tries again, an errno in
    `fails` records the reason in `trace.error` and gives up. Returns (real_ns, mono_ns) of the
    attempt that went out, or None."""
    for _attempt in range(3):
        mono_ns, real_ns = time.monotonic_ns(), time.time_ns()
        try:
            send()
            return real_ns, mono_ns
        except (BlockingIOError, InterruptedError):
            select.select([], [sock], [], 0.05)
        except OSError as exc:
            if retry(exc):
                continue
            if exc.errno in fails:
                if not trace.error:
                    trace.error = f"cannot send to {trace.address}: {exc.strerror or exc}"
                return None
            raise
    return None


def quoted_transport(data: bytes, v6: bool, proto: int, packed_dst: bytes, fmt: str) -> tuple[int, tuple[int, ...]] | None:
    """An ICMP error as a raw socket reads it (IPv4 with its IP header): its type and the first
    fields (struct `fmt`) of the transport header it quotes, when that quotes a `proto` packet to
    `packed_dst`; else None. UDP and TCP-SYN paths match their probes by these fields."""
    off = 0 if v6 else (data[0] & 0x0F) * 4
    if len(data) < off + 8:
        return None
    inner = off + 8
    try:
        if v6:
            if data[inner + 6] != proto or data[inner + 24 : inner + 40] != packed_dst:
                return None
            at = inner + 40
        else:
            if data[inner + 9] != proto or data[inner + 16 : inner + 20] != packed_dst:
                return None
            at = inner + (data[inner] & 0x0F) * 4
        return data[off], struct.unpack_from(fmt, data, at)
    except (IndexError, struct.error):
        return None


def read_errqueue(sock: socket.socket) -> tuple[int, list[tuple[bytes, int, str, int]]]:
    """Drain the socket's error queue: (entries read, [(our quoted payload, ICMP type, offender
    address, kernel stamp)] of those an ICMP / ICMPv6 error caused)."""
    count = 0
    out = []
    while True:
        try:
            data, anc, _flags, _addr = sock.recvmsg(4096, _ANC_SPACE, MSG_ERRQUEUE)
        except (BlockingIOError, InterruptedError, OSError):
            return count, out
        count += 1
        ee = None
        offender = ""
        for level, ctype, cdata in anc:
            if (level, ctype) in ((socket.IPPROTO_IP, IP_RECVERR), (socket.IPPROTO_IPV6, IPV6_RECVERR)):
                ee = _EE.unpack_from(cdata)
                offender = _offender(cdata[_EE.size :])
        if ee is not None and ee[1] in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6):
            out.append((data, ee[2], offender, kernel_stamp(anc)))


def drop_waiting(sock: socket.socket) -> None:
    """Drop replies left over from an earlier trace, until the socket has none (or reports an error)."""
    for _ in range(100_000):  # bounded: a flood cannot hold the trace here
        try:
            sock.recv(65536)
        except OSError:
            return


class TraceRun:
    """The loop of one trace, shared by every path mode (ICMP echo below, UDP in path_udp.py, TCP-SYN
    in path_tcp.py).

    Passes of one probe per TTL 1..limit start `gap_ms` apart and overlap; each probe has its own
    timeout; the smallest TTL the target answered is the destination hop and later passes stop
    there. A mode subclass supplies only its sockets and packets: `fds`, `send`, `receive`,
    `poll_error` and `close`, and reports each reply with `answered(key, ...)`, key being what
    `send` returned to identify the probe. The family's TTL option and time-exceeded type, the packed
    target (`packed`) and `from_target()` are set here for all of them.
    """

    def __init__(self, trace: PathTrace, *, passes: int, gap_ms: float, timeout_ms: float,
                 on_pass: Callable[[PathTrace], None] | None, should_stop: Callable[[], bool] | None) -> None:
        self.trace = trace
        self.passes = passes
        self.gap_ns = int(gap_ms * 1e6)
        self.timeout_ns = int(timeout_ms * 1e6)
        self.on_pass = on_pass
        self.should_stop = should_stop
        self.pending: dict[int, _Probe] = {}  # key -> probe
        self.expiry: deque[tuple[int, int, _Probe]] = deque()
        self.outstanding = [0] * passes  # probes of each pass not yet answered or expired
        self.done_passes = 0
        # what every mode needs of the family and the target
        self.v6 = v6 = trace.family == socket.AF_INET6
        self.ttl_opt = (socket.IPPROTO_IPV6, _IPV6_UNICAST_HOPS) if v6 else (socket.IPPROTO_IP, socket.IP_TTL)
        self.time_exceeded = V6_TIME_EXCEEDED if v6 else V4_TIME_EXCEEDED
        self.unreach = V6_UNREACH if v6 else V4_UNREACH
        self.packed = sockaddr(trace.family, trace.address, 0)[1]  # the target, as replies quote it

    # --- the mode's parts ------------------------------------------------------------------------
    def fds(self) -> list[tuple[int, int]]:
        """(file descriptor, poll events) to wait on."""
        raise NotImplementedError

    def send(self, ttl: int) -> tuple[int, int, int] | None:
        """Send one probe: (key, wall-clock ns, monotonic ns) at sending, or None when it could not
        go out (counted lost; the mode sets trace.error when the reason should be told)."""
        raise NotImplementedError

    def receive(self) -> None:
        """Read every reply waiting (without blocking) and call answered() for ours."""
        raise NotImplementedError

    def poll_error(self) -> None:
        """poll() said POLLERR on one of fds()."""

    def close(self) -> None:
        """After the trace (also on an exception)."""

    # --- for the modes' reply parsing -------------------------------------------------------------
    def from_target(self, source: str) -> bool:
        """A reply's source address (text) is the traced target itself."""
        try:
            return socket.inet_pton(self.trace.family, source) == self.packed
        except OSError:
            return False

    def read_quoted_errors(self, sock: socket.socket, proto: int, fmt: str, sport: int, dport: int) -> None:
        """Read a raw ICMP socket's time-exceeded and unreachable messages that quote one of our UDP or
        TCP probes (`fmt`: the quoted header from its ports to the probe's key, the last field) and
        answer them. An unreachable (port closed, administratively prohibited) ends the path there."""
        while True:
            try:
                data, anc, _f, addr = sock.recvmsg(4096, _ANC_SPACE)
            except OSError:  # nothing waiting (BlockingIOError), or an error: read again next time
                return
            mono = time.monotonic_ns()
            quote = quoted_transport(data, self.v6, proto, self.packed, fmt)
            if quote is None:
                continue
            icmp_type, fields = quote
            reached = icmp_type == self.unreach
            if icmp_type != self.time_exceeded and not reached:
                continue
            if fields[0] != sport or fields[1] != dport:
                continue
            self.answered(fields[-1], address_text(addr), kernel_stamp(anc), mono, reached)

    # --- the shared loop -------------------------------------------------------------------------
    def finish(self, probe: _Probe) -> None:
        self.outstanding[probe.pass_index] -= 1
        if self.outstanding[probe.pass_index] == 0:
            self.done_passes += 1
            self.trace.passes = self.done_passes
            if self.on_pass is not None:
                self.on_pass(self.trace)

    def answered(self, key: int, responder: str, kts: int, mono: int, reached: bool) -> None:
        """A reply to probe `key` from `responder`, received at kernel stamp kts (0: none) / mono."""
        probe = self.pending.pop(key, None)
        if probe is None:
            return
        trace = self.trace
        rtt_user = mono - probe.mono_ns
        rtt = kts - probe.real_ns if kts else rtt_user
        if not 0 <= rtt <= rtt_user + 1_000_000:  # wall clock stepped: trust the monotonic one
            rtt = rtt_user
        if rtt > self.timeout_ns:
            trace.add(probe.ttl, Sample(probe.pass_index, "", None))
        else:
            trace.add(probe.ttl, Sample(probe.pass_index, responder, rtt / 1e6, reached))
            if reached:
                if trace.dest_hop is None or probe.ttl < trace.dest_hop:
                    trace.dest_hop = probe.ttl
            elif trace.dest_hop is not None and probe.ttl >= trace.dest_hop:
                trace.dest_hop = None  # a router answers where the target did: the path got longer
        self.finish(probe)

    def _send_pass(self, p: int) -> None:
        trace = self.trace
        limit = trace.dest_hop if trace.dest_hop is not None else trace.max_ttl
        self.outstanding[p] = limit
        for ttl in range(1, limit + 1):
            sent = self.send(ttl)
            if sent is None:
                trace.add(ttl, Sample(p, "", None))
                self.finish(_Probe(p, ttl, 0, 0))
                continue
            key, real_ns, mono_ns = sent
            probe = self.pending[key] = _Probe(p, ttl, real_ns, mono_ns)
            self.expiry.append((mono_ns + self.timeout_ns, key, probe))

    def _expire(self, now: int) -> None:
        while self.expiry and self.expiry[0][0] <= now:
            _deadline, key, probe = self.expiry.popleft()
            if self.pending.get(key) is probe:
                del self.pending[key]
                self.trace.add(probe.ttl, Sample(probe.pass_index, "", None))
                self.finish(probe)

    def run(self) -> PathTrace:
        """Send the passes; returns when every probe is answered or timed out."""
        should_stop = self.should_stop
        poller = select.poll()
        fds = self.fds()
        for fd, events in fds:
            poller.register(fd, events)
        t0 = time.monotonic_ns()
        sent_count = 0  # passes sent so far
        try:
            while True:
                now = time.monotonic_ns()
                if (sent_count < self.passes and now >= t0 + sent_count * self.gap_ns
                        and not (should_stop and should_stop())):
                    sent_count += 1
                    self._send_pass(sent_count - 1)
                    self.receive()
                elif should_stop and should_stop() and sent_count < self.passes:
                    self.passes = sent_count  # stop sending; what is in flight still completes
                    del self.outstanding[sent_count:]
                self.receive()
                now = time.monotonic_ns()
                self._expire(now)
                if sent_count >= self.passes and not self.pending:
                    break
                wake = self.expiry[0][0] if self.expiry else now + 50_000_000
                if sent_count < self.passes:
                    wake = min(wake, t0 + sent_count * self.gap_ns)
                if wake > now:
                    for _fd, ev in poller.poll(max(0.0, (wake - now) / 1e6)):
                        if ev & select.POLLERR:
                            self.poll_error()
        finally:
            for fd, _events in fds:
                poller.unregister(fd)
            self.close()
        return self.trace


class _IcmpRun(TraceRun):
    """ICMP echo requests: the probe's key is its sequence number (the identifier is constant)."""

    def __init__(self, engine: PathEngine, fs: _FamilySocket, trace: PathTrace, payload_bytes: int,
                 **loop: Any) -> None:
        super().__init__(trace, **loop)
        self.engine = engine
        self.fs = fs
        self.dest = sockaddr(trace.family, trace.address, 0)[0]
        # at least the compensation word and the marker
        self.pad = bytes((0x40 + x) & 0xFF for x in range(max(0, payload_bytes - 2 - len(_MAGIC))))
        engine._drain(fs)
        fs.grow_rcvbuf(trace.max_ttl * self.passes * 2048)

    def fds(self) -> list[tuple[int, int]]:
        return [(self.fs.sock.fileno(), select.POLLIN | select.POLLERR)]

    def poll_error(self) -> None:
        if not self.fs.raw:
            self.read_errqueue()

    def send(self, ttl: int) -> tuple[int, int, int] | None:
        fs, engine = self.fs, self.engine
        engine._seq = (engine._seq + 1) & 0xFFFF
        seq = engine._seq
        # the kernel fills ICMPv6 and datagram-socket checksums
        pkt = echo_packet(fs.echo_request, engine._ident, seq, self.pad, with_checksum=fs.raw and not fs.v6)
        fs.sock.setsockopt(*self.ttl_opt, ttl)
        # a dgram socket reports a queued ICMP error on the next call: read it, send again
        sent = send_probe(fs.sock, lambda: fs.sock.sendto(pkt, self.dest), self.trace,
                          retry=lambda exc: not fs.raw and exc.errno in NO_ROUTE_ERRNOS and bool(self.read_errqueue()))  # fmt: skip
        return None if sent is None else (seq, *sent)

    def _quoted(self, data: bytes, start: int) -> int | None:
        """Sequence of our echo request quoted in an ICMP error starting at `start`, or None."""
        try:
            if self.v6:
                if data[start + 6] != socket.IPPROTO_ICMPV6 or data[start + 24 : start + 40] != self.packed:
                    return None
                req = start + 40
            else:
                ihl = (data[start] & 0x0F) * 4
                if data[start + 16 : start + 20] != self.packed:
                    return None
                req = start + ihl
            req_type, _c, _ck, ident, seq = _ECHO_HDR.unpack_from(data, req)
        except (IndexError, struct.error):
            return None
        if req_type != self.fs.echo_request or (self.fs.raw and ident != self.engine._ident):
            return None
        return seq

    def receive(self) -> None:
        fs, v6 = self.fs, self.v6
        while True:
            try:
                data, anc, _flags, addr = fs.sock.recvmsg(4096, _ANC_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                if not fs.raw and self.read_errqueue():
                    continue
                return
            mono = time.monotonic_ns()
            kts = kernel_stamp(anc)
            off = (data[0] & 0x0F) * 4 if fs.raw and not v6 and data else 0
            if len(data) < off + 8:
                continue
            icmp_type = data[off]
            src = address_text(addr) if addr else ""
            if icmp_type == fs.echo_reply:
                _t, _c, _ck, ident, seq = _ECHO_HDR.unpack_from(data, off)
                if fs.raw and ident != self.engine._ident:
                    continue
                if data[off + 10 : off + 10 + len(_MAGIC)] != _MAGIC:
                    continue
                if not self.from_target(src):
                    continue
                self.answered(seq, src, kts, mono, True)
            elif fs.raw and icmp_type in (self.time_exceeded, fs.unreach):
                seq = self._quoted(data, off + 8)
                if seq is not None:
                    self.answered(seq, src, kts, mono, icmp_type == fs.unreach)

    def read_errqueue(self) -> bool:
        """The datagram socket's time-exceeded / unreachable; True when the queue had anything."""
        count, entries = read_errqueue(self.fs.sock)
        mono = time.monotonic_ns()
        for data, ee_type, offender, kts in entries:
            if len(data) < 8:
                continue
            _t, _c, _ck, _ident, seq = _ECHO_HDR.unpack_from(data, 0)
            if ee_type == self.time_exceeded:
                self.answered(seq, offender, kts, mono, False)
            elif ee_type == self.fs.unreach:
                self.answered(seq, offender, kts, mono, True)
        return count > 0


class TraceEngine:
    """What every path mode's engine offers: trace() one address at a time, close() its sockets.
    mode: "auto" (raw sockets, else unprivileged ones), "raw" or "dgram"."""

    def __init__(self, mode: str = "auto") -> None:
        if mode not in ("auto", "raw", "dgram"):
            raise ValueError(f"mode must be auto, raw or dgram, got {mode!r}")
        self.mode = mode

    def _start(self, address: str, family: int, max_ttl: int, payload_bytes: int, **loop: Any) -> TraceRun:
        """The mode's TraceRun for one trace (sockets ready)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

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
        return self._start(address, family, max_ttl, payload_bytes, passes=passes, gap_ms=gap_ms,
                           timeout_ms=timeout_ms, on_pass=on_pass, should_stop=should_stop).run()


class PathEngine(TraceEngine):
    """ICMP echo requests with increasing TTL / hop limit (see the module docstring)."""

    def __init__(self, mode: str = "auto") -> None:
        super().__init__(mode)
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

    def _start(self, address: str, family: int, max_ttl: int, payload_bytes: int, **loop: Any) -> TraceRun:
        fs = self.socket_for(family)
        return _IcmpRun(self, fs, PathTrace(address, family, max_ttl, kind=fs.kind), payload_bytes, **loop)

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


def path_engine(protocol: str = "icmp", mode: str = "auto") -> TraceEngine:
    """The engine for `path.protocol`: ICMP echo (PathEngine), UDP (UdpPathEngine) or TCP-SYN
    (TcpPathEngine, root only), all with the TraceEngine interface."""
    if protocol == "tcp":
        from qostui.probes.path_tcp import TcpPathEngine

        return TcpPathEngine(mode)
    if protocol == "udp":
        from qostui.probes.path_udp import UdpPathEngine

        return UdpPathEngine(mode)
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
