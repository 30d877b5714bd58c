"""Prediction intervals: split-conformal on validation residuals, then adaptive conformal
inference (ACI, Gibbs & Candès 2021) as actual readings arrive. numpy only.

Scores are signed residuals in the model's space (log1p): actual - predicted, per horizon step.
The interval at miscoverage `a` is [pred + q(a/2), pred + q(1 - a/2)] over the step's recent
scores (asymmetric: spiky series miss upwards more than downwards). After each outcome the level
moves: a <- a + gamma * (alpha - miss), so a run of misses widens the interval and a run of hits
narrows it; the new score joins the step's (bounded) score buffer. The step `gamma` of each level is
chosen on the validation part (`choose_gamma`): ACI replayed over its second half, calibrated on
its first half; a series whose residuals drift needs a faster step than a stationary one.

Outcomes arrive late: for origin t (first predicted index) the step-h outcome is the reading at
t+h-1, known from origin t+h on. `simulate` replays that honestly on a test part; `AciState`
carries the same state between `qostui forecast` runs (saved beside the model, see
`qostui.forecast.service`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

LEVELS = (0.80, 0.95)  # nominal coverage of the two intervals
ALPHA_MIN, ALPHA_MAX = 0.002, 0.9
# Per step: the most recent scores (validation first, then live outcomes).
MAX_SCORES = 1000
GAMMA_FACTORS = (0.5, 1.0, 2.0)  # candidates for each level's ACI step: the configured one halved, kept, doubled
MIN_CHOOSE = 40  # per step, fewer validation scores than this: the configured step for every level
STATE_FILE = "aci_state.npz"  # the live state, updated by `qostui forecast`
CALIBRATION_FILE = "calibration.npz"  # the state after calibration, as trained (evaluate starts here)


@dataclass
class AciState:
    """Per horizon step: the recent scores, the current miscoverage per level, the next origin
    time whose outcome has not been scored yet."""

    scores: list[np.ndarray]  # H arrays, oldest first
    alpha: np.ndarray  # (len(LEVELS), H)
    next_ts: np.ndarray  # (H,) origin time (first predicted step) of the next outcome to score; -inf = any
    gamma: np.ndarray  # (len(LEVELS),) ACI step per level (a float is taken for every level)

    def __post_init__(self) -> None:
        g = np.asarray(self.gamma, dtype=float).ravel()  # a saved scalar (older state) counts for every level
        self.gamma = np.broadcast_to(g if g.size == len(LEVELS) else g[:1], (len(LEVELS),)).copy()

    @classmethod
    def calibrated(cls, residuals: np.ndarray, gamma: float | np.ndarray) -> AciState:
        """From validation residuals (n, H); NaN (no reading) are left out."""
        H = residuals.shape[1]
        alpha = np.array([[1 - lv] * H for lv in LEVELS], dtype=float)
        return cls(_scores_of(residuals), alpha, np.full(H, -np.inf), gamma)  # type: ignore[arg-type]

    def copy(self) -> AciState:
        return AciState([s.copy() for s in self.scores], self.alpha.copy(), self.next_ts.copy(), np.array(self.gamma))

    @property
    def horizon(self) -> int:
        return len(self.scores)

    def offsets(self, h: int) -> np.ndarray:
        """(len(LEVELS), 2) lower and upper offsets for step index h (0-based); 0 without scores."""
        out = np.zeros((len(LEVELS), 2))
        n = len(self.scores[h])
        if n == 0:
            return out
        s = self._sorted(h)
        for i in range(len(LEVELS)):
            a = min(max(float(self.alpha[i, h]), ALPHA_MIN), ALPHA_MAX)
            q = min(1.0, (1 - a / 2) * (n + 1) / n)  # split-conformal's finite-sample correction
            # np.quantile's "lower" / "higher" order statistics, on the cached sorted scores
            out[i, 0] = s[int(np.floor((1 - q) * (n - 1)))]
            out[i, 1] = s[int(np.ceil(q * (n - 1)))]
        # Each level adapts on its own (its own step, its own misses): keep the wider level's
        # interval around the narrower one's (LEVELS ascending).
        for i in range(1, len(LEVELS)):
            out[i, 0], out[i, 1] = min(out[i, 0], out[i - 1, 0]), max(out[i, 1], out[i - 1, 1])
        return out

    def _sorted(self, h: int) -> np.ndarray:
        cache = self.__dict__.setdefault("_sorted_cache", {})
        if h not in cache:
            cache[h] = np.sort(self.scores[h])
        return cache[h]

    def update(self, h: int, predicted: float, actual: float, issued: np.ndarray | None = None) -> None:
        """One outcome of step index h: move each level's miscoverage by whether the interval
        issued for it (offsets (levels, 2); default: today's) missed, and keep the score."""
        if not (np.isfinite(predicted) and np.isfinite(actual)):
            return
        off = self.offsets(h) if issued is None else issued
        score = actual - predicted
        for i, lv in enumerate(LEVELS):
            miss = 0.0 if off[i, 0] <= score <= off[i, 1] else 1.0
            a = self.alpha[i, h] + self.gamma[i] * ((1 - lv) - miss)
            self.alpha[i, h] = float(np.clip(a, ALPHA_MIN / 2, ALPHA_MAX))
        self.scores[h] = np.append(self.scores[h], score)[-MAX_SCORES:]
        self.__dict__.get("_sorted_cache", {}).pop(h, None)

    # --- persistence -------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        H = self.horizon
        n = max((len(s) for s in self.scores), default=0)
        mat = np.full((H, n), np.nan)
        for h, s in enumerate(self.scores):
            mat[h, n - len(s):] = s
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, scores=mat, alpha=self.alpha, next_ts=self.next_ts, gamma=np.array(self.gamma))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> AciState:
        with np.load(path) as z:
            mat, alpha, next_ts, gamma = z["scores"], z["alpha"], z["next_ts"], np.array(z["gamma"], dtype=float)
        scores = [row[~np.isnan(row)] for row in mat]
        return cls(scores, np.array(alpha, dtype=float), np.array(next_ts, dtype=float), gamma)


