"""A network lab for real-network tests: hosts in network namespaces on 10.231.0.0/16.

    with Lab() as lab:
        h = lab.add_host("delay", delay_ms=50)     # userspace echo responder answering after 50 ms
        l = lab.add_host("loss", loss_pct=20)      # nftables drops 20% of incoming echo requests
        l.set_loss(30)
        b = lab.add_host("bw", rate_mbit=50)       # tbf-limited veth and an iperf3 server
        h.address, h.root_ifname, lab.unroutable_address

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
        with _global_lock():
            if not _root_lab_ifaces():
                run("ip", "route", "del", "unreachable", LAB_NET, check=False)
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

    def _wait_reachable(self, host: LabHost) -> None:
        """Wait for the veth to carry traffic (neighbour discovery, link up) before handing it out."""
        deadline = time.monotonic() + 120  # generous: returns as soon as the link is up
        while time.monotonic() < deadline:
            state = run("ip", "-br", "link", "show", host.root_ifname, check=False)
            if " UP " in f" {state} " or "LOWER_UP" in state:
                return
            time.sleep(0.05)
        raise LabError(f"{host.root_ifname} did not come up")


def ping_avg_ms(address: str, count: int = 10, interval_s: float = 0.2) -> tuple[float, float]:
    """iputils ping: (rtt avg ms, loss %) from its summary lines."""
    out = run("ping", "-n", "-c", str(count), "-i", f"{interval_s:g}", "-q", address,
              check=False, timeout_s=count * interval_s + 10)
    rtt = re.search(r"= [\d.]+/([\d.]+)/[\d.]+/[\d.]+ ms", out)
    loss = re.search(r"([\d.]+)% packet loss", out)
    if rtt is None or loss is None:
        raise LabError(f"cannot parse ping output: {out!r}")
    return float(rtt.group(1)), float(loss.group(1))


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
