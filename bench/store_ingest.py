"""SQLite store benchmark: ingest rate by batch size, read and resample cost at 100k rows.

    python bench/store_ingest.py [--rows 100000] [--seconds 3]

Writes to a temporary file (removed afterwards). Each batch size runs until it has written its row
budget or spent --seconds, whichever comes first. Figures depend on the disk and on other load.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from qostui.records import BandwidthSample, PingRound, ProbeState
from qostui.store import Store


def make_round(i: int, targets: int, t0: float, rng: random.Random) -> PingRound:
    rtts = tuple(rng.uniform(1.0, 30.0) if rng.random() > 0.02 else None for _ in range(5))
    got = [r for r in rtts if r is not None]
    avg = sum(got) / len(got) if got else None
    return PingRound(
        ts=t0 + i // targets,
        target=f"10.231.0.{i % targets + 1}",
        address=f"10.231.0.{i % targets + 1}",
        probe="icmp",
        state=ProbeState.OK,
        sent=5,
        received=len(got),
        loss_pct=100.0 * (5 - len(got)) / 5,
        rtt_min_ms=min(got) if got else None,
        rtt_avg_ms=avg,
        rtt_max_ms=max(got) if got else None,
        rtt_mdev_ms=0.5,
        rtt_p50_ms=avg,
        rtt_p95_ms=max(got) if got else None,
        jitter_ms=1.0,
        mos=4.3,
        rtts_ms=rtts,
    )


def bench_ingest(directory: Path, batch: int, budget_rows: int, seconds: float) -> dict[str, float]:
    rng = random.Random(batch)
    path = directory / f"ingest-{batch}.db"
    store = Store(path)
    rounds = [make_round(i, 10, 1.7e9, rng) for i in range(budget_rows)]
    latencies: list[float] = []
    written = 0
    start = time.perf_counter()
    deadline = start + seconds
    while written < budget_rows and time.perf_counter() < deadline:
        chunk = rounds[written : written + batch]
        t = time.perf_counter()
        store.write(chunk)
        latencies.append(time.perf_counter() - t)
        written += len(chunk)
    elapsed = time.perf_counter() - start
    store.close()
    size = path.stat().st_size
    return {
        "rows": written,
        "rows_per_s": written / elapsed,
        "p50_write_ms": statistics.median(latencies) * 1e3,
        "p99_write_ms": sorted(latencies)[int(0.99 * (len(latencies) - 1))] * 1e3,
        "bytes_per_row": size / written,
    }


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best = float("inf")
    result = None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows for the read/resample part")
    parser.add_argument("--seconds", type=float, default=3.0, help="time cap per batch size")
    args = parser.parse_args(argv)
    budgets = {1: 20_000, 10: 100_000, 100: 200_000, 1000: 400_000}
    with tempfile.TemporaryDirectory(prefix="qostui-bench-") as tmp:
        directory = Path(tmp)
        print(f"SQLite {__import__('sqlite3').sqlite_version}, WAL, synchronous=NORMAL, file in {tmp}")
        print("ingest of PingRound (5 rtts each), one transaction per write():")
        print(
            f"  {'batch':>6} {'rows':>8} {'rows/s':>10} {'p50 write':>10} {'p99 write':>10} {'bytes/row':>10}"
        )
        for batch, budget in budgets.items():
            r = bench_ingest(directory, batch, budget, args.seconds)
            print(
                f"  {batch:>6} {r['rows']:>8.0f} {r['rows_per_s']:>10.0f} {r['p50_write_ms']:>8.3f}ms"
                f" {r['p99_write_ms']:>8.3f}ms {r['bytes_per_row']:>10.0f}"
            )

        n = args.rows
        rng = random.Random(1)
        path = directory / "read.db"
        store = Store(path)
        t0 = 1.7e9
        # n ping rounds: 10 targets, one round per second each; n bandwidth samples at 1 s
        for i in range(0, n, 10_000):
            store.write([make_round(j, 10, t0, rng) for j in range(i, min(n, i + 10_000))])
        for i in range(0, n, 10_000):
            store.write(
                [
                    BandwidthSample(t0 + j, "eth0", rng.uniform(0, 100), rng.uniform(0, 10), 1.0)
                    for j in range(i, min(n, i + 10_000))
                ]
            )
        print(f"\nreads over {n} ping rounds (10 targets) and {n} bandwidth samples (best of 3):")
        for label, fn in [
            ("resample bandwidth_mbps 300s (all)", lambda: store.resample("bandwidth_mbps", 300.0)),
            ("resample bandwidth_mbps 1s (all)", lambda: store.resample("bandwidth_mbps", 1.0)),
            ("resample rtt_avg_ms 60s (mean of targets)", lambda: store.resample("rtt_avg_ms", 60.0)),
            (
                "resample loss_pct 10s, one target",
                lambda: store.resample("loss_pct", 10.0, target="10.231.0.3"),
            ),
            ("ping_rounds() all -> records", lambda: store.ping_rounds()),
            ("ping_rounds(target, limit=120)", lambda: store.ping_rounds(target="10.231.0.3", limit=120)),
            ("bandwidth() all -> records", lambda: store.bandwidth()),
            ("read_after ping 5000-row page", lambda: store.read_after("ping", n // 2, 5000)),
            ("counts()", lambda: store.counts()),
        ]:
            seconds, result = timed(fn)
            size = (
                len(result[0])
                if isinstance(result, tuple)
                else len(result)
                if hasattr(result, "__len__")
                else 0
            )
            print(f"  {label:<44} {seconds * 1e3:>9.1f} ms  ({size} points/rows)")
        store.close()
        print(f"\nstore file: {path.stat().st_size / 1e6:.1f} MB for {2 * n} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
