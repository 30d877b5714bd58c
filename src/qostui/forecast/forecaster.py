"""Forecast the next steps from recent history: numpy only, TensorFlow is never imported.

The saved model (LATEST in the model directory) decides the method: its LSTM when it beat the best
baseline on the test part, otherwise that baseline. Without any saved model (or without Keras to
train one) a baseline chosen on the available history forecasts instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from qostui.config import ForecastConfig
from qostui.errors import ConfigError, QostuiError
from qostui.forecast.baselines import Baseline
from qostui.forecast.dataset import (
    Scaler,
    Series,
    TooLittleData,
    fill_short_gaps,
    latest_inputs,
    prepare,
    season_steps,
)
from qostui.forecast.infer import NumpyLSTM
from qostui.forecast.model_store import SavedModel, load_model
from qostui.records import Forecast


@dataclass(frozen=True)
class ForecastResult:
    made_at: float
    model: str  # stored in Forecast.model: a model id, or "baseline:<label>"
    method: str  # "lstm" | "baseline"
    reason: str  # one line: why this method
    data_end_ts: float  # last step of history used
    forecasts: list[Forecast]

    def to_dict(self) -> dict[str, Any]:
        return {
            "made_at": self.made_at,
            "model": self.model,
            "method": self.method,
            "reason": self.reason,
            "data_end_ts": self.data_end_ts,
            "steps": [{"step": f.step, "ts": f.ts, "predicted_mbps": round(f.predicted_mbps, 4)} for f in self.forecasts],
        }


class Forecaster:
    """A loaded plan: either LSTM weights with their scaler, or a baseline."""

    def __init__(self, cfg: ForecastConfig, saved: SavedModel | None) -> None:
        self.cfg = cfg
        self.saved = saved
        self.lstm: NumpyLSTM | None = None
        self.baseline: Baseline | None = None
        self.reason = ""
        if saved is None:
            return
        meta = saved.meta
        if abs(float(meta["step_s"]) - cfg.step_s) > 1e-9:
            raise QostuiError(
                f"model {saved.model_id} was trained with step {meta['step_s']:g}s but forecast.step_s is {cfg.step_s:g}s;"
                " train again or set forecast.step_s back"
            )
        self.names: list[str] = list(meta["features"])
        self.scaler = Scaler.from_dict(meta["scaler"])
        self.window = int(meta["window"])
        self.horizon = int(meta["horizon"])
        uses = str(meta.get("uses", "lstm"))
        if uses == "lstm" and saved.weights is not None:
            self.lstm = NumpyLSTM(saved.weights, meta["architecture"]["activation"])
            self.reason = str(meta.get("verdict", "trained LSTM"))
        else:
            chosen = next((b for b in meta.get("baselines", []) if b.get("label") == uses), None)
            self.baseline = Baseline.from_dict(chosen) if chosen else Baseline("persistence")
            self.reason = f"{meta.get('verdict', 'the model has no skill')}; using that baseline (model {saved.model_id})"

    @classmethod
    def load(cls, cfg: ForecastConfig, model_id: str | None = None) -> Forecaster:
        return cls(cfg, load_model(cfg.resolved_model_dir(), model_id))

    @property
    def model_label(self) -> str:
        if self.lstm is not None and self.saved is not None:
            return self.saved.model_id
        assert self.baseline is not None
        return f"baseline:{self.baseline.label}"

    def forecast(self, series: Series, horizon: int | None = None, now: float | None = None) -> ForecastResult:
        series = series.trimmed()
        if series.observed == 0:
            raise TooLittleData("no bandwidth data to forecast from; run `qostui record` or `qostui import FILE` first")
        if self.saved is None and self.baseline is None:
            self.baseline, self.reason = choose_baseline(series, self.cfg)
        max_h = self.horizon if self.saved is not None else self.cfg.horizon
        h = horizon or max_h
        if not 1 <= h <= max_h:
            raise ConfigError(f"--horizon must be 1..{max_h} (the model's horizon), got {h}")
        baseline, reason = self.baseline, self.reason
        x = None
        if self.lstm is not None:
            try:
                x = latest_inputs(series, self.names, self.scaler, self.window, self.cfg.max_gap_steps)
            except TooLittleData as exc:
                # Recent history too short or gappy for the LSTM window: the best baseline steps in.
                baseline = self._fallback_baseline()
                reason = f"{exc}; using the baseline {baseline.label} meanwhile"
        if x is not None and self.lstm is not None:
            pred = self.scaler.inverse_bw(self.lstm.predict(x))[0, :h]
            method, label = "lstm", self.model_label
        else:
            assert baseline is not None
            values = fill_short_gaps(series.bandwidth_mbps, self.cfg.max_gap_steps)
            origin = np.array([len(values)])
            pred = baseline.predict(values, origin, h, season_steps(series.step_s))[0]
            method, label = "baseline", f"baseline:{baseline.label}"
        made_at = time.time() if now is None else now
        end = float(series.ts[-1])
        steps = [
            Forecast(made_at=made_at, ts=end + (k + 1) * series.step_s, step=k + 1, model=label, predicted_mbps=float(v))
            for k, v in enumerate(pred)
        ]
        return ForecastResult(made_at, label, method, reason, end, steps)

    def _fallback_baseline(self) -> Baseline:
        """The saved model's best baseline (persistence if unknown)."""
        meta = self.saved.meta if self.saved is not None else {}
        best = str(meta.get("evaluation", {}).get("best_baseline", ""))
        chosen = next((b for b in meta.get("baselines", []) if b.get("label") == best), None)
        return Baseline.from_dict(chosen) if chosen else Baseline("persistence")


def choose_baseline(series: Series, cfg: ForecastConfig) -> tuple[Baseline, str]:
    """No saved model: the baseline with the lowest test MAE on this history, or persistence."""
    from qostui.forecast.training import evaluate_prepared, tuned_baselines

    try:
        prep = prepare(series, cfg)
    except TooLittleData:
        return Baseline("persistence"), "no trained model and too little history to compare baselines: persistence"
    baselines = tuned_baselines(prep)
    ev = evaluate_prepared(prep, None, baselines)
    best = next(b for b in baselines if b.label == ev.best_baseline)
    return best, f"no trained model: best baseline on this history is {best.label}"
