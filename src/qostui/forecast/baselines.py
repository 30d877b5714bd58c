"""Naive forecasts every model must beat: numpy only, available without TensorFlow.

- persistence: the last value, repeated over the horizon;
- seasonal_naive: the value one day earlier at the same time (only when the data spans days);
- rolling_median: the median of the last `param` steps;
- ewm_log: an exponentially weighted mean of log1p values with smoothing `param` (alpha);
- seasonal_weekly: the value one week earlier (only when the data spans two weeks);
- seasonal_decay: the value one day earlier plus today's deviation from yesterday (in log1p
  space), the deviation fading as `param`**step.

The free parameter of rolling_median and ewm_log is chosen on the validation part (never the
test part), so the model is compared with the strongest honest version of each baseline.

All predictors share one signature: `predict(values, origins, horizon, season)` where `values`
is the bandwidth series (short gaps filled, NaN in long gaps), `origins` the indices of the first
predicted step, and the result has shape (len(origins), horizon) in Mbps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BASELINE_NAMES = ("persistence", "seasonal_naive", "seasonal_weekly", "seasonal_decay", "rolling_median", "ewm_log")
WEEK_DAYS = 7
DECAY_FACTORS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98)  # candidates for seasonal_decay's fading
ROLLING_STEPS = (6, 12, 24, 48, 96, 144, 288)  # candidates for the median window
EWM_ALPHAS = (0.5, 0.3, 0.2, 0.1, 0.05, 0.02)


def _last_known(values: np.ndarray, origins: np.ndarray) -> np.ndarray:
    """The last non-NaN value before each origin (NaN if there is none)."""
    ok = ~np.isnan(values)
    idx = np.where(ok, np.arange(len(values)), -1)
    np.maximum.accumulate(idx, out=idx)
    prev = idx[np.maximum(origins - 1, 0)]
    out = np.where(prev >= 0, values[np.maximum(prev, 0)], np.nan)
    out[origins <= 0] = np.nan
    return out


def persistence(values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    return np.repeat(_last_known(values, origins)[:, None], horizon, axis=1)


def seasonal_naive(values: np.ndarray, origins: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """values[o + h - season]; where that is unknown, persistence stands in."""
    idx = origins[:, None] + np.arange(horizon)[None, :] - season
    pred = np.where(idx >= 0, values[np.clip(idx, 0, len(values) - 1)], np.nan)
    # A day-old value must lie in the past of the origin; with horizon > season it would not.
    pred[idx >= origins[:, None]] = np.nan
    fallback = persistence(values, origins, horizon)
    return np.where(np.isnan(pred), fallback, pred)


def rolling_median(values: np.ndarray, origins: np.ndarray, horizon: int, steps: int) -> np.ndarray:
    idx = origins[:, None] + np.arange(-steps, 0)[None, :]
    window = np.where(idx >= 0, values[np.clip(idx, 0, len(values) - 1)], np.nan)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows -> NaN, handled below
            med = np.nanmedian(window, axis=1)
    med = np.where(np.isnan(med), _last_known(values, origins), med)
    return np.repeat(med[:, None], horizon, axis=1)


def ewm_log(values: np.ndarray, origins: np.ndarray, horizon: int, alpha: float) -> np.ndarray:
    """expm1 of the exponentially weighted mean of log1p values before each origin.

    Weights alpha*(1-alpha)^k over the last K steps (K where the weight falls below 1e-4),
    renormalised over the steps that have data, so gaps and a short history are handled alike.
    """
    k = int(min(max(np.ceil(np.log(1e-4) / np.log1p(-alpha)), 1), 5000)) if alpha < 1 else 1
    logs = np.log1p(np.maximum(values, 0.0))
    idx = origins[:, None] - 1 - np.arange(k)[None, :]  # most recent first
    window = np.where(idx >= 0, logs[np.clip(idx, 0, len(logs) - 1)], np.nan)
    w = alpha * (1 - alpha) ** np.arange(k)
    have = ~np.isnan(window)
    wsum = (have * w).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(have, window, 0.0) @ w / wsum
    pred = np.where(wsum > 0, np.expm1(mean), _last_known(values, origins))
    return np.repeat(pred[:, None], horizon, axis=1)


def seasonal_decay(values: np.ndarray, origins: np.ndarray, horizon: int, season: int, phi: float) -> np.ndarray:
    """Yesterday's value at the same time, shifted by today's deviation from yesterday (log1p
    space) fading as phi**step; seasonal naive stands in where yesterday's reading is unknown."""
    base = seasonal_naive(values, origins, horizon, season)
    logs = np.log1p(np.maximum(values, 0.0))
    last = np.log1p(np.maximum(_last_known(values, origins), 0.0))
    j = origins - 1 - season
    ago = np.where(j >= 0, logs[np.clip(j, 0, len(logs) - 1)], np.nan)
    dev = np.nan_to_num(last - ago)  # unknown: no shift
    shift = dev[:, None] * phi ** np.arange(1, horizon + 1)[None, :]
    return np.maximum(np.expm1(np.log1p(np.maximum(base, 0.0)) + shift), 0.0)


