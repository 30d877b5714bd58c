"""Path trace -> PathHop records, and the honest per-hop loss verdict. Pure functions, no I/O.

Why a verdict: routers answer time-exceeded on their control plane, which many rate-limit or
deprioritise, while forwarding everything. Loss shown at hop k but not at the hops after it is
that router declining to answer, not loss on the path ("not forwarding loss"). Real loss starts at
some hop and shows at every answering hop after it, the destination included ("loss from hop k").

Rule (hops that never answered are left out: they say nothing either way):
- no loss at the destination (or no destination reached and no loss at the last answering hop):
  no path loss; every hop with loss is "not forwarding loss".
- otherwise k = the first hop from which every answering hop up to the last one lost probes; hops
  from k on get "loss from hop k", hops before k with loss "not forwarding loss".
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from qostui.probes.path import PathTrace
from qostui.probes.stats import jitter, mdev
from qostui.records import PathHop

__all__ = ["NOT_FORWARDING", "hops_from_trace", "loss_from_hop", "path_signature", "with_verdicts"]

NOT_FORWARDING = "not forwarding loss"


def hops_from_trace(trace: PathTrace, target: str, ts: float) -> list[PathHop]:
    """One PathHop per TTL up to the destination (or the last hop that answered), verdicts set."""
    hops = []
    for ttl in range(1, trace.hop_count() + 1):
        got = sorted(trace.samples.get(ttl, []), key=lambda s: s.pass_index)
        rtts = [s.rtt_ms for s in got]
        received = [r for r in rtts if r is not None]
        who = Counter(s.responder for s in got if s.responder)
        sent = len(got)
        hops.append(
            PathHop(
                ts=ts,
                target=target,
                address=trace.address,
                hop=ttl,
                hop_address=who.most_common(1)[0][0] if who else "",
                addresses=tuple(sorted(who)),
                sent=sent,
                received=len(received),
                loss_pct=100.0 * (sent - len(received)) / sent if sent else 0.0,
                rtt_last_ms=received[-1] if received else None,
                rtt_avg_ms=math.fsum(received) / len(received) if received else None,
                rtt_best_ms=min(received) if received else None,
                rtt_worst_ms=max(received) if received else None,
                rtt_stdev_ms=_stdev(received),
                jitter_ms=jitter(rtts),
                reached=any(s.reached for s in got) and ttl == trace.dest_hop,
            )
        )
    return with_verdicts(hops)


def _stdev(values: Sequence[float]) -> float | None:
    """Sample standard deviation, as mtr's StDev (0.0 with one value)."""
    n = len(values)
    if n == 0:
        return None
    if n == 1:
        return 0.0
    return mdev(values) * math.sqrt(n / (n - 1))


def loss_from_hop(hops: Sequence[PathHop]) -> int | None:
    """The hop where path loss starts, or None when the path loses nothing (see module docstring)."""
    answering = [h for h in hops if h.received > 0]
    if not answering or answering[-1].received >= answering[-1].sent:
        return None
    start = answering[-1].hop
    for h in reversed(answering):
        if h.received >= h.sent:
            break
        start = h.hop
    return start


def with_verdicts(hops: Sequence[PathHop]) -> list[PathHop]:
    from dataclasses import replace

    start = loss_from_hop(hops)
    out = []
    for h in hops:
        verdict = ""
        if 0 < h.received < h.sent:  # a hop that never answered says nothing: no verdict
            verdict = f"loss from hop {start}" if start is not None and h.hop >= start else NOT_FORWARDING
        out.append(replace(h, verdict=verdict) if verdict != h.verdict else h)
    return out


def path_signature(hops: Sequence[PathHop]) -> tuple[str, ...]:
    """The hop sequence a route change is judged on: each hop's main address ("*" = no reply)."""
    return tuple(h.hop_address or "*" for h in hops)