def _scores_of(residuals: np.ndarray) -> list[np.ndarray]:
    return [residuals[:, h][~np.isnan(residuals[:, h])][-MAX_SCORES:].astype(float) for h in range(residuals.shape[1])]


def choose_gamma(residuals: np.ndarray, default: float, factors: tuple[float, ...] = GAMMA_FACTORS) -> np.ndarray:
    """Per level, the ACI step (`default` times one of `factors`) whose intervals kept closest to
    nominal coverage on validation. A narrow range on purpose: the validation part is short, and a
    step far from the usual one that wins there may oscillate once its outcomes arrive late.

    `residuals` (n, H) are the validation residuals in time order. Per step, the first half
    calibrates and ACI runs through the second half, each outcome used only once it would have
    been known (as `simulate` does on the test part); the score is the mean over steps of
    |coverage - nominal|. Ties go to the smaller step (steadier intervals). Too little
    validation: `default` for every level."""
    scores = _scores_of(residuals)
    n = min((len(s) for s in scores), default=0)
    H = len(scores)
    if H == 0 or n < MIN_CHOOSE:
        return np.full(len(LEVELS), float(default))
    half = n // 2
    rest = np.stack([s[half:n] for s in scores], axis=1)  # (n - half, H)
    nominal = np.array(LEVELS)[:, None]
    devs = []
    for g in sorted({float(default) * f for f in factors}):
        state = AciState([s[:half].copy() for s in scores], np.array([[1 - lv] * H for lv in LEVELS]),
                         np.full(H, -np.inf), g)  # type: ignore[arg-type]  # fmt: skip
        cov, _ = coverage(simulate(state, np.arange(len(rest)), np.zeros_like(rest), rest), rest)
        devs.append((g, np.round(np.abs(cov - nominal).mean(axis=1), 9)))
    out = np.zeros(len(LEVELS))
    for i in range(len(LEVELS)):
        out[i] = min(devs, key=lambda d: (d[1][i], d[0]))[0]
    return out


def bounds(state: AciState, predicted_z: np.ndarray) -> np.ndarray:
    """(len(LEVELS), 2, H) lower/upper interval bounds around one forecast (model space)."""
    H = len(predicted_z)
    out = np.zeros((len(LEVELS), 2, H))
    for h in range(H):
        out[:, :, h] = predicted_z[h] + state.offsets(h)
    return out


def simulate(state: AciState, origins: np.ndarray, predicted_z: np.ndarray, actual_z: np.ndarray) -> np.ndarray:
    """Intervals at each origin as a user would have had them, updating `state` in place.

    origins ascending (n,), predicted_z and actual_z (n, H) in model space (NaN actual = no
    reading). The step-h outcome of origin o is used only from origin o + h on. Returns
    (n, len(LEVELS), 2, H) bounds.
    """
    n, H = predicted_z.shape
    out = np.zeros((n, len(LEVELS), 2, H))
    pending = np.zeros(H, dtype=int)  # per step: index of the next origin whose outcome is unused
    for i in range(n):
        o = origins[i]
        for h in range(H):
            j = pending[h]
            while j < i and origins[j] + h + 1 <= o:
                issued = out[j, :, :, h] - predicted_z[j, h]
                state.update(h, float(predicted_z[j, h]), float(actual_z[j, h]), issued)
                j += 1
            pending[h] = j
            out[i, :, :, h] = predicted_z[i, h] + state.offsets(h)
    return out


def coverage(bounds_z: np.ndarray, actual_z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical coverage (len(LEVELS), H) of simulate's bounds, NaN actuals left out, and the
    number of scored outcomes per step."""
    lo, hi = bounds_z[:, :, 0, :], bounds_z[:, :, 1, :]  # (n, levels, H)
    y = actual_z[:, None, :]
    ok = ~np.isnan(y)
    inside = (y >= lo) & (y <= hi) & ok
    n = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = inside.sum(axis=0) / n
    return cov, n[0]
