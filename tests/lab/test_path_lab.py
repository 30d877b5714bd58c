"""Path probing on the routed lab chain (host -> r1 -> r2 -> r3 -> destination), as root.

Loss figures are checked against the truth the lab knows (nft's drop counter) and against the
binomial spread of the configured drop rate; every wait is bounded by counts, not wall time.
"""

from __future__ import annotations

import json
import math
import re
import socket
import subprocess
import sys
import time

import pytest

from lab.netlab import Lab
from qostui.probes.path import PathEngine
from qostui.probes.pathstats import NOT_FORWARDING, hops_from_trace, loss_from_hop

pytestmark = pytest.mark.lab


@pytest.fixture
def chain(lab: Lab):
    return lab.add_chain(alternate=True)


def binomial_interval(n: int, p: float, z: float) -> tuple[int, int]:
    """Counts k with |k - np| <= z * sqrt(np(1-p)) (+ continuity): the normal-approximation band."""
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    return math.floor(mean - z * sd - 0.5), math.ceil(mean + z * sd + 0.5)


@pytest.mark.parametrize("family", [4, 6])
def test_one_round_finds_exactly_the_four_hops(chain, family: int) -> None:
    address = chain.address if family == 4 else chain.address6
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    engine = PathEngine()
    try:
        started = time.monotonic()
        trace = engine.trace(address, af, passes=1, timeout_ms=2000)
        took_s = time.monotonic() - started
    finally:
        engine.close()
    hops = hops_from_trace(trace, address, 0.0)
    assert [h.hop_address for h in hops] == chain.hop_addresses(family)
    assert hops[-1].reached and not any(h.reached for h in hops[:-1])
    assert all(h.received == 1 and h.rtt_avg_ms is not None for h in hops)
    assert took_s < 2.0 + 10.0  # ends by itself: the 2 s timeout, plus room for a busy machine


