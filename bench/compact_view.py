"""The compact view with many targets: ms to take in and repaint one round.

    python bench/compact_view.py                  # 1000 targets, 80x24 and 160x48, 50 rounds each
    python bench/compact_view.py --targets 2000 --rounds 20

Headless app (App.run_test), no probing: each round is 1000 PingRounds fed through the path the bus
uses (`app.apply`), then the pilot waits until Textual has repainted the screen. Per round: the
CPU time of the process (update + repaint: what a round costs) and the wall time, which also holds
the pilot's wait for Textual's refresh timer (idle, not work). Goal: under 100 ms at 1000 targets.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time


async def rounds_ms(n_targets: int, rounds: int, size: tuple[int, int]) -> tuple[list[float], list[float], list[float], int]:
    from qostui.config import Config, parse_targets_arg
    from qostui.records import PingRound, ProbeState
    from qostui.ui.app import QostuiApp
    from qostui.ui.widgets.compact_table import CompactTable

    targets = [f"127.{i // 62500}.{i // 250 % 250}.{i % 250 + 1}" for i in range(n_targets)]
    app = QostuiApp(Config().with_overrides(targets=parse_targets_arg(",".join(targets))), remember_theme=False)
    total: list[float] = []
    update: list[float] = []
    cpu: list[float] = []
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert app.screen.has_class("-compact"), "the compact view was not chosen"
        table = app.screen.query_one(CompactTable)
        for i in range(rounds):
            batch = [PingRound(ts=1_700_000_000.0 + i, target=t, address=t, probe="icmp", state=ProbeState.OK,
                               sent=5, received=5 - (j % 17 == i % 17), loss_pct=20.0 * (j % 17 == i % 17),
                               rtt_min_ms=0.02, rtt_avg_ms=0.03 + ((i + j) % 5) * 0.01, rtt_max_ms=0.1,
                               rtt_p95_ms=0.09, jitter_ms=0.01, mos=4.4, rtts_ms=(0.03,) * 5)
                     for j, t in enumerate(targets)]  # fmt: skip
            c0 = time.process_time()
            t0 = time.perf_counter()
            app.apply(batch)
            t1 = time.perf_counter()
            await pilot.pause()  # the refresh is processed: the visible rows are rebuilt and painted
            t2 = time.perf_counter()
            cpu.append((time.process_time() - c0) * 1000)
            update.append((t1 - t0) * 1000)
            total.append((t2 - t0) * 1000)
        rows = table.repaints
    return cpu, total, update, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    for size in ((80, 24), (160, 48)):
        cpu, total, update, rows = asyncio.run(rounds_ms(args.targets, args.rounds, size))
        print(f"compact view, {args.targets} targets, {size[0]}x{size[1]}, {args.rounds} rounds: CPU "
              f"{statistics.median(cpu):.1f} ms per round median (p90 {sorted(cpu)[int(len(cpu) * 0.9)]:.1f}); "
              f"wall {statistics.median(total):.1f} ms incl. the refresh timer; update path "
              f"{statistics.median(update):.1f} ms (model + cached rows dropped); "
              f"{rows / args.rounds:.0f} rows built per round")
    return 0


if __name__ == "__main__":
    sys.exit(main())
