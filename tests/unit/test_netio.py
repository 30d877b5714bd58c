"""BandwidthMeter: rates from counters, resets, interfaces coming and going, default-route parsing.

Counter edge cases (resets, vanishing interfaces) use a scripted counter source because a real
kernel cannot be made to reset a counter on demand; one test measures real loopback traffic.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from qostui.probes.netio import ALL_INTERFACES, BandwidthMeter, default_interfaces


class Script:
    """A fake clock plus counter readings the test sets before each sample()."""

    def __init__(self) -> None:
        self.t = 100.0
        self.nics: dict[str, tuple[int, int]] = {}

    def clock(self) -> float:
        return self.t

    def counters(self) -> dict[str, SimpleNamespace]:
        return {n: SimpleNamespace(bytes_recv=rx, bytes_sent=tx) for n, (rx, tx) in self.nics.items()}

    def meter(self, interfaces: tuple[str, ...] = (), proc_net: Path | str = "/nonexistent") -> BandwidthMeter:
        return BandwidthMeter(
            interfaces, counters=self.counters, clock=self.clock, wall_clock=lambda: 5000.0 + self.t, proc_net=proc_net
        )


def test_first_call_primes_then_rates_in_si_mbps() -> None:
    s = Script()
    s.nics = {"eth0": (0, 0)}
    m = s.meter(("eth0",))
    assert m.sample() == []
    s.t += 2.0
    s.nics = {"eth0": (25_000_000, 1_250_000)}  # 200 Mbit and 10 Mbit in 2 s
    (sample,) = m.sample()
    assert sample.interface == "eth0"
    assert sample.rx_mbps == pytest.approx(100.0)
    assert sample.tx_mbps == pytest.approx(5.0)
    assert sample.interval_s == pytest.approx(2.0)
    assert sample.ts == pytest.approx(5000.0 + s.t)


def test_counter_reset_counts_from_zero_never_negative() -> None:
    s = Script()
    s.nics = {"eth0": (10_000_000, 10_000_000)}
    m = s.meter(("eth0",))
    m.sample()
    s.t += 1.0
    s.nics = {"eth0": (125_000, 10_000_500)}  # rx reset to 125 kB (1 Mbit); tx moved on normally
    (sample,) = m.sample()
    assert sample.rx_mbps == pytest.approx(1.0)
    assert sample.tx_mbps == pytest.approx(500 * 8 / 1e6)
    s.t += 1.0
    s.nics = {"eth0": (250_000, 10_000_500)}  # after the reset, deltas continue from the new base
    (sample,) = m.sample()
    assert sample.rx_mbps == pytest.approx(1.0)
    assert sample.tx_mbps == 0.0


def test_interface_appearing_is_primed_and_vanishing_is_skipped() -> None:
    s = Script()
    s.nics = {"eth0": (0, 0)}
    m = s.meter(("eth0", "wlan0"))
    m.sample()
    s.t += 1.0
    s.nics = {"eth0": (125_000, 0), "wlan0": (9_999_999, 9_999_999)}  # wlan0 appears with old totals
    assert [x.interface for x in m.sample()] == ["eth0"]
    s.t += 1.0
    s.nics = {"eth0": (250_000, 0), "wlan0": (10_125_000 - 1, 9_999_999)}
    by_name = {x.interface: x for x in m.sample()}
    assert set(by_name) == {"eth0", "wlan0"}
    assert by_name["wlan0"].rx_mbps == pytest.approx(1.0)
    s.t += 1.0
    s.nics = {"wlan0": (10_250_000 - 1, 9_999_999)}  # eth0 vanished
    assert [x.interface for x in m.sample()] == ["wlan0"]


def test_no_default_route_sums_non_loopback_deltas() -> None:
    s = Script()
    s.nics = {"lo": (0, 0), "eth0": (0, 0), "wlan0": (1000, 0)}
    m = s.meter()  # proc_net does not exist -> no default route -> sum
    assert m.interfaces == (ALL_INTERFACES,)
    m.sample()
    s.t += 1.0
    s.nics = {"lo": (10**9, 10**9), "eth0": (125_000, 0), "wlan0": (1000 + 250_000, 0)}
    (sample,) = m.sample()
    assert sample.interface == ALL_INTERFACES
    assert sample.rx_mbps == pytest.approx(3.0)  # loopback traffic is not counted
    s.t += 1.0
    s.nics = {"lo": (10**9, 10**9), "eth0": (250_000, 0)}  # wlan0 vanished: the sum must not dip
    (sample,) = m.sample()
    assert sample.rx_mbps == pytest.approx(1.0)


def test_zero_elapsed_returns_nothing() -> None:
    s = Script()
    s.nics = {"eth0": (0, 0)}
    m = s.meter(("eth0",))
    m.sample()
    assert m.sample() == []


def _write_proc(tmp_path: Path, route: str, ipv6_route: str = "") -> Path:
    (tmp_path / "route").write_text(route)
    (tmp_path / "ipv6_route").write_text(ipv6_route)
    return tmp_path


ROUTE_HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"


def test_default_interface_from_proc_net_route(tmp_path: Path) -> None:
    route = (
        ROUTE_HEADER
        + "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        + "wlan0\t00000000\t010200C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
        + "eth1\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
    )
    assert default_interfaces(_write_proc(tmp_path, route)) == ("eth1",)  # lowest metric wins


def test_default_interface_ignores_unreachable_and_falls_back_to_ipv6(tmp_path: Path) -> None:
    route = ROUTE_HEADER + "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
    v6 = (
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "fd000000000000000000000000000001 00000400 00000002 00000000 00000003     wg0\n"
    )
    assert default_interfaces(_write_proc(tmp_path, route, v6)) == ("wg0",)
    assert default_interfaces(_write_proc(tmp_path, route, v6.splitlines()[0] + "\n")) == ()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="loopback is named 'lo' on Linux")
def test_real_loopback_traffic_is_measured() -> None:
    """Send a known number of UDP bytes over lo and find them in the meter's figure."""
    meter = BandwidthMeter(("lo",))
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.bind(("127.0.0.1", 0))
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        addr = rx.getsockname()
        payload = b"x" * 1000
        n_packets = 2000  # 2 MB payload, bounded
        assert meter.sample() == []
        start = time.monotonic()
        for _ in range(n_packets):
            tx.sendto(payload, addr)
        (sample,) = meter.sample()
        elapsed_s = time.monotonic() - start
    finally:
        rx.close()
        tx.close()
    sent_mbit = n_packets * len(payload) * 8 / 1e6
    # Other processes may use lo too, and headers add ~3%; our own bytes are the floor.
    assert sample.interface == "lo"
    assert sample.tx_mbps * sample.interval_s >= sent_mbit
    assert sample.rx_mbps * sample.interval_s >= sent_mbit
    assert sample.interval_s >= elapsed_s * 0.5


