"""The lab itself: hosts come up, the unreachable route guards the range, and teardown is complete.

Checked with the kernel's own tools (iputils ping, ip, nft) so a lab bug cannot hide behind a
qostui bug. The responder's packet code is also tested without root.
"""

from __future__ import annotations

import os
import struct
import subprocess
import time

import pytest

from conftest import PATIENCE_S, need_root, need_tool
from lab.echo_responder import checksum, make_reply
from lab.netlab import LAB_NET, Lab, _global_lock, _root_lab_ifaces, lab_namespaces, ping_rtts_ms, run


def test_echo_reply_is_well_formed() -> None:
    payload = bytes(range(56))
    request = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 7) + payload
    request = request[:2] + struct.pack("!H", checksum(request)) + request[4:]
    reply = make_reply(request)
    assert reply[0] == 0 and reply[1] == 0
    assert reply[4:8] == request[4:8]  # id and sequence kept
    assert reply[8:] == payload
    assert checksum(reply) == 0  # a valid checksum sums to zero
    assert checksum(request) == 0


def _own_namespaces() -> list[str]:
    return [ns for ns in lab_namespaces() if ns.startswith(f"qostui-{os.getpid()}-")]


def _unreachable_route() -> str:
    return run("ip", "route", "show", "type", "unreachable", LAB_NET).strip()


@pytest.mark.lab
def test_hosts_answer_and_everything_is_removed_even_on_error() -> None:
    need_root()
    for tool in ("ip", "nft", "tc", "ping"):
        need_tool(tool)
    with pytest.raises(RuntimeError, match="boom"), Lab() as lab:
        plain = lab.add_host("plain")
        delayed = lab.add_host("delay", delay_ms=20)
        assert plain.address != delayed.address
        assert len(_own_namespaces()) == 2
        assert _unreachable_route(), "unreachable route missing while the lab is up"
        plain_ms, plain_loss = ping_rtts_ms(plain.address, count=3, interval_s=0.05)
        delayed_ms, delayed_loss = ping_rtts_ms(delayed.address, count=5, interval_s=0.05)
        assert plain_loss == delayed_loss == 0.0
        assert len(plain_ms) == 3 and len(delayed_ms) == 5
        # netem never delivers early, so the floor is firm; a busy machine only adds, so the fastest
        # reply is the link's own time (delay applied once, not on both legs: well under 40 ms)
        assert min(plain_ms) < 5
        assert min(delayed_ms) >= 19.5 and min(delayed_ms) < 30, delayed_ms
        # The kernel's own replies are off on the delay host: only the responder answers.
        assert delayed.exec("sysctl", "-n", "net.ipv4.icmp_echo_ignore_all").strip() == "1"
        unroutable = subprocess.run(
            ["ping", "-n", "-c", "1", "-W", "1", lab.unroutable_address], capture_output=True, text=True, timeout=10
        )
        assert unroutable.returncode != 0
        assert "no route to host" in (unroutable.stdout + unroutable.stderr).lower()
        pids = [p.pid for h in lab.hosts for p in h.processes]
        assert pids
        raise RuntimeError("boom")
    assert _own_namespaces() == []
    assert _unreachable_route() == "" or _other_labs_up()
    assert all(not os.path.exists(f"/proc/{pid}") for pid in pids)
    assert "qlab" not in run("ip", "-o", "link", "show") or _other_labs_up()


def _other_labs_up() -> bool:
    return any(not ns.startswith(f"qostui-{os.getpid()}-") for ns in lab_namespaces())


@pytest.mark.lab
def test_two_labs_side_by_side_do_not_collide() -> None:
    need_root()
    for tool in ("ip", "nft", "tc", "ping"):
        need_tool(tool)
    with Lab() as first:
        a = first.add_host("a")
        with Lab() as second:
            b = second.add_host("b")
            assert a.address != b.address and a.root_ifname != b.root_ifname and a.ns != b.ns
        # The inner lab's exit must leave the outer lab's host and the route in place.
        assert _unreachable_route()
        assert ping_rtts_ms(a.address, count=2, interval_s=0.05)[1] == 0.0
        assert b.ns not in lab_namespaces()
    assert _own_namespaces() == []


@pytest.mark.lab
def test_stale_namespace_of_a_dead_process_is_removed() -> None:
    """A lab whose process was SIGKILLed leaves a namespace, a veth and a process: the next lab clears them."""
    need_root()
    for tool in ("ip", "nft", "tc", "sleep"):
        need_tool(tool)
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale_ns = f"qostui-{dead.pid}-1"
    with _global_lock():  # allocate like a lab would, so a parallel lab cannot take the same subnet
        index = max(n for n in range(1, 255) if n not in _root_lab_ifaces())
        run("ip", "netns", "add", stale_ns)
        run("ip", "link", "add", f"qlab{index}", "type", "veth", "peer", "name", f"qlab{index}p", "netns", stale_ns)
    sleeper = subprocess.Popen(["ip", "netns", "exec", stale_ns, "sleep", "30"])
    try:
        # `ip netns exec` joins the namespace after it starts: only then is there a process to clear
        deadline = time.monotonic() + PATIENCE_S
        while str(sleeper.pid) not in run("ip", "netns", "pids", stale_ns).split():
            assert sleeper.poll() is None and time.monotonic() < deadline, "the sleeper never joined the namespace"
            time.sleep(0.05)
        assert stale_ns in lab_namespaces()
        with Lab():
            assert stale_ns not in lab_namespaces()
            assert index not in _root_lab_ifaces()
            assert sleeper.wait(60) != 0  # killed, not finished (sleep 30 would end with 0)
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()
        run("ip", "link", "del", f"qlab{index}", check=False)
        run("ip", "netns", "del", stale_ns, check=False)


@pytest.mark.lab
def test_routed_chain_hops_answer_and_everything_is_removed() -> None:
    """iputils ping with a TTL / hop limit per hop: each router answers time-exceeded from its address."""
    need_root()
    for tool in ("ip", "nft", "ping"):
        need_tool(tool)
    with Lab() as lab:
        chain = lab.add_chain(alternate=True)
        assert len(_own_namespaces()) == 5
        assert run("ip", "-6", "route", "show", "type", "unreachable", "fd00:231::/32").strip()
        for family, dest, flag in ((4, chain.address, "-4"), (6, chain.address6, "-6")):
            hops = chain.hop_addresses(family)
            assert hops[-1] == dest
            for ttl, expected in enumerate(hops[:-1], start=1):
                out = run("ping", flag, "-n", "-c", "1", "-W", "2", "-t", str(ttl), dest, check=False)
                assert f"From {expected} " in out, out
            assert " 0% packet loss" in run("ping", flag, "-n", "-c", "2", "-i", "0.05", "-W", "2", dest)
        chain.use_alternate()
        out = run("ping", "-n", "-c", "1", "-W", "2", "-t", "2", chain.address, check=False)
        assert f"From {chain.hop_addresses(4, alternate=True)[1]} " in out, out
        ours = {link.index for link in chain.links}
        assert ours <= _root_lab_ifaces()  # placeholders reserve the inter-router subnets
    assert _own_namespaces() == []
    assert not (ours & _root_lab_ifaces())
