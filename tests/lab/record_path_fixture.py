"""Record the path view's snapshot fixture on the routed lab (run as root, by hand, when needed).

    PYTHONPATH=src /work/venv/bin/python tests/lab/record_path_fixture.py [OUT.json]

Default OUT: tests/ui/fixtures/path_lab.json (what tests/ui/test_path_view.py snapshots).

Brings up the routed chain with the alternate router (tests/lab/netlab.py), turns on r1's ICMP
rate limit for the whole recording (r1 then answers only some of its time-exceeded: "not
forwarding loss"), and runs qostui's own path rounds (PathWatcher.round, the code `qostui record`
runs with [path] enabled, RouteTracker included) against the destination, in three phases:

  A. primary path r1 > r2 > r3 > destination, no drop                       (ROUNDS_A rounds)
  B. `ip route replace` at r1 to the alternate router r2b: a `route` event  (ROUNDS_B rounds)
  C. back to the primary path (a second `route` event) with nft dropping 20% of what r2 forwards
     towards the destination: "loss from hop 3"                          (ROUNDS_C .. MAX_ROUNDS_C)

Phase C (the drop sits on r2, so it is on the primary path) goes on past ROUNDS_C only until the
last round shows both verdicts ("loss from hop 3" at hops 3 and 4, "not forwarding loss" at hop
1): with 20 probes per hop a round without a loss at hop 3 is about 1 in 90. Every round is
bounded (PROBES_PER_HOP passes, each probe its own TIMEOUT_MS), the phases by count, the whole by
DEADLINE_S; the lab is torn down on every exit.

Written: the hop rows (records.PathHop, the store's path_hop rows the view reads) and the route
events, with every timestamp shifted by one constant so the first round starts at the fixed
epoch T0 (relative timing is as recorded), and a header saying what was recorded and when.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # `lab.netlab`

from lab.netlab import Lab  # noqa: E402
from qostui.bus import Bus  # noqa: E402
from qostui.config import Config, parse_targets_arg  # noqa: E402
from qostui.pathwatch import PathWatcher  # noqa: E402
from qostui.probes.path import path_engine  # noqa: E402
from qostui.probes.pathstats import NOT_FORWARDING  # noqa: E402
from qostui.probes.resolve import Resolver  # noqa: E402
from qostui.records import Event, PathHop  # noqa: E402

OUT = HERE.parent / "ui" / "fixtures" / "path_lab.json"
T0 = 1_700_000_000.0  # the snapshot epoch (tests/ui/helpers.py T0)
ROUNDS_A, ROUNDS_B, ROUNDS_C, MAX_ROUNDS_C = 8, 6, 8, 16
PROBES_PER_HOP, SPACING_MS, TIMEOUT_MS, MAX_TTL = 20, 10.0, 1000.0, 8
DROP_PCT, RATELIMIT_MS = 20, 1000
DEADLINE_S = 180.0


def _both_verdicts(hops: list[PathHop]) -> bool:
    return (len(hops) == 4 and hops[0].verdict == NOT_FORWARDING
            and [h.verdict for h in hops[2:]] == ["loss from hop 3"] * 2)


def record() -> dict:
    started = time.time()
    deadline = time.monotonic() + DEADLINE_S
    with Lab() as lab:
        chain = lab.add_chain(alternate=True)
        base = Config()
        config = base.with_overrides(
            targets=parse_targets_arg(chain.address),
            path=replace(base.path, enabled=True, probes_per_hop=PROBES_PER_HOP, spacing_ms=SPACING_MS,
                         timeout_ms=TIMEOUT_MS, max_ttl=MAX_TTL),
        )
        watcher = PathWatcher(config, Bus())
        engine = path_engine("icmp")
        resolver = Resolver(config.probe.resolve_retry_s)
        records: list[PathHop | Event] = []
        phases: list[dict] = []

        def run(phase: str, rounds: int, until: int | None = None) -> None:
            done = 0
            last: list[PathHop] = []
            while done < rounds or (until is not None and done < until and not _both_verdicts(last)):
                if time.monotonic() > deadline:
                    raise SystemExit(f"record_path_fixture: over {DEADLINE_S:g} s, nothing written")
                got = watcher.round(engine, resolver)
                records.extend(got)
                last = [r for r in got if isinstance(r, PathHop)]
                done += 1
            phases.append({"phase": phase, "rounds": done})

        try:
            chain.rate_limit_icmp("r1", ratelimit_ms=RATELIMIT_MS)
            run("A primary path, r1 ICMP rate limit", ROUNDS_A)
            chain.use_alternate()
            run("B ip route replace at r1 via the alternate router r2b", ROUNDS_B)
            chain.use_primary()
            chain.drop_forwarded(DROP_PCT, router="r2")
            run(f"C primary path again, {DROP_PCT}% of r2's forwarded packets dropped", ROUNDS_C, MAX_ROUNDS_C)
            dropped = chain.dropped_packets("r2")
            target = chain.address
            hops_primary, hops_alternate = chain.hop_addresses(4), chain.hop_addresses(4, alternate=True)
        finally:
            engine.close()
    last = [r for r in records if isinstance(r, PathHop)][-4:]
    if not _both_verdicts(last):
        raise SystemExit(f"record_path_fixture: the last round lacks the verdicts ({[h.verdict for h in last]}),"
                         " nothing written")
    shift = T0 - min(r.ts for r in records)
    rows = []
    for r in records:
        row = dataclasses.asdict(replace(r, ts=round(r.ts + shift, 6)))
        row["type"] = "path_hop" if isinstance(r, PathHop) else "event"
        rows.append(row)
    return {
        "header": {
            "what": "qostui path rounds (PathWatcher.round, ICMP) on the routed lab chain, recorded by "
                    "tests/lab/record_path_fixture.py",
            "recorded_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "timestamps": f"shifted by a constant so the first round starts at {T0:.0f} (relative timing as recorded)",
            "target": target,
            "hops_primary": hops_primary,
            "hops_alternate": hops_alternate,
            "path": {"probes_per_hop": PROBES_PER_HOP, "spacing_ms": SPACING_MS, "timeout_ms": TIMEOUT_MS,
                     "max_ttl": MAX_TTL, "hysteresis_rounds": config.path.hysteresis_rounds},
            "impairments": {"r1_icmp_ratelimit_ms": RATELIMIT_MS, "r2_forward_drop_pct_phase_c": DROP_PCT,
                            "r2_nft_dropped_packets": dropped},
            "phases": phases,
        },
        "records": rows,
    }


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else OUT
    data = record()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1) + "\n")
    header = data["header"]
    events = [r for r in data["records"] if r["type"] == "event"]
    print(f"wrote {out}: {len(data['records']) - len(events)} hop rows, {len(events)} route event(s), "
          f"phases {[p['rounds'] for p in header['phases']]}")
    for e in events:
        print(f"  {e['message']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
