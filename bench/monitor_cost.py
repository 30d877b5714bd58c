"""What the monitor costs: CPU per minute, memory after many rounds, time to the first frame.

    python bench/monitor_cost.py                 # 60 s CPU run, 10 000 rounds, first-frame x5
    python bench/monitor_cost.py --seconds 20    # shorter CPU run

1. CPU: `qostui` (the real command) in a detached tmux 100x40 terminal with 10 loopback targets at a
   1 s interval, probing and recording to a temp store; CPU time of that process (user + system,
   psutil) over the run after a 5 s warm-up, scaled to seconds per minute. Goal: under 3 s/min.
2. Memory: the app headless (App.run_test) fed synthetic rounds for 10 targets through the same
   update path the bus uses (`app.apply`), screen painted every 10 rounds; resident set size after
   0, 1 000, 5 000 and 10 000 rounds. Goal: flat, under 150 MB.
   Also: ms per round (update + paint) with 100 targets, headless.
3. First frame: seconds from spawning `qostui` in tmux until the pane shows the panels (includes
   interpreter start and imports), median of N runs; and in-process from App() to the first refresh.
   Goal: under 1 s.
Only loopback is probed. Needs tmux for 1 and 3 (skipped without it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil

TARGETS = ",".join(f"127.0.0.{i}" for i in range(1, 11))


def _tmux(socket: str, *args: str, check: bool = True) -> str:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=10, check=check).stdout


SIZE = (100, 40)  # tmux terminal (--size); 36+ rows also show the preview chart of the selection
VIEW = "auto"  # [ui] view (--view): "panels" compares with a build that has no compact view


def _ui_config() -> Any:
    from qostui.config import Config

    return replace(Config().ui, view=VIEW)


def _spawn(socket: str, tmp: Path, interval_s: float) -> None:
    if VIEW != "auto":
        (tmp / "cfg" / "qostui").mkdir(parents=True, exist_ok=True)
        (tmp / "cfg" / "qostui" / "config.toml").write_text(f'[ui]\nview = "{VIEW}"\n')
    cmd = (
        f"exec env XDG_CONFIG_HOME={tmp / 'cfg'} XDG_DATA_HOME={tmp / 'data'} TERM=xterm-256color "
        f"{sys.executable} -m qostui --targets {TARGETS} --db {tmp / 'bench.db'} --interval {interval_s:g}"
    )
    _tmux(socket, "new-session", "-d", "-x", str(SIZE[0]), "-y", str(SIZE[1]), "-s", "bench", cmd)


def _pane_pid(socket: str) -> int:
    return int(_tmux(socket, "list-panes", "-t", "bench", "-F", "#{pane_pid}").strip())


def cpu_per_minute(seconds: float) -> dict[str, float]:
    socket = f"qostui-bench-{os.getpid()}"
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        _spawn(socket, tmp, 1.0)
        try:
            proc = psutil.Process(_pane_pid(socket))
            time.sleep(15)  # start-up (incl. the warm-up imports after the first frame) is not the steady state
            t0 = proc.cpu_times()
            w0 = time.monotonic()
            time.sleep(seconds)
            t1 = proc.cpu_times()
            wall = time.monotonic() - w0
            rss_mb = proc.memory_info().rss / 1e6
            screen = _tmux(socket, "capture-pane", "-p", "-t", "bench")
        finally:
            _tmux(socket, "send-keys", "-t", "bench", "q", check=False)
            time.sleep(1.5)
            _tmux(socket, "kill-server", check=False)
    used = (t1.user - t0.user) + (t1.system - t0.system)
    live_panels = screen.count(" ms  min/avg/max")
    return {"cpu_s": used, "wall_s": wall, "cpu_s_per_min": used / wall * 60, "rss_mb": rss_mb,
            "panels_with_numbers_on_screen": float(live_panels)}


def first_frame(runs: int) -> list[float]:
    out = []
    for i in range(runs):
        socket = f"qostui-bench-ff-{os.getpid()}-{i}"
        with tempfile.TemporaryDirectory() as d:
            start = time.monotonic()
            _spawn(socket, Path(d), 1.0)
            try:
                while time.monotonic() - start < 10:
                    if "127.0.0.1" in _tmux(socket, "capture-pane", "-p", "-t", "bench", check=False):
                        out.append(time.monotonic() - start)
                        break
                    time.sleep(0.01)
            finally:
                _tmux(socket, "send-keys", "-t", "bench", "q", check=False)
                time.sleep(1.0)
                _tmux(socket, "kill-server", check=False)
    return out


async def memory_after_rounds(total: int) -> tuple[list[tuple[int, float]], float, float]:
    from qostui.config import Config, parse_targets_arg
    from qostui.records import BandwidthSample, PingRound, ProbeState
    from qostui.ui.app import QostuiApp

    config = Config().with_overrides(targets=parse_targets_arg(TARGETS), interval_s=1.0, ui=_ui_config())
    app = QostuiApp(config, remember_theme=False)
    proc = psutil.Process()
    marks: list[tuple[int, float]] = []
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        first_paint = app.first_paint_s or 0.0
        marks.append((0, proc.memory_info().rss / 1e6))
        targets = TARGETS.split(",")
        t0 = 1_700_000_000.0
        apply_s = 0.0
        for i in range(1, total + 1):
            ts = t0 + i
            batch: list = [
                PingRound(ts=ts, target=t, address=t, probe="icmp", state=ProbeState.OK, sent=5, received=5 - (i % 9 == 0),
                          loss_pct=20.0 * (i % 9 == 0), rtt_min_ms=0.02, rtt_avg_ms=0.03 + (i % 7) * 0.01,
                          rtt_max_ms=0.1, rtt_mdev_ms=0.01, jitter_ms=0.01, mos=4.4, rtts_ms=(0.03,) * 5)
                for t in targets
            ]
            batch.append(BandwidthSample(ts=ts, interface="eth0", rx_mbps=float(i % 50), tx_mbps=1.0, interval_s=1.0))
            a = time.perf_counter()
            app.apply(batch)
            apply_s += time.perf_counter() - a
            if i % 10 == 0:
                await pilot.pause()  # let the screen paint, as it would between real rounds
            if i in (1000, 5000, total):
                marks.append((i, proc.memory_info().rss / 1e6))
    return marks, first_paint, apply_s / total * 1000


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # figures appear as they are measured
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="CPU measurement length (default 60)")
    parser.add_argument("--rounds", type=int, default=10_000, help="rounds fed for the memory figure")
    parser.add_argument("--frames", type=int, default=5, help="first-frame runs")
    parser.add_argument("--size", default="100x40", help="tmux terminal size WxH (default 100x40)")
    parser.add_argument("--cpu-only", action="store_true", help="only the CPU figure")
    parser.add_argument("--view", default="auto", choices=("auto", "panels", "compact"), help="[ui] view")
    args = parser.parse_args()
    global SIZE, VIEW
    VIEW = args.view
    w, _, h = args.size.partition("x")
    SIZE = (int(w), int(h))
    has_tmux = shutil.which("tmux") is not None

    if args.cpu_only:
        args.frames = 0
    else:
        report_memory(args.rounds)
    if not has_tmux:
        print("tmux not found: CPU and terminal first-frame figures skipped")
        return 0
    frames = first_frame(args.frames)
    if frames:
        print(f"first frame in tmux (spawn -> panels visible, incl. interpreter start): median "
              f"{statistics.median(frames):.2f} s, min {min(frames):.2f}, max {max(frames):.2f} ({len(frames)} runs)")
    cpu = cpu_per_minute(args.seconds)
    print(f"CPU, qostui in tmux {SIZE[0]}x{SIZE[1]}, 10 loopback targets, 1 s interval, {cpu['wall_s']:.0f} s: "
          f"{cpu['cpu_s']:.2f} s CPU = {cpu['cpu_s_per_min']:.2f} s per minute "
          f"({cpu['cpu_s_per_min'] / 60 * 100:.1f}% of one core); RSS {cpu['rss_mb']:.0f} MB; "
          f"{cpu['panels_with_numbers_on_screen']:.0f} panels with live numbers on screen")
    return 0


async def hundred_targets(rounds: int = 50) -> float:
    """ms per round (update + paint) with 100 targets, headless 160x48: no redraw storm."""
    from qostui.config import Config, parse_targets_arg
    from qostui.records import PingRound, ProbeState
    from qostui.ui.app import QostuiApp

    targets = [f"127.0.{i // 250}.{i % 250 + 1}" for i in range(100)]
    app = QostuiApp(Config().with_overrides(targets=parse_targets_arg(",".join(targets)), ui=_ui_config()),
                    remember_theme=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        start = time.perf_counter()
        for i in range(rounds):
            app.apply([PingRound(ts=1_700_000_000.0 + i, target=t, address=t, probe="icmp", state=ProbeState.OK,
                                 sent=5, received=5, loss_pct=0.0, rtt_min_ms=0.02, rtt_avg_ms=0.03 + (i % 5) * 0.01,
                                 rtt_max_ms=0.1, jitter_ms=0.01, mos=4.4) for t in targets])
            await pilot.pause()
        return (time.perf_counter() - start) / rounds * 1000


def report_memory(rounds: int) -> None:
    marks, paint_s, apply_ms = asyncio.run(memory_after_rounds(rounds))
    print("memory (RSS, headless app, 10 targets): " + ", ".join(f"{n} rounds {mb:.1f} MB" for n, mb in marks))
    print(f"  growth 1000 -> {rounds} rounds: {marks[-1][1] - marks[1][1]:+.1f} MB; "
          f"update path {apply_ms:.3f} ms per round of 10 targets (model + panel refresh calls)")
    print(f"first frame in-process (App() -> first refresh): {paint_s:.3f} s")
    print(f"100 targets, headless 160x48: {asyncio.run(hundred_targets()):.1f} ms per round (update + paint)")


if __name__ == "__main__":
    sys.exit(main())