def test_follows_a_default_route_switch(tmp_path: Path) -> None:
    s = Script()
    s.nics = {"eth0": (0, 0), "wlan0": (0, 0)}
    route = ROUTE_HEADER + "wlan0\t00000000\t010200C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
    proc = _write_proc(tmp_path, route)
    m = s.meter(proc_net=proc)
    assert m.interfaces == ("wlan0",)
    m.sample()
    s.t += 1.0
    s.nics = {"eth0": (125_000, 0), "wlan0": (250_000, 0)}
    (sample,) = m.sample()
    assert (sample.interface, sample.rx_mbps) == ("wlan0", pytest.approx(2.0))
    (proc / "route").write_text(route.replace("wlan0", "eth0"))  # cable plugged in
    s.t += 1.0
    s.nics = {"eth0": (250_000, 0), "wlan0": (250_000, 0)}
    (sample,) = m.sample()  # no priming gap: eth0's previous reading was kept
    assert (sample.interface, sample.rx_mbps) == ("eth0", pytest.approx(1.0))
    (proc / "route").write_text(ROUTE_HEADER)  # no default route at all: sum of everything
    s.t += 1.0
    s.nics = {"eth0": (375_000, 0), "wlan0": (375_000, 0), "lo": (9, 9)}
    (sample,) = m.sample()
    assert (sample.interface, sample.rx_mbps) == (ALL_INTERFACES, pytest.approx(2.0))
