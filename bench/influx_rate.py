"""Influx export benchmark: points per second through the writer, and the outbox's cost per round.

    python bench/influx_rate.py                       # 200 000 points, batch sizes 1000/5000/10000
    python bench/influx_rate.py --points 50000 --json

1. Throughput. A temporary store is filled with N synthetic qos_ping rounds (13 fields, 4 tags,
   like real ones). The real InfluxWriter (store -> line protocol -> influxdb-client synchronous v2
   write API, one HTTP request per batch, cursor committed per batch) drains it into a local
   victoria-metrics (Debian package) on 127.0.0.1 with a temporary data dir; time from start to the
   last acknowledged batch; then the server's export API is polled to check that all N arrived.
   Also the parts alone: store read (read_after) and line-protocol encoding, in points/s.
   Goal: >= 50 000 points/s with batching.
2. Outbox overhead. The store write of one recording round (3 ping rounds + 1 bandwidth sample in
   one transaction, as the bus' store subscriber does it) timed R times at a fast cadence, without
   and with the writer running (flush_interval_ms 50, i.e. 20x the default rate of cursor reads and
   meta commits). Median and p95 per round; the difference is what the outbox costs a round.

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


def throughput(store: Store, vm: VictoriaMetrics, n: int, batch_size: int) -> dict[str, Any]:
    reset_cursors(store)
    host = f"bench-{batch_size}"
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


def round_cost(tmp: Path, vm: VictoriaMetrics | None, rounds: int, with_writer: bool) -> dict[str, float]:
    store = Store(tmp / f"overhead-{with_writer}.db")
    writer = None
    if with_writer and vm is not None:
        writer = InfluxWriter(influx_config(vm.url, "bench-overhead", flush_interval_ms=50), store)
        writer.start()
        time.sleep(0.5)  # past the health check
    times_ms = []
    t0 = time.time()
    try:
        for i in range(rounds):
            batch = synthetic_rounds(3, t0 + i, targets=3) + [BandwidthSample(t0 + i, "eth0", 50.0, 5.0, 1.0)]
            started = time.perf_counter()
            store.write(batch)
            times_ms.append((time.perf_counter() - started) * 1000)
            time.sleep(0.02)
        if writer is not None:
            writer.flush(30)
    finally:
        if writer is not None:
            writer.close()
        store.close()
    times_ms.sort()
    return {
        "median_ms": round(statistics.median(times_ms), 3),
        "p95_ms": round(times_ms[int(0.95 * (len(times_ms) - 1))], 3),
        "mean_ms": round(statistics.fmean(times_ms), 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=200_000)
    ap.add_argument("--batches", default="1000,5000,10000", help="batch sizes to try")
    ap.add_argument("--rounds", type=int, default=300, help="rounds for the overhead measurement")
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
            results["throughput"] = [
                throughput(store, vm, args.points, int(b)) for b in args.batches.split(",") if b.strip()
            ]
            store.close()
            results["round_without_writer"] = round_cost(tmp, None, args.rounds, with_writer=False)
            results["round_with_writer"] = round_cost(tmp, vm, args.rounds, with_writer=True)
        finally:
            vm.stop()
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    p = results["parts"]
    print(f"store read: {p['read_points_per_s']:,} points/s; encode: {p['encode_points_per_s']:,} points/s; "
          f"{p['bytes_per_point']} bytes/point")  # fmt: skip
    print(f"{'batch':>6} {'points':>8} {'seconds':>8} {'points/s':>10} {'requests':>9} {'in server':>10}")
    for r in results["throughput"]:
        print(f"{r['batch_size']:>6} {r['points']:>8} {r['seconds']:>8.2f} {r['points_per_s']:>10,} "
              f"{r['requests']:>9} {r['arrived_in_server']:>10}")  # fmt: skip
    a, b = results["round_without_writer"], results["round_with_writer"]
    print(f"round store write without exporter: median {a['median_ms']:.3f} ms, p95 {a['p95_ms']:.3f} ms")
    print(f"round store write with exporter:    median {b['median_ms']:.3f} ms, p95 {b['p95_ms']:.3f} ms "
          f"(overhead median {b['median_ms'] - a['median_ms']:+.3f} ms)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
