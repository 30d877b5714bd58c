"""TCP-SYN path probing (`path.protocol = "tcp"`), for networks that pass only TCP. Root only.

SYNs to port TCP_PORT go out on a raw TCP socket (we write the TCP header, the kernel the IP
header, with the TTL / hop limit we set) from one source port, so the flow's 5-tuple never
changes (Paris traceroute); the TCP sequence number tells the probes apart. Which probe a reply
answers:
- time-exceeded / unreachable (a raw ICMP socket): the quoted IP header and the first 8 bytes of
  our TCP header (ports and sequence number);
- the destination's SYN-ACK (port open) or RST (closed) on the raw TCP socket: ack - 1 is our
  sequence number. That is "reached"; our kernel answers a SYN-ACK with a RST, so no connection
  is left half open.
The source port is held by a bound (never listening) TCP socket, so no other connection of this
host can use it while we trace. Raw sockets need root (or CAP_NET_RAW): without them,
TcpPermissionError says so in one line.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import time
from typing import Any

from qostui.probes.common import address_text, sockaddr
from qostui.probes.icmp import (
    SO_TIMESTAMPNS,
    IcmpPermissionError,
    _FamilySocket,
    checksum,
)
from qostui.probes.path import (
    _ANC_SPACE,
    V4_TIME_EXCEEDED,
    V6_TIME_EXCEEDED,
    PathTrace,
    TraceEngine,
    TraceRun,
    drop_waiting,
    kernel_stamp,
    send_probe,
)

__all__ = ["TCP_PORT", "TcpPathEngine", "TcpPermissionError", "syn_segment"]

TCP_PORT = 80  # where the SYNs go (like tcptraceroute's default): the port most networks let through
_SYN, _RST, _ACK = 0x02, 0x04, 0x10
TCP_HELP = ("TCP-SYN path probing needs raw sockets: run as root, or give Python the raw-socket capability: "
            "sudo setcap cap_net_raw+ep $(readlink -f $(which python3)); or use path.protocol = \"icmp\" or \"udp\"")


class TcpPermissionError(IcmpPermissionError):
    """Raw TCP / ICMP sockets may not be opened (not root)."""

    def __init__(self, detail: str = "") -> None:
        PermissionError.__init__(self, errno.EPERM, TCP_HELP + (f" ({detail})" if detail else ""))
        self.help = TCP_HELP


def syn_segment(src: bytes, dst: bytes, sport: int, dport: int, seq: int) -> bytes:
    """A 20-byte TCP SYN with its checksum over the IPv4 / IPv6 pseudo-header."""
    header = bytearray(struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, _SYN, 65535, 0, 0))
    if len(src) == 16:
        pseudo = src + dst + struct.pack("!I3xB", len(header), socket.IPPROTO_TCP)
    else:
        pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(header))
    struct.pack_into("=H", header, 16, checksum(pseudo + bytes(header)))
    return bytes(header)


class _TcpRun(TraceRun):
    """SYNs on the raw TCP socket; the probe's key is its sequence number."""

    def __init__(self, engine: TcpPathEngine, icmp: _FamilySocket, tcp: socket.socket, sport: int,
                 trace: PathTrace, payload_bytes: int, **loop: Any) -> None:
        super().__init__(trace, **loop)
        del payload_bytes  # a SYN carries no payload
        self.engine, self.icmp, self.tcp, self.sport = engine, icmp, tcp, sport
        family = trace.family
        self.dest = sockaddr(family, trace.address, 0)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:  # which source address the route uses
            probe.connect(sockaddr(family, trace.address, TCP_PORT)[0])
            self.src = socket.inet_pton(family, address_text(probe.getsockname()))
        drop_waiting(icmp.sock)
        drop_waiting(tcp)

    def fds(self) -> list[tuple[int, int]]:
        return [(self.tcp.fileno(), select.POLLIN), (self.icmp.sock.fileno(), select.POLLIN)]

    def send(self, ttl: int) -> tuple[int, int, int] | None:
        engine = self.engine
        engine._seq = (engine._seq + 1) & 0xFFFFFFFF
        seq = engine._seq
        segment = syn_segment(self.src, self.packed, self.sport, TCP_PORT, seq)
        self.tcp.setsockopt(*self.ttl_opt, ttl)
        sent = send_probe(self.tcp, lambda: self.tcp.sendto(segment, self.dest), self.trace)
        return None if sent is None else (seq, *sent)

    def receive(self) -> None:
        self._read_tcp()
        self.read_quoted_errors(self.icmp.sock, socket.IPPROTO_TCP, "!HHI", self.sport, TCP_PORT)  # ports, seq

    def _read_tcp(self) -> None:
        while True:
            try:
                data, anc, _f, addr = self.tcp.recvmsg(4096, _ANC_SPACE)
            except (BlockingIOError, InterruptedError, OSError):
                return
            mono = time.monotonic_ns()
            src = address_text(addr)
            off = 0 if self.v6 else (data[0] & 0x0F) * 4 if data else 0
            if len(data) < off + 14 or not self.from_target(src):
                continue
            sport, dport, _seq, ack, _off, flags = struct.unpack_from("!HHIIBB", data, off)
            if sport != TCP_PORT or dport != self.sport or not flags & _ACK or not flags & (_SYN | _RST):
                continue
            self.answered((ack - 1) & 0xFFFFFFFF, src, kernel_stamp(anc), mono, True)


class TcpPathEngine(TraceEngine):
    """The TraceEngine of TCP-SYN probes (raw sockets only: mode "auto" and "raw" are the same)."""

    def __init__(self, mode: str = "auto") -> None:
        super().__init__(mode)
        if mode == "dgram":
            raise ValueError("TCP-SYN path probing has no unprivileged mode (it needs raw sockets)")
        self._socks: dict[int, tuple[_FamilySocket, socket.socket, socket.socket]] = {}
        self._seq = int.from_bytes(os.urandom(4), "big")

    def _sockets(self, family: int) -> tuple[_FamilySocket, socket.socket, socket.socket]:
        """(raw ICMP, raw TCP, the bound TCP socket holding our source port), opened once."""
        got = self._socks.get(family)
        if got is not None:
            return got
        opened: list[Any] = []
        try:
            extra = (V6_TIME_EXCEEDED,) if family == socket.AF_INET6 else (V4_TIME_EXCEEDED,)
            icmp = _FamilySocket(family, "raw", extra_types=extra)
            opened.append(icmp)
            tcp = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_TCP)
            opened.append(tcp)
            tcp.setblocking(False)
            tcp.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            port = socket.socket(family, socket.SOCK_STREAM)
            opened.append(port)
            port.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
        except PermissionError as exc:
            for sock in opened:
                sock.close()
            raise TcpPermissionError(exc.strerror or str(exc)) from None
        except BaseException:
            for sock in opened:
                sock.close()
            raise
        got = self._socks[family] = (icmp, tcp, port)
        return got

    def close(self) -> None:
        for icmp, tcp, port in self._socks.values():
            icmp.close()
            tcp.close()
            port.close()
        self._socks.clear()

    def _start(self, address: str, family: int, max_ttl: int, payload_bytes: int, **loop: Any) -> TraceRun:
        icmp, tcp, port = self._sockets(family)
        return _TcpRun(self, icmp, tcp, int(port.getsockname()[1]), PathTrace(address, family, max_ttl, kind="raw"),
                       payload_bytes, **loop)
