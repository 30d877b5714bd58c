"""How the ping engine scales: N loopback targets probed every interval, compared with one target.

    python bench/probe_scale.py [--targets 500] [--rounds 10] [--count 5] [--interval 1] [--probe icmp|tcp]

127.0.0.0/8 all answers on Linux loopback, so N targets are 127.0.x.y addresses. Prints:
- rounds on time: rounds that finished inside their interval (the collector's definition),
- round duration (median / max) and CPU seconds per round (getrusage: this process, all threads),
- median RTT of the N-target run vs a 1-target run, and the inflation (difference of medians).
Goal (issue 2): with 500 targets every round is on time and the inflation stays under 1 ms.
Prints figures only; no asserts. ICMP needs root, CAP_NET_RAW or a permissive ping_group_range.
"""

from __future__ import annotations

import argparse
import ipaddress
import itertools
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from qostui.config import Config, ProbeConfig, TargetConfig  # noqa: E402
from qostui.probes import PingProber  # noqa: E402
from qostui.probes.icmp import IcmpEngine  # noqa: E402

MAX_ROUNDS = 1000


def loopback_targets(n: int) -> tuple[TargetConfig, ...]:
    hosts = ipaddress.IPv4Network("127.0.0.0/8").hosts()
    return tuple(TargetConfig(address=str(ip)) for ip in itertools.islice(hosts, n))


def cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run(n: int, rounds: int, count: int, interval: float, probe: str, mode: str, kernel_ts: bool) -> dict:
    config = Config(
        interval_s=interval,
        targets=loopback_targets(n),
        probe=ProbeConfig(method=probe, count=count, tcp_port=9),
    )
    prober = PingProber(config, icmp_engine=IcmpEngine(mode=mode, kernel_timestamps=kernel_ts))
    durations, cpus, rtts = [], [], []
    sent = received = 0
    not_ok = 0
    on_time = 0
    try:
        prober.run_round()  # warm-up: resolve, open sockets, size buffers
        start = time.monotonic()
        for k in range(rounds):
            due = start + (k + 1) * interval
            time.sleep(max(0.0, due - time.monotonic()))
            c0, t0 = cpu_s(), time.monotonic()
            result = prober.run_round()
            took = time.monotonic() - t0
            cpus.append(cpu_s() - c0)
            durations.append(took)
            on_time += took <= interval
            for r in result:
                if r.state.value != "ok":
                    not_ok += 1
                sent += r.sent
                received += r.received
                rtts.extend(x for x in r.rtts_ms if x is not None)
    finally:
        prober.close()
    return {
        "n": n,
        "on_time": on_time,
        "rounds": rounds,
        "dur_med": statistics.median(durations),
        "dur_max": max(durations),
        "cpu": statistics.fmean(cpus),
        "rtt_med": statistics.median(rtts) if rtts else float("nan"),
        "rtt_p95": statistics.quantiles(rtts, n=20)[-1] if len(rtts) > 1 else float("nan"),
        "rtt_max": max(rtts) if rtts else float("nan"),
        "loss": 100.0 * (sent - received) / sent if sent else float("nan"),
        "not_ok": not_ok,
        "kind": "tcp" if probe == "tcp" else prober.icmp.kind(2),
        "probe": prober.probe_config,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", type=int, default=500, help="N loopback targets (default 500)")
    ap.add_argument("--rounds", type=int, default=10, help=f"rounds per run (default 10, at most {MAX_ROUNDS})")
    ap.add_argument("--count", type=int, default=5, help="probes per target per round (default 5)")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between rounds (default 1)")
    ap.add_argument("--probe", choices=("icmp", "tcp"), default="icmp")
    ap.add_argument("--mode", choices=("auto", "raw", "dgram"), default="auto", help="ICMP socket kind")
    ap.add_argument("--user-timestamps", action="store_true", help="time ICMP replies in user space, not SO_TIMESTAMPNS")
    args = ap.parse_args(argv)
    rounds = max(1, min(args.rounds, MAX_ROUNDS))
    if not 1 <= args.targets <= 65000:
        ap.error("--targets must be 1..65000")

    kernel_ts = not args.user_timestamps
    base = run(1, rounds, args.count, args.interval, args.probe, args.mode, kernel_ts)
    big = run(args.targets, rounds, args.count, args.interval, args.probe, args.mode, kernel_ts)
    p = big["probe"]
    print(
        f"probe {args.probe} ({big['kind']} socket), count {p.count}, spacing {p.spacing_ms:g} ms, "
        f"timeout {p.timeout_ms:g} ms, interval {args.interval:g} s, {rounds} rounds, "
        f"{'user-space' if args.user_timestamps else 'kernel'} receive timestamps"
    )
    print(f"{'targets':>8} {'on time':>8} {'round med/max s':>16} {'cpu s/round':>12} "
          f"{'rtt med ms':>11} {'rtt p95 ms':>11} {'rtt max ms':>11} {'loss %':>7} {'not ok':>7}")
    for r in (base, big):
        print(
            f"{r['n']:>8} {r['on_time']:>4}/{r['rounds']:<3} {r['dur_med']:>7.3f}/{r['dur_max']:<8.3f} {r['cpu']:>12.3f} "
            f"{r['rtt_med']:>11.4f} {r['rtt_p95']:>11.4f} {r['rtt_max']:>11.4f} {r['loss']:>7.2f} {r['not_ok']:>7}"
        )
    inflation = big["rtt_med"] - base["rtt_med"]
    print(f"median RTT inflation ({args.targets} targets vs 1): {inflation:+.4f} ms")
    print(f"rounds on time with {args.targets} targets: {big['on_time']}/{rounds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
