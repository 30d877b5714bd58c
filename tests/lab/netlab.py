"""A network lab for real-network tests: hosts in network namespaces on 10.231.0.0/16.

    with Lab() as lab:
        h = lab.add_host("delay", delay_ms=50)     # userspace echo responder answering after 50 ms
        l = lab.add_host("loss", loss_pct=20)      # nftables drops 20% of incoming echo requests
        l.set_loss(30)
        b = lab.add_host("bw", rate_mbit=50)       # tbf-limited veth and an iperf3 server
        h.address, h.root_ifname, lab.unroutable_address
        c = lab.add_chain(alternate=True)          # routed: host -> r1 -> r2 -> r3 -> destination
        c.hop_addresses(6), c.drop_forwarded(20), c.rate_limit_icmp("r1"), c.use_alternate()

Each host is a namespace `qostui-<pid>-<n>` joined to the root namespace by a veth pair: the root
side `qlab<N>` has 10.231.N.1/30, the host side 10.231.N.2/30. While any lab is up the root
namespace has `unreachable 10.231.0.0/16`, so lab addresses without a host (e.g. 10.231.255.1)
fail fast with "no route" and lab traffic can never leak to a real network.

Needs root and the `ip`, `nft`, `tc` (iproute2) and, for bandwidth hosts, `iperf3` commands.
Parallel labs (several pytest processes) share the address space through a lock file; stale
namespaces left by a killed process are removed when the next lab starts. Everything a lab creates
is removed on exit, also when the body raised.

Importable from any test directory as `lab.netlab` (tests/ is on sys.path under pytest) and from
bench/ after `sys.path.insert(0, "<repo>/tests")`.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qostui.records import PingRound

LAB_NET = "10.231.0.0/16"
LAB_NET6 = "fd00:231::/32"  # the routed chain's IPv6 (ULA); unreachable from the root like LAB_NET
UNROUTABLE_ADDRESS = "10.231.255.1"  # never given to a host: it hits the unreachable route
NS_PREFIX = "qostui-"
IF_PREFIX = "qlab"
LOCK_PATH = Path(tempfile.gettempdir()) / "qostui-netlab.lock"
RESPONDER = Path(__file__).resolve().with_name("echo_responder.py")
IPERF3_PORT = 5201

_ns_counter = itertools.count(1)


class LabError(RuntimeError):
    """A lab command failed; the message carries the command and its stderr."""


def run(*cmd: str, check: bool = True, input_text: str | None = None, timeout_s: float = 20.0) -> str:
    """Run a command, return stdout; raise LabError with stderr when it fails and check is set."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, input=input_text, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(cmd)}: timed out after {timeout_s:g}s") from None
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(cmd)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _set_parent_death_signal() -> None:
    """In the child before exec: get SIGTERM when the lab's process dies, so nothing is orphaned."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # best effort: stale-namespace cleanup is the fallback
        pass


def _stop_process(proc: subprocess.Popen[bytes] | subprocess.Popen[str], timeout_s: float = 3.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)
    for stream in (proc.stdout, proc.stderr, proc.stdin):
        if stream is not None:
            stream.close()


def _kill_namespace_pids(ns: str) -> None:
    for text in run("ip", "netns", "pids", ns, check=False).split():
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(text), signal.SIGKILL)


def lab_namespaces() -> list[str]:
    """Names of all qostui lab namespaces that exist now (any process)."""
    out = run("ip", "netns", "list", check=False)
    return [line.split()[0] for line in out.splitlines() if line.startswith(NS_PREFIX)]


def _root_lab_ifaces() -> set[int]:
    """N of every qlab<N> interface in the root namespace."""
    out = run("ip", "-o", "link", "show")
    found = set()
    for match in re.finditer(rf"^\d+:\s+{IF_PREFIX}(\d+)[@:]", out, re.MULTILINE):
        found.add(int(match.group(1)))
    return found


def _cleanup_stale() -> None:
    """Remove namespaces of lab processes that died without tearing down (SIGKILL, power cut)."""
    for ns in lab_namespaces():
        match = re.fullmatch(rf"{NS_PREFIX}(\d+)-\d+", ns)
        if not match or _pid_alive(int(match.group(1))):
            continue
        _kill_namespace_pids(ns)
        for n in re.findall(rf"{IF_PREFIX}(\d+)p", run("ip", "-n", ns, "-o", "link", "show", check=False)):
            run("ip", "link", "del", f"{IF_PREFIX}{n}", check=False)
        run("ip", "netns", "del", ns, check=False)


@contextlib.contextmanager
def _global_lock() -> Iterator[None]:
    """Serialises address allocation and the shared unreachable route between lab processes."""
    with open(LOCK_PATH, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _unreachable_route_present() -> bool:
    return bool(run("ip", "route", "show", "type", "unreachable", LAB_NET, check=False).strip())


def _unreachable_route6_present() -> bool:
    return bool(run("ip", "-6", "route", "show", "type", "unreachable", LAB_NET6, check=False).strip())


@dataclass
class LabHost:
    """One namespace with one address; created by Lab.add_host."""

    lab: Lab
    name: str
    index: int  # N in 10.231.N.0/30
    ns: str
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0
    rate_mbit: float | None = None
    mtu: int = 1500
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)  # stderr of helpers, filled at teardown

    @property
    def address(self) -> str:
        return f"10.231.{self.index}.2"

    @property
    def root_address(self) -> str:
        return f"10.231.{self.index}.1"

    @property
    def root_ifname(self) -> str:
        return f"{IF_PREFIX}{self.index}"

    @property
    def ns_ifname(self) -> str:
        return f"{IF_PREFIX}{self.index}p"

    def exec(self, *cmd: str, check: bool = True, timeout_s: float = 20.0) -> str:
        """Run a command inside this host's namespace."""
        return run("ip", "netns", "exec", self.ns, *cmd, check=check, timeout_s=timeout_s)

    def set_loss(self, loss_pct: float) -> None:
        """Drop this share of incoming echo requests from now on (replaces the previous rule)."""
        if not 0 <= loss_pct <= 100:
            raise ValueError(f"loss_pct must be 0..100, got {loss_pct}")
        threshold = round(loss_pct)
        # One nft transaction: the old rule and the new one never coexist or leave a gap.
        rules = "flush chain inet qostui_lab input\n"
        if threshold >= 100:  # numgen values are 0..99, so "< 100" is not accepted by nft
            rules += "add rule inet qostui_lab input icmp type echo-request counter drop\n"
        elif threshold > 0:
            rules += (
                "add rule inet qostui_lab input icmp type echo-request "
                f"numgen random mod 100 < {threshold} counter drop\n"
            )
        run("ip", "netns", "exec", self.ns, "nft", "-f", "-", input_text=rules)
        self.loss_pct = float(threshold)

    def dropped_packets(self) -> int:
        """Echo requests the loss rule has dropped so far (nft counter)."""
        out = self.exec("nft", "list", "chain", "inet", "qostui_lab", "input")
        match = re.search(r"counter packets (\d+)", out)
        return int(match.group(1)) if match else 0

    # --- set-up steps, called by Lab.add_host ----------------------------------------------------
    def _pin_neighbours(self) -> None:
        """Permanent ARP entries both ways: no first-probe resolution delay, no ARP lost to nft."""
        root_mac = json.loads(run("ip", "-j", "link", "show", self.root_ifname))[0]["address"]
        ns_mac = json.loads(run("ip", "-n", self.ns, "-j", "link", "show", self.ns_ifname))[0]["address"]
        run("ip", "neigh", "replace", self.address, "lladdr", ns_mac, "dev", self.root_ifname, "nud", "permanent")
        run("ip", "-n", self.ns, "neigh", "replace", self.root_address, "lladdr", root_mac,
            "dev", self.ns_ifname, "nud", "permanent")

    def _setup_loss_table(self) -> None:
        table = (
            "table inet qostui_lab {\n"
            "  chain input { type filter hook input priority 0; policy accept; }\n"
            "}\n"
        )
        run("ip", "netns", "exec", self.ns, "nft", "-f", "-", input_text=table)
        self.set_loss(self.loss_pct)

    def _start_responder(self) -> None:
        self.exec("sysctl", "-q", "-w", "net.ipv4.icmp_echo_ignore_all=1")
        cmd = ["ip", "netns", "exec", self.ns, sys.executable, str(RESPONDER), "--delay-ms", str(self.delay_ms)]
        if self.jitter_ms:
            cmd += ["--jitter-ms", str(self.jitter_ms)]
        # stderr goes to a file, not a pipe: nobody reads it while the test runs, and a full pipe
        # would block the responder.
        with open(self._log_path("responder"), "w") as log_file:
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=log_file, text=True, preexec_fn=_set_parent_death_signal
            )
        self.processes.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until "ready" or the process dies (EOF)
        if line.strip() != "ready":
            proc.wait(5)
            err = self._log_path("responder").read_text()
            raise LabError(f"echo responder in {self.ns} did not start: {err.strip() or line!r}")
        # Warm-up: the responder's first reply is ~0.5 ms late (cold code paths); tests should
        # not see that.
        run("ping", "-n", "-q", "-c", "2", "-i", "0.01", "-W", "2", self.address, check=False, timeout_s=10)

    def _shape(self) -> None:
        assert self.rate_mbit is not None
        rate_bytes_s = self.rate_mbit * 1e6 / 8
        # Bucket: at least two full frames, and ~10 ms of traffic so timer granularity cannot
        # starve the link; 50 ms of queue at most (`latency`).
        burst = max(2 * (self.mtu + 14), int(rate_bytes_s / 100))
        spec = ["tbf", "rate", f"{self.rate_mbit:g}mbit", "burst", str(burst), "latency", "50ms"]
        run("tc", "qdisc", "replace", "dev", self.root_ifname, "root", *spec)
        run("ip", "netns", "exec", self.ns, "tc", "qdisc", "replace", "dev", self.ns_ifname, "root", *spec)

    def _start_iperf3(self) -> None:
        pidfile = Path(tempfile.gettempdir()) / f"{self.ns}-iperf3.pid"
        cmd = ["ip", "netns", "exec", self.ns, "iperf3", "-s", "-B", self.address, "-p", str(IPERF3_PORT),
               "-I", str(pidfile)]
        with open(self._log_path("iperf3"), "w") as log_file:
            proc = subprocess.Popen(
                cmd, stdout=subprocess.DEVNULL, stderr=log_file, text=True, preexec_fn=_set_parent_death_signal
            )
        self.processes.append(proc)
        deadline = time.monotonic() + 120  # generous: a busy machine starts processes slowly
        while time.monotonic() < deadline:  # listening once ss shows the socket
            if f"{self.address}:{IPERF3_PORT}" in self.exec("ss", "-ltnH", check=False):
                return
            if proc.poll() is not None:
                raise LabError(f"iperf3 server in {self.ns} exited: {self._log_path('iperf3').read_text().strip()}")
            time.sleep(0.05)
        raise LabError(f"iperf3 server in {self.ns} not listening after 120 s")

    def iperf3_reverse(self, seconds: float = 5.0, omit_s: float = 1.0) -> dict:
        """Run an iperf3 client in the root namespace, data flowing towards it; returns its JSON."""
        out = run(
            "iperf3", "-c", self.address, "-p", str(IPERF3_PORT), "-R", "-J",
            "-t", f"{seconds:g}", "-O", f"{omit_s:g}", "-i", "0.5",
            check=False, timeout_s=seconds + omit_s + 20,
        )
        try:
            data = json.loads(out)
        except json.JSONDecodeError:
            raise LabError(f"iperf3 client gave no JSON: {out[:200]!r}") from None
        if "error" in data:
            raise LabError(f"iperf3 client: {data['error']}")
        return data

    def _log_path(self, kind: str) -> Path:
        return Path(tempfile.gettempdir()) / f"{self.ns}-{kind}.log"

    def _teardown(self) -> None:
        for proc in self.processes:
            _stop_process(proc)
        self.processes.clear()
        _kill_namespace_pids(self.ns)  # anything else that ran in here (exec'd helpers)
        run("ip", "link", "del", self.root_ifname, check=False)
        run("ip", "netns", "del", self.ns, check=False)
        for kind in ("responder", "iperf3"):
            path = self._log_path(kind)
            with contextlib.suppress(FileNotFoundError):
                self.logs[kind] = path.read_text()  # e.g. the responder's lateness summary
                path.unlink()
        with contextlib.suppress(FileNotFoundError):
            (Path(tempfile.gettempdir()) / f"{self.ns}-iperf3.pid").unlink()


