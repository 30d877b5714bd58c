"""UDP path probing (`path.protocol = "udp"`), for networks that treat ICMP echo differently.

Datagrams go to port 33434 from one fixed source port, so the flow's 5-tuple never changes
(Paris traceroute). Which probe a reply answers:
- raw ICMP socket (root): the time-exceeded / port-unreachable quotes our IP and UDP headers; the
  UDP checksum field identifies the probe. Two payload bytes are chosen so the checksum equals
  the probe's number, as Paris traceroute does (so 8 quoted bytes are enough).
- otherwise (unprivileged): the UDP socket's error queue (IP_RECVERR / IPV6_RECVERR) returns the
  payload we sent, which starts with the probe's number, and the router's address as offender.
The destination answers with port unreachable (nothing listens on 33434): that is "reached".
"""

from __future__ import annotations

import errno
import select
import socket
import struct
import time
from collections import deque
from collections.abc import Callable

from qostui.probes.common import sockaddr
from qostui.probes.icmp import (
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
from qostui.probes.path import (
    _ANC_SPACE,
    _EE,
    V4_TIME_EXCEEDED,
    V6_TIME_EXCEEDED,
    PathTrace,
    Sample,
    _offender,
)

__all__ = ["UDP_PORT", "UdpPathEngine"]

UDP_PORT = 33434
_IPV6_UNICAST_HOPS = getattr(socket, "IPV6_UNICAST_HOPS", 16)
V4_PORT_UNREACH, V6_PORT_UNREACH = 3, 4  # codes of destination-unreachable
_MAGIC = b"QPTU"


def _ones_add(a: int, b: int) -> int:
    s = a + b
    return (s & 0xFFFF) + (s >> 16)


def payload_for(seq: int, src: bytes, dst: bytes, sport: int, dport: int, pad: bytes) -> bytes:
    """Payload [seq][compensation][magic][pad] whose UDP checksum (pseudo-header included) is `seq`."""
    v6 = len(src) == 16
    body = struct.pack("!HH", seq, 0) + _MAGIC + pad
    length = 8 + len(body)
    if v6:
        pseudo = src + dst + struct.pack("!I3xB", length, socket.IPPROTO_UDP)
    else:
        pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_UDP, length)
    header = struct.pack("!HHHH", sport, dport, length, 0)
    # checksum() gives ~sum in machine order; turn it back into the network-order sum
    partial = ~int.from_bytes(checksum(pseudo + header + body).to_bytes(2, "little"), "big") & 0xFFFF
    want = ~seq & 0xFFFF  # the sum that makes the checksum equal seq
    comp = _ones_add(want, ~partial & 0xFFFF)  # want - partial in one's complement
    return struct.pack("!HH", seq, comp) + _MAGIC + pad


