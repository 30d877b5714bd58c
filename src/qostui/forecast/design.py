"""Inputs of the residual forecasters (linear and LSTM): level-relative windows in log1p space.

numpy only. For a forecast origin `o` (first predicted index; history is 0..o-1):

- the *level* is the last value before the origin, in log1p space (`lv[o-1]`), so every input
  and target is relative to it: a series whose level grows tenfold looks the same to the model;
- `seq` (n, L, k): per step of the recent window, the value minus the level, the value one day
  earlier minus the level (when a daily season exists) and the standardised latency/loss;
- `flat` (n, F): the recent window, the readings one day (and one week, once two weeks exist)
  before the origin around the same position (`o - season + j`, j = -L..H-1), the time of day and
  day of week at the origin, the latest latency/loss; all level-relative where they are levels;
- `anchor` (n, H): the naive answer per step the model corrects (0 = persistence, the daily or
  the weekly seasonal lag): chosen per step on the validation part.

Unknown inputs (before the start, in a long gap) are 0, i.e. "same as the level".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DAY_S = 86400.0
WEEK_S = 7 * DAY_S
ANCHORS = ("persistence", "daily", "weekly")
MIN_SEASON_ACF = 0.2  # autocorrelation at one season needed to call the cycle confirmed


def transform(mbps: np.ndarray, log1p: bool) -> np.ndarray:
    v = np.asarray(mbps, dtype=float)
    return np.log1p(np.maximum(v, 0.0)) if log1p else v


def inverse(z: np.ndarray, log1p: bool) -> np.ndarray:
    z = np.asarray(z, dtype=float)
    return np.maximum(np.expm1(np.minimum(z, 50.0)), 0.0) if log1p else np.maximum(z, 0.0)


def autocorrelation(values: np.ndarray, lag: int) -> float:
    """Pearson correlation of the series with itself `lag` steps later (NaN pairs skipped)."""
    if lag <= 0 or lag >= len(values) - 2:
        return float("nan")
    a, b = values[:-lag], values[lag:]
    ok = ~np.isnan(a) & ~np.isnan(b)
    if ok.sum() < 3:
        return float("nan")
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else float("nan")


def confirmed_season(lv: np.ndarray, nominal: int, train_end: int) -> int:
    """`nominal` (steps per day from forecast.step_s) when the training part shows the cycle:
    the autocorrelation at one season is at least MIN_SEASON_ACF and above the one at half a
    season; 0 otherwise (or when the training part is shorter than two seasons)."""
    if nominal < 2 or train_end < 2 * nominal:
        return 0
    part = lv[:train_end]
    r = autocorrelation(part, nominal)
    half = autocorrelation(part, max(nominal // 2, 1))
    ok = np.isfinite(r) and r >= MIN_SEASON_ACF and (not np.isfinite(half) or r > half)
    return nominal if ok else 0


@dataclass(frozen=True)
class Design:
    """What the inputs are; saved with the model so inference builds the very same ones."""

    window: int
    horizon: int
    season: int  # steps per day, 0 = no daily cycle (not confirmed or too short)
    week: int  # steps per week, 0 = fewer than two weeks in the training part
    calendar: bool
    aux: tuple[str, ...]  # aux series used (standardised with aux_mean/aux_std)
    aux_mean: tuple[float, ...] = ()
    aux_std: tuple[float, ...] = ()
    log1p: bool = True

    @property
    def lag_offsets(self) -> np.ndarray:
        return np.arange(-self.window, self.horizon)

    @property
    def seq_features(self) -> int:
        return 1 + (1 if self.season else 0) + len(self.aux)

    @property
    def flat_features(self) -> int:
        n = self.window + len(self.aux)
        n += len(self.lag_offsets) * ((1 if self.season else 0) + (1 if self.week else 0))
        return n + (4 if self.calendar else 0)

    def anchors_available(self) -> tuple[str, ...]:
        return ("persistence",) + (("daily",) if self.season else ()) + (("weekly",) if self.week else ())

    def to_dict(self) -> dict[str, object]:
        return {"window": self.window, "horizon": self.horizon, "season": self.season, "week": self.week,
                "calendar": self.calendar, "aux": list(self.aux), "aux_mean": list(self.aux_mean),
                "aux_std": list(self.aux_std), "log1p": self.log1p}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Design:
        return cls(int(d["window"]), int(d["horizon"]), int(d["season"]), int(d["week"]),  # type: ignore[call-overload]
                   bool(d["calendar"]), tuple(d["aux"]), tuple(float(x) for x in d["aux_mean"]),  # type: ignore[arg-type, attr-defined]
                   tuple(float(x) for x in d["aux_std"]), bool(d.get("log1p", True)))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Inputs:
    seq: np.ndarray  # (n, L, k) float32
    flat: np.ndarray  # (n, F) float64
    level: np.ndarray  # (n,) log1p of the last value
    lags: dict[str, np.ndarray]  # anchor name -> (n, H) level-relative anchor values

    def anchor(self, per_step: Sequence[str]) -> np.ndarray:
        return np.column_stack([self.lags[name][:, h] for h, name in enumerate(per_step)])


def _take(v: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """v[idx] with NaN where idx is outside the array."""
    out = np.where((idx >= 0) & (idx < len(v)), v[np.clip(idx, 0, max(len(v) - 1, 0))], np.nan)
    return out


def build_inputs(
    design: Design, lv: np.ndarray, ts: np.ndarray, aux: dict[str, np.ndarray], origins: np.ndarray
) -> Inputs:
    """Inputs at `origins` from the transformed series `lv` (NaN = unknown) and its times."""
    o = np.asarray(origins, dtype=np.int64)
    L, H = design.window, design.horizon
    level = _take(lv, o - 1)
    level = np.where(np.isnan(level), 0.0, level)
    recent_idx = o[:, None] + np.arange(-L, 0)[None, :]
    rel = np.nan_to_num(_take(lv, recent_idx) - level[:, None])
    seq_parts = [rel[:, :, None]]
    flat_parts = [rel]
    lags: dict[str, np.ndarray] = {"persistence": np.zeros((len(o), H))}
    offsets = design.lag_offsets
    for name, period in (("daily", design.season), ("weekly", design.week)):
        if not period:
            continue
        idx = o[:, None] + offsets[None, :] - period
        lagged = _take(lv, np.where(idx < o[:, None], idx, -1))  # never the future of the origin
        lag_rel = np.nan_to_num(lagged - level[:, None])
        flat_parts.append(lag_rel)
        lags[name] = lag_rel[:, L:]
        if name == "daily":
            seq_parts.append(lag_rel[:, :L, None])
    for j, name in enumerate(design.aux):
        v = aux.get(name)
        col = np.zeros((len(o), L)) if v is None else _take(v, recent_idx)
        col = np.nan_to_num((col - design.aux_mean[j]) / design.aux_std[j])
        seq_parts.append(col[:, :, None])
        flat_parts.append(col[:, -1:])
    if design.calendar:
        t = _take(ts.astype(float), o - 1)
        t = np.nan_to_num(t) + (ts[1] - ts[0] if len(ts) > 1 else 0.0)  # time of the first predicted step
        day, week = 2 * np.pi * np.mod(t, DAY_S) / DAY_S, 2 * np.pi * np.mod(t, WEEK_S) / WEEK_S
        flat_parts.append(np.column_stack([np.sin(day), np.cos(day), np.sin(week), np.cos(week)]))
    seq = np.concatenate(seq_parts, axis=2).astype(np.float32)
    flat = np.concatenate(flat_parts, axis=1)
    return Inputs(seq, flat, level, lags)


def make_design(
    lv: np.ndarray, step_s: float, train_end: int, window: int, horizon: int, nominal_season: int,
    aux: dict[str, np.ndarray], aux_names: Sequence[str], calendar: bool, log1p: bool,
) -> Design:
    """The design for a training series: season confirmed on the training part, weekly lags once
    the training part spans two weeks, aux standardisation fit on the training part."""
    season = confirmed_season(lv, nominal_season, train_end)
    week = 7 * season if season and train_end >= 14 * season else 0
    means, stds = [], []
    for name in aux_names:
        part = aux[name][:train_end]
        m, s = float(np.nanmean(part)), float(np.nanstd(part))
        means.append(m if np.isfinite(m) else 0.0)
        stds.append(s if np.isfinite(s) and s > 1e-6 else 1.0)
    span_ok = calendar and step_s < DAY_S / 2 and train_end * step_s >= 2 * DAY_S
    return Design(window, horizon, season, week, span_ok, tuple(aux_names), tuple(means), tuple(stds), log1p)