class Lab:
    """Builds lab hosts; a context manager that removes all of them (and its route) on exit."""

    unroutable_address = UNROUTABLE_ADDRESS

    def __init__(self) -> None:
        self.hosts: list[LabHost] = []
        self.chains: list[RoutedChain] = []
        self._entered = False

    # --- context manager ----------------------------------------------------------------------
    def __enter__(self) -> Lab:
        if os.geteuid() != 0:
            raise LabError("the network lab needs root (network namespaces, raw sockets)")
        for tool in ("ip", "nft", "tc"):
            if shutil.which(tool) is None:
                raise LabError(f"the network lab needs the '{tool}' command")
        with _global_lock():
            _cleanup_stale()
            if not _unreachable_route_present():
                run("ip", "route", "add", "unreachable", LAB_NET)
            if not _unreachable_route6_present():
                run("ip", "-6", "route", "add", "unreachable", LAB_NET6)
        self._entered = True
        atexit.register(self.close)  # an interpreter exit without __exit__ still cleans up
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Tear down every host; drop the unreachable route unless another lab is still up."""
        if not self._entered:
            return
        self._entered = False
        atexit.unregister(self.close)
        errors = []
        for host in reversed(self.hosts):
            try:
                host._teardown()
            except Exception as exc:  # keep going: the other hosts must go too
                errors.append(f"{host.ns}: {exc}")
        self.hosts.clear()
        for chain in reversed(self.chains):
            try:
                chain._teardown()
            except Exception as exc:
                errors.append(f"chain: {exc}")
        self.chains.clear()
        with _global_lock():
            if not _root_lab_ifaces():
                run("ip", "route", "del", "unreachable", LAB_NET, check=False)
                run("ip", "-6", "route", "del", "unreachable", LAB_NET6, check=False)
        if errors:
            raise LabError("lab teardown: " + "; ".join(errors))

    # --- hosts -----------------------------------------------------------------------------------
    def add_host(
        self,
        name: str,
        *,
        delay_ms: float = 0.0,
        jitter_ms: float = 0.0,
        loss_pct: float = 0.0,
        rate_mbit: float | None = None,
        mtu: int = 1500,
    ) -> LabHost:
        """A new namespace with one address.

        delay_ms/jitter_ms > 0: the kernel's echo replies are off and echo_responder.py answers.
        loss_pct: share of echo requests dropped on the way in (always installed, so set_loss works).
        rate_mbit: tbf on both ends of the veth, and an iperf3 server on the host address.
        """
        if not self._entered:
            raise LabError("use the lab inside `with Lab() as lab:`")
        if delay_ms < 0 or jitter_ms < 0:
            raise ValueError("delay_ms and jitter_ms must be >= 0")
        if rate_mbit is not None and shutil.which("iperf3") is None:
            raise LabError("a bandwidth host needs the 'iperf3' command")
        ns = f"{NS_PREFIX}{os.getpid()}-{next(_ns_counter)}"
        with _global_lock():
            used = _root_lab_ifaces()
            index = next((n for n in range(1, 255) if n not in used), None)
            if index is None:
                raise LabError("all 254 lab subnets are in use")
            host = LabHost(self, name, index, ns, delay_ms, jitter_ms, float(loss_pct), rate_mbit, mtu)
            self.hosts.append(host)  # registered first so a failure below is still torn down
            run("ip", "netns", "add", ns)
            run("ip", "link", "add", host.root_ifname, "mtu", str(mtu), "type", "veth",
                "peer", "name", host.ns_ifname, "mtu", str(mtu), "netns", ns)
        run("ip", "addr", "add", f"{host.root_address}/30", "dev", host.root_ifname)
        run("ip", "link", "set", host.root_ifname, "up")
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", ns, "addr", "add", f"{host.address}/30", "dev", host.ns_ifname)
        run("ip", "-n", ns, "link", "set", host.ns_ifname, "up")
        run("ip", "-n", ns, "route", "add", "default", "via", host.root_address)
        host._pin_neighbours()
        if delay_ms > 0 or jitter_ms > 0:
            host._start_responder()
        host._setup_loss_table()
        if rate_mbit is not None:
            host._shape()
            host._start_iperf3()
        self._wait_reachable(host)
        return host

    def add_chain(self, *, alternate: bool = False) -> RoutedChain:
        """A routed chain host -> r1 -> r2 -> r3 -> destination (see RoutedChain)."""
        if not self._entered:
            raise LabError("use the lab inside `with Lab() as lab:`")
        chain = RoutedChain(self)
        self.chains.append(chain)  # registered first so a failure below is still torn down
        chain._build(alternate)
        return chain

    def _wait_reachable(self, host: LabHost) -> None:
        """Wait for the veth to carry traffic (neighbour discovery, link up) before handing it out."""
        deadline = time.monotonic() + 120  # generous: returns as soon as the link is up
        while time.monotonic() < deadline:
            state = run("ip", "-br", "link", "show", host.root_ifname, check=False)
            if " UP " in f" {state} " or "LOWER_UP" in state:
                return
            time.sleep(0.05)
        raise LabError(f"{host.root_ifname} did not come up")


@dataclass
class _Link:
    """One /30 (and /64) between two namespaces ("" = the root); `index` is its qlab<N> number.

    The upstream end (towards the root) has .1, the downstream end .2. A link between two lab
    namespaces reserves its N with a placeholder veth `qlab<N>` in the root, so parallel labs see it as used,
    and names its downstream end `qlab<N>p`, so the stale clean-up finds and removes that placeholder.
    """

    index: int
    up_ns: str
    down_ns: str

    @property
    def up_if(self) -> str:
        return f"{IF_PREFIX}{self.index}" if not self.up_ns else f"{IF_PREFIX}{self.index}q"

    @property
    def down_if(self) -> str:
        return f"{IF_PREFIX}{self.index}p"

    def v4(self, end: int) -> str:
        return f"10.231.{self.index}.{end}"

    def v6(self, end: int) -> str:
        return f"fd00:231:{self.index}::{end}"

    @property
    def net4(self) -> str:
        return f"10.231.{self.index}.0/30"

    @property
    def net6(self) -> str:
        return f"fd00:231:{self.index}::/64"


def _in(ns: str, *cmd: str, check: bool = True, input_text: str | None = None) -> str:
    """Run a command in namespace `ns` ("" = the root namespace)."""
    prefix = ("ip", "netns", "exec", ns) if ns else ()
    return run(*prefix, *cmd, check=check, input_text=input_text)


class RoutedChain:
    """host (root) -> r1 -> r2 -> r3 -> destination, each router a forwarding namespace.

    Addresses: link k (k = 0..3: root-r1, r1-r2, r2-r3, r3-destination) is 10.231.N_k.0/30 and
    fd00:231:N_k::/64, .1 upstream and .2 downstream. A router answers time-exceeded from its
    address on the link back towards the root, so hop k (1-based) answers from 10.231.N_{k-1}.2
    and the destination is 10.231.N_3.2. With alternate=True a fourth router "r2b" links r1 and r3
    (links 4: r1-r2b and 5: r2b-r3); use_alternate() sends r1's traffic for the destination
    through it (ip route replace), use_primary() back. ICMP rate limits are off on every router
    (Linux limits time-exceeded to 1/s per peer by default), rate_limit_icmp() turns one back on.
    """

    ROUTERS = ("r1", "r2", "r3")

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.ns: dict[str, str] = {}  # role (r1, r2, r3, r2b, dst) -> namespace
        self.links: list[_Link] = []
        self.alternate = False

    # --- addresses -----------------------------------------------------------------------------
    @property
    def address(self) -> str:
        return self.links[3].v4(2)

    @property
    def address6(self) -> str:
        return self.links[3].v6(2)

    def hop_addresses(self, family: int = 4, *, alternate: bool = False) -> list[str]:
        """The four addresses a trace finds, in hop order (r1, r2 or r2b, r3, destination)."""
        # r3 answers from its link back to the root, r2-r3 (its default route), on either path
        links = [self.links[0], self.links[4], self.links[2], self.links[3]] if alternate else self.links[:4]
        return [link.v6(2) if family == 6 else link.v4(2) for link in links]

    # --- impairments -----------------------------------------------------------------------------
    def drop_forwarded(self, loss_pct: float, router: str = "r2") -> None:
        """nft: `router` drops this share of the packets it forwards towards the destination."""
        if not 0 <= loss_pct <= 100:
            raise ValueError(f"loss_pct must be 0..100, got {loss_pct}")
        threshold = round(loss_pct)
        out_if = self._downstream_if(router)
        rules = "flush chain inet qostui_path forward\n"
        if threshold >= 100:
            rules += f'add rule inet qostui_path forward oifname "{out_if}" counter drop\n'
        elif threshold > 0:
            rules += (f'add rule inet qostui_path forward oifname "{out_if}" '
                      f"numgen random mod 100 < {threshold} counter drop\n")
        _in(self.ns[router], "nft", "-f", "-", input_text=rules)

    def dropped_packets(self, router: str = "r2") -> int:
        out = _in(self.ns[router], "nft", "list", "chain", "inet", "qostui_path", "forward")
        match = re.search(r"counter packets (\d+)", out)
        return int(match.group(1)) if match else 0

    def rate_limit_icmp(self, router: str = "r1", ratelimit_ms: int = 1000) -> None:
        """Limit `router`'s ICMP errors (time-exceeded included) to one per ratelimit_ms per peer."""
        ns = self.ns[router]
        _in(ns, "sysctl", "-q", "-w", f"net.ipv4.icmp_ratelimit={ratelimit_ms}",
            "net.ipv4.icmp_ratemask=6168", f"net.ipv6.icmp.ratelimit={ratelimit_ms}")

    def use_alternate(self) -> None:
        if not self.alternate:
            raise LabError("build the chain with add_chain(alternate=True) to switch routes")
        self._route_r1_via(self.links[4])

    def use_primary(self) -> None:
        self._route_r1_via(self.links[1])

    def _route_r1_via(self, link: _Link) -> None:
        for net4, net6 in ((self.links[3].net4, self.links[3].net6), (self.links[2].net4, self.links[2].net6)):
            _in(self.ns["r1"], "ip", "route", "replace", net4, "via", link.v4(2))
            _in(self.ns["r1"], "ip", "-6", "route", "replace", net6, "via", link.v6(2))

    def add_client(self, *, ping_group_range: str = "0 2147483647") -> tuple[str, list[str], list[str]]:
        """A second host namespace on r1 (its own link), for tests that must not touch the root's
        sysctls (e.g. net.ipv4.ping_group_range for unprivileged ICMP, set here in the client only).

        Returns (namespace, IPv4 hops, IPv6 hops) as seen from it: r1 answers from its address on
        the client's link, the later hops as from the root.
        """
        role = f"client{sum(r.startswith('client') for r in self.ns) + 1}"
        ns = self.ns[role] = f"{NS_PREFIX}{os.getpid()}-{next(_ns_counter)}"
        with _global_lock():
            run("ip", "netns", "add", ns)
            index = next((n for n in range(1, 255) if n not in _root_lab_ifaces()), None)
            if index is None:
                raise LabError("all 254 lab subnets are in use")
            link = _Link(index, self.ns["r1"], ns)
            self.links.append(link)
            run("ip", "link", "add", f"{IF_PREFIX}{index}", "type", "veth", "peer", "name", f"{IF_PREFIX}{index}r")
            run("ip", "-n", link.up_ns, "link", "add", link.up_if, "type", "veth",
                "peer", "name", link.down_if, "netns", ns)
        run("ip", "-n", ns, "link", "set", "lo", "up")
        _in(ns, "sysctl", "-q", "-w", f"net.ipv4.ping_group_range={ping_group_range}")
        for side, ifname, end in ((link.up_ns, link.up_if, 1), (ns, link.down_if, 2)):
            run("ip", "-n", side, "addr", "add", f"{link.v4(end)}/30", "dev", ifname)
            run("ip", "-n", side, "addr", "add", f"{link.v6(end)}/64", "dev", ifname, "nodad")
            run("ip", "-n", side, "link", "set", ifname, "up")
        self._pin(link)
        run("ip", "-n", ns, "route", "add", "default", "via", link.v4(1))
        run("ip", "-n", ns, "-6", "route", "add", "default", "via", link.v6(1))
        hops4 = [link.v4(1), *self.hop_addresses(4)[1:]]
        hops6 = [link.v6(1), *self.hop_addresses(6)[1:]]
        return ns, hops4, hops6

    def _downstream_if(self, router: str) -> str:
        ns = self.ns[router]
        for link in self.links:
            if link.up_ns == ns:
                return link.up_if
        raise LabError(f"{router} has no downstream link")

    # --- building --------------------------------------------------------------------------------
    def _build(self, alternate: bool) -> None:
        self.alternate = alternate
        roles = ["r1", "r2", "r3", "dst"] + (["r2b"] if alternate else [])
        pid = os.getpid()
        with _global_lock():
            for role in roles:
                ns = self.ns[role] = f"{NS_PREFIX}{pid}-{next(_ns_counter)}"
                run("ip", "netns", "add", ns)
                forward = "1" if role != "dst" else "0"
                # rp_filter off: on the alternate path r3 receives from a link it does not route back by
                _in(ns, "sysctl", "-q", "-w", f"net.ipv4.ip_forward={forward}",
                    f"net.ipv6.conf.all.forwarding={forward}", "net.ipv4.icmp_ratelimit=0",
                    "net.ipv6.icmp.ratelimit=0", "net.ipv4.conf.all.rp_filter=0",
                    "net.ipv4.conf.default.rp_filter=0")
            pairs = [("", "r1"), ("r1", "r2"), ("r2", "r3"), ("r3", "dst")]
            if alternate:
                pairs += [("r1", "r2b"), ("r2b", "r3")]
            used = _root_lab_ifaces()
            free = (n for n in range(1, 255) if n not in used)
            for up, down in pairs:
                index = next(free, None)
                if index is None:
                    raise LabError("all 254 lab subnets are in use")
                link = _Link(index, self.ns[up] if up else "", self.ns[down])
                self.links.append(link)
                if link.up_ns:  # reserve N in the root; the veth lives between two namespaces
                    run("ip", "link", "add", f"{IF_PREFIX}{index}", "type", "veth", "peer", "name",
                        f"{IF_PREFIX}{index}r")  # a placeholder pair, left down
                    run("ip", "-n", link.up_ns, "link", "add", link.up_if, "type", "veth",
                        "peer", "name", link.down_if, "netns", link.down_ns)
                else:
                    run("ip", "link", "add", link.up_if, "type", "veth", "peer", "name", link.down_if,
                        "netns", link.down_ns)
        for role in roles:
            run("ip", "-n", self.ns[role], "link", "set", "lo", "up")
        for link in self.links:
            for ns, ifname, end in ((link.up_ns, link.up_if, 1), (link.down_ns, link.down_if, 2)):
                pre = ("-n", ns) if ns else ()
                run("ip", *pre, "addr", "add", f"{link.v4(end)}/30", "dev", ifname)
                run("ip", *pre, "addr", "add", f"{link.v6(end)}/64", "dev", ifname, "nodad")
                run("ip", *pre, "link", "set", ifname, "up")
            self._pin(link)
        l0, l1, l2, l3 = self.links[:4]
        r1, r2, r3, dst = (self.ns[r] for r in ("r1", "r2", "r3", "dst"))
        # Every namespace's default route points back towards the root; forward routes go down.
        routes = [
            ("", [(link.net4, link.net6, l0) for link in self.links[1:]]),
            (r1, [("default", "default", l0, "up")] + [(n.net4, n.net6, l1) for n in (l2, l3)]),
            (r2, [("default", "default", l1, "up"), (l3.net4, l3.net6, l2)]),
            (r3, [("default", "default", l2, "up")]),
            (dst, [("default", "default", l3, "up")]),
        ]
        if alternate:
            l4, l5 = self.links[4], self.links[5]
            routes[1][1].append((l5.net4, l5.net6, l4))
            routes.append((self.ns["r2b"], [("default", "default", l4, "up"), (l2.net4, l2.net6, l5),
                                            (l3.net4, l3.net6, l5)]))
        for ns, entries in routes:
            pre = ("-n", ns) if ns else ()
            for entry in entries:
                net4, net6, link = entry[0], entry[1], entry[2]
                end = 1 if len(entry) > 3 else 2  # "up": the link's upstream end is the next hop
                run("ip", *pre, "route", "replace", net4, "via", link.v4(end))
                run("ip", *pre, "-6", "route", "replace", net6, "via", link.v6(end))
        for role in roles:  # the drop table, empty until drop_forwarded()
            table = ("table inet qostui_path {\n"
                     "  chain forward { type filter hook forward priority 0; policy accept; }\n}\n")
            _in(self.ns[role], "nft", "-f", "-", input_text=table)
        self._wait_ready()

    def _pin(self, link: _Link) -> None:
        """Permanent neighbour entries (IPv4 and IPv6) both ways: no resolution delay or loss."""
        def mac(ns: str, ifname: str) -> str:
            pre = ("-n", ns) if ns else ()
            return json.loads(run("ip", *pre, "-j", "link", "show", ifname))[0]["address"]

        up_mac, down_mac = mac(link.up_ns, link.up_if), mac(link.down_ns, link.down_if)
        for ns, ifname, peer_end, peer_mac in ((link.up_ns, link.up_if, 2, down_mac),
                                               (link.down_ns, link.down_if, 1, up_mac)):
            pre = ("-n", ns) if ns else ()
            for addr in (link.v4(peer_end), link.v6(peer_end)):
                run("ip", *pre, "neigh", "replace", addr, "lladdr", peer_mac, "dev", ifname, "nud", "permanent")

    def _wait_ready(self) -> None:
        """The destination answers both families through the chain (links up, routes in place)."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            ok4 = subprocess.run(["ping", "-n", "-q", "-c", "1", "-W", "1", self.address],
                                 capture_output=True).returncode == 0
            ok6 = subprocess.run(["ping", "-6", "-n", "-q", "-c", "1", "-W", "1", self.address6],
                                 capture_output=True).returncode == 0
            if ok4 and ok6:
                return
            time.sleep(0.1)
        raise LabError(f"routed chain: {self.address} / {self.address6} not reachable after 15 s")

    def _teardown(self) -> None:
        for ns in self.ns.values():
            _kill_namespace_pids(ns)
        for link in self.links:
            run("ip", "link", "del", f"{IF_PREFIX}{link.index}", check=False)  # root veth or placeholder
        for ns in self.ns.values():
            run("ip", "netns", "del", ns, check=False)
        self.links.clear()
        self.ns.clear()


def ping_rtts_ms(address: str, count: int = 10, interval_s: float = 0.2) -> tuple[list[float], float]:
    """iputils ping: (each reply's RTT in ms, loss %). Callers take the median or the minimum: a busy
    machine only ever adds to a reply's time, so the mean of a few replies says more about the load."""
    out = run("ping", "-n", "-c", str(count), "-i", f"{interval_s:g}", address,
              check=False, timeout_s=count * interval_s + 10)
    rtts_ms = [float(x) for x in re.findall(r"time=([\d.]+) ms", out)]
    loss = re.search(r"([\d.]+)% packet loss", out)
    if loss is None:
        raise LabError(f"cannot parse ping output: {out!r}")
    return rtts_ms, float(loss.group(1))


def qostui_rounds(
    addresses: str | list[str], *, rounds: int, count: int, spacing_ms: float, timeout_ms: float = 1000.0
) -> list[list[PingRound]]:
    """Run qostui's PingProber for `rounds` rounds; one list of PingRound (one per address) each."""
    from dataclasses import replace

    from qostui.config import Config, parse_targets_arg
    from qostui.probes import PingProber

    text = addresses if isinstance(addresses, str) else ",".join(addresses)
    base = Config()
    worst_s = ((count - 1) * spacing_ms + timeout_ms) / 1000
    config = base.with_overrides(
        targets=parse_targets_arg(text),
        interval_s=max(1.0, worst_s / 0.9 + 1),  # roomy, so effective_probe() never shrinks timings
        probe=replace(base.probe, method="icmp", count=count, spacing_ms=spacing_ms, timeout_ms=timeout_ms),
    )
    prober = PingProber(config)
    try:
        return [prober.run_round() for _ in range(rounds)]
    finally:
        prober.close()


def mean_rtt_ms(rounds: list[list[PingRound]], index: int = 0) -> tuple[float, int, int]:
    """(mean of every received probe's RTT, probes sent, probes received) for one target."""
    rtts = [rtt for batch in rounds for rtt in batch[index].rtts_ms if rtt is not None]
    sent = sum(batch[index].sent for batch in rounds)
    received = sum(batch[index].received for batch in rounds)
    return (sum(rtts) / len(rtts) if rtts else float("nan")), sent, received


try:  # the fixture is only defined under pytest; bench scripts import this module without it
    import pytest
except ImportError:  # pragma: no cover
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(name="lab")
    def lab_fixture() -> Iterator[Lab]:
        """A Lab for one test (skips, or fails under QOSTUI_REQUIRE_LAB=1, without root or tools)."""
        from conftest import need_root, need_tool  # tests/conftest.py; imported late to avoid a cycle

        need_root()
        for tool in ("ip", "nft", "tc"):
            need_tool(tool)
        with Lab() as lab:
            yield lab
