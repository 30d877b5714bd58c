"""An fping-style ICMP echo engine: one socket per address family, every target interleaved.

Why not one socket (or one asyncio task) per target: every ICMP socket on a host receives a copy
of every ICMP packet, so with N sockets each reply is parsed N times and the RTTs of a large round
inflate by tens of milliseconds. Here one raw socket per family sees each reply once and a dict
keyed by (ICMP id, sequence) finds the probe it answers.

Sockets:
- raw (SOCK_RAW) when root or CAP_NET_RAW. A kernel ICMP filter passes only echo replies and
  destination-unreachable messages, so the echo requests we send over loopback are never queued.
- otherwise unprivileged ICMP (SOCK_DGRAM, IPPROTO_ICMP[V6]) when net.ipv4.ping_group_range allows
  this user. The kernel rewrites the ICMP id to the socket's "port", so replies are matched by
  sequence number only, and the round token in the payload rejects stray ones. ICMP errors for
  these sockets arrive on the error queue (IP_RECVERR).

Timing: the send time is read (CLOCK_REALTIME and CLOCK_MONOTONIC) right before sendto(); the
receive time is the kernel's SO_TIMESTAMPNS stamp (CLOCK_REALTIME, taken when the packet entered
the network stack), so time spent in Python, or waiting in the socket queue while we were busy
sending, does not count. Without a kernel stamp (or if the wall clock stepped) the engine falls
back to CLOCK_MONOTONIC read right after recvmsg().
"""

from __future__ import annotations

import array
import errno
import logging
import os
import select
import socket
import struct
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from qostui.probes.common import Outcome, Schedule, split_valid
from qostui.records import ProbeState

log = logging.getLogger(__name__)

__all__ = ["PERMISSION_HELP", "IcmpEngine", "IcmpJob", "IcmpPermissionError"]

PERMISSION_HELP = (
    "ICMP sockets are not allowed for this user. Fix it one of three ways: run as root; "
    "or give Python the raw-socket capability: sudo setcap cap_net_raw+ep $(readlink -f $(which python3)); "
    'or allow unprivileged ping sockets: sudo sysctl -w net.ipv4.ping_group_range="0 2147483647"'
)

# Linux constants Python does not always export.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
SOL_RAW = 255
ICMP_FILTER = 1
ICMP6_FILTER = 1
IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
IPV6_RECVERR = getattr(socket, "IPV6_RECVERR", 25)
MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3

V4_ECHO_REQUEST, V4_ECHO_REPLY, V4_UNREACH = 8, 0, 3
V6_ECHO_REQUEST, V6_ECHO_REPLY, V6_UNREACH = 128, 129, 1

NO_ROUTE_ERRNOS = (errno.ENETUNREACH, errno.EHOSTUNREACH)
_TIMESPEC = struct.Struct("=qq")
_ECHO_HDR = struct.Struct("!BBHHH")
_TOKEN = struct.Struct("!II")
_CMSG_SPACE = socket.CMSG_SPACE(_TIMESPEC.size)
_ERR_CMSG_SPACE = socket.CMSG_SPACE(512)


