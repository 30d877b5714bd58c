"""Shared helpers for the UI tests: configs, fixed records, screen text, waiting with a bound."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

from textual.app import App
from textual.color import Color
from textual.pilot import Pilot

from conftest import PATIENCE_S
from qostui.config import Config, parse_targets_arg
from qostui.pipeline import Pipeline
from qostui.records import BandwidthSample, PingRound, ProbeState, Record
from qostui.ui.app import QostuiApp

LOOPBACK = "127.0.0.1,127.0.0.2,::1"
T0 = 1_700_000_000.0  # fixed clock for snapshot records (2023-11-14 22:13:20 UTC)


def live_config(db: Path, targets: str = LOOPBACK, *, interval_s: float = 0.5, count: int = 2) -> Config:
    """A fast config against loopback only: small rounds, a tmp store, quick flushes."""
    base = Config()
    return base.with_overrides(
        targets=parse_targets_arg(targets),
        interval_s=interval_s,
        probe=replace(base.probe, method="icmp", count=count, spacing_ms=20.0, timeout_ms=200.0),
        store=replace(base.store, path=str(db), flush_interval_s=0.2),
    )


@contextlib.asynccontextmanager
async def live_app(config: Config, size: tuple[int, int]) -> AsyncIterator[tuple[QostuiApp, Pilot]]:
    """The app with its real probing pipeline under Textual's pilot; the pipeline is stopped (and
    the store flushed) on the way out, whatever the test did."""
    app = QostuiApp(config, pipeline=Pipeline(config), remember_theme=False)
    try:
        async with app.run_test(size=size) as pilot:
            yield app, pilot
    finally:
        app.stop_pipeline()


def offline_config(targets: str = LOOPBACK, *, history_rounds: int = 120, view: str = "auto") -> Config:
    base = Config()
    return base.with_overrides(
        targets=parse_targets_arg(targets),
        interval_s=1.0,
        store=replace(base.store, path="/var/tmp/qostui-snapshot.db"),  # shown in the header only
        ui=replace(base.ui, history_rounds=history_rounds, view=view, timezone="UTC"),  # stable snapshots
    )


def fixed_records(n: int, targets: tuple[str, ...] = ("127.0.0.1", "127.0.0.2", "::1"), t0: float = T0) -> list[Record]:
    """Deterministic rounds: a lossy second target, an unreachable third one near the end."""
    out: list[Record] = []
    for i in range(n):
        ts = t0 + i
        for j, target in enumerate(targets):
            if j == 2 and i >= n - 3:
                out.append(PingRound(ts=ts, target=target, address="", probe="icmp", state=ProbeState.NO_ROUTE,
                                     sent=0, received=0, loss_pct=0.0, error="network unreachable"))
                continue
            lost = 1 if (j == 1 and i % 7 == 3) else 0
            avg = 0.05 + 0.01 * (i % 5) + 0.02 * j
            out.append(PingRound(
                ts=ts, target=target, address=target, probe="icmp", state=ProbeState.OK, sent=5,
                received=5 - lost, loss_pct=20.0 * lost, rtt_min_ms=avg - 0.02, rtt_avg_ms=avg,
                rtt_max_ms=avg + 0.03 + 0.01 * (i % 3), rtt_mdev_ms=0.01, jitter_ms=0.01 + 0.002 * j,
                mos=4.4, rtts_ms=(avg,) * (5 - lost) + (None,) * lost,
            ))
        out.append(BandwidthSample(ts=ts, interface="eth0", rx_mbps=10.0 + i % 10, tx_mbps=1.0 + (i % 4) * 0.5,
                                   interval_s=1.0))
    return out


def contrast(a: Color, b: Color) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""

    def lum(c: Color) -> float:
        ch = [x / 255 for x in c.rgb]
        r, g, b_ = (x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in ch)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b_

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def screen_text(app: App) -> str:  # type: ignore[type-arg]
    """What the terminal shows now, as plain text lines."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip) for strip in strips)


async def wait_for(pilot: Pilot, cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Wait until `cond()` holds. `timeout_s` is what it takes on a quiet machine; the wait allows at
    least PATIENCE_S, because a busy machine (CI, other jobs, the busy-loop check) may take many times
    longer, and a wait that passes returns as soon as its condition holds, so patience costs nothing."""
    timeout_s = max(timeout_s, PATIENCE_S)
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}\n{screen_text(pilot.app)}")
        await pilot.pause(0.05)


def kill_tmux_server(tmux: str, socket: str, grace_s: float = 10.0) -> None:
    """Kill a private tmux server and make sure no program it ran outlives the test.

    kill-server hangs up the panes; a qostui that failed to quit on SIGHUP is killed after
    `grace_s`, so a failing test never leaves a prober running.
    """
    import subprocess

    import psutil

    listed = subprocess.run([tmux, "-L", socket, "list-panes", "-a", "-F", "#{pane_pid}"],
                            capture_output=True, text=True, timeout=10, check=False).stdout
    procs: list[psutil.Process] = []
    for pid in listed.split():
        try:
            shell = psutil.Process(int(pid))
            procs += [shell, *shell.children(recursive=True)]
        except (psutil.NoSuchProcess, ValueError):
            continue
    subprocess.run([tmux, "-L", socket, "kill-server"], capture_output=True, timeout=10, check=False)
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)
