"""Name resolution with a cache: a name resolves once; failures are retried at most every N seconds."""

from __future__ import annotations

import functools
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

log = logging.getLogger(__name__)

__all__ = ["Resolution", "Resolver", "resolve_once", "reverse_name"]


@dataclass(frozen=True, slots=True)
class Resolution:
    """`address` ("" when unresolved), its family, and why it failed."""

    name: str
    address: str
    family: int  # socket.AF_INET | socket.AF_INET6 | 0 when unresolved
    error: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.address)


def literal(name: str) -> Resolution | None:
    """An IP literal resolves to itself (normalised), without a system call."""
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return None
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    return Resolution(name, ip.compressed, family)


def _getaddrinfo(name: str) -> Resolution:
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_UNSPEC, socket.SOCK_RAW)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        return Resolution(name, "", 0, f"cannot resolve {name!r}: {reason}")
    for family, _type, _proto, _canon, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            host = str(sockaddr[0]).split("%", 1)[0]
            return Resolution(name, ipaddress.ip_address(host).compressed, family)
    return Resolution(name, "", 0, f"cannot resolve {name!r}: no IPv4 or IPv6 address")


class Resolver:
    """Caches successful resolutions for good; retries a failed name after `retry_s`."""

    def __init__(
        self, retry_s: float = 60.0, *, lookup: Callable[[str], Resolution] = _getaddrinfo,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.retry_s = retry_s
        self._lookup = lookup
        self._clock = clock
        self._ok: dict[str, Resolution] = {}
        self._failed: dict[str, tuple[float, Resolution]] = {}  # name -> (when, result)
        self._lock = threading.Lock()

    def resolve_all(self, names: Iterable[str]) -> dict[str, Resolution]:
        """Every name's resolution; the ones due for a lookup are resolved in parallel."""
        out: dict[str, Resolution] = {}
        due: list[str] = []
        now = self._clock()
        with self._lock:
            for name in dict.fromkeys(names):
                lit = literal(name)
                if lit is not None:
                    out[name] = lit
                elif name in self._ok:
                    out[name] = self._ok[name]
                elif name in self._failed and now - self._failed[name][0] < self.retry_s:
                    out[name] = self._failed[name][1]
                else:
                    due.append(name)
        if due:
            if len(due) == 1:
                results = [self._lookup(due[0])]
            else:
                with ThreadPoolExecutor(max_workers=min(16, len(due)), thread_name_prefix="resolve") as pool:
                    results = list(pool.map(self._lookup, due))
            now = self._clock()
            with self._lock:
                for name, res in zip(due, results, strict=True):
                    if res.ok:
                        self._ok[name] = res
                        self._failed.pop(name, None)
                    else:
                        if name not in self._failed:
                            log.warning("%s", res.error)
                        self._failed[name] = (now, res)
                    out[name] = res
        return out

    def resolve(self, name: str) -> Resolution:
        return self.resolve_all([name])[name]


@functools.lru_cache(maxsize=4096)
def reverse_name(address: str) -> str:
    """Reverse DNS name of an address ("" when it has none); cached for the process."""
    if not address:
        return ""
    try:
        return socket.gethostbyaddr(address)[0]
    except (OSError, UnicodeError):
        return ""


def resolve_once(name: str) -> Resolution:
    """One lookup without the cache or its warning (one-shot commands report the error themselves)."""
    return literal(name) or _getaddrinfo(name)
