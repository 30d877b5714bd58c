"""The smoke snapshots' fixture is what a jittery lab host looks like, not a flat or made-up series.

tests/ui/fixtures/smoke_lab_rounds.json was recorded by tests/lab/record_smoke_fixture.py against a
lab host answering after 20 ms +- 8 ms (uniform); a re-recording with other settings, a truncated
file or generated rounds fail here before they reach the snapshots.
"""

from __future__ import annotations

import statistics

from qostui.ui.chart import WINDOWS_S, smoke_series
from ui.smoke_fixture import lab_smoke_data, lab_smoke_rounds


def test_fixture_is_a_recorded_jittery_lab_host() -> None:
    data = lab_smoke_data()
    assert data["address"].startswith("10.231.") and data["address"].endswith(".2")  # a lab host
    assert (data["delay_ms"], data["jitter_ms"], data["count"]) == (20.0, 8.0, 5)
    rounds = lab_smoke_rounds()
    assert len(rounds) >= 100
    ts = [r.ts for r in rounds]
    assert ts == sorted(ts) and len(set(ts)) == len(ts)
    # the rounds cover most of the detail chart's first window (5 min)
    assert ts[-1] - ts[0] >= 0.8 * WINDOWS_S[0]
    assert all(len(r.rtts_ms) == 5 for r in rounds)
    rtts = [v for r in rounds for v in r.rtts_ms if v is not None]
    # 20 ms +- 8 uniform: mean ~20, standard deviation ~16/sqrt(12) = 4.6, all within the jitter
    # (plus a little for the veth and a late wake-up of the responder on a busy machine)
    assert 18.0 <= statistics.fmean(rtts) <= 22.5, statistics.fmean(rtts)
    assert 3.5 <= statistics.pstdev(rtts) <= 6.0, statistics.pstdev(rtts)
    within = sum(11.5 <= v <= 30.0 for v in rtts) / len(rtts)
    assert within >= 0.98, within
    assert min(rtts) < 14.0 and max(rtts) > 26.0  # both ends of the jitter were drawn
    # each round's own spread (what the smoke bands show): 5 draws of a 16 ms wide uniform
    # spread ~16 * 4/6 = 10.7 ms on average; loopback's stays under 1 ms
    spreads = [r.rtt_max_ms - r.rtt_min_ms for r in rounds if r.received >= 4
               and r.rtt_max_ms is not None and r.rtt_min_ms is not None]  # fmt: skip
    assert 7.0 <= statistics.median(spreads) <= 14.0, statistics.median(spreads)
    jitters = [r.jitter_ms for r in rounds if r.jitter_ms is not None]
    assert statistics.median(jitters) > 3.0, statistics.median(jitters)
    # loss only where the recorder dropped requests (the middle third), and some there
    third = len(rounds) // 3
    lossy = [k for k, r in enumerate(rounds) if r.loss_pct > 0]
    assert lossy and all(third - 1 <= k <= 2 * third + 1 for k in lossy), lossy
    assert sum(r.sent - r.received for r in rounds) == data["dropped_requests"]


def test_fixture_draws_wide_smoke_bands() -> None:
    rounds = lab_smoke_rounds()
    s = smoke_series(rounds, rounds[0].ts, rounds[-1].ts, len(rounds))
    lo, hi = s.bands[0]  # fastest to slowest probe of each round
    widths = [h - low for low, h in zip(lo, hi, strict=True) if low is not None and h is not None]
    assert s.probes == 5 and len(s.bands) == 2
    assert statistics.median(widths) > 7.0
    assert any(p > 0 for p in s.loss_pct)  # the median line changes colour somewhere
