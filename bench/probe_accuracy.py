"""Probe accuracy on the network lab: qostui's RTT and loss against what the lab was set to.

    sudo python bench/probe_accuracy.py [--delays 10,50,100] [--losses 5,20,50] [--loss-probes 400]

RTT: one lab host per delay (userspace echo responder answering after D ms). qostui probes each
host alone, then all of them in one round together, and iputils `ping` probes each host; the table
shows qostui's mean error against the set delay and against ping. Loss: one host per loss rate
(nftables drops that share of echo requests); the table shows qostui's measured loss, the
number nftables actually dropped, and the binomial standard deviation for that many probes.

Needs root, iproute2, nftables and iputils ping. Sends traffic only to lab namespaces on
10.231.0.0/16 (and nothing else); everything is torn down on exit.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from lab.netlab import Lab, mean_rtt_ms, ping_rtts_ms, qostui_rounds  # noqa: E402


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def bench_rtt(lab: Lab, delays_ms: list[float], rounds: int, count: int, spacing_ms: float) -> None:
    hosts = [lab.add_host(f"delay{d:g}", delay_ms=d) for d in delays_ms]
    print(f"\nRTT: {rounds} rounds x {count} probes, {spacing_ms:g} ms apart, per host; ping: 10 probes 0.2 s apart")
    header = f"{'set ms':>7} {'mode':>9} {'qostui ms':>10} {'p95 ms':>7} {'err ms':>7} {'ping ms':>8} {'vs ping':>8}"
    print(header)
    print("-" * len(header))
    ping_ms = {}
    for host in hosts:
        replies_ms = ping_rtts_ms(host.address, count=10, interval_s=0.2)[0]
        ping_ms[host.address] = statistics.fmean(replies_ms) if replies_ms else math.nan
    alone = {host.address: qostui_rounds(host.address, rounds=rounds, count=count, spacing_ms=spacing_ms)
             for host in hosts}
    together = qostui_rounds([h.address for h in hosts], rounds=rounds, count=count, spacing_ms=spacing_ms)
    for i, (host, delay) in enumerate(zip(hosts, delays_ms, strict=True)):
        for mode, batches, index in (("alone", alone[host.address], 0), ("together", together, i)):
            mean_ms, sent, received = mean_rtt_ms(batches, index)
            rtts = sorted(x for b in batches for x in b[index].rtts_ms if x is not None)
            p95 = rtts[min(len(rtts) - 1, math.ceil(0.95 * len(rtts)) - 1)] if rtts else float("nan")
            ping = ping_ms[host.address]
            print(f"{delay:7g} {mode:>9} {mean_ms:10.3f} {p95:7.3f} {mean_ms - delay:+7.3f} {ping:8.3f} "
                  f"{mean_ms - ping:+8.3f}" + ("" if received == sent else f"  ({sent - received} lost!)"))


def bench_jitter(lab: Lab, delay_ms: float, jitter_ms: float, rounds: int, count: int, spacing_ms: float) -> None:
    """Uniform +/-J ms jitter: expected RTT sd J/sqrt(3), expected RFC 3550-style jitter 2J/3."""
    host = lab.add_host("jitter", delay_ms=delay_ms, jitter_ms=jitter_ms)
    batches = qostui_rounds(host.address, rounds=rounds, count=count, spacing_ms=spacing_ms)
    rtts = [x for b in batches for x in b[0].rtts_ms if x is not None]
    jitters = [b[0].jitter_ms for b in batches if b[0].jitter_ms is not None]
    print(f"\nJitter: delay {delay_ms:g} ms +/- {jitter_ms:g} ms uniform, {len(rtts)} probes")
    print(f"  mean RTT {statistics.fmean(rtts):.3f} ms (set {delay_ms:g}), RTT sd {statistics.stdev(rtts):.3f} ms "
          f"(expected {jitter_ms / math.sqrt(3):.3f}), qostui jitter {statistics.fmean(jitters):.3f} ms "
          f"(expected {2 * jitter_ms / 3:.3f})")


def bench_loss(lab: Lab, losses_pct: list[float], probes: int) -> None:
    count = min(200, probes)
    rounds = max(1, math.ceil(probes / count))
    hosts = [lab.add_host(f"loss{p:g}", loss_pct=p) for p in losses_pct]
    print(f"\nLoss: {rounds * count} probes per host ({rounds} rounds x {count}, 10 ms apart), all hosts in one round")
    header = f"{'set %':>6} {'qostui %':>9} {'err %':>7} {'nft drops':>10} {'lost':>6} {'1 sd %':>7}"
    print(header)
    print("-" * len(header))
    batches = qostui_rounds([h.address for h in hosts], rounds=rounds, count=count, spacing_ms=10, timeout_ms=500)
    for i, (host, set_pct) in enumerate(zip(hosts, losses_pct, strict=True)):
        _, sent, received = mean_rtt_ms(batches, i)
        lost = sent - received
        measured = 100 * lost / sent
        sd = 100 * math.sqrt(set_pct / 100 * (1 - set_pct / 100) / sent)
        print(f"{set_pct:6g} {measured:9.2f} {measured - set_pct:+7.2f} {host.dropped_packets():10d} {lost:6d} {sd:7.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description="qostui probe accuracy on a namespace lab")
    parser.add_argument("--delays", default="10,50,100", help="delays in ms, comma-separated")
    parser.add_argument("--losses", default="5,20,50", help="loss rates in %%, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--spacing-ms", type=float, default=100.0)
    parser.add_argument("--loss-probes", type=int, default=400)
    parser.add_argument("--jitter-ms", type=float, default=10.0, help="jitter of the jitter host (delay 50 ms)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("probe_accuracy: needs root (network namespaces, raw sockets)", file=sys.stderr)
        return 2
    started = time.monotonic()
    load = os.getloadavg()[0]
    print(f"probe_accuracy: {os.cpu_count()} CPUs, load average {load:.2f} at start")
    with Lab() as lab:
        bench_rtt(lab, _floats(args.delays), args.rounds, args.count, args.spacing_ms)
        bench_jitter(lab, 50.0, args.jitter_ms, args.rounds * 3, args.count, args.spacing_ms)
        bench_loss(lab, _floats(args.losses), args.loss_probes)
        hosts = list(lab.hosts)
    # Responders report how late their replies left (machine load shows up here, not in qostui).
    for host in hosts:
        if "responder" in host.logs:
            print(f"responder {host.name}: {host.logs['responder'].strip().splitlines()[-1]}")
    print(f"\ndone in {time.monotonic() - started:.1f} s; load average {os.getloadavg()[0]:.2f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
