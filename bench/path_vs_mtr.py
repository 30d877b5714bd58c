"""qostui's path probing against Debian's mtr (mtr-tiny) on the routed lab, run at the same time.

    sudo python bench/path_vs_mtr.py [--probes 100] [--interval 0.1] [--drop 20] [--family 4|6|both]

For each scenario (a clean chain; a random drop of --drop % at r2 of the packets it forwards towards
the destination) qostui's PathEngine and `mtr --report --json` trace the same destination at the
same time, each --probes probes per hop --interval s apart. The table shows per hop: both tools'
responding address, avg RTT and the difference (acceptance: within 0.5 ms), and both loss rates
with their Wilson 95% intervals; "agree" when the two intervals overlap (the column "z<1.96" adds
the stricter two-proportion test at 5%). The lost probes of both tools are also set beside the
number nftables dropped, which is the truth both estimate.
For the drop scenario it prints the acceptance items, each PASS or FAIL: hop 3's and the
destination's loss inside the binomial 95% interval of the configured rate at the probes sent to
that hop (100 by default), and qostui's verdict "loss from hop 3". (At 95% an item fails about one
run in 20 by chance; tests/lab/test_path_lab.py checks a 99.9% band so that it does not flake.)

Needs root, iproute2, nftables and mtr. Traffic only to lab namespaces (10.231.0.0/16, fd00:231::/32).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from lab.netlab import Lab, RoutedChain  # noqa: E402
from qostui.probes.path import PathEngine  # noqa: E402
from qostui.probes.pathstats import hops_from_trace, loss_from_hop  # noqa: E402

Z95 = 1.959964


def wilson(lost: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion, in percent."""
    if n == 0:
        return (0.0, 100.0)
    p = lost / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (100 * max(0.0, centre - half), 100 * min(1.0, centre + half))


def same_proportion(k1: int, n1: int, k2: int, n2: int) -> bool:
    """Two-proportion z-test: True when the difference is not significant at 5%."""
    if n1 == 0 or n2 == 0:
        return True
    pooled = (k1 + k2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        return k1 / n1 == k2 / n2
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return abs(k1 / n1 - k2 / n2) / se <= Z95


def binomial_band(n: int, p: float) -> tuple[int, int]:
    """The central 95% of Binomial(n, p) (exact quantiles)."""
    cdf, lo, hi = 0.0, None, n
    for k in range(n + 1):
        cdf += math.comb(n, k) * p**k * (1 - p) ** (n - k)
        if lo is None and cdf >= 0.025:
            lo = k
        if cdf >= 0.975:
            hi = k
            break
    return (lo or 0), hi


def run_mtr(address: str, family: int, probes: int, interval_s: float, out: dict) -> None:
    cmd = ["mtr", "-n", "--json", f"-{family}", "-c", str(probes), "-i", f"{interval_s:g}", "-m", "8", address]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=probes * interval_s + 60)
    if proc.returncode != 0:
        raise SystemExit(f"mtr failed: {proc.stderr.strip()}")
    out["hubs"] = json.loads(proc.stdout)["report"]["hubs"]


