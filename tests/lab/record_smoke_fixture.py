"""Record the RTT-smoke fixture: real ICMP rounds of a jittery lab host, for the smoke snapshots.

    (as root) PYTHONPATH=src /work/venv/bin/python tests/lab/record_smoke_fixture.py [--rounds 150] [--interval 2]

Brings up the network lab (tests/lab/netlab.py) with one host whose echo responder answers after
20 ms +- 8 ms (uniform jitter), probes it with qostui's own ICMP engine (PingProber over
IcmpEngine: 5 probes a round, 200 ms apart), drops 15% of the echo requests for the middle third of
the run (nft, Lab.set_loss) so the median's loss colours show, tears the lab down, and writes
tests/ui/fixtures/smoke_lab_rounds.json. The defaults (150 rounds, 2 s apart, about 5 minutes)
fill the detail chart's 5 min window (tests/ui/test_smoke_fixture.py expects at least 100 rounds
over at least 4 minutes, and the lab settings below).

The file keeps every probe's RTT exactly as recorded (ms, 3 decimals; null = lost) and each
round's loss; timestamps are offsets from the first round, which the tests place at a fixed epoch
so the snapshots are stable. The header says when, against what, and with which settings.

Only lab traffic: the one lab host (10.231.0.0/16, unreachable outside the lab). Bounded: at most
MAX_ROUNDS rounds and MAX_SECONDS seconds. Needs root (namespaces, raw ICMP).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from lab.netlab import Lab, LabError  # noqa: E402
from qostui.config import Config, ProbeConfig, TargetConfig  # noqa: E402
from qostui.probes import PingProber  # noqa: E402
from qostui.probes.icmp import IcmpEngine  # noqa: E402

OUT = ROOT / "tests" / "ui" / "fixtures" / "smoke_lab_rounds.json"
DELAY_MS = 20.0
JITTER_MS = 8.0
LOSS_PCT = 15.0  # in the middle third of the run
COUNT = 5
SPACING_MS = 200.0
TIMEOUT_MS = 1000.0  # 20 ms +- 8 never times out; a dropped request does
MAX_ROUNDS = 300
MAX_SECONDS = 900.0


def record(rounds: int, interval_s: float) -> dict:
    """Probe the lab host `rounds` times, `interval_s` apart; the fixture's content."""
    started = time.monotonic()
    out: list[list] = []
    with Lab() as lab:
        host = lab.add_host("jitter", delay_ms=DELAY_MS, jitter_ms=JITTER_MS)
        config = Config(
            interval_s=interval_s,
            targets=(TargetConfig(address=host.address),),
            probe=ProbeConfig(method="icmp", count=COUNT, spacing_ms=SPACING_MS, timeout_ms=TIMEOUT_MS),
        )
        prober = PingProber(config, icmp_engine=IcmpEngine())  # what the monitor uses
        t_first: float | None = None
        dropped = 0
        try:
            for k in range(rounds):
                if time.monotonic() - started > MAX_SECONDS:
                    print(f"stopped after {MAX_SECONDS:g} s at round {k}", file=sys.stderr)
                    break
                lossy = rounds // 3 <= k < 2 * rounds // 3
                if lossy != (host.loss_pct > 0):
                    dropped += host.dropped_packets()  # set_loss replaces the rule and its counter
                    host.set_loss(LOSS_PCT if lossy else 0.0)
                due = started + k * interval_s
                time.sleep(max(0.0, due - time.monotonic()))
                (r,) = prober.run_round()
                if r.state.value != "ok":
                    raise LabError(f"round {k}: {r.state.value}: {r.error}")
                t_first = r.ts if t_first is None else t_first
                rtts = [None if v is None else round(v, 3) for v in r.rtts_ms]
                out.append([round(r.ts - t_first, 3), round(r.loss_pct, 1), rtts])
            dropped += host.dropped_packets()
            kind = prober.icmp.kind(socket.AF_INET)
        finally:
            prober.close()
        address = host.address
    return {
        "about": (
            f"RTTs as recorded with qostui's ICMP engine ({kind} socket) against a lab host "
            f"(tests/lab/netlab.py) whose echo responder adds {DELAY_MS:g} ms +- {JITTER_MS:g} ms uniform "
            f"jitter; {LOSS_PCT:g}% of echo requests dropped (nft) in the middle third. "
            "rounds: [seconds after the first round, loss %, per-probe RTT ms in send order (null = lost)]. "
            "Recorded by tests/lab/record_smoke_fixture.py; tests place the first round at a fixed epoch."
        ),
        "recorded_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ"),
        "address": address,
        "delay_ms": DELAY_MS,
        "jitter_ms": JITTER_MS,
        "loss_pct_middle_third": LOSS_PCT,
        "dropped_requests": dropped,
        "count": COUNT,
        "spacing_ms": SPACING_MS,
        "interval_s": interval_s,
        "rounds": out,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=150, help=f"rounds to record (1..{MAX_ROUNDS}, default 150)")
    ap.add_argument("--interval", type=float, default=2.0, help="seconds between rounds (1..10, default 2)")
    ap.add_argument("--out", type=Path, default=OUT, help=f"fixture file (default {OUT.relative_to(ROOT)})")
    args = ap.parse_args(argv)
    if not 1 <= args.rounds <= MAX_ROUNDS:
        ap.error(f"--rounds must be 1..{MAX_ROUNDS}")
    if not 1.0 <= args.interval <= 10.0:
        ap.error("--interval must be 1..10 seconds")
    try:
        data = record(args.rounds, args.interval)
    except LabError as exc:
        print(f"record_smoke_fixture: {exc}", file=sys.stderr)
        return 1
    rounds = data.pop("rounds")
    # compact, but one round a line so a diff of a re-recording reads
    body = json.dumps(data, indent=1)[:-2] + ',\n "rounds": [\n'
    body += ",\n".join("  " + json.dumps(r, separators=(",", ":")) for r in rounds) + "\n ]\n}\n"
    json.loads(body)  # the hand-joined layout is valid JSON
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(body)
    lost = sum(v is None for r in rounds for v in r[2])
    print(f"wrote {len(rounds)} rounds ({lost} probes lost, {data['dropped_requests']} requests dropped) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
