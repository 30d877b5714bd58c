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
from typing import Any

from qostui.probes.common import address_text, sockaddr
from qostui.probes.icmp import (
    IP_RECVERR,
    IPV6_RECVERR,
    NO_ROUTE_ERRNOS,
    SO_TIMESTAMPNS,
    _FamilySocket,
    checksum,
)
from qostui.probes.path import (
    V4_TIME_EXCEEDED,
    V6_TIME_EXCEEDED,
    PathTrace,
    TraceEngine,
    TraceRun,
    drop_waiting,
    read_errqueue,
    send_probe,
)

__all__ = ["UDP_PORT", "UdpPathEngine"]

UDP_PORT = 33434
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


class _UdpRun(TraceRun):
    """UDP datagrams from one connected socket; the probe's key is its number (= UDP checksum)."""

    def __init__(self, engine: UdpPathEngine, raw: _FamilySocket | None, trace: PathTrace, payload_bytes: int,
                 **loop: Any) -> None:
        super().__init__(trace, **loop)
        self.engine = engine
        self.raw = raw
        family = trace.family
        v6 = self.v6
        dest = sockaddr(family, trace.address, UDP_PORT)[0]
        self.udp = udp = socket.socket(family, socket.SOCK_DGRAM)
        try:
            udp.setblocking(False)
            udp.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            if v6:
                udp.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
            else:
                udp.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
            udp.connect(dest)  # fixes the source address and port for the checksum
            local = udp.getsockname()
        except BaseException:
            udp.close()
            raise
        self.src = socket.inet_pton(family, address_text(local))
        self.sport = int(local[1])
        self.pad = bytes((0x40 + x) & 0xFF for x in range(max(0, payload_bytes - 4 - len(_MAGIC))))
        if raw is not None:
            drop_waiting(raw.sock)

    def fds(self) -> list[tuple[int, int]]:
        out = [(self.udp.fileno(), select.POLLIN | select.POLLERR)]
        if self.raw is not None:
            out.append((self.raw.sock.fileno(), select.POLLIN))
        return out

    def close(self) -> None:
        self.udp.close()

    def send(self, ttl: int) -> tuple[int, int, int] | None:
        engine, udp = self.engine, self.udp
        engine._seq = engine._seq % 0xFFFE + 1  # 1..0xFFFF: a checksum of 0 means "none" in UDP
        seq = engine._seq
        body = payload_for(seq, self.src, self.packed, self.sport, UDP_PORT, self.pad)
        udp.setsockopt(*self.ttl_opt, ttl)

        def queued_error(exc: OSError) -> bool:  # a queued error from an earlier probe: read it, send again
            if exc.errno in (*NO_ROUTE_ERRNOS, errno.ECONNREFUSED):
                self._read_errqueue()
                return True
            return False

        sent = send_probe(udp, lambda: udp.send(body), self.trace, retry=queued_error, fails=())
        if sent is None:
            if not self.trace.error:
                self.trace.error = f"cannot send to {self.trace.address}"
            return None
        return (seq, *sent)

    def receive(self) -> None:
        if self.raw is not None:  # ports, length, checksum (the probe's key)
            self.read_quoted_errors(self.raw.sock, socket.IPPROTO_UDP, "!HHHH", self.sport, UDP_PORT)
        while True:  # nothing is expected on the normal queue; a pending error shows here
            try:
                self.udp.recv(4096)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._read_errqueue()
        self._read_errqueue()

    def _read_errqueue(self) -> None:
        _count, entries = read_errqueue(self.udp)
        mono = time.monotonic_ns()
        for data, ee_type, offender, kts in entries:
            if len(data) < 4:
                continue
            seq = struct.unpack_from("!H", data)[0]
            if ee_type == self.time_exceeded:
                self.answered(seq, offender, kts, mono, False)
            elif ee_type == self.unreach:
                self.answered(seq, offender, kts, mono, True)


class UdpPathEngine(TraceEngine):
    """The TraceEngine of UDP probes."""

    def __init__(self, mode: str = "auto") -> None:
        super().__init__(mode)
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

    def _start(self, address: str, family: int, max_ttl: int, payload_bytes: int, **loop: Any) -> TraceRun:
        raw = self._raw(family)
        return _UdpRun(self, raw, PathTrace(address, family, max_ttl, kind="raw" if raw else "dgram"),
                       payload_bytes, **loop)
