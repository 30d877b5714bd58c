"""Schedules probes on drift-free clocks in worker threads and publishes their records on the bus."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

from qostui.bus import Bus
from qostui.config import Config
from qostui.records import BandwidthSample, PingRound

log = logging.getLogger(__name__)


class PingProberLike(Protocol):
    def run_round(self) -> list[PingRound]: ...
    def close(self) -> None: ...


class BandwidthMeterLike(Protocol):
    def sample(self) -> list[BandwidthSample]: ...


class Collector:
    """Runs one ping thread and one bandwidth thread, each on its own fixed schedule.

    Slot k of a schedule starts at start + k*interval (monotonic clock), so rounds never drift;
    a round that overruns skips the slots it missed rather than bunching up.
    """

    def __init__(
        self,
        config: Config,
        bus: Bus,
        *,
        prober: PingProberLike | None = None,
        meter: BandwidthMeterLike | None = None,
    ) -> None:
        self.config = config
        self.bus = bus
        if prober is None:
            from qostui.probes import PingProber

            prober = PingProber(config)
        if meter is None and config.bandwidth.enabled:
            from qostui.probes.netio import BandwidthMeter

            meter = BandwidthMeter(config.bandwidth.interfaces)
        self.prober = prober
        self.meter = meter
        self.rounds_done = 0
        self.rounds_late = 0  # rounds that did not finish inside their interval
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- control -------------------------------------------------------------------------
    def start(self) -> None:
        self._threads = [threading.Thread(target=self._ping_loop, name="probe-ping", daemon=True)]
        if self.meter is not None:
            self._threads.append(threading.Thread(target=self._bandwidth_loop, name="probe-netio", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop scheduling; a round under way finishes and is published first."""
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.prober.close()

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # --- loops -----------------------------------------------------------------------------
    def _ping_loop(self) -> None:
        def one_round() -> None:
            started = time.monotonic()
            rounds = self.prober.run_round()
            if time.monotonic() - started > self.config.interval_s:
                self.rounds_late += 1
            self.rounds_done += 1
            self.bus.publish(rounds)

        self._run_schedule(one_round)

    def _bandwidth_loop(self) -> None:
        assert self.meter is not None
        meter = self.meter
        meter.sample()  # prime the counters: the first reading has no interval yet

        def one_sample() -> None:
            self.bus.publish(meter.sample())

        self._run_schedule(one_sample, first_delay=True)

    def _run_schedule(self, work: Callable[[], None], *, first_delay: bool = False) -> None:
        interval = self.config.interval_s
        start = time.monotonic()
        slot = 1 if first_delay else 0
        while not self._stop.is_set():
            due = start + slot * interval
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            if not self._paused.is_set():
                try:
                    work()
                except Exception:  # a probe bug must not end probing for good
                    log.exception("probe round failed")
            slot = max(slot + 1, math.floor((time.monotonic() - start) / interval) + 1)