class IcmpPermissionError(PermissionError):
    """Neither raw nor unprivileged ICMP sockets may be opened."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(errno.EPERM, PERMISSION_HELP + (f" ({detail})" if detail else ""))
        self.help = PERMISSION_HELP


@dataclass(frozen=True, slots=True)
class IcmpJob:
    family: int  # socket.AF_INET | socket.AF_INET6
    address: str  # normalised IP address


def checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum, in the machine's byte order (store it with "=H")."""
    if len(data) % 2:
        data += b"\x00"
    s = sum(array.array("H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


class _FamilySocket:
    """The one socket of an address family, and how to talk through it."""

    def __init__(
        self, family: int, mode: str, kernel_timestamps: bool = True, extra_types: tuple[int, ...] = ()
    ) -> None:
        self.family = family
        self.extra_types = extra_types  # more ICMP types the raw filter passes (path: time-exceeded)
        self.v6 = family == socket.AF_INET6
        proto = socket.IPPROTO_ICMPV6 if self.v6 else socket.IPPROTO_ICMP
        errors: list[str] = []
        sock = None
        kinds = {"auto": ("raw", "dgram"), "raw": ("raw",), "dgram": ("dgram",)}[mode]
        for kind in kinds:
            stype = socket.SOCK_RAW if kind == "raw" else socket.SOCK_DGRAM
            try:
                sock = socket.socket(family, stype, proto)
            except PermissionError as exc:
                errors.append(f"{kind}: {exc.strerror}")
                continue
            self.kind = kind
            break
        if sock is None:
            raise IcmpPermissionError("; ".join(errors))
        self.sock = sock
        self.raw = self.kind == "raw"
        self.echo_request = V6_ECHO_REQUEST if self.v6 else V4_ECHO_REQUEST
        self.echo_reply = V6_ECHO_REPLY if self.v6 else V4_ECHO_REPLY
        self.unreach = V6_UNREACH if self.v6 else V4_UNREACH
        sock.setblocking(False)
        self.kernel_ts = False
        if kernel_timestamps:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                self.kernel_ts = True
            except OSError:
                pass
        if self.raw:
            self._set_filter()
        else:
            try:  # ICMP errors for unprivileged sockets are only reported on the error queue
                if self.v6:
                    sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
                else:
                    sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
            except OSError:
                pass
        self.rcvbuf = 0
        self.grow_rcvbuf(1 << 20)

    def _set_filter(self) -> None:
        try:
            if self.v6:
                # struct icmp6_filter: 256 bits, a set bit blocks that type
                words = [0xFFFFFFFF] * 8
                for t in (V6_ECHO_REPLY, V6_UNREACH, *self.extra_types):
                    words[t >> 5] &= ~(1 << (t & 31))
                self.sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("=8I", *words))
            else:
                mask = 0xFFFFFFFF & ~((1 << V4_ECHO_REPLY) | (1 << V4_UNREACH))
                for t in self.extra_types:
                    mask &= ~(1 << t)
                self.sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("=I", mask))
        except OSError as exc:  # still correct without it, only slower
            log.debug("cannot set ICMP filter: %s", exc)

    def grow_rcvbuf(self, size: int) -> None:
        """Make room for a whole round of replies queued while we are busy sending."""
        size = min(size, 64 << 20)
        if size <= self.rcvbuf:
            return
        for opt in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, size)
                break
            except OSError:
                continue
        self.rcvbuf = size

    def close(self) -> None:
        self.sock.close()


class _Probe:
    __slots__ = ("j", "i", "real_ns", "mono_ns", "packed")

    def __init__(self, j: int, i: int, real_ns: int, mono_ns: int, packed: bytes) -> None:
        self.j = j
        self.i = i
        self.real_ns = real_ns
        self.mono_ns = mono_ns
        self.packed = packed


