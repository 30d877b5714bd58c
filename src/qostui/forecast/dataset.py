"""Training data: a regular bandwidth series -> features, scalers, windows and a chronological split.

numpy only (no pandas, no TensorFlow), so the forecast path and the TUI can import it cheaply.

Flow: `Series` (regular grid, NaN where no data) -> `prepare()` fills short gaps, leaves long ones
NaN (windows touching them are dropped), builds features and fits scalers on the training part
only -> `Prepared.windows(origins)` gives (X, Y) for any set of forecast origins.

An *origin* `o` is the index of the first predicted step: inputs are rows o-L..o-1, targets o..o+H-1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qostui.config import ForecastConfig
from qostui.errors import QostuiError

DAY_S = 86400.0
WEEK_S = 7 * DAY_S
MIN_TRAIN_WINDOWS = 16
# Auxiliary series (latency, loss) become features only with this much coverage in the training part.
MIN_AUX_COVERAGE = 0.5
AUX_SERIES = ("rtt_avg_ms", "loss_pct")


class TooLittleData(QostuiError):
    """Not enough points to train or evaluate; the message says how many exist and are needed."""


@dataclass(frozen=True)
class Series:
    """Bandwidth on a regular grid of `step_s` seconds; NaN marks a step without data."""

    step_s: float
    ts: np.ndarray  # epoch seconds of each step, strictly regular
    bandwidth_mbps: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # aligned aux series (rtt_avg_ms, loss_pct)
    source: str = ""

    def __post_init__(self) -> None:
        if len(self.ts) != len(self.bandwidth_mbps):
            raise ValueError("ts and bandwidth_mbps differ in length")

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def observed(self) -> int:
        return int(np.count_nonzero(~np.isnan(self.bandwidth_mbps)))

    @classmethod
    def from_values(
        cls, values: Sequence[float] | np.ndarray, step_s: float, t0: float = 0.0, source: str = ""
    ) -> Series:
        v = np.asarray(values, dtype=float)
        return cls(step_s, t0 + step_s * np.arange(len(v), dtype=float), v, {}, source)

    def trimmed(self) -> Series:
        """Without leading and trailing steps that have no bandwidth data."""
        ok = np.flatnonzero(~np.isnan(self.bandwidth_mbps))
        if len(ok) == 0:
            return self
        a, b = int(ok[0]), int(ok[-1]) + 1
        return Series(
            self.step_s, self.ts[a:b], self.bandwidth_mbps[a:b], {k: v[a:b] for k, v in self.extras.items()}, self.source
        )

    def tail(self, n: int) -> Series:
        return Series(
            self.step_s, self.ts[-n:], self.bandwidth_mbps[-n:], {k: v[-n:] for k, v in self.extras.items()}, self.source
        )


def fill_short_gaps(values: np.ndarray, max_gap_steps: int) -> np.ndarray:
    """Linear interpolation across NaN runs of at most `max_gap_steps` between two known values.

    Longer runs (and runs at either end) stay NaN: they are marked, not invented.
    """
    out = np.array(values, dtype=float)
    nan = np.isnan(out)
    if not nan.any() or max_gap_steps <= 0:
        return out
    idx = np.arange(len(out))
    known = np.flatnonzero(~nan)
    if len(known) < 2:
        return out
    # Run boundaries of NaN stretches.
    edges = np.diff(np.concatenate(([0], nan.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    interp = np.interp(idx, known, out[known])
    for s, e in zip(starts, ends, strict=True):
        if s > 0 and e < len(out) and e - s <= max_gap_steps:
            out[s:e] = interp[s:e]
    return out


def season_steps(step_s: float) -> int:
    """Steps per day (the seasonal period), 0 when the step does not divide into a day usefully."""
    n = DAY_S / step_s
    return int(round(n)) if n >= 2 else 0


@dataclass(frozen=True)
class Split:
    """Point index boundaries: train [0, a), validation [a, b), test [b, n)."""

    n: int
    a: int
    b: int

    @classmethod
    def of(cls, n: int, fractions: Sequence[float]) -> Split:
        a = int(math.floor(n * fractions[0]))
        b = int(math.floor(n * (fractions[0] + fractions[1])))
        return cls(n, a, b)

    @classmethod
    def of_readings(cls, observed: np.ndarray, fractions: Sequence[float]) -> Split:
        """Boundaries at the given fractions of the real readings, in time order.

        Splitting the step grid instead would let one long gap (an old import followed by months
        of nothing, then recording) swallow the validation or test part.
        """
        total = int(observed.sum())
        if total == 0:
            return cls.of(len(observed), fractions)
        readings_before = np.concatenate(([0], np.cumsum(observed)))  # readings in [0, i)

        def boundary(fraction: float) -> int:
            return int(np.searchsorted(readings_before, math.floor(total * fraction), side="left"))

        return cls(len(observed), boundary(fractions[0]), boundary(fractions[0] + fractions[1]))


def points_needed(cfg: ForecastConfig) -> int:
    """Fewest points for at least MIN_TRAIN_WINDOWS training windows and one validation/test window each."""
    s_train, s_val, s_test = cfg.split
    L, H = cfg.sequence_length, cfg.horizon
    return max(
        math.ceil((L + H + MIN_TRAIN_WINDOWS - 1) / s_train),
        math.ceil(H / s_val),
        math.ceil(H / s_test),
    )


def check_enough(n_points: int, cfg: ForecastConfig, what: str = "training") -> None:
    need = points_needed(cfg)
    if n_points < need:
        hours = need * cfg.step_s / 3600
        raise TooLittleData(
            f"too little data for {what}: {n_points} point(s) at {cfg.step_s:g}s steps, need at least {need}"
            f" (about {hours:.1f} h: window {cfg.sequence_length} + horizon {cfg.horizon}"
            f" + validation and test parts of {cfg.split[1]:.0%}/{cfg.split[2]:.0%})"
        )


@dataclass(frozen=True)
class Scaler:
    """Bandwidth: optional log1p, then standardisation; other features: standardisation."""

    log1p: bool
    mean: np.ndarray  # per feature
    std: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"log1p": self.log1p, "mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scaler:
        return cls(bool(d["log1p"]), np.asarray(d["mean"], dtype=float), np.asarray(d["std"], dtype=float))

    def transform_bw(self, mbps: np.ndarray) -> np.ndarray:
        x = np.log1p(np.maximum(mbps, 0.0)) if self.log1p else np.asarray(mbps, dtype=float)
        return (x - self.mean[0]) / self.std[0]

    def inverse_bw(self, z: np.ndarray) -> np.ndarray:
        x = np.asarray(z, dtype=float) * self.std[0] + self.mean[0]
        if self.log1p:
            x = np.expm1(np.minimum(x, 50.0))  # clamp: a wild output must not overflow
        return np.maximum(x, 0.0)


def time_features(ts: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    day_phase = 2 * np.pi * (np.mod(ts, DAY_S) / DAY_S)
    week_phase = 2 * np.pi * (np.mod(ts, WEEK_S) / WEEK_S)
    for name in names:
        if name == "tod_sin":
            out[name] = np.sin(day_phase)
        elif name == "tod_cos":
            out[name] = np.cos(day_phase)
        elif name == "dow_sin":
            out[name] = np.sin(week_phase)
        elif name == "dow_cos":
            out[name] = np.cos(week_phase)
    return out


TIME_FEATURES = ("tod_sin", "tod_cos", "dow_sin", "dow_cos")


def choose_features(series: Series, cfg: ForecastConfig, split: Split) -> list[str]:
    """Bandwidth always; aux series with enough coverage; time encodings when the data spans the cycle."""
    names = ["bandwidth_mbps"]
    for name in AUX_SERIES:
        v = series.extras.get(name)
        if v is not None and split.a > 0 and np.mean(~np.isnan(v[: split.a])) >= MIN_AUX_COVERAGE:
            names.append(name)
    span_s = len(series) * series.step_s
    if cfg.time_features and series.step_s < DAY_S / 2 and span_s >= 2 * DAY_S:
        names += ["tod_sin", "tod_cos"]
    if cfg.time_features and series.step_s < WEEK_S / 2 and span_s >= 3 * WEEK_S:
        names += ["dow_sin", "dow_cos"]
    return names


def feature_matrix(series: Series, names: Sequence[str], max_gap_steps: int) -> np.ndarray:
    """Raw (unscaled) features, shape (n, k); NaN where a long gap leaves bandwidth unknown."""
    bw = fill_short_gaps(series.bandwidth_mbps, max_gap_steps)
    cols: list[np.ndarray] = []
    tfeat = time_features(series.ts, [n for n in names if n in TIME_FEATURES])
    for name in names:
        if name == "bandwidth_mbps":
            cols.append(bw)
        elif name in tfeat:
            cols.append(tfeat[name])
        else:
            aux = series.extras.get(name)
            if aux is None:
                aux = np.full(len(series), np.nan)
            aux = _ffill(fill_short_gaps(aux, max_gap_steps))
            cols.append(aux)
    m = np.column_stack(cols) if cols else np.zeros((len(series), 0))
    return m


def _ffill(v: np.ndarray) -> np.ndarray:
    """Forward-fill NaN (aux features only: a missing latency reading repeats the last one)."""
    out = np.array(v, dtype=float)
    ok = ~np.isnan(out)
    if not ok.any():
        return out
    idx = np.where(ok, np.arange(len(out)), 0)
    np.maximum.accumulate(idx, out=idx)
    out = out[idx]
    first = int(np.argmax(ok))
    out[:first] = out[first]
    return out


def fit_scaler(raw: np.ndarray, names: Sequence[str], train_end: int, log1p: bool) -> Scaler:
    part = np.array(raw[:train_end], dtype=float)
    if log1p:
        part[:, 0] = np.log1p(np.maximum(part[:, 0], 0.0))
    mean = np.nanmean(part, axis=0)
    std = np.nanstd(part, axis=0)
    for j, name in enumerate(names):
        if name in TIME_FEATURES:  # already in [-1, 1]
            mean[j], std[j] = 0.0, 1.0
    std = np.where(~np.isfinite(std) | (std < 1e-6), 1.0, std)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    return Scaler(log1p, mean, std)


def scale_features(raw: np.ndarray, scaler: Scaler) -> np.ndarray:
    x = np.array(raw, dtype=float)
    if scaler.log1p:
        x[:, 0] = np.log1p(np.maximum(x[:, 0], 0.0))
    x = (x - scaler.mean) / scaler.std
    # Aux features that are still unknown (no reading yet) sit at the training mean.
    if x.shape[1] > 1:
        aux = x[:, 1:]
        aux[np.isnan(aux)] = 0.0
    return x


@dataclass(frozen=True)
class Prepared:
    """A series made ready for models and baselines."""

    series: Series
    names: list[str]
    scaler: Scaler
    split: Split
    window: int
    horizon: int
    filled_mbps: np.ndarray  # bandwidth with short gaps filled, NaN in long gaps
    observed: np.ndarray  # bool: a real reading exists at this step (scores use only these)
    x: np.ndarray  # scaled features (n, k), float32

    @property
    def n(self) -> int:
        return len(self.filled_mbps)

    def valid_origins(self, lo: int, hi: int, need_targets: bool = True) -> np.ndarray:
        """Origins o in [lo, hi] whose inputs (and, with need_targets, targets) contain no long gap."""
        L, H = self.window, self.horizon
        lo = max(lo, L)
        hi = min(hi, self.n - H if need_targets else self.n)
        if hi < lo:
            return np.zeros(0, dtype=int)
        bad = np.isnan(self.x[:, 0]).astype(np.int64)
        csum = np.concatenate(([0], np.cumsum(bad)))
        o = np.arange(lo, hi + 1)
        ok = csum[o] - csum[o - L] == 0
        if need_targets:
            ok &= csum[o + H] - csum[o] == 0
        return o[ok]

    def origins(self, part: str) -> np.ndarray:
        """Forecast origins whose whole target range lies inside `part` (train | val | test)."""
        s, H = self.split, self.horizon
        lo, hi = {"train": (0, s.a - H), "val": (s.a, s.b - H), "test": (s.b, s.n - H)}[part]
        return self.valid_origins(lo, hi)

    def inputs(self, origins: np.ndarray) -> np.ndarray:
        """X with shape (len(origins), window, k), float32."""
        idx = origins[:, None] + np.arange(-self.window, 0)[None, :]
        return self.x[idx].astype(np.float32)

    def targets_scaled(self, origins: np.ndarray) -> np.ndarray:
        idx = origins[:, None] + np.arange(self.horizon)[None, :]
        return self.x[idx, 0].astype(np.float32)

    def targets_mbps(self, origins: np.ndarray, observed_only: bool = True) -> np.ndarray:
        """Truth for scoring, shape (len(origins), H); NaN where no real reading exists."""
        idx = origins[:, None] + np.arange(self.horizon)[None, :]
        y = self.filled_mbps[idx].copy()
        if observed_only:
            y[~self.observed[idx]] = np.nan
        return y


def prepare(
    series: Series,
    cfg: ForecastConfig,
    *,
    check: bool = True,
    names: Sequence[str] | None = None,
    scaler: Scaler | None = None,
    purpose: str = "training",
) -> Prepared:
    """Features, scalers (fit on the training part only) and split for `series`.

    A saved model passes its own `names` and `scaler` so new data is scaled as in training.
    """
    series = series.trimmed()
    if check:
        check_enough(series.observed, cfg, purpose)
    split = Split.of_readings(~np.isnan(series.bandwidth_mbps), cfg.split)
    if names is None:
        names = choose_features(series, cfg, split)
    names = list(names)
    raw = feature_matrix(series, names, cfg.max_gap_steps)
    if scaler is None:
        scaler = fit_scaler(raw, names, max(split.a, 1), cfg.log1p)
    x = scale_features(raw, scaler)
    prepared = Prepared(
        series=series,
        names=names,
        scaler=scaler,
        split=split,
        window=cfg.sequence_length,
        horizon=cfg.horizon,
        filled_mbps=raw[:, 0],
        observed=~np.isnan(series.bandwidth_mbps),
        x=x,
    )
    if check:
        counts = {p: len(prepared.origins(p)) for p in ("train", "val", "test")}
        if counts["train"] < MIN_TRAIN_WINDOWS or counts["val"] < 1 or counts["test"] < 1:
            raise TooLittleData(
                f"too little usable data: {series.observed} point(s) give {counts['train']} training,"
                f" {counts['val']} validation and {counts['test']} test window(s) without long gaps;"
                f" need at least {MIN_TRAIN_WINDOWS}, 1 and 1 (record longer or raise forecast.max_gap_steps)"
            )
    return prepared


def latest_inputs(series: Series, names: Sequence[str], scaler: Scaler, window: int, max_gap_steps: int) -> np.ndarray:
    """The last `window` rows of scaled features for forecasting, shape (1, window, k).

    Raises TooLittleData when the recent history has a long gap or is too short.
    """
    series = series.trimmed()
    if len(series) < window:
        raise TooLittleData(f"too little recent data to forecast: {len(series)} step(s), need the last {window}")
    tail = series.tail(window + max_gap_steps + 1)
    raw = feature_matrix(tail, names, max_gap_steps)
    x = scale_features(raw, scaler)[-window:]
    if np.isnan(x[:, 0]).any():
        missing = int(np.isnan(x[:, 0]).sum())
        raise TooLittleData(
            f"the last {window} steps have {missing} missing bandwidth reading(s) beyond a short gap;"
            " record a little longer before forecasting"
        )
    return x[None].astype(np.float32)
