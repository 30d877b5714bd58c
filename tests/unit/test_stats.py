"""Round statistics against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from qostui.probes.stats import build_round, failed_round, jitter, mdev, mos, percentile
from qostui.records import ProbeState

approx = pytest.approx


def make(rtts):
    return build_round(ts=1.0, target="t", address="192.0.2.9", probe="icmp", rtts_ms=rtts)


def test_mixed_round() -> None:
    # received in send order: 10, 20, 40, 30 (the third probe was lost)
    r = make([10.0, 20.0, None, 40.0, 30.0])
    assert (r.state, r.sent, r.received, r.loss_pct) == (ProbeState.OK, 5, 4, 20.0)
    assert (r.rtt_min_ms, r.rtt_max_ms, r.rtt_avg_ms) == (10.0, 40.0, 25.0)
    # mean(x^2) = (100+400+1600+900)/4 = 750, mean^2 = 625 -> sqrt(125)
    assert r.rtt_mdev_ms == approx(11.180339887, abs=1e-9)
    # sorted 10 20 30 40: p50 rank 1.5 -> 25; p95 rank 2.85 -> 30 + 0.85*10 = 38.5
    assert r.rtt_p50_ms == approx(25.0)
    assert r.rtt_p95_ms == approx(38.5)
    # |20-10| + |40-20| + |30-40| = 40 over 3 differences (the lost probe is skipped, not zero)
    assert r.jitter_ms == approx(40 / 3)
    # eff = 25 + 2*13.333 + 10 = 61.667 -> R = 93.2 - 61.667/40 - 2.5*20 = 41.658
    # MOS = 1 + 0.035*41.658 + 7e-6*41.658*(-18.342)*(58.342) = 1 + 1.458042 - 0.312046
    assert r.mos == approx(2.145996, abs=1e-6)
    assert r.rtts_ms == (10.0, 20.0, None, 40.0, 30.0)
    assert r.error == ""


def test_single_reply() -> None:
    r = make([None, 7.5])
    assert (r.sent, r.received, r.loss_pct) == (2, 1, 50.0)
    assert r.rtt_min_ms == r.rtt_max_ms == r.rtt_avg_ms == r.rtt_p50_ms == r.rtt_p95_ms == 7.5
    assert r.rtt_mdev_ms == 0.0
    assert r.jitter_ms == 0.0


def test_no_reply_is_ok_with_full_loss() -> None:
    r = make([None, None, None])
    assert (r.state, r.sent, r.received, r.loss_pct) == (ProbeState.OK, 3, 0, 100.0)
    for field in ("rtt_min_ms", "rtt_avg_ms", "rtt_max_ms", "rtt_mdev_ms", "rtt_p50_ms", "rtt_p95_ms", "jitter_ms"):
        assert getattr(r, field) is None, field
    assert r.mos == 1.0
    assert r.rtts_ms == (None, None, None)


def test_percentile_linear_interpolation() -> None:
    assert percentile([1.0, 2.0], 95) == approx(1.95)
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == approx(4.8)  # rank 3.8
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 100) == 5.0
    assert percentile([3.0], 95) == 3.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_mdev_matches_iputils() -> None:
    # ping's mdev is the population standard deviation: 2, 4, 4, 4, 5, 5, 7, 9 -> 2
    assert mdev([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]) == approx(2.0)
    assert mdev([5.0, 5.0]) == 0.0
    # rounding must never produce sqrt of a tiny negative number
    assert mdev([0.1] * 7) == 0.0


def test_jitter() -> None:
    assert jitter([]) is None
    assert jitter([None, None]) is None
    assert jitter([1.0]) == 0.0
    assert jitter([1.0, 3.0, 2.0]) == approx(1.5)  # (2 + 1) / 2
    assert jitter([1.0, None, 4.0, None]) == approx(3.0)


def test_mos_branches_and_clamps() -> None:
    # eff 10 ms: R = 93.2 - 0.25 = 92.95; MOS = 1 + 3.25325 + 7e-6*92.95*32.95*7.05
    assert mos(0.0, 0.0, 0.0) == approx(4.404394, abs=1e-6)
    # eff 210 ms >= 160: R = 93.2 - (210 - 120)/10 = 84.2; MOS = 1 + 2.947 + 0.225363
    assert mos(200.0, 0.0, 0.0) == approx(4.172363, abs=1e-6)
    # jitter counts twice: avg 100 + 2*50 + 10 = 210 as well
    assert mos(100.0, 50.0, 0.0) == approx(4.172363, abs=1e-6)
    assert mos(20.0, 0.0, 100.0) == 1.0  # R negative
    assert mos(None, None, 100.0) == 1.0
    assert 1.0 <= mos(5000.0, 1000.0, 0.0) <= 4.5
    assert mos(1.0, 0.5, 0.0) <= 4.5


def test_failed_round_has_no_loss_statistics() -> None:
    r = failed_round(ts=2.0, target="x", address="", probe="icmp", state=ProbeState.UNRESOLVED, error="nope")
    assert (r.sent, r.received, r.loss_pct, r.rtt_avg_ms, r.mos, r.rtts_ms) == (0, 0, 0.0, None, None, ())
    assert r.error == "nope"
    with pytest.raises(ValueError):
        failed_round(ts=2.0, target="x", address="", probe="icmp", state=ProbeState.OK, error="")


def test_values_are_finite() -> None:
    r = make([0.001, 0.002, 1000.0])
    for value in (r.rtt_avg_ms, r.rtt_mdev_ms, r.rtt_p95_ms, r.jitter_ms, r.mos):
        assert value is not None and math.isfinite(value)