def scenario(chain: RoutedChain, family: int, probes: int, interval_s: float, title: str,
             drop_pct: float = 0.0, items: list[bool] | None = None) -> bool:
    """One side-by-side table; True when every hop agrees. Drop items (PASS/FAIL) go to `items`."""
    items = [] if items is None else items
    address = chain.address if family == 4 else chain.address6
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    mtr_out: dict = {}
    thread = threading.Thread(target=run_mtr, args=(address, family, probes, interval_s, mtr_out))
    engine = PathEngine()
    thread.start()
    try:
        trace = engine.trace(address, af, passes=probes, gap_ms=interval_s * 1000, timeout_ms=2000, max_ttl=8)
    finally:
        engine.close()
    thread.join()
    hops = hops_from_trace(trace, address, 0.0)
    hubs = mtr_out["hubs"]
    print(f"\n{title} — IPv{family}, {probes} probes per hop, {interval_s:g} s apart, both tools at once")
    head = (f"{'hop':>3} {'qostui addr':<15} {'mtr addr':<15} {'q avg ms':>8} {'mtr avg':>8} {'diff':>7} "
            f"{'q loss% [95%]':>20} {'mtr loss% [95%]':>20} {'agree':>5} {'z<1.96':>6}")
    print(head)
    print("-" * len(head))
    ok = True
    lost_total = 0
    for h in hops:
        hub = next((x for x in hubs if int(x["count"]) == h.hop), None)
        if hub is None:
            print(f"{h.hop:>3} {h.hop_address:<15} {'(none)':<15}")
            ok = False
            continue
        m_sent = int(hub["Snt"])
        m_lost = round(m_sent * float(hub["Loss%"]) / 100)
        q_lost = h.sent - h.received
        diff = (h.rtt_avg_ms or 0.0) - float(hub["Avg"])
        ql, qh = wilson(q_lost, h.sent)
        ml, mh = wilson(m_lost, m_sent)
        agree = ql <= mh and ml <= qh
        ztest = same_proportion(q_lost, h.sent, m_lost, m_sent)
        ok &= agree and abs(diff) <= 0.5 and hub["host"] == h.hop_address
        lost_total += q_lost + m_lost
        print(f"{h.hop:>3} {h.hop_address:<15} {hub['host']:<15} {h.rtt_avg_ms or 0:>8.3f} {float(hub['Avg']):>8.3f} "
              f"{diff:>+7.3f} {h.loss_pct:>6.1f} [{ql:4.1f},{qh:5.1f}] {float(hub['Loss%']):>6.1f} "
              f"[{ml:4.1f},{mh:5.1f}] {'yes' if agree else 'NO':>5} {'yes' if ztest else 'no':>6}")
    start = loss_from_hop(hops)
    verdict = "no path loss" if start is None else f"loss from hop {start}"
    if drop_pct:
        # The acceptance items, each PASS/FAIL on its own: at 95% a correct prober still fails one
        # item in 20 runs or so (the lab test uses a 99.9% band so that it does not flake).
        print(f"    acceptance, {drop_pct:g}% drop at r2 (binomial 95% interval of the lost count at each hop's "
              "probes sent):")
        rows: list[tuple[str, str, bool]] = []
        for h, name in ((hops[2] if len(hops) > 2 else None, "hop 3"),
                        (hops[-1] if len(hops) == 4 else None, "destination")):
            if h is None:
                rows.append((name, "not found", False))
                continue
            lo, hi = binomial_band(h.sent, drop_pct / 100)
            lost = h.sent - h.received
            rows.append((name, f"{lost:>3} lost of {h.sent} = {h.loss_pct:5.1f}%; 95% interval of {drop_pct:g}% at "
                               f"{h.sent} probes is [{lo}, {hi}] = [{100 * lo / h.sent:.0f}%, {100 * hi / h.sent:.0f}%]",
                         lo <= lost <= hi))
        rows.append(("verdict", f"{verdict!r} (wanted 'loss from hop 3')", start == 3))
        width = max(len(text) for _name, text, _ok in rows)
        for name, text, passed in rows:
            items.append(passed)
            print(f"      {name:<11}: {text:<{width}}  {'PASS' if passed else 'FAIL'}")
        print(f"    nft dropped at r2: {chain.dropped_packets('r2')}; both tools lost {lost_total} at hops 3-4 "
              "(the difference: probes to TTLs past the destination in the first passes)")
    else:
        print(f"    qostui verdict: {verdict}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between probes to a hop")
    parser.add_argument("--drop", type=float, default=20.0, help="percent dropped at r2 in the second scenario")
    parser.add_argument("--family", choices=("4", "6", "both"), default="both")
    args = parser.parse_args()
    if shutil.which("mtr") is None:
        raise SystemExit("needs mtr (apt-get install mtr-tiny)")
    families = [4, 6] if args.family == "both" else [int(args.family)]
    ok = True
    items: list[bool] = []
    with Lab() as lab:
        chain = lab.add_chain()
        for family in families:
            chain.drop_forwarded(0)
            ok &= scenario(chain, family, args.probes, args.interval, "clean chain")
            chain.drop_forwarded(args.drop)
            ok &= scenario(chain, family, args.probes, args.interval, f"{args.drop:g}% drop at r2", args.drop,
                           items)
    print(f"\noverall: {'every hop agrees' if ok else 'DISAGREEMENT (see NO / diff above)'}; drop acceptance "
          f"items: {sum(items)} of {len(items)} PASS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