class IcmpEngine:
    """Sends `count` echo requests to every job, interleaved, and collects the replies.

    mode: "auto" (raw, else unprivileged), "raw" or "dgram" (for tests).
    kernel_timestamps: False times replies in user space only (for benchmarks).
    """

    def __init__(self, mode: str = "auto", *, kernel_timestamps: bool = True) -> None:
        if mode not in ("auto", "raw", "dgram"):
            raise ValueError(f"mode must be auto, raw or dgram, got {mode!r}")
        self.mode = mode
        self.kernel_timestamps = kernel_timestamps
        self._socks: dict[int, _FamilySocket] = {}
        self._open_errors: dict[int, OSError] = {}
        self._ident_base = int.from_bytes(os.urandom(2), "big")
        self._k = int.from_bytes(os.urandom(2), "big")  # probe counter, carried across rounds

    # --- sockets -----------------------------------------------------------------------------
    def socket_for(self, family: int) -> _FamilySocket:
        """The family's socket, opened on first use. Raises IcmpPermissionError or OSError."""
        fs = self._socks.get(family)
        if fs is not None:
            return fs
        if family in self._open_errors:
            raise self._open_errors[family]
        try:
            fs = _FamilySocket(family, self.mode, self.kernel_timestamps)
        except OSError as exc:
            self._open_errors[family] = exc
            raise
        self._socks[family] = fs
        return fs

    def check(self, family: int) -> OSError | None:
        """None when this family can be probed, else the error (IcmpPermissionError or other)."""
        try:
            self.socket_for(family)
        except OSError as exc:
            return exc
        return None

    def kind(self, family: int) -> str:
        """'raw' or 'dgram' (opens the socket)."""
        return self.socket_for(family).kind

    def close(self) -> None:
        for fs in self._socks.values():
            fs.close()
        self._socks.clear()
        self._open_errors.clear()

    # --- one round -----------------------------------------------------------------------------
    def ping(
        self,
        jobs: Sequence[IcmpJob],
        *,
        count: int,
        spacing_ms: float,
        timeout_ms: float,
        payload_bytes: int = 56,
    ) -> list[Outcome]:
        """Probe every job `count` times; one Outcome per job, in order. Sockets must open (see check)."""
        all_outcomes = [Outcome(rtts_ms=[None] * count) for _ in jobs]
        keep, dests, packed = split_valid(jobs, all_outcomes)
        if not keep:
            return all_outcomes
        jobs = [jobs[idx] for idx in keep]
        outcomes = [all_outcomes[idx] for idx in keep]  # the same objects: filled in place
        n = len(jobs)
        socks = [self.socket_for(job.family) for job in jobs]
        families = {id(fs): fs for fs in socks}
        used = list(families.values())
        for fs in used:
            fs.grow_rcvbuf(n * count * 2048)
            self._drain_stale(fs)

        sched = Schedule(n, count, spacing_ms, timeout_ms)
        token = int.from_bytes(os.urandom(4), "big")
        payload_pad = bytes((0x40 + x) & 0xFF for x in range(max(0, payload_bytes - _TOKEN.size)))
        # (wire id, seq) -> probe; the wire id is 0 for dgram sockets (the kernel owns the id)
        pending: dict[tuple[int, int], _Probe] = {}
        expiry: deque[tuple[int, tuple[int, int], _Probe]] = deque()
        timeout_ns = sched.timeout_ns
        bufsize = max(2048, payload_bytes + 1024)

        poller = select.poll()
        by_fd = {}
        for fs in used:
            poller.register(fs.sock.fileno(), select.POLLIN | select.POLLERR)
            by_fd[fs.sock.fileno()] = fs

        def receive(fs: _FamilySocket) -> None:
            sock = fs.sock
            raw_v4 = fs.raw and not fs.v6
            while True:
                try:
                    data, anc, _flags, addr = sock.recvmsg(bufsize, _CMSG_SPACE)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError as exc:
                    # a pending ICMP error (dgram sockets with IP_RECVERR) surfaces here once
                    if not fs.raw and self._read_errqueue(fs, pending, outcomes, jobs):
                        continue
                    log.debug("recvmsg: %s", exc)
                    return
                mono = time.monotonic_ns()
                kts = 0
                for level, ctype, cdata in anc:
                    if level == socket.SOL_SOCKET and ctype == SO_TIMESTAMPNS and len(cdata) >= _TIMESPEC.size:
                        sec, nsec = _TIMESPEC.unpack_from(cdata)
                        kts = sec * 1_000_000_000 + nsec
                off = (data[0] & 0x0F) * 4 if raw_v4 and data else 0
                if len(data) < off + 8:
                    continue
                icmp_type = data[off]
                if icmp_type == fs.echo_reply:
                    _t, _c, _ck, ident, seq = _ECHO_HDR.unpack_from(data, off)
                    key = (ident if fs.raw else 0, seq)
                    probe = pending.get(key)
                    if probe is None:
                        continue
                    if len(data) >= off + 8 + _TOKEN.size and payload_bytes >= _TOKEN.size:
                        tok, _k = _TOKEN.unpack_from(data, off + 8)
                        if tok != token:
                            continue
                    try:
                        src = socket.inet_pton(fs.family, addr[0].split("%", 1)[0])
                    except (OSError, IndexError, TypeError):
                        continue
                    if src != probe.packed:
                        continue
                    del pending[key]
                    rtt_user = mono - probe.mono_ns
                    rtt = kts - probe.real_ns if kts else rtt_user
                    if not 0 <= rtt <= rtt_user + 1_000_000:  # wall clock stepped: trust the monotonic one
                        rtt = rtt_user
                    if rtt <= timeout_ns:
                        outcomes[probe.j].rtts_ms[probe.i] = rtt / 1e6
                elif icmp_type == fs.unreach and fs.raw:
                    self._unreachable(fs, data, off, addr, pending, outcomes)

        def expire(now: int) -> None:
            while expiry and expiry[0][0] <= now:
                _deadline, key, probe = expiry.popleft()
                if pending.get(key) is probe:  # not answered, and the key not reused since
                    del pending[key]

        t0 = time.monotonic_ns()
        s = 0
        total = sched.total
        k = self._k
        ident_base = self._ident_base
        while True:
            now = time.monotonic_ns()
            sent_now = 0
            while s < total and t0 + sched.due_ns(s) <= now:
                i, j = divmod(s, n)
                fs = socks[j]
                k = (k + 1) & 0xFFFFFFFF
                seq = k & 0xFFFF
                wire_id = (ident_base + (k >> 16)) & 0xFFFF
                body = _TOKEN.pack(token, k)[:payload_bytes] + payload_pad
                pkt = bytearray(_ECHO_HDR.pack(fs.echo_request, 0, 0, wire_id, seq) + body)
                if fs.raw and not fs.v6:  # the kernel computes ICMPv6 and unprivileged-socket checksums
                    struct.pack_into("=H", pkt, 2, checksum(pkt))
                key = (wire_id if fs.raw else 0, seq)
                mono_ns = time.monotonic_ns()
                real_ns = time.time_ns()
                try:
                    fs.sock.sendto(pkt, dests[j])
                except BlockingIOError:
                    k = (k - 1) & 0xFFFFFFFF  # socket buffer full: retry this one when writable
                    poller.poll(1)
                    break
                except OSError as exc:
                    if not fs.raw and exc.errno in NO_ROUTE_ERRNOS and self._read_errqueue(fs, pending, outcomes, jobs):
                        k = (k - 1) & 0xFFFFFFFF  # that was a queued ICMP error: retry the send
                        continue
                    self._send_failed(outcomes[j], jobs[j], exc)
                    s += 1
                    continue
                outcomes[j].sent += 1
                probe = pending[key] = _Probe(j, i, real_ns, mono_ns, packed[j])
                expiry.append((mono_ns + timeout_ns, key, probe))
                s += 1
                sent_now += 1
                if sent_now % 128 == 0:
                    for fs2 in used:
                        receive(fs2)
                    now = time.monotonic_ns()
            for fs2 in used:
                receive(fs2)
            now = time.monotonic_ns()
            expire(now)
            if s >= total and not pending:
                break
            wake = expiry[0][0] if expiry else now
            if s < total:
                wake = min(wake, t0 + sched.due_ns(s))
            if wake > now:
                for fd, ev in poller.poll((wake - now) / 1e6):
                    if ev & select.POLLERR and not by_fd[fd].raw:
                        self._read_errqueue(by_fd[fd], pending, outcomes, jobs)
        self._k = k
        return all_outcomes

    # --- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _send_failed(outcome: Outcome, job: IcmpJob, exc: OSError) -> None:
        if exc.errno in NO_ROUTE_ERRNOS:
            outcome.unreachable += 1
            outcome.fail(ProbeState.NO_ROUTE, f"no route to {job.address}: {exc.strerror}")
        else:
            outcome.fail(ProbeState.ERROR, f"cannot send to {job.address}: {exc.strerror or exc}")

    @staticmethod
    def _drain_stale(fs: _FamilySocket) -> None:
        """Drop replies that arrived after the previous round ended."""
        for _ in range(100_000):
            try:
                fs.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                if fs.raw:
                    return
                try:
                    fs.sock.recvmsg(65536, _ERR_CMSG_SPACE, MSG_ERRQUEUE)
                except OSError:
                    return

    @staticmethod
    def _unreachable(
        fs: _FamilySocket, data: bytes, off: int, addr: tuple, pending: dict, outcomes: list[Outcome]
    ) -> None:
        """A raw-socket destination-unreachable: find our echo request quoted inside it."""
        inner = off + 8
        try:
            if fs.v6:
                dst = data[inner + 24 : inner + 40]
                req = inner + 40
            else:
                ihl = (data[inner] & 0x0F) * 4
                dst = data[inner + 16 : inner + 20]
                req = inner + ihl
            req_type, _c, _ck, ident, seq = _ECHO_HDR.unpack_from(data, req)
        except (IndexError, struct.error):
            return
        if req_type != fs.echo_request:
            return
        probe = pending.get((ident, seq))
        if probe is None or probe.packed != dst:
            return
        del pending[(ident, seq)]
        code = data[off + 1]
        outcome = outcomes[probe.j]
        outcome.unreachable += 1
        outcome.fail(
            ProbeState.NO_ROUTE,
            f"destination unreachable (code {code}) from {addr[0] if addr else '?'}",
        )

    @staticmethod
    def _read_errqueue(fs: _FamilySocket, pending: dict, outcomes: list[Outcome], jobs: Sequence[IcmpJob]) -> bool:
        """Unprivileged sockets: ICMP errors come from the error queue. True if any was read."""
        got = False
        while True:
            try:
                data, anc, _flags, addr = fs.sock.recvmsg(2048, _ERR_CMSG_SPACE, MSG_ERRQUEUE)
            except (BlockingIOError, InterruptedError):
                return got
            except OSError:
                return got
            got = True
            ee = None
            for level, ctype, cdata in anc:
                if (level, ctype) in ((socket.IPPROTO_IP, IP_RECVERR), (socket.IPPROTO_IPV6, IPV6_RECVERR)):
                    ee = struct.unpack_from("=IBBBBII", cdata)
            if ee is None or len(data) < 8:
                continue
            ee_errno, origin, ee_type, ee_code = ee[0], ee[1], ee[2], ee[3]
            if origin not in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6) or ee_errno not in NO_ROUTE_ERRNOS:
                continue
            _t, _c, _ck, _ident, seq = _ECHO_HDR.unpack_from(data, 0)
            probe = pending.get((0, seq))
            if probe is None:
                continue
            try:
                if addr and socket.inet_pton(fs.family, addr[0].split("%", 1)[0]) != probe.packed:
                    continue
            except (OSError, TypeError):
                continue
            del pending[(0, seq)]
            outcome = outcomes[probe.j]
            outcome.unreachable += 1
            outcome.fail(
                ProbeState.NO_ROUTE,
                f"destination unreachable (type {ee_type} code {ee_code}) for {jobs[probe.j].address}: "
                f"{os.strerror(ee_errno)}",
            )
