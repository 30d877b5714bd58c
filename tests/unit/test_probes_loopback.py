"""The probes against real sockets: ICMP and TCP to loopback, no-route, unresolved, permissions.

ICMP needs raw sockets (root / CAP_NET_RAW) or a permissive ping_group_range; tests that need more
(routes, network namespaces) need root. The machine's own sysctls are never changed: the
unprivileged (dgram) socket tests run in throw-away network namespaces.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import need, need_root, need_tool
from qostui.config import Config, ProbeConfig, TargetConfig
from qostui.probes import PERMISSION_HELP, PingProber
from qostui.probes.common import Schedule
from qostui.probes.icmp import IcmpEngine, IcmpPermissionError
from qostui.probes.resolve import Resolution, Resolver
from qostui.records import ProbeState

SRC = Path(__file__).resolve().parents[2] / "src"
UNREACHABLE_NET = "10.231.254.0/24"  # lab range; made unreachable by the fixture below
FAST = ProbeConfig(count=3, spacing_ms=10.0, timeout_ms=500.0)


def config(*targets: TargetConfig | str, probe: ProbeConfig = FAST, interval_s: float = 2.0) -> Config:
    ts = tuple(TargetConfig(t) if isinstance(t, str) else t for t in targets)
    return Config(interval_s=interval_s, targets=ts, probe=probe)


def icmp_allowed() -> bool:
    engine = IcmpEngine()
    try:
        return engine.check(socket.AF_INET) is None
    finally:
        engine.close()


def need_icmp() -> None:
    need(icmp_allowed(), "needs ICMP sockets: root, CAP_NET_RAW or net.ipv4.ping_group_range")


def one_round(cfg: Config, **kwargs) -> list:
    prober = PingProber(cfg, **kwargs)
    try:
        return prober.run_round()
    finally:
        prober.close()


LOOPBACK_MAX_MS = 250.0


def assert_clean(r, count: int = FAST.count) -> None:
    assert r.state is ProbeState.OK, r
    assert (r.sent, r.received, r.loss_pct) == (count, count, 0.0), r
    assert len(r.rtts_ms) == count
    # Loopback answers in microseconds, but a busy 2-core machine can delay a reply's wake-up by tens
    # of ms; the bound only says "a real, plausible RTT", not how quiet the machine is.
    assert all(x is not None and 0 <= x < LOOPBACK_MAX_MS for x in r.rtts_ms), r.rtts_ms
    assert r.rtt_min_ms <= r.rtt_p50_ms <= r.rtt_max_ms < LOOPBACK_MAX_MS
    assert r.jitter_ms is not None and r.mos is not None and 3.5 < r.mos <= 4.5


# --- ICMP on loopback ---------------------------------------------------------------------------
def test_icmp_loopback_v4_and_v6() -> None:
    need_icmp()
    before = time.time()
    rounds = one_round(config("127.0.0.1", "127.0.0.2", "::1", TargetConfig("localhost", name="lo")))
    assert [r.target for r in rounds] == ["127.0.0.1", "127.0.0.2", "::1", "lo"]
    assert [r.address for r in rounds[:3]] == ["127.0.0.1", "127.0.0.2", "::1"]
    assert rounds[3].address in ("127.0.0.1", "::1")
    for r in rounds:
        assert r.probe == "icmp"
        assert before <= r.ts <= time.time()
        assert_clean(r)
    assert len({r.ts for r in rounds}) == 1  # one round, one timestamp


def test_icmp_rounds_repeat_on_the_same_sockets() -> None:
    need_icmp()
    prober = PingProber(config("127.0.0.1", "::1", probe=ProbeConfig(count=2, spacing_ms=0.0, timeout_ms=500.0)))
    try:
        for _ in range(3):
            for r in prober.run_round():
                assert_clean(r, count=2)
    finally:
        prober.close()


def test_concurrent_probers_do_not_steal_each_others_replies() -> None:
    # Raw ICMP sockets all receive every reply: the (id, seq) + token demultiplexing must sort them out.
    need_icmp()
    targets = [f"127.0.1.{i}" for i in range(1, 41)]
    results: list[list] = [[], []]

    def work(k: int) -> None:
        results[k] = one_round(config(*targets, probe=ProbeConfig(count=4, spacing_ms=5.0, timeout_ms=1000.0)))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for rounds in results:
        assert [r.target for r in rounds] == targets
        for r in rounds:
            assert_clean(r, count=4)


def test_many_targets_interleaved_in_one_round() -> None:
    need_icmp()
    targets = [f"127.0.{i // 250}.{i % 250 + 1}" for i in range(300)]
    started = time.monotonic()
    rounds = one_round(config(*targets, probe=ProbeConfig(count=2, spacing_ms=50.0, timeout_ms=500.0)))
    # two ticks 50 ms apart, staggered sends inside each tick, all answered at once on loopback
    # (about 0.1 s on a quiet machine); one target after the other would take 300 x 50 ms = 15 s, so
    # a bound well below that proves the interleaving and still holds on a busy machine
    assert time.monotonic() - started < 5.0
    assert [r.target for r in rounds] == targets
    for r in rounds:
        assert_clean(r, count=2)


def test_schedule_staggers_targets_inside_a_tick() -> None:
    s = Schedule(n_targets=4, count=3, spacing_ms=100.0, timeout_ms=1000.0)
    assert s.total == 12
    assert s.gap_ns == 1_000_000  # min(min(100, 1000)/2/4 ms, 1 ms)
    times = [s.due_ns(k) for k in range(s.total)]
    assert times == sorted(times)
    assert [s.target_probe(k) for k in (0, 3, 4, 11)] == [(0, 0), (3, 0), (0, 1), (3, 2)]
    assert s.due_ns(5) - s.due_ns(1) == 100_000_000  # each target keeps exactly `spacing`
    big = Schedule(n_targets=500, count=5, spacing_ms=100.0, timeout_ms=500.0)
    assert big.due_ns(499) < 50_000_000  # a tick's sends fit in half the spacing
    assert Schedule(n_targets=10, count=2, spacing_ms=0.0, timeout_ms=500.0).due_ns(19) == 0


# --- no route, unresolved ---------------------------------------------------------------------------
@pytest.fixture
def unreachable_route() -> Iterator[str]:
    need_root()
    need_tool("ip")
    subprocess.run(["ip", "route", "replace", "unreachable", UNREACHABLE_NET], check=True, capture_output=True)
    try:
        yield UNREACHABLE_NET
    finally:
        subprocess.run(["ip", "route", "del", "unreachable", UNREACHABLE_NET], check=False, capture_output=True)


def test_no_route_is_a_state_not_loss(unreachable_route: str) -> None:
    need_icmp()
    rounds = one_round(
        config(
            "10.231.254.1",
            "127.0.0.1",
            TargetConfig("10.231.254.2", probe="tcp"),
        )
    )
    icmp, ok, tcp = rounds
    for r in (icmp, tcp):
        assert r.state is ProbeState.NO_ROUTE, r
        assert r.received == 0 and r.loss_pct == 0.0 and r.rtt_avg_ms is None
        assert "no route" in r.error.lower()
    assert (icmp.probe, tcp.probe) == ("icmp", "tcp")
    assert icmp.address == "10.231.254.1"
    assert_clean(ok)


def test_unresolved_name() -> None:
    rounds = one_round(config("no-such-host.invalid", TargetConfig("127.0.0.1", probe="tcp", tcp_port=1)))
    bad, good = rounds
    assert bad.state is ProbeState.UNRESOLVED
    assert (bad.target, bad.address, bad.sent) == ("no-such-host.invalid", "", 0)
    assert "no-such-host.invalid" in bad.error
    assert good.state is ProbeState.OK


def test_resolver_caches_and_retries_at_most_every_retry_s() -> None:
    calls: list[str] = []
    answers = {"flaky.example": iter([False, False, True])}
    now = [100.0]

    def lookup(name: str) -> Resolution:
        calls.append(name)
        if name == "good.example" or next(answers[name]):
            return Resolution(name, "192.0.2.7", socket.AF_INET)
        return Resolution(name, "", 0, f"cannot resolve {name!r}")

    res = Resolver(retry_s=60.0, lookup=lookup, clock=lambda: now[0])
    assert res.resolve("good.example").address == "192.0.2.7"
    assert res.resolve("good.example").address == "192.0.2.7"
    assert calls == ["good.example"]  # resolved once, cached for good
    assert not res.resolve("flaky.example").ok
    now[0] += 30
    assert not res.resolve("flaky.example").ok
    assert calls.count("flaky.example") == 1  # not retried before retry_s
    now[0] += 31
    assert not res.resolve("flaky.example").ok
    now[0] += 60
    assert res.resolve("flaky.example").address == "192.0.2.7"
    assert calls.count("flaky.example") == 3
    assert res.resolve("2001:DB8::1").address == "2001:db8::1"  # literals: no lookup, normalised
    assert len(calls) == 4


# --- TCP ---------------------------------------------------------------------------------------------
def test_tcp_probe_open_and_refused_ports_both_answer() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    open_port = listener.getsockname()[1]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: the kernel answers SYN with RST
    listener6 = socket.socket(socket.AF_INET6)
    listener6.bind(("::1", 0))
    listener6.listen(64)
    try:
        rounds = one_round(
            config(
                TargetConfig("127.0.0.1", name="open", probe="tcp", tcp_port=open_port),
                TargetConfig("127.0.0.1", name="refused", probe="tcp", tcp_port=closed_port),
                TargetConfig("::1", name="open6", probe="tcp", tcp_port=listener6.getsockname()[1]),
            )
        )
    finally:
        listener.close()
        listener6.close()
    assert [r.target for r in rounds] == ["open", "refused", "open6"]
    for r in rounds:
        assert r.probe == "tcp"
        assert_clean(r)


# --- permissions ---------------------------------------------------------------------------------------
class NoIcmpEngine(IcmpEngine):
    """An engine on a machine where ICMP sockets are not allowed."""

    def check(self, family: int) -> OSError | None:
        return IcmpPermissionError("raw: Operation not permitted; dgram: Permission denied")


def test_without_icmp_permission_auto_falls_back_to_tcp_and_icmp_reports(caplog: pytest.LogCaptureFixture) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    cfg = config(
        TargetConfig("127.0.0.1", name="auto", tcp_port=port),
        TargetConfig("127.0.0.1", name="icmp-only", probe="icmp"),
    )
    prober = PingProber(cfg, icmp_engine=NoIcmpEngine())
    try:
        with caplog.at_level(logging.WARNING):
            first = prober.run_round()
            second = prober.run_round()
    finally:
        prober.close()
        listener.close()
    for auto, icmp_only in (first, second):
        assert auto.probe == "tcp"
        assert_clean(auto)
        assert icmp_only.state is ProbeState.NO_PERMISSION
        assert icmp_only.probe == "icmp" and icmp_only.sent == 0
        assert icmp_only.error == PERMISSION_HELP
    warnings = [rec for rec in caplog.records if rec.levelno == logging.WARNING and "setcap" in rec.getMessage()]
    assert len(warnings) == 1  # logged once, not every round
    for fix in ("root", "sudo setcap cap_net_raw+ep $(readlink -f $(which python3))",
                'sudo sysctl -w net.ipv4.ping_group_range="0 2147483647"'):
        assert fix in PERMISSION_HELP


# --- real kernels in throw-away network namespaces (root) -------------------------------------------
CHILD = textwrap.dedent(
    """
    import json, socket, sys
    from qostui.config import Config, ProbeConfig, TargetConfig
    from qostui.probes import PingProber
    from qostui.probes.icmp import IcmpEngine
    spec = json.load(open(sys.argv[1]))
    cfg = Config(interval_s=5.0, targets=tuple(TargetConfig(**t) for t in spec["targets"]),
                 probe=ProbeConfig(**spec["probe"]))
    engine = IcmpEngine(mode=spec["mode"])
    prober = PingProber(cfg, icmp_engine=engine)
    rounds = prober.run_round()
    kinds = {}
    for fam, name in ((socket.AF_INET, "v4"), (socket.AF_INET6, "v6")):
        err = engine.check(fam)
        kinds[name] = engine.kind(fam) if err is None else type(err).__name__
    prober.close()
    print(json.dumps({"kinds": kinds, "rounds": [
        {"target": r.target, "probe": r.probe, "state": r.state.value, "sent": r.sent,
         "received": r.received, "rtts_ms": list(r.rtts_ms), "error": r.error} for r in rounds]}))
    """
)


def child_round(tmp_path: Path, prefix: list[str], mode: str, targets: list[dict], probe: dict) -> dict:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    spec = tmp_path / f"spec-{uuid.uuid4().hex}.json"
    spec.write_text(json.dumps({"mode": mode, "targets": targets, "probe": probe}))
    proc = subprocess.run(
        [*prefix, sys.executable, str(script), str(spec)],
        capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(SRC), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def in_new_netns(setup: str) -> list[str]:
    """Command prefix: a fresh network namespace (gone when the command exits), set up by `setup`."""
    return ["unshare", "--net", "sh", "-ec", f'{setup}\nexec "$@"', "sh"]


PROBE3 = {"count": 3, "spacing_ms": 10.0, "timeout_ms": 500.0, "method": "icmp"}


def test_unprivileged_dgram_sockets_in_a_namespace(tmp_path: Path) -> None:
    need_root()
    need_tool("unshare")
    need_tool("ip")
    setup = (
        "ip link set lo up\n"
        'sysctl -qw net.ipv4.ping_group_range="0 2147483647"\n'
        "ip route add unreachable 10.231.254.0/24\n"
        "ip -6 route add unreachable fd00:231::/64\n"
    )
    targets = [{"address": a} for a in ("127.0.0.1", "127.0.0.3", "::1", "10.231.254.1", "fd00:231::1")]
    out = child_round(tmp_path, in_new_netns(setup), "dgram", targets, PROBE3)
    assert out["kinds"] == {"v4": "dgram", "v6": "dgram"}
    ok4, ok4b, ok6, nr4, nr6 = out["rounds"]
    for r in (ok4, ok4b, ok6):
        assert (r["state"], r["sent"], r["received"]) == ("ok", 3, 3), r
        assert all(0 <= x < 5 for x in r["rtts_ms"])
    for r in (nr4, nr6):
        assert r["state"] == "no_route", r


def test_no_permission_when_ping_group_range_excludes_us(tmp_path: Path) -> None:
    # ping_group_range applies to root too, so dgram mode with the range "1 0" is a real refusal.
    need_root()
    need_tool("unshare")
    listener_port = 7  # nothing listens in the fresh namespace: RST = answered
    setup = 'ip link set lo up\nsysctl -qw net.ipv4.ping_group_range="1 0"\n'
    targets = [
        {"address": "127.0.0.1", "name": "icmp", "probe": "icmp"},
        {"address": "127.0.0.1", "name": "auto", "probe": "auto", "tcp_port": listener_port},
    ]
    out = child_round(tmp_path, in_new_netns(setup), "dgram", targets, {**PROBE3, "method": "auto"})
    icmp, auto = out["rounds"]
    assert icmp["state"] == "no_permission" and "setcap" in icmp["error"]
    assert auto["probe"] == "tcp" and (auto["state"], auto["received"]) == ("ok", 3)


@pytest.fixture
def router_pair() -> Iterator[str]:
    """Two namespaces: a client and a router that answers destination-unreachable for 10.231.254.0/24.

    Returns the client namespace's name. Addresses are private to the pair (a veth between the two).
    """
    need_root()
    need_tool("ip")
    tag = uuid.uuid4().hex[:6]
    client, router = f"qprobe-{tag}-c", f"qprobe-{tag}-r"

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)

    try:
        ip("netns", "add", client)
        ip("netns", "add", router)
        ip("link", "add", f"qp{tag}a", "netns", client, "type", "veth", "peer", "name", f"qp{tag}b", "netns", router)
        for ns, dev, v4, v6 in ((client, f"qp{tag}a", "10.231.253.1/30", "fd00:231:1::1/64"),
                                (router, f"qp{tag}b", "10.231.253.2/30", "fd00:231:1::2/64")):
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "addr", "add", v4, "dev", dev)
            ip("-n", ns, "-6", "addr", "add", v6, "dev", dev, "nodad")
        ip("-n", client, "route", "add", "default", "via", "10.231.253.2")
        ip("-n", client, "-6", "route", "add", "default", "via", "fd00:231:1::2")
        ip("-n", router, "route", "add", "unreachable", UNREACHABLE_NET)
        ip("-n", router, "-6", "route", "add", "unreachable", "fd00:231::/64")
        subprocess.run(
            ["ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
             "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0"],
            check=True, capture_output=True,
        )
        subprocess.run(["ip", "netns", "exec", client, "sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"],
                       check=True, capture_output=True)
        yield client
    finally:
        for ns in (client, router):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


@pytest.mark.parametrize("mode", ["raw", "dgram"])
def test_destination_unreachable_reply_is_no_route(router_pair: str, tmp_path: Path, mode: str) -> None:
    targets = [{"address": a} for a in ("10.231.253.2", "10.231.254.1", "fd00:231:1::2", "fd00:231::1")]
    targets.append({"address": "10.231.254.9", "probe": "tcp", "tcp_port": 443})
    # count 2: the router's IPv4 no-route errors are rate limited to a burst of 5 per source
    # (net.ipv4.route.error_burst, not per namespace), and 2 ICMP + 2 TCP probes fit.
    out = child_round(tmp_path, ["ip", "netns", "exec", router_pair], mode, targets, {**PROBE3, "count": 2})
    assert out["kinds"] == {"v4": mode, "v6": mode}
    ok4, unreach4, ok6, unreach6, tcp = out["rounds"]
    for r in (ok4, ok6):
        assert (r["state"], r["received"]) == ("ok", 2), r
    for r in (unreach4, unreach6):
        assert r["state"] == "no_route" and r["sent"] == 2, r
        assert "unreachable" in r["error"]
    assert tcp["state"] == "no_route" and tcp["probe"] == "tcp", tcp


def test_silent_target_is_loss_and_the_round_ends_at_the_timeout(tmp_path: Path) -> None:
    # Frames to a MAC nobody owns vanish: no reply, no error -> OK state, 100% loss.
    need_root()
    need_tool("unshare")
    need_tool("ip")
    setup = (
        "ip link set lo up\n"
        "ip link add qpa type veth peer name qpb\nip link set qpa up\nip link set qpb up\n"
        "ip route add 10.231.252.0/24 dev qpa\n"
        "ip neigh add 10.231.252.1 lladdr 02:00:00:00:00:01 dev qpa nud permanent\n"
        "ip neigh add 10.231.252.2 lladdr 02:00:00:00:00:01 dev qpa nud permanent\n"
    )
    targets = [{"address": "10.231.252.1"}, {"address": "127.0.0.1"},
               {"address": "10.231.252.2", "probe": "tcp", "tcp_port": 443}]
    probe = {"count": 3, "spacing_ms": 50.0, "timeout_ms": 300.0, "method": "icmp"}
    started = time.monotonic()
    out = child_round(tmp_path, in_new_netns(setup), "raw", targets, probe)
    elapsed = time.monotonic() - started
    silent, ok, silent_tcp = out["rounds"]
    for r in (silent, silent_tcp):
        assert (r["state"], r["sent"], r["received"], r["rtts_ms"]) == ("ok", 3, 0, [None, None, None]), r
    assert (ok["state"], ok["received"]) == ("ok", 3)
    assert elapsed > 0.4  # last send at 100 ms, then the 300 ms timeout (plus interpreter start-up)
