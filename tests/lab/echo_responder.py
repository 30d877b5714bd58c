"""A userspace ICMP echo responder that answers after a set delay (plus optional jitter).

Runs inside a lab namespace (`ip netns exec NS python echo_responder.py --delay-ms 50`) where the
kernel's own echo replies are switched off (net.ipv4.icmp_echo_ignore_all=1). The delay is counted
from the kernel's receive timestamp (SO_TIMESTAMPNS), not from when Python woke up, and the last
couple of milliseconds before a reply is due are spun rather than slept, so the added delay is
accurate to tens of microseconds on an idle machine. As root it runs with SCHED_FIFO so other
processes on a busy machine do not make replies late.

Jitter is uniform in [-jitter_ms, +jitter_ms] around delay_ms (clipped at zero), so the mean stays
at delay_ms. Prints "ready" on stdout once the socket is open; exits on SIGTERM/SIGINT or when its
parent process goes away.
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time
from pathlib import Path

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux generic value; Python may lack the name
SPIN_S = 0.001  # sleep until this close to the due time, then spin
ICMP_ECHO_REQUEST = 8
ICMP_ECHO_REPLY = 0


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def make_reply(icmp: bytes) -> bytes:
    """The echo reply for an echo request: same id, sequence and payload; type 0; new checksum."""
    header = struct.pack("!BBHHH", ICMP_ECHO_REPLY, 0, 0, *struct.unpack("!HH", icmp[4:8]))
    body = header + icmp[8:]
    return body[:2] + struct.pack("!H", checksum(body)) + body[4:]


def kernel_rx_time(ancdata: list[tuple[int, int, bytes]]) -> float | None:
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack("qq", data[:16])
            return sec + nsec / 1e9
    return None


def _realtime() -> bool:
    """Run at a modest real-time priority so other work on a busy machine cannot delay replies.

    Safe because the process sleeps except for at most SPIN_S of spinning per reply.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        return True
    except (AttributeError, OSError):  # not root / not Linux: ordinary scheduling still works
        return False


def serve(delay_ms: float, jitter_ms: float, max_seconds: float, seed: int | None, realtime: bool = True) -> int:
    rng = random.Random(seed)
    if realtime:
        _realtime()
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setblocking(False)
    parent = os.getppid()
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # A signal writes a byte here, so select() returns at once instead of after its timeout.
    wake_r, wake_w = socket.socketpair()
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno())
    print("ready", flush=True)

    pending: list[tuple[float, int, bytes, str]] = []  # (due monotonic, tie-breaker, reply, address)
    counter = 0
    sent, late_total_s, late_max_s = 0, 0.0, 0.0  # how late replies left, for diagnosing load
    deadline = time.monotonic() + max_seconds
    while not stop:
        now = time.monotonic()
        if now > deadline or os.getppid() != parent:  # bounded, and never outlives the lab
            break
        wait_s = 1.0 if not pending else max(0.0, pending[0][0] - now - SPIN_S)
        readable, _, _ = select.select([sock, wake_r], [], [], min(wait_s, 1.0))
        if stop:
            break
        if sock in readable:
            while True:
                try:
                    packet, ancdata, _flags, addr = sock.recvmsg(65535, socket.CMSG_SPACE(16))
                except (BlockingIOError, InterruptedError):
                    break
                ihl = (packet[0] & 0x0F) * 4
                icmp = packet[ihl:]
                if len(icmp) < 8 or icmp[0] != ICMP_ECHO_REQUEST or icmp[1] != 0:
                    continue
                rx_wall = kernel_rx_time(ancdata)
                # Translate the kernel's wall-clock receive time to the monotonic clock.
                rx_mono = time.monotonic() - (time.time() - rx_wall) if rx_wall is not None else time.monotonic()
                extra_ms = rng.uniform(-jitter_ms, jitter_ms) if jitter_ms > 0 else 0.0
                due = rx_mono + max(0.0, delay_ms + extra_ms) / 1000
                counter += 1
                heapq.heappush(pending, (due, counter, make_reply(icmp), addr[0]))
        while pending and pending[0][0] - time.monotonic() <= SPIN_S:
            due, _, reply, address = heapq.heappop(pending)
            while time.monotonic() < due:
                pass
            late_s = time.monotonic() - due
            sent += 1
            late_total_s += late_s
            late_max_s = max(late_max_s, late_s)
            try:
                sock.sendto(reply, (address, 0))
            except OSError as exc:  # the prober's side went away: keep serving others
                print(f"send to {address} failed: {exc}", file=sys.stderr, flush=True)
    sock.close()
    signal.set_wakeup_fd(-1)
    wake_r.close()
    wake_w.close()
    if sent:
        print(f"replies {sent}, late mean {late_total_s / sent * 1e3:.3f} ms, max {late_max_s * 1e3:.3f} ms",
              file=sys.stderr, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="exit after this long in any case")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--pidfile", default="")
    parser.add_argument("--no-realtime", action="store_true", help="stay at normal scheduling priority")
    args = parser.parse_args(argv)
    if args.pidfile:
        Path(args.pidfile).write_text(f"{os.getpid()}\n")
    return serve(args.delay_ms, args.jitter_ms, args.max_seconds, args.seed, realtime=not args.no_realtime)


if __name__ == "__main__":
    sys.exit(main())
