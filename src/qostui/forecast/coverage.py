"""Coverage of past forecasts: did what really happened fall inside the stored 80% / 95% bounds?

Headless, numpy only: the forecast view (and anything else) scores the forecasts it stored earlier
against the recorded bandwidth. `score_forecasts` works on arrays; `coverage_from_store` reads
both from a store.

A stored forecast is *scored* when the actual series has a reading in its step, the bin
[ts, ts + step_s) of the same grid the forecast was made on (`Store.resample`, as training and
`qostui forecast` use). Every scored forecast counts for the mean absolute error; only those that
carry both bounds of an interval count for that interval's coverage (old rows have NULL bounds).
A bound is held when lo <= actual <= hi. With `complete_before`, a step whose bin has not ended
yet is not scored (its mean would be of a partial bin).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from qostui.records import Forecast

if TYPE_CHECKING:
    from qostui.store import Store


@dataclass(frozen=True)
class CoverageStats:
    """Scores of one forecast step (step 0: all steps together)."""

    step: int
    n: int  # forecasts scored: an actual reading exists for their step
    mae_mbps: float  # mean |predicted - actual| over the n scored; NaN when n == 0
    n_80: int  # scored forecasts that carry an 80% interval
    held_80: int  # ... whose actual was inside it
    n_95: int
    held_95: int
    width_80_mbps: float  # mean hi - lo; NaN without intervals
    width_95_mbps: float

    @property
    def coverage_80_pct(self) -> float:
        return 100.0 * self.held_80 / self.n_80 if self.n_80 else math.nan

    @property
    def coverage_95_pct(self) -> float:
        return 100.0 * self.held_95 / self.n_95 if self.n_95 else math.nan


@dataclass(frozen=True)
class Coverage:
    overall: CoverageStats
    per_step: tuple[CoverageStats, ...]  # ascending step; only steps that have stored forecasts
    forecasts: int  # stored forecasts looked at (scored or not yet due)

    @property
    def has_intervals(self) -> bool:
        """Some scored forecast carried an interval."""
        return self.overall.n_80 > 0 or self.overall.n_95 > 0

    def step(self, step: int) -> CoverageStats | None:
        return next((s for s in self.per_step if s.step == step), None)

    def summary(self) -> str:
        """One line: "past forecasts: 80% band held 78% (n=123), 95% held 94%; MAE 4.2 Mbps"."""
        o = self.overall
        if o.n == 0:
            return f"past forecasts: none due yet ({self.forecasts} stored)"
        parts = []
        if o.n_80:
            parts.append(f"80% band held {o.coverage_80_pct:.0f}% (n={o.n_80})")
        if o.n_95:
            n_95 = "" if o.n_95 == o.n_80 else f" (n={o.n_95})"  # the same forecasts: say n once
            parts.append(f"{'95%' if parts else '95% band'} held {o.coverage_95_pct:.0f}%{n_95}")
        bands = ", ".join(parts) if parts else f"no intervals stored (n={o.n})"
        return f"past forecasts: {bands}; MAE {o.mae_mbps:.1f} Mbps"


def _stats(step: int, err: np.ndarray, truth: np.ndarray, bands: dict[str, tuple[np.ndarray, np.ndarray]]) -> CoverageStats:
    counts: dict[str, tuple[int, int, float]] = {}
    for name, (lo, hi) in bands.items():
        has = np.isfinite(lo) & np.isfinite(hi)
        n = int(has.sum())
        held = int(((truth >= lo) & (truth <= hi) & has).sum())
        width = float(np.mean(hi[has] - lo[has])) if n else math.nan
        counts[name] = (n, held, width)
    n80, h80, w80 = counts["80"]
    n95, h95, w95 = counts["95"]
    mae = float(np.mean(np.abs(err))) if len(err) else math.nan
    return CoverageStats(step, len(err), mae, n80, h80, n95, h95, w80, w95)


def score_forecasts(
    forecasts: Sequence[Forecast],
    actual_ts: np.ndarray,
    actual_mbps: np.ndarray,
    step_s: float,
    *,
    complete_before: float | None = None,
) -> Coverage:
    """Score stored forecasts against an actual series on a regular grid (bin starts `actual_ts`,
    NaN where there was no reading)."""
    actual_ts = np.asarray(actual_ts, dtype=float)
    actual_mbps = np.asarray(actual_mbps, dtype=float)
    n = len(forecasts)
    # one pass over the records; None (no bound) becomes NaN
    cols = np.array(
        [(f.ts, f.step, f.predicted_mbps, f.predicted_lo_mbps, f.predicted_hi_mbps, f.predicted_lo95_mbps,
          f.predicted_hi95_mbps) for f in forecasts],
        dtype=float,
    ).reshape(n, 7)  # fmt: skip
    fts, steps = cols[:, 0], cols[:, 1].astype(np.int64)
    truth = np.full(n, np.nan)
    if n and len(actual_ts):
        idx = np.floor((fts - actual_ts[0]) / step_s + 1e-9).astype(np.int64)  # the bin holding ts
        ok = (idx >= 0) & (idx < len(actual_ts))
        truth[ok] = actual_mbps[idx[ok]]
    scored = np.isfinite(truth)
    if complete_before is not None:
        scored &= fts + step_s <= complete_before
    err = cols[:, 2] - truth
    bounds = {"80": (cols[:, 3], cols[:, 4]), "95": (cols[:, 5], cols[:, 6])}

    def part(mask: np.ndarray, step: int) -> CoverageStats:
        return _stats(step, err[mask], truth[mask], {k: (lo[mask], hi[mask]) for k, (lo, hi) in bounds.items()})

    per_step = tuple(part(scored & (steps == s), int(s)) for s in np.unique(steps))
    return Coverage(part(scored, 0), per_step, n)


def coverage_from_store(
    store: Store,
    step_s: float,
    *,
    since: float | None = None,
    until: float | None = None,
    model: str | None = None,
    complete_before: float | None = None,
) -> Coverage:
    """Stored forecasts for times in [since, until) (of `model`, or all) against the stored bandwidth."""
    forecasts = store.forecasts(since=since, until=until, model=model)
    if not forecasts:
        return score_forecasts([], np.zeros(0), np.zeros(0), step_s)
    lo = min(f.ts for f in forecasts)
    hi = max(f.ts for f in forecasts) + step_s
    ts, values = store.resample("bandwidth_mbps", step_s, since=lo, until=hi)
    return score_forecasts(forecasts, ts, values, step_s, complete_before=complete_before)
