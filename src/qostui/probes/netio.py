"""Interface throughput from the kernel's byte counters (psutil), in SI Mbps (1e6 bit/s).

`BandwidthMeter.sample()` reads all counters once per call and turns the difference to the previous
call into rx/tx rates over the elapsed monotonic interval. Counters that go down (a driver reset,
an interface re-created under the same name) count from zero for that interval, so a rate is never
negative; interfaces that appear are primed silently and interfaces that vanish are skipped.
No UI or storage imports here.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from qostui.records import BandwidthSample

__all__ = ["ALL_INTERFACES", "BandwidthMeter", "default_interfaces"]

log = logging.getLogger(__name__)

ALL_INTERFACES = "all"  # the sample name when every non-loopback interface is summed

_RTF_UP = 0x0001
_RTF_REJECT = 0x0200  # "unreachable"/"prohibit" routes: not a way out
_LOOPBACK_RE = re.compile(r"lo\d*")


class _Counters(NamedTuple):
    bytes_recv: int
    bytes_sent: int


CountersFn = Callable[[], Mapping[str, Any]]


def _psutil_counters() -> Mapping[str, Any]:
    import psutil

    # nowrap=False: psutil's wrap cache is process-global and would hide resets we handle ourselves.
    return psutil.net_io_counters(pernic=True, nowrap=False)


def is_loopback(name: str) -> bool:
    return _LOOPBACK_RE.fullmatch(name) is not None


def _default_route_v4(text: str) -> list[tuple[int, str]]:
    """(metric, interface) for every usable IPv4 default route in /proc/net/route text."""
    found = []
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8:
            continue
        iface, dest, flags, metric, mask = cols[0], cols[1], cols[3], cols[6], cols[7]
        try:
            flag_bits = int(flags, 16)
            if int(dest, 16) != 0 or int(mask, 16) != 0:
                continue
            if not flag_bits & _RTF_UP or flag_bits & _RTF_REJECT:
                continue
            found.append((int(metric), iface))
        except ValueError:
            continue
    return found


def _default_route_v6(text: str) -> list[tuple[int, str]]:
    """(metric, interface) for every usable IPv6 default route in /proc/net/ipv6_route text."""
    found = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 10:
            continue
        dest, plen, metric, flags, iface = cols[0], cols[1], cols[5], cols[8], cols[9]
        try:
            flag_bits = int(flags, 16)
            if int(dest, 16) != 0 or int(plen, 16) != 0:
                continue
            if not flag_bits & _RTF_UP or flag_bits & _RTF_REJECT or is_loopback(iface):
                continue
            found.append((int(metric, 16), iface))
        except ValueError:
            continue
    return found


def default_interfaces(proc_net: Path | str = "/proc/net") -> tuple[str, ...]:
    """The interface holding the default route (IPv4 first, then IPv6), or () when there is none.

    With several default routes the lowest metric wins; only one interface is returned so the
    reading is "the uplink", not a sum of unrelated links.
    """
    base = Path(proc_net)
    for name, parse in (("route", _default_route_v4), ("ipv6_route", _default_route_v6)):
        try:
            text = (base / name).read_text(encoding="ascii", errors="replace")
        except OSError:  # no /proc (macOS, containers without it) or no IPv6
            continue
        routes = sorted(parse(text))
        if routes:
            return (routes[0][1],)
    return ()


class BandwidthMeter:
    """rx/tx Mbps per interface between consecutive `sample()` calls.

    interfaces=() follows the default route: each sample reports the interface holding it at that
    moment (re-read from /proc on every call, so a switch from Wi-Fi to Ethernet is followed), or,
    when there is no default route, the sum of all non-loopback interfaces under the name "all".
    Explicit names that do not exist (yet) are watched anyway and report once they appear.
    """

    def __init__(
        self,
        interfaces: tuple[str, ...] = (),
        *,
        counters: CountersFn | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        proc_net: Path | str = "/proc/net",
    ) -> None:
        self._counters_fn: CountersFn = counters or _psutil_counters
        self._clock = clock
        self._wall_clock = wall_clock
        self._proc_net = proc_net
        self._fixed = tuple(interfaces)
        self.interfaces: tuple[str, ...] = ()
        self.sum_all = False
        self._choose()
        self._warn_missing()
        # Counters of every interface (not only the watched ones), so a default-route switch
        # has a previous reading for the new interface and needs no priming round.
        self._prev: dict[str, _Counters] | None = None
        self._prev_t = 0.0

    def _choose(self) -> None:
        chosen = self._fixed or default_interfaces(self._proc_net)
        self.sum_all = not chosen  # no default route: sum every non-loopback interface
        self.interfaces = (ALL_INTERFACES,) if self.sum_all else chosen

    def _warn_missing(self) -> None:
        """One line for configured interfaces that do not exist now, so an empty chart has a reason."""
        if not self._fixed:
            return
        try:
            present = sorted(self._counters_fn())
        except Exception:  # counters unreadable: sample() will say so
            return
        missing = [name for name in self._fixed if name not in present]
        if missing:
            log.warning(
                "bandwidth: interface(s) %s do not exist (existing: %s); nothing is recorded for them "
                "until they appear",
                ", ".join(missing),
                ", ".join(present) or "none",
            )

    def _read(self) -> dict[str, _Counters]:
        return {name: _Counters(int(c.bytes_recv), int(c.bytes_sent)) for name, c in self._counters_fn().items()}

    def reset(self) -> None:
        """Forget the previous reading: the next `sample()` primes again and returns []."""
        self._prev = None

    def sample(self) -> list[BandwidthSample]:
        """One sample per watched interface; [] on the first call (it only primes the counters)."""
        now = self._clock()
        ts = self._wall_clock()
        current = self._read()
        if not self._fixed:
            self._choose()
        prev, prev_t = self._prev, self._prev_t
        self._prev, self._prev_t = current, now
        if prev is None:
            return []
        elapsed_s = now - prev_t
        if elapsed_s <= 0:  # two calls within the clock's resolution: no interval to divide by
            return []
        deltas: dict[str, tuple[int, int]] = {}
        for name, cur in current.items():
            old = prev.get(name)
            if old is None:  # appeared since the last call: it has just been primed
                continue
            if self.sum_all and is_loopback(name):
                continue
            deltas[name] = (_delta(old.bytes_recv, cur.bytes_recv), _delta(old.bytes_sent, cur.bytes_sent))
        if self.sum_all:
            if not deltas:
                return []
            # Summing per-interface deltas (not totals) keeps a vanished interface from looking
            # like a counter reset of the sum.
            deltas = {ALL_INTERFACES: (sum(d[0] for d in deltas.values()), sum(d[1] for d in deltas.values()))}
        scale = 8 / 1e6 / elapsed_s
        samples = []
        for name in self.interfaces:  # configured order, so samples line up across calls
            if name not in deltas:
                continue
            rx_bytes, tx_bytes = deltas[name]
            samples.append(
                BandwidthSample(
                    ts=ts, interface=name, rx_mbps=rx_bytes * scale, tx_mbps=tx_bytes * scale, interval_s=elapsed_s
                )
            )
        return samples


def _delta(old: int, new: int) -> int:
    """Bytes moved between two readings; a counter that went down restarted from zero."""
    return new - old if new >= old else new