@dataclass(frozen=True)
class Baseline:
    """A baseline with its chosen parameter (0 when it has none)."""

    name: str
    param: float = 0.0

    @property
    def label(self) -> str:
        if self.name == "rolling_median":
            return f"rolling_median({int(self.param)})"
        if self.name == "ewm_log":
            return f"ewm_log({self.param:g})"
        if self.name == "seasonal_decay":
            return f"seasonal_decay({self.param:g})"
        return self.name

    def predict(self, values: np.ndarray, origins: np.ndarray, horizon: int, season: int = 0) -> np.ndarray:
        origins = np.asarray(origins, dtype=int)
        if self.name == "persistence":
            return persistence(values, origins, horizon)
        if self.name == "seasonal_naive":
            return seasonal_naive(values, origins, horizon, int(self.param) or season)
        if self.name == "rolling_median":
            return rolling_median(values, origins, horizon, int(self.param))
        if self.name == "ewm_log":
            return ewm_log(values, origins, horizon, float(self.param))
        if self.name == "seasonal_weekly":
            return seasonal_naive(values, origins, horizon, int(self.param) or WEEK_DAYS * season)
        if self.name == "seasonal_decay":
            return seasonal_decay(values, origins, horizon, season, float(self.param))
        raise ValueError(f"unknown baseline {self.name!r}")

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "param": self.param}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Baseline:
        return cls(str(d["name"]), float(d.get("param", 0.0)))  # type: ignore[arg-type]


def _mae(pred: np.ndarray, truth: np.ndarray) -> float:
    ok = ~np.isnan(truth) & ~np.isnan(pred)
    return float(np.mean(np.abs(pred[ok] - truth[ok]))) if ok.any() else float("inf")


def seasonal_available(first_origin: int, season: int, horizon: int) -> bool:
    """Seasonal naive needs a full day of history before its first forecast."""
    return season > 0 and horizon <= season and first_origin >= season


def fit_baselines(
    values: np.ndarray,
    val_origins: np.ndarray,
    val_truth: np.ndarray,
    horizon: int,
    season: int,
    first_eval_origin: int,
    candidates: Sequence[str] = BASELINE_NAMES,
) -> list[Baseline]:
    """Baselines with parameters tuned by MAE on the validation origins."""
    out: list[Baseline] = []
    for name in candidates:
        if name == "persistence":
            out.append(Baseline("persistence"))
        elif name == "seasonal_naive":
            if seasonal_available(min(first_eval_origin, int(val_origins.min(initial=first_eval_origin))), season, horizon):
                out.append(Baseline("seasonal_naive", float(season)))
        elif name == "seasonal_weekly":
            if seasonal_available(min(first_eval_origin, int(val_origins.min(initial=first_eval_origin))),
                                  WEEK_DAYS * season, horizon):
                out.append(Baseline("seasonal_weekly", float(WEEK_DAYS * season)))
        elif name in ("rolling_median", "ewm_log", "seasonal_decay"):
            if name == "seasonal_decay" and not seasonal_available(
                min(first_eval_origin, int(val_origins.min(initial=first_eval_origin))), season + 1, horizon
            ):
                continue
            params: Sequence[float] = {"rolling_median": ROLLING_STEPS, "ewm_log": EWM_ALPHAS,
                                       "seasonal_decay": DECAY_FACTORS}[name]
            best: tuple[float, float] | None = None
            for p in params:
                if len(val_origins) == 0:
                    break
                score = _mae(Baseline(name, float(p)).predict(values, val_origins, horizon, season), val_truth)
                if best is None or score < best[0]:
                    best = (score, float(p))
            out.append(Baseline(name, best[1] if best else float(params[len(params) // 2])))
    return out
