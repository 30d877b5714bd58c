"""`qostui path TARGET`: an mtr-style hop-by-hop report of the path to one target."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from qostui.config import Config, check_address
from qostui.errors import ConfigError, QostuiError
from qostui.records import PathHop

HELP = "trace the hop-by-hop path to a target and print an mtr-style report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="address or hostname to trace")
    parser.add_argument("--rounds", type=int, default=None, metavar="N",
                        help="probes per hop (default path.probes_per_hop)")
    parser.add_argument("--json", action="store_true", default=None, help="print JSON instead of the table")
    parser.add_argument("--protocol", choices=("icmp", "udp", "tcp"), default=None, help="probe kind (default path.protocol)")


def _ms(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"


def path_verdict(hops: Sequence[PathHop]) -> str:
    """One line: where path loss starts, or that there is none."""
    from qostui.probes.pathstats import loss_from_hop

    start = loss_from_hop(hops)
    if start is None:
        return "no path loss"
    last = hops[-1]
    return f"loss from hop {start} ({last.loss_pct:.1f}% at hop {last.hop})"


def format_report(hops: Sequence[PathHop], names: dict[str, str] | None = None, header: str = "") -> str:
    names = names or {}
    lines = [header] if header else []
    lines.append(f"{'Hop':>3}  {'Address':<28} {'Loss%':>6} {'Snt':>4} {'Rcv':>4} {'Last':>7} {'Avg':>7} "
                 f"{'Best':>7} {'Worst':>7} {'StDev':>7} {'Jitter':>7}  Verdict")
    for h in hops:
        who = h.hop_address or "???"
        if names.get(h.hop_address):
            who = f"{names[h.hop_address]} ({h.hop_address})"
        if len(h.addresses) > 1:
            who += f" +{len(h.addresses) - 1}"
        lines.append(
            f"{h.hop:>3}  {who:<28} {h.loss_pct:>6.1f} {h.sent:>4} {h.received:>4} {_ms(h.rtt_last_ms):>7} "
            f"{_ms(h.rtt_avg_ms):>7} {_ms(h.rtt_best_ms):>7} {_ms(h.rtt_worst_ms):>7} {_ms(h.rtt_stdev_ms):>7} "
            f"{_ms(h.jitter_ms):>7}  {h.verdict}".rstrip()
        )
        for extra in h.addresses:
            if extra != h.hop_address:
                lines.append(f"{'':>3}  {'  ' + extra:<28}")
    return "\n".join(lines)


def run(args: argparse.Namespace, config: Config) -> int:
    from dataclasses import asdict

    from qostui.probes.icmp import IcmpPermissionError
    from qostui.probes.path import path_engine
    from qostui.probes.pathstats import hops_from_trace
    from qostui.probes.resolve import resolve_once, reverse_name

    pc = config.path
    rounds = pc.probes_per_hop if args.rounds is None else args.rounds
    if not 1 <= rounds <= 100_000:
        raise ConfigError(f"--rounds: expected 1..100000, got {rounds}")
    check_address(args.target, "qostui path", "TARGET")
    res = resolve_once(args.target)
    if not res.ok:
        raise QostuiError(res.error)
    protocol = args.protocol or pc.protocol
    engine = path_engine(protocol)
    started = time.time()
    try:
        trace = engine.trace(res.address, res.family, passes=rounds, gap_ms=pc.spacing_ms,
                             timeout_ms=pc.timeout_ms, max_ttl=pc.max_ttl, payload_bytes=config.probe.payload_bytes)
    except IcmpPermissionError as exc:
        raise QostuiError(exc.help) from None
    except OSError as exc:
        raise QostuiError(f"cannot trace {args.target} ({res.address}): {exc.strerror or exc}") from None
    finally:
        engine.close()
    hops = hops_from_trace(trace, args.target, started)
    if not hops and trace.error:
        raise QostuiError(trace.error)
    if args.json:
        print(json.dumps({
            "target": args.target, "address": res.address, "rounds": rounds, "protocol": protocol,
            "socket": trace.kind,
            "reached": bool(hops and hops[-1].reached), "verdict": path_verdict(hops),
            "hops": [asdict(h) for h in hops],
        }))
    else:
        names = {h.hop_address: reverse_name(h.hop_address) for h in hops} if pc.resolve_names else None
        header = (f"qostui path {args.target} ({res.address}): {len(hops)} hop(s), {rounds} probe(s) per hop, "
                  f"{protocol} ({trace.kind} socket), {time.time() - started:.1f}s")
        print(format_report(hops, names, header))
        reached = "" if hops and hops[-1].reached else " (destination not reached)"
        print(f"verdict: {path_verdict(hops)}{reached}")
    sys.stdout.flush()
    return 0
