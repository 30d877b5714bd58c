"""Round statistics: per-probe RTTs -> PingRound. Pure functions, no I/O.

Definitions (all in milliseconds):
- min/avg/max over the received probes.
- mdev like iputils ping: sqrt(mean(x^2) - mean(x)^2) (population standard deviation).
- p50/p95 by linear interpolation between closest ranks (numpy's default "linear" method):
  rank = p/100 * (n-1).
- jitter: mean absolute difference of consecutive RTTs, in send order, over the received probes
  (lost probes are skipped, RFC 3550 style without the 1/16 smoothing). 0.0 with one reply.
- mos: a simplified ITU-T G.107 E-model, see `mos()`.

A round with no reply is OK-state with 100% loss, rtt fields None, jitter None and mos 1.0.
Non-OK rounds (no route, unresolved, no permission, error) carry no loss statistics: loss_pct is
0.0 (a placeholder: the store reads loss only from OK rounds and the line protocol leaves it out),
received is 0 and the rtt/jitter/mos fields are None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from qostui.records import PingRound, ProbeState

__all__ = ["build_round", "failed_round", "jitter", "mdev", "mos", "percentile"]


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """The pct-th percentile (0..100) of already sorted values, linear interpolation."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("percentile of no values")
    if n == 1:
        return float(sorted_values[0])
    rank = (pct / 100.0) * (n - 1)
    lo = math.floor(rank)
    hi = min(lo + 1, n - 1)
    frac = rank - lo
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac)


def mdev(values: Sequence[float]) -> float:
    """Population standard deviation the way iputils ping computes it."""
    n = len(values)
    if n == 0:
        raise ValueError("mdev of no values")
    mean = math.fsum(values) / n
    mean_sq = math.fsum(v * v for v in values) / n
    return math.sqrt(max(0.0, mean_sq - mean * mean))


def jitter(rtts_in_send_order: Sequence[float | None]) -> float | None:
    """Mean absolute difference of consecutive received RTTs; None without replies."""
    got = [r for r in rtts_in_send_order if r is not None]
    if not got:
        return None
    if len(got) == 1:
        return 0.0
    return math.fsum(abs(b - a) for a, b in zip(got, got[1:], strict=False)) / (len(got) - 1)


def mos(avg_ms: float | None, jitter_ms: float | None, loss_pct: float) -> float:
    """Mean Opinion Score 1.0..4.5 from a simplified ITU-T G.107 E-model.

    effective latency = avg + 2*jitter + 10 ms (codec)
    R = 93.2 - eff/40            if eff < 160 ms
    R = 93.2 - (eff - 120)/10    otherwise
    R -= 2.5 * loss_pct
    MOS = 1 + 0.035 R + 7e-6 R (R - 60) (100 - R), clamped to 1.0 (R <= 0) .. 4.5 (R >= 100).
    With no replies (avg None) the score is 1.0.
    """
    if avg_ms is None:
        return 1.0
    eff = avg_ms + 2.0 * (jitter_ms or 0.0) + 10.0
    r = 93.2 - eff / 40.0 if eff < 160.0 else 93.2 - (eff - 120.0) / 10.0
    r -= 2.5 * loss_pct
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    value = 1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r)
    return min(4.5, max(1.0, value))


def build_round(
    *,
    ts: float,
    target: str,
    address: str,
    probe: str,
    rtts_ms: Sequence[float | None],
    error: str = "",
) -> PingRound:
    """An OK-state PingRound from per-probe RTTs in send order (None = lost)."""
    rtts = tuple(None if r is None else float(r) for r in rtts_ms)
    sent = len(rtts)
    got = [r for r in rtts if r is not None]
    received = len(got)
    loss = 100.0 * (sent - received) / sent if sent else 0.0
    if not got:
        return PingRound(
            ts=ts, target=target, address=address, probe=probe, state=ProbeState.OK,
            sent=sent, received=0, loss_pct=loss if sent else 100.0, mos=1.0, rtts_ms=rtts, error=error,
        )
    ordered = sorted(got)
    avg = math.fsum(got) / received
    jit = jitter(rtts)
    return PingRound(
        ts=ts,
        target=target,
        address=address,
        probe=probe,
        state=ProbeState.OK,
        sent=sent,
        received=received,
        loss_pct=loss,
        rtt_min_ms=ordered[0],
        rtt_avg_ms=avg,
        rtt_max_ms=ordered[-1],
        rtt_mdev_ms=mdev(got),
        rtt_p50_ms=percentile(ordered, 50),
        rtt_p95_ms=percentile(ordered, 95),
        jitter_ms=jit,
        mos=mos(avg, jit, loss),
        rtts_ms=rtts,
        error=error,
    )


def failed_round(
    *,
    ts: float,
    target: str,
    address: str,
    probe: str,
    state: ProbeState,
    error: str,
    sent: int = 0,
) -> PingRound:
    """A non-OK PingRound: no loss statistics (loss_pct 0.0 placeholder, never exported; rtt fields None)."""
    if state is ProbeState.OK:
        raise ValueError("failed_round needs a non-OK state")
    return PingRound(
        ts=ts, target=target, address=address, probe=probe, state=state,
        sent=sent, received=0, loss_pct=0.0, error=error,
    )