@pytest.mark.parametrize("family", [4, 6])
def test_path_command_prints_the_hops(chain, family: int) -> None:
    address = chain.address if family == 4 else chain.address6
    out = subprocess.run([sys.executable, "-m", "qostui", "path", address, "--rounds", "3", "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [h["hop_address"] for h in data["hops"]] == chain.hop_addresses(family)
    assert data["reached"] and data["verdict"] == "no path loss"
    assert all(h["sent"] == 3 == h["received"] for h in data["hops"])
    table = subprocess.run([sys.executable, "-m", "qostui", "path", address, "--rounds", "1"],
                           capture_output=True, text=True, timeout=60)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[1].split()[:3] == ["Hop", "Address", "Loss%"]
    for hop, addr in enumerate(chain.hop_addresses(family), start=1):
        assert lines[1 + hop].split()[:2] == [str(hop), addr]
    assert lines[-1] == "verdict: no path loss"


def test_random_drop_at_r2_is_loss_from_hop_3(chain) -> None:
    chain.drop_forwarded(20, router="r2")
    engine = PathEngine()
    try:
        trace = engine.trace(chain.address, socket.AF_INET, passes=100, gap_ms=20, timeout_ms=2000, max_ttl=8)
    finally:
        engine.close()
    hops = hops_from_trace(trace, chain.address, 0.0)
    assert [h.hop_address for h in hops] == chain.hop_addresses(4)
    assert loss_from_hop(hops) == 3
    assert [h.verdict for h in hops] == ["", "", "loss from hop 3", "loss from hop 3"]
    assert hops[0].received == hops[1].received == 100
    # Every probe lost beyond r2 is one nft dropped (the first pass also sent TTL 5..8 there).
    first_pass_extra = sum(1 for ttl, got in trace.samples.items() if ttl > 4 for s in got)
    assert hops[2].sent - hops[2].received + hops[3].sent - hops[3].received <= chain.dropped_packets("r2")
    assert chain.dropped_packets("r2") <= (200 - hops[2].received - hops[3].received) + first_pass_extra
    lo, hi = binomial_interval(100, 0.20, 3.29)  # 99.9%: this test must not flake (bench prints 95%)
    for hop in hops[2:]:
        assert lo <= hop.sent - hop.received <= hi, (hop.hop, hop.loss_pct)


def test_icmp_rate_limit_at_r1_is_not_forwarding_loss(chain) -> None:
    chain.rate_limit_icmp("r1", ratelimit_ms=1000)
    engine = PathEngine()
    try:
        trace = engine.trace(chain.address6, socket.AF_INET6, passes=40, gap_ms=20, timeout_ms=2000)
        trace4 = engine.trace(chain.address, socket.AF_INET, passes=40, gap_ms=20, timeout_ms=2000)
    finally:
        engine.close()
    for tr in (trace, trace4):
        hops = hops_from_trace(tr, tr.address, 0.0)
        assert len(hops) == 4
        assert hops[0].received < hops[0].sent  # r1 limits its time-exceeded replies
        assert hops[0].verdict == NOT_FORWARDING
        assert loss_from_hop(hops) is None
        assert [h.received for h in hops[1:]] == [40, 40, 40]


def _path_in(ns: str, address: str, *, user: str | None, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """`qostui path --json` run inside namespace `ns`, as root or (setpriv) as an unprivileged user."""
    import os
    from pathlib import Path

    src = str(Path(__file__).resolve().parents[2] / "src")
    drop = ["setpriv", f"--reuid={user}", "--regid=nogroup", "--clear-groups"] if user else []
    return subprocess.run(
        ["ip", "netns", "exec", ns, *drop, sys.executable, "-m", "qostui", "path", address, "--rounds", "3", "--json",
         *extra],
        capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": src, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )


def test_unprivileged_user_finds_the_same_hops_and_without_permission_one_line(chain) -> None:
    from conftest import need_tool

    need_tool("setpriv")
    # ping_group_range is set in the client's own namespace only: the machine's stays as it is
    ns, hops4, hops6 = chain.add_client()
    for address, expected in ((chain.address, hops4), (chain.address6, hops6)):
        as_root = _path_in(ns, address, user=None)
        as_nobody = _path_in(ns, address, user="nobody")
        for proc, kind in ((as_root, "raw"), (as_nobody, "dgram")):
            assert proc.returncode == 0, proc.stderr
            data = json.loads(proc.stdout)
            assert data["socket"] == kind
            assert [h["hop_address"] for h in data["hops"]] == expected
            assert all(h["received"] == 3 for h in data["hops"]) and data["reached"]
    subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ping_group_range=1 0"], check=True)
    refused = _path_in(ns, chain.address, user="nobody")
    assert refused.returncode == 1 and refused.stdout == ""
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qostui: error: ICMP sockets are not allowed"), refused.stderr
    assert "setcap cap_net_raw" in lines[0] and "ping_group_range" in lines[0] and "root" in lines[0]
    # UDP needs no ICMP socket at all: the same user still finds the path through the error queue
    for address, expected in ((chain.address, hops4), (chain.address6, hops6)):
        udp = _path_in(ns, address, user="nobody", extra=("--protocol", "udp"))
        assert udp.returncode == 0, udp.stderr
        data = json.loads(udp.stdout)
        assert (data["protocol"], data["socket"]) == ("udp", "dgram")
        assert [h["hop_address"] for h in data["hops"]] == expected


def test_no_route_is_one_line(lab: Lab) -> None:
    for address in (lab.unroutable_address, "fd00:231:ffff::1"):  # the lab's unreachable routes
        proc = subprocess.run([sys.executable, "-m", "qostui", "path", address, "--rounds", "1"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1 and proc.stdout == ""
        assert proc.stderr == f"qostui: error: cannot send to {address}: No route to host\n"


def _v6_checksum(src: str, dst: str, message: bytes) -> int:
    """ICMPv6 checksum over the pseudo-header (what the kernel fills in for us)."""
    from qostui.probes.icmp import checksum

    pseudo = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
              + len(message).to_bytes(4, "big") + b"\x00\x00\x00\x3a")
    value = checksum(pseudo + message[:2] + b"\x00\x00" + message[4:])
    return int.from_bytes(value.to_bytes(2, "little"), "big")  # checksum() is in machine order


def test_flow_identity_is_constant_on_the_wire(chain) -> None:
    """Paris traceroute: r1 counts the echo requests it forwards by identifier and checksum; every
    probe of every TTL and pass carries the same pair."""
    from lab.netlab import _in
    from qostui.probes.path import _MAGIC, echo_packet

    engine = PathEngine()
    try:
        engine.trace(chain.address, socket.AF_INET, passes=1, max_ttl=6)  # opens the sockets
        engine.trace(chain.address6, socket.AF_INET6, passes=1, max_ttl=6)
        ident = engine._ident
        pad = bytes((0x40 + x) & 0xFF for x in range(56 - 2 - len(_MAGIC)))
        pkt = echo_packet(8, ident, 1, pad, with_checksum=True)
        ck4 = int.from_bytes(pkt[2:4], "big")
        pkt6 = echo_packet(128, ident, 1, pad, with_checksum=False)
        ck6 = _v6_checksum(chain.links[0].v6(1), chain.address6, pkt6)
        rules = (
            "flush chain inet qostui_path forward\n"
            f"add rule inet qostui_path forward icmp type echo-request icmp id {ident} icmp checksum {ck4} counter\n"
            "add rule inet qostui_path forward icmp type echo-request counter\n"
            f"add rule inet qostui_path forward icmpv6 type echo-request icmpv6 id {ident} "
            f"icmpv6 checksum {ck6} counter\n"
            "add rule inet qostui_path forward icmpv6 type echo-request counter\n"
        )
        _in(chain.ns["r1"], "nft", "-f", "-", input_text=rules)
        t4 = engine.trace(chain.address, socket.AF_INET, passes=20, gap_ms=10, max_ttl=6)
        t6 = engine.trace(chain.address6, socket.AF_INET6, passes=20, gap_ms=10, max_ttl=6)
    finally:
        engine.close()
    out = _in(chain.ns["r1"], "nft", "list", "chain", "inet", "qostui_path", "forward")
    counts = [int(n) for n in re.findall(r"counter packets (\d+)", out)]
    assert len(counts) == 4, out
    same4, all4, same6, all6 = counts
    # r1 forwards every probe with TTL >= 2: 3 per pass once the destination (hop 4) is known
    for trace, same, total in ((t4, same4, all4), (t6, same6, all6)):
        forwarded = sum(1 for ttl, got in trace.samples.items() if ttl >= 2 for _ in got)
        assert same == forwarded and total == same, (same, total, forwarded)


@pytest.mark.parametrize("mode", ["raw", "dgram"])
def test_udp_mode_finds_the_same_hops(chain, mode: str) -> None:
    from qostui.probes.path_udp import UdpPathEngine

    engine = UdpPathEngine(mode)
    try:
        for family, address, af in ((4, chain.address, socket.AF_INET), (6, chain.address6, socket.AF_INET6)):
            trace = engine.trace(address, af, passes=3, gap_ms=20, timeout_ms=2000, max_ttl=8)
            hops = hops_from_trace(trace, address, 0.0)
            assert trace.kind == mode
            assert [h.hop_address for h in hops] == chain.hop_addresses(family)
            assert hops[-1].reached and all(h.received == 3 for h in hops)
        chain.drop_forwarded(20)
        trace = engine.trace(chain.address, socket.AF_INET, passes=100, gap_ms=20, timeout_ms=2000, max_ttl=8)
    finally:
        engine.close()
    hops = hops_from_trace(trace, chain.address, 0.0)
    assert loss_from_hop(hops) == 3 and hops[1].received == 100


def test_path_command_udp(chain) -> None:
    out = subprocess.run([sys.executable, "-m", "qostui", "path", chain.address6, "--rounds", "2", "--protocol", "udp",
                          "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["protocol"] == "udp" and [h["hop_address"] for h in data["hops"]] == chain.hop_addresses(6)


@pytest.mark.parametrize("family", [4, 6])
def test_tcp_syn_mode_finds_the_same_hops(chain, family: int) -> None:
    """path.protocol = "tcp": SYNs to port 80 (nothing listens: the destination's RST ends the path),
    one source port for every probe (r1 counts them by ports), and the 20% drop is loss from hop 3."""
    from lab.netlab import _in
    from qostui.probes.path_tcp import TCP_PORT, TcpPathEngine

    address = chain.address if family == 4 else chain.address6
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    engine = TcpPathEngine()
    try:
        trace = engine.trace(address, af, passes=3, gap_ms=20, timeout_ms=2000, max_ttl=8)
        hops = hops_from_trace(trace, address, 0.0)
        assert trace.kind == "raw"
        assert [h.hop_address for h in hops] == chain.hop_addresses(family)
        assert hops[-1].reached and not any(h.reached for h in hops[:-1])
        assert all(h.received == 3 and h.rtt_avg_ms is not None for h in hops)
        sport = engine._sockets(af)[2].getsockname()[1]
        proto = "ip6" if family == 6 else "ip"
        rules = ("flush chain inet qostui_path forward\n"
                 f"add rule inet qostui_path forward meta nfproto {'ipv6' if family == 6 else 'ipv4'} "
                 f"tcp sport {sport} tcp dport {TCP_PORT} counter\n"
                 f"add rule inet qostui_path forward {proto} daddr {address} tcp dport {TCP_PORT} counter\n")
        _in(chain.ns["r1"], "nft", "-f", "-", input_text=rules)
        flow = engine.trace(address, af, passes=10, gap_ms=10, timeout_ms=2000, max_ttl=8)
        out = _in(chain.ns["r1"], "nft", "list", "chain", "inet", "qostui_path", "forward")
        same, total = (int(n) for n in re.findall(r"counter packets (\d+)", out))
        forwarded = sum(1 for ttl, got in flow.samples.items() if ttl >= 2 for _ in got)
        assert same == total == forwarded, (same, total, forwarded)
        if family == 4:
            chain.drop_forwarded(20, router="r2")
            lossy = engine.trace(address, af, passes=100, gap_ms=20, timeout_ms=2000, max_ttl=8)
            hops = hops_from_trace(lossy, address, 0.0)
            assert loss_from_hop(hops) == 3 and hops[1].received == 100
    finally:
        engine.close()


def test_tcp_syn_command_as_root_and_one_line_without_root(chain) -> None:
    from conftest import need_tool

    out = subprocess.run([sys.executable, "-m", "qostui", "path", chain.address6, "--rounds", "2", "--protocol", "tcp",
                          "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert (data["protocol"], data["socket"]) == ("tcp", "raw") and data["reached"]
    assert [h["hop_address"] for h in data["hops"]] == chain.hop_addresses(6)
    need_tool("setpriv")
    ns, _hops4, _hops6 = chain.add_client()  # ping sockets allowed there: only raw ones are refused
    refused = _path_in(ns, chain.address, user="nobody", extra=("--protocol", "tcp"))
    assert refused.returncode == 1 and refused.stdout == ""
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qostui: error: TCP-SYN path probing needs raw sockets"), \
        refused.stderr
    assert "root" in lines[0] and "setcap cap_net_raw" in lines[0]
