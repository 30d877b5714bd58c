"""Influx export benchmark: points per second through the writer, and the outbox's cost per round.

    python bench/influx_rate.py                       # 200 000 points, batch sizes 1000/5000/10000
    python bench/influx_rate.py --points 50000 --json

1. Throughput. A temporary store is filled with N synthetic qos_ping rounds (13 fields, 4 tags,
   like real ones). The real InfluxWriter (store -> line protocol -> influxdb-client synchronous v2
   write API, one HTTP request per batch, cursor committed per batch) drains it into a local
   victoria-metrics (Debian package) on 127.0.0.1 with a temporary data dir; time from start to the
   last acknowledged batch; then the server's export API is polled to check that all N arrived.
   Also the parts alone: store read (read_after) and line-protocol encoding, in points/s.
   Each batch size runs --repeat times (fresh host tag each); median and best are printed.
   Goal: >= 50 000 points/s with batching.
2. Outbox overhead. The store write of one recording round (3 ping rounds + 1 bandwidth sample in
   one transaction, as the bus' store subscriber does it) timed R times every 10 ms: without an
   exporter; with the writer caught up (flush_interval_ms 50, i.e. 20x the default rate of cursor
   reads and meta commits); and with the writer replaying a 200 000-row backlog (after an outage:
   it reads 5000-row batches under the store's lock). Median, p95 and max per round.

Only 127.0.0.1 is contacted. Needs `victoria-metrics` on PATH for part 1 and the writer half of part 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the victoria-metrics helper of the integration tests

from integration.vm import VictoriaMetrics  # noqa: E402
from qostui.config import InfluxConfig  # noqa: E402
from qostui.exporters.influx import KINDS, InfluxWriter  # noqa: E402
from qostui.exporters.line_protocol import encode  # noqa: E402
from qostui.records import BandwidthSample, PingRound, ProbeState  # noqa: E402
from qostui.store import Store  # noqa: E402


def synthetic_rounds(n: int, t0: float, targets: int = 10) -> list[PingRound]:
    out = []
    for i in range(n):
        k = i % targets
        rtt = 10.0 + (i % 97) * 0.137
        out.append(
            PingRound(
                ts=t0 + (i // targets) * 0.5 + k * 1e-3, target=f"target-{k}.example", address=f"10.231.{k}.2",
                probe="icmp", state=ProbeState.OK, sent=5, received=5, loss_pct=0.0, rtt_min_ms=rtt - 1.1,
                rtt_avg_ms=rtt, rtt_max_ms=rtt + 2.3, rtt_mdev_ms=0.71, rtt_p50_ms=rtt - 0.2, rtt_p95_ms=rtt + 2.1,
                jitter_ms=0.93, mos=4.39, rtts_ms=(rtt - 1.1, rtt, rtt + 0.4, rtt + 2.3, rtt - 0.2),
            )
        )  # fmt: skip
    return out


def influx_config(url: str, host: str, **changes: Any) -> InfluxConfig:
    values: dict[str, Any] = dict(enabled=True, url=url, org="bench", bucket="bench", token="bench-token",
                                  host_tag=host, timeout_ms=30_000, backlog_max_points=10_000_000)  # fmt: skip
    values.update(changes)
    return InfluxConfig(**values)


def reset_cursors(store: Store) -> None:
    for kind in KINDS:
        store.set_meta(f"influx.cursor.{kind}", "0")


def throughput(store: Store, vm: VictoriaMetrics, n: int, batch_size: int, run: int) -> dict[str, Any]:
    reset_cursors(store)
    host = f"bench-{batch_size}-{run}"
    writer = InfluxWriter(
        influx_config(vm.url, host, batch_size=batch_size, flush_interval_ms=1000), store, health_check=False
    )
    started = time.perf_counter()
    writer.start()
    ok = writer.flush(timeout_s=600)
    elapsed = time.perf_counter() - started
    writer.close()
    arrived = vm.wait_for_count(f'qos_ping_loss_pct{{host="{host}"}}', n, timeout_s=60)
    return {
        "batch_size": batch_size,
        "points": n,
        "seconds": round(elapsed, 3),
        "points_per_s": round(n / elapsed),
        "requests": writer.write_requests,
        "caught_up": ok,
        "arrived_in_server": arrived,
    }


def parts(store: Store, n: int, batch_size: int = 5000) -> dict[str, float]:
    started = time.perf_counter()
    after, rows = 0, []
    while True:
        chunk = store.read_after("ping", after, batch_size)
        if not chunk:
            break
        rows.extend(chunk)
        after = chunk[-1][0]
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    body = "\n".join(encode(rec, "bench-host") for _, rec in rows)
    encode_s = time.perf_counter() - started
    return {
        "read_points_per_s": round(len(rows) / read_s),
        "encode_points_per_s": round(len(rows) / encode_s),
        "bytes_per_point": round(len(body) / max(1, len(rows)), 1),
    }


def round_cost(tmp: Path, vm: VictoriaMetrics | None, rounds: int, mode: str) -> dict[str, Any]:
    """Store-write time of one round. mode: none (no exporter) | steady (caught up) | replay (backlog)."""
    store = Store(tmp / f"overhead-{mode}.db")
    t0 = time.time() - 3600
    if mode == "replay":  # an outage's worth of unsent rows: the writer drains it while we record
        for start in range(0, 200_000, 20_000):
            store.write(synthetic_rounds(20_000, t0 - 86400 + start * 0.05))
    writer = None
    if mode != "none" and vm is not None:
        writer = InfluxWriter(influx_config(vm.url, f"bench-overhead-{mode}", flush_interval_ms=50), store)
        writer.start()
        if mode == "steady":
            writer.flush(30)
    times_ms = []
    try:
        for i in range(rounds):
            batch = synthetic_rounds(3, t0 + i, targets=3) + [BandwidthSample(t0 + i, "eth0", 50.0, 5.0, 1.0)]
            started = time.perf_counter()
            store.write(batch)
            times_ms.append((time.perf_counter() - started) * 1000)
            time.sleep(0.01)
        backlog_left = writer.backlog if writer is not None else 0
        if writer is not None:
            writer.flush(60)
    finally:
        if writer is not None:
            writer.close()
        store.close()
    times_ms.sort()
    return {
        "mode": mode,
        "rounds": rounds,
        "median_ms": round(statistics.median(times_ms), 3),
        "p95_ms": round(times_ms[int(0.95 * (len(times_ms) - 1))], 3),
        "max_ms": round(times_ms[-1], 3),
        "backlog_left": backlog_left,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=200_000)
    ap.add_argument("--batches", default="1000,5000,10000", help="batch sizes to try")
    ap.add_argument("--rounds", type=int, default=300, help="rounds for the overhead measurement")
    ap.add_argument("--repeat", type=int, default=3, help="runs per batch size (median and best reported)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    binary = shutil.which("victoria-metrics")
    if binary is None:
        print("victoria-metrics not found: apt-get install victoria-metrics", file=sys.stderr)
        return 2
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="qostui-bench-influx-") as tmp_name:
        tmp = Path(tmp_name)
        vm = VictoriaMetrics(binary, tmp / "vm-data")
        vm.start()
        try:
            store = Store(tmp / "bench.db")
            t0 = time.time() - 86400
            fill_started = time.perf_counter()
            for start in range(0, args.points, 20_000):
                store.write(synthetic_rounds(min(20_000, args.points - start), t0 + start * 0.05))
            results["fill_s"] = round(time.perf_counter() - fill_started, 2)
            results["parts"] = parts(store, args.points)
            import influxdb_client  # noqa: F401  (import once before timing: it takes ~0.5 s)

            results["throughput"] = []
            for b in [int(b) for b in args.batches.split(",") if b.strip()]:
                runs = [throughput(store, vm, args.points, b, i) for i in range(args.repeat)]
                rates = sorted(r["points_per_s"] for r in runs)
                results["throughput"].append(
                    {**runs[0], "points_per_s": round(statistics.median(rates)), "best_points_per_s": rates[-1],
                     "runs_points_per_s": [r["points_per_s"] for r in runs],
                     "seconds": round(statistics.median(r["seconds"] for r in runs), 3),
                     "arrived_in_server": min(r["arrived_in_server"] for r in runs)}
                )  # fmt: skip
            store.close()
            results["round_cost"] = [
                round_cost(tmp, vm, args.rounds, mode) for mode in ("none", "steady", "replay")
            ]
        finally:
            vm.stop()
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    p = results["parts"]
    print(f"store read: {p['read_points_per_s']:,} points/s; encode: {p['encode_points_per_s']:,} points/s; "
          f"{p['bytes_per_point']} bytes/point")  # fmt: skip
    print(
        f"{'batch':>6} {'points':>8} {'seconds':>8} {'median/s':>10} {'best/s':>10} {'requests':>9} "
        f"{'in server':>10}  (median of {args.repeat} runs; 'in server' = fewest points found after a run)"
    )
    for r in results["throughput"]:
        print(f"{r['batch_size']:>6} {r['points']:>8} {r['seconds']:>8.2f} {r['points_per_s']:>10,} "
              f"{r['best_points_per_s']:>10,} {r['requests']:>9} {r['arrived_in_server']:>10}")  # fmt: skip
    base = results["round_cost"][0]["median_ms"]
    print("store write of one round (3 pings + 1 bandwidth, one transaction):")
    for r in results["round_cost"]:
        label = {"none": "no exporter", "steady": "exporter caught up", "replay": "exporter replaying 200k"}[
            r["mode"]
        ]
        print(f"  {label:<24} median {r['median_ms']:.3f} ms  p95 {r['p95_ms']:.3f} ms  max {r['max_ms']:.3f} ms"
              f"  (median {r['median_ms'] - base:+.3f} ms)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