class UdpPathEngine:
    """Same interface as PathEngine (trace(...) -> PathTrace), with UDP probes."""

    def __init__(self, mode: str = "auto") -> None:
        if mode not in ("auto", "raw", "dgram"):
            raise ValueError(f"mode must be auto, raw or dgram, got {mode!r}")
        self.mode = mode
        self._icmp: dict[int, _FamilySocket | None] = {}
        self._seq = 0

    def _raw(self, family: int) -> _FamilySocket | None:
        """A raw ICMP socket for the replies when allowed, else None (the error queue is used)."""
        if family not in self._icmp:
            fs = None
            if self.mode != "dgram":
                extra = (V6_TIME_EXCEEDED,) if family == socket.AF_INET6 else (V4_TIME_EXCEEDED,)
                try:
                    fs = _FamilySocket(family, "raw", extra_types=extra)
                except PermissionError:
                    if self.mode == "raw":
                        raise
            self._icmp[family] = fs
        return self._icmp[family]

    def close(self) -> None:
        for fs in self._icmp.values():
            if fs is not None:
                fs.close()
        self._icmp.clear()

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
        v6 = family == socket.AF_INET6
        raw = self._raw(family)
        dest, packed = sockaddr(family, address, UDP_PORT)
        udp = socket.socket(family, socket.SOCK_DGRAM)
        trace = PathTrace(address, family, max_ttl, kind="raw" if raw else "dgram")
        try:
            udp.setblocking(False)
            udp.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            if v6:
                udp.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
            else:
                udp.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
            udp.connect(dest)  # fixes the source address and port for the checksum
            local = udp.getsockname()
            src = socket.inet_pton(family, str(local[0]).split("%", 1)[0])
            sport = int(local[1])
            ttl_opt = (socket.IPPROTO_IPV6, _IPV6_UNICAST_HOPS) if v6 else (socket.IPPROTO_IP, socket.IP_TTL)
            time_exceeded = V6_TIME_EXCEEDED if v6 else V4_TIME_EXCEEDED
            unreach_type = 1 if v6 else 3
            pad = bytes((0x40 + x) & 0xFF for x in range(max(0, payload_bytes - 4 - len(_MAGIC))))
            timeout_ns = int(timeout_ms * 1e6)
            pending: dict[int, tuple[int, int, int, int]] = {}  # seq -> (pass, ttl, real_ns, mono_ns)
            expiry: deque[tuple[int, int]] = deque()
            outstanding = [0] * passes
            done = 0

            def finish(p: int) -> None:
                nonlocal done
                outstanding[p] -= 1
                if outstanding[p] == 0:
                    done += 1
                    trace.passes = done
                    if on_pass is not None:
                        on_pass(trace)

            def answered(seq: int, responder: str, kts: int, reached: bool) -> None:
                probe = pending.pop(seq, None)
                if probe is None:
                    return
                p, ttl, real_ns, mono_ns = probe
                mono = time.monotonic_ns()
                rtt = kts - real_ns if kts else mono - mono_ns
                if not 0 <= rtt <= mono - mono_ns + 1_000_000:
                    rtt = mono - mono_ns
                if rtt > timeout_ns:
                    trace.add(ttl, Sample(p, "", None))
                else:
                    trace.add(ttl, Sample(p, responder, rtt / 1e6, reached))
                    if reached and (trace.dest_hop is None or ttl < trace.dest_hop):
                        trace.dest_hop = ttl
                    elif not reached and trace.dest_hop is not None and ttl >= trace.dest_hop:
                        trace.dest_hop = None
                finish(p)

            def stamp(anc: list) -> int:
                for level, ctype, cdata in anc:
                    if level == socket.SOL_SOCKET and ctype == SO_TIMESTAMPNS and len(cdata) >= _TIMESPEC.size:
                        sec, nsec = _TIMESPEC.unpack_from(cdata)
                        return sec * 1_000_000_000 + nsec
                return 0

            def read_raw() -> None:
                assert raw is not None
                while True:
                    try:
                        data, anc, _f, addr = raw.sock.recvmsg(4096, _ANC_SPACE)
                    except (BlockingIOError, InterruptedError, OSError):
                        return
                    off = 0 if v6 else (data[0] & 0x0F) * 4
                    if len(data) < off + 8:
                        continue
                    icmp_type, code = data[off], data[off + 1]
                    reached = icmp_type == unreach_type
                    if icmp_type != time_exceeded and not reached:
                        continue
                    inner = off + 8
                    try:
                        if v6:
                            if data[inner + 6] != socket.IPPROTO_UDP or data[inner + 24 : inner + 40] != packed:
                                continue
                            udp_at = inner + 40
                        else:
                            if data[inner + 9] != socket.IPPROTO_UDP or data[inner + 16 : inner + 20] != packed:
                                continue
                            udp_at = inner + (data[inner] & 0x0F) * 4
                        qs, qd, _len, qck = struct.unpack_from("!HHHH", data, udp_at)
                    except (IndexError, struct.error):
                        continue
                    if qs != sport or qd != UDP_PORT:
                        continue
                    if reached and code != (V6_PORT_UNREACH if v6 else V4_PORT_UNREACH):
                        reached = True  # another unreachable: the path ends there too
                    answered(qck, str(addr[0]).split("%", 1)[0], stamp(anc), reached)

            def read_errqueue() -> None:
                while True:
                    try:
                        data, anc, _f, _addr = udp.recvmsg(4096, _ANC_SPACE, MSG_ERRQUEUE)
                    except (BlockingIOError, InterruptedError, OSError):
                        return
                    ee = None
                    offender = ""
                    for level, ctype, cdata in anc:
                        if (level, ctype) in ((socket.IPPROTO_IP, IP_RECVERR), (socket.IPPROTO_IPV6, IPV6_RECVERR)):
                            ee = _EE.unpack_from(cdata)
                            offender = _offender(cdata[_EE.size :])
                    if ee is None or len(data) < 4 or ee[1] not in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6):
                        continue
                    seq = struct.unpack_from("!H", data)[0]
                    if ee[2] == time_exceeded:
                        answered(seq, offender, stamp(anc), False)
                    elif ee[2] == unreach_type:
                        answered(seq, offender, stamp(anc), True)

            def drain_udp() -> None:
                while True:  # nothing is expected on the normal queue; a pending error shows here
                    try:
                        udp.recv(4096)
                    except (BlockingIOError, InterruptedError):
                        return
                    except OSError:
                        read_errqueue()

            def send(p: int, ttl: int) -> None:
                self._seq = self._seq % 0xFFFE + 1  # 1..0xFFFF: a checksum of 0 means "none" in UDP
                seq = self._seq
                body = payload_for(seq, src, packed, sport, UDP_PORT, pad)
                udp.setsockopt(*ttl_opt, ttl)
                for _attempt in range(3):
                    mono_ns, real_ns = time.monotonic_ns(), time.time_ns()
                    try:
                        udp.send(body)
                        break
                    except (BlockingIOError, InterruptedError):
                        select.select([], [udp], [], 0.05)
                    except OSError as exc:
                        if exc.errno in (*NO_ROUTE_ERRNOS, errno.ECONNREFUSED):
                            read_errqueue()  # a queued error from an earlier probe: read it, send again
                            continue
                        raise
                else:
                    if not trace.error:
                        trace.error = f"cannot send to {address}"
                    trace.add(ttl, Sample(p, "", None))
                    finish(p)
                    return
                pending[seq] = (p, ttl, real_ns, mono_ns)
                expiry.append((mono_ns + timeout_ns, seq))

            poller = select.poll()
            poller.register(udp.fileno(), select.POLLIN | select.POLLERR)
            if raw is not None:
                poller.register(raw.sock.fileno(), select.POLLIN)
                while True:  # stale replies of an earlier trace
                    try:
                        raw.sock.recv(65536)
                    except OSError:
                        break
            gap_ns = int(gap_ms * 1e6)
            t0 = time.monotonic_ns()
            sent = 0
            while True:
                now = time.monotonic_ns()
                if sent < passes and now >= t0 + sent * gap_ns:
                    if should_stop and should_stop():
                        passes = sent
                        del outstanding[passes:]
                    else:
                        limit = trace.dest_hop if trace.dest_hop is not None else max_ttl
                        outstanding[sent] = limit
                        p = sent
                        sent += 1
                        for ttl in range(1, limit + 1):
                            send(p, ttl)
                if raw is not None:
                    read_raw()
                drain_udp()
                read_errqueue()
                now = time.monotonic_ns()
                while expiry and expiry[0][0] <= now:
                    _d, seq = expiry.popleft()
                    probe = pending.pop(seq, None)
                    if probe is not None:
                        trace.add(probe[1], Sample(probe[0], "", None))
                        finish(probe[0])
                if sent >= passes and not pending:
                    break
                wake = expiry[0][0] if expiry else now + 50_000_000
                if sent < passes:
                    wake = min(wake, t0 + sent * gap_ns)
                if wake > now:
                    poller.poll(max(0.0, (wake - now) / 1e6))
        finally:
            udp.close()
        return trace
