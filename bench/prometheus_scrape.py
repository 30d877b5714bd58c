"""Prometheus endpoint benchmark: the cost of GET /metrics with 1000 targets.

    python bench/prometheus_scrape.py                  # 1000 targets, 20 scrapes
    python bench/prometheus_scrape.py --targets 3000 --scrapes 10 --json

The real PrometheusExporter serves on 127.0.0.1 (a free port). Synthetic records go through its bus
handler, no network probing: per round one PingRound for each target (5 probes, RTTs spread from
0.2 ms LAN to 300 ms WAN, ~3% loss, 1% of targets unresolvable), one BandwidthSample, a 12-step
forecast with 80%/95% bounds every round, and alert events for 5% of the targets.

Each of the --scrapes repetitions: one round is handled (its CPU time measured), then /metrics is
fetched over HTTP (by curl, another process like Prometheus; urllib without curl) twice: "fresh" (the round changed every target, the normal case when rounds are
more frequent than scrapes) and "cached" (nothing changed since the last scrape). Wall time of the
GET as the client sees it; CPU time of the server's request thread (render and send) and of this
whole process during the GET; and the exporter's own render time (wall). On a
busy machine wall times mostly measure waiting for a core: the CPU figures are the cost. The body is parsed with
prometheus_client's parser once, to check it holds every target.

Goals: a fresh scrape under 50 ms (wall, median), and under 1% of a core at a 15 s scrape interval
(the server thread's CPU per fresh scrape / 15 s). Also printed:
the exporter's whole share at qostui's default 5 s rounds (handle per round + fresh scrape per 15 s).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from qostui.exporters.prometheus import PrometheusExporter  # noqa: E402
from qostui.records import BandwidthSample, Event, Forecast, PingRound, ProbeState, Record  # noqa: E402

SCRAPE_INTERVAL_S = 15.0
ROUND_INTERVAL_S = 5.0  # qostui's default interval_s
GOAL_SCRAPE_MS = 50.0
GOAL_CORE_PCT = 1.0


def synthetic_round(n: int, ts: float, rng: random.Random) -> list[Record]:
    records: list[Record] = []
    for i in range(n):
        name = f"target-{i:04d}.example.net"
        if i % 100 == 99:
            records.append(PingRound(ts, name, "", "icmp", ProbeState.UNRESOLVED, 0, 0, 0.0, error="name not known"))
            continue
        base = 0.2 * (1500 ** ((i % 50) / 49))  # 0.2 ms .. 300 ms
        rtts = tuple(None if rng.random() < 0.03 else base * (1 + 0.2 * rng.random()) for _ in range(5))
        got = [r for r in rtts if r is not None]
        records.append(PingRound(
            ts, name, f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", "icmp", ProbeState.OK, 5, len(got),
            100.0 * (5 - len(got)) / 5, rtt_min_ms=min(got, default=None), rtt_avg_ms=sum(got) / len(got) if got else None,
            rtt_max_ms=max(got, default=None), jitter_ms=0.05 * base if len(got) > 1 else None,
            mos=4.3 if got else None, rtts_ms=rtts,
        ))  # fmt: skip
    records.append(BandwidthSample(ts, "eth0", rx_mbps=80 * rng.random(), tx_mbps=10 * rng.random(), interval_s=5.0))
    for step in range(1, 13):
        mbps = 50 + step
        records.append(Forecast(ts, ts + 300 * step, step, "lstm-bench", mbps, mbps * 0.8, mbps * 1.2, mbps * 0.6, mbps * 1.4))
    for i in range(0, n, 20):
        records.append(Event(ts, "latency", f"target-{i:04d}.example.net", rng.choice(("ok", "warn", "crit")), "bench"))
    return records


CURL = shutil.which("curl")


def timed_get(url: str) -> tuple[bytes, float, float]:
    """(body, wall s, this process's CPU s) of one GET.

    With curl the client is another process, as Prometheus is, so the CPU time is the server's
    alone and the wall time is curl's own time_total; without curl, urllib in this process.
    """
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if CURL:
        proc = subprocess.run([CURL, "-s", "-o", "-", "-w", "\n%{time_total}", url], capture_output=True, timeout=60, check=True)
        cpu = time.process_time() - cpu0
        body, _, total = proc.stdout.rpartition(b"\n")
        return body, float(total), cpu
    with urllib.request.urlopen(url, timeout=60) as resp:
        body = resp.read()
    return body, time.perf_counter() - wall0, time.process_time() - cpu0


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    rng = random.Random(1)
    rss_before_kb = _rss_kb()
    exporter = PrometheusExporter("", host="bench-host", bind=("127.0.0.1", 0), influx_backlog=lambda: 0.0)
    exporter.start()
    try:
        ts = time.time()
        for _ in range(3):  # warm up: series created, templates built
            exporter.handle(synthetic_round(args.targets, ts, rng))
            ts += ROUND_INTERVAL_S
            timed_get(exporter.url)
        handle_cpu, fresh_wall, fresh_cpu, fresh_render, cached_wall, cached_cpu = [], [], [], [], [], []
        fresh_server_cpu: list[float] = []
        body = b""
        for _ in range(args.scrapes):
            batch = synthetic_round(args.targets, ts, rng)
            ts += ROUND_INTERVAL_S
            c0 = time.thread_time()
            exporter.handle(batch)
            handle_cpu.append(time.thread_time() - c0)
            body, wall, cpu = timed_get(exporter.url)
            fresh_wall.append(wall)
            fresh_cpu.append(cpu)
            fresh_render.append(exporter._render_s)
            fresh_server_cpu.append(exporter.last_scrape_cpu_s)
            _, wall, cpu = timed_get(exporter.url)
            cached_wall.append(wall)
            cached_cpu.append(cpu)
        rss_after_kb = _rss_kb()
    finally:
        exporter.close()

    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    targets_seen = len(families["qostui_probes_sent"].samples)
    samples = sum(len(f.samples) for f in families.values())
    assert targets_seen == args.targets, f"{targets_seen} targets in /metrics, expected {args.targets}"

    ms = 1000.0
    fresh_cpu_med = statistics.median(fresh_server_cpu)
    figures = {
        "targets": args.targets,
        "scrapes": args.scrapes,
        "body_mb": round(len(body) / 1e6, 2),
        "samples": samples,
        "rss_growth_mb": round((rss_after_kb - rss_before_kb) / 1024, 1),
        "fresh_wall_ms": {"min": min(fresh_wall) * ms, "median": statistics.median(fresh_wall) * ms, "p95": pct(fresh_wall, 0.95) * ms, "max": max(fresh_wall) * ms},
        "fresh_cpu_ms": {"median": statistics.median(fresh_cpu) * ms, "p95": pct(fresh_cpu, 0.95) * ms},
        "fresh_server_cpu_ms": {"median": fresh_cpu_med * ms, "p95": pct(fresh_server_cpu, 0.95) * ms},
        "fresh_render_ms": {"median": statistics.median(fresh_render) * ms, "p95": pct(fresh_render, 0.95) * ms},
        "cached_wall_ms": {"median": statistics.median(cached_wall) * ms, "p95": pct(cached_wall, 0.95) * ms},
        "cached_cpu_ms": {"median": statistics.median(cached_cpu) * ms},
        "handle_round_cpu_ms": {"median": statistics.median(handle_cpu) * ms, "p95": pct(handle_cpu, 0.95) * ms},
        "core_pct_scrape_15s": 100 * fresh_cpu_med / SCRAPE_INTERVAL_S,
        "core_pct_total_5s_rounds_15s_scrapes": 100 * (
            statistics.median(handle_cpu) / ROUND_INTERVAL_S + fresh_cpu_med / SCRAPE_INTERVAL_S
        ),
    }  # fmt: skip
    ok_time = figures["fresh_wall_ms"]["median"] < GOAL_SCRAPE_MS
    ok_cpu = figures["core_pct_scrape_15s"] < GOAL_CORE_PCT
    figures["goals_met"] = ok_time and ok_cpu
    if args.json:
        print(json.dumps(figures, indent=1))
    else:
        f = figures
        load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
        print(f"/metrics with {args.targets} targets: {f['body_mb']} MB, {samples} samples; {args.scrapes} scrapes; load average {load}")
        print(
            f"  fresh scrape (every target changed): wall min {f['fresh_wall_ms']['min']:.1f} ms, "
            f"median {f['fresh_wall_ms']['median']:.1f} ms, "
            f"p95 {f['fresh_wall_ms']['p95']:.1f}, max {f['fresh_wall_ms']['max']:.1f}; "
            f"render median {f['fresh_render_ms']['median']:.1f} ms"
        )
        print(
            f"    CPU: server thread (render + send) median {f['fresh_server_cpu_ms']['median']:.1f} ms, "
            f"p95 {f['fresh_server_cpu_ms']['p95']:.1f}; whole process {f['fresh_cpu_ms']['median']:.1f} ms"
            f" (client: {'curl' if CURL else 'urllib, in this process'})"
        )
        print(
            f"  cached scrape (nothing changed): wall median {f['cached_wall_ms']['median']:.1f} ms, "
            f"CPU median {f['cached_cpu_ms']['median']:.1f} ms"
        )
        print(f"  handling one round of {args.targets} targets: CPU median {f['handle_round_cpu_ms']['median']:.1f} ms")
        print(f"  process RSS grew {f['rss_growth_mb']} MB (the exporter's state and cached lines, and the bodies this script holds)")
        print(
            f"  share of one core: {f['core_pct_scrape_15s']:.2f}% for scrapes every 15 s; "
            f"{f['core_pct_total_5s_rounds_15s_scrapes']:.2f}% with the 5 s rounds' handling too"
        )
        print(
            f"  goals: fresh scrape < {GOAL_SCRAPE_MS:g} ms: {'met' if ok_time else 'NOT met'}; "
            f"< {GOAL_CORE_PCT:g}% of a core at 15 s: {'met' if ok_cpu else 'NOT met'}"
        )
    return 0 if figures["goals_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
