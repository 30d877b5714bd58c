"""The recorded rounds of a jittery lab host (tests/ui/fixtures/smoke_lab_rounds.json) as PingRounds.

Recorded once by tests/lab/record_smoke_fixture.py (its header says when and with which lab
settings); the RTTs are as measured, the first round is placed at `t0` so snapshots are stable.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from qostui.probes.stats import build_round
from qostui.records import PingRound
from ui.helpers import T0

FIXTURE = Path(__file__).resolve().with_name("fixtures") / "smoke_lab_rounds.json"


@cache
def lab_smoke_data() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


def lab_smoke_rounds(t0: float = T0) -> list[PingRound]:
    """Every recorded round, rebuilt as the prober builds it (stats from the per-probe RTTs)."""
    data = lab_smoke_data()
    address = data["address"]
    out = []
    for k, (dt_s, loss_pct, rtts) in enumerate(data["rounds"]):
        r = build_round(ts=t0 + dt_s, target=address, address=address, probe="icmp", rtts_ms=rtts)
        if abs(r.loss_pct - loss_pct) > 0.05:
            raise ValueError(f"{FIXTURE}: round {k}: loss {loss_pct} does not match its RTTs ({r.loss_pct:g}%)")
        out.append(r)
    return out
