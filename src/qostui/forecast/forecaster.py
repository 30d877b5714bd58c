"""Forecast the next steps from recent history: numpy only, TensorFlow is never imported.

A thin holder over `qostui.forecast.service` for callers that keep a loaded model (the TUI's
forecast view): the saved model (LATEST in the model directory) forecasts each step with the
method chosen for it on the validation part, with 80% and 95% intervals. Without any saved model
(or without Keras to train one) the baseline with the lowest test MAE on the available history
forecasts instead.
"""

from __future__ import annotations

import time

import numpy as np

from qostui.config import ForecastConfig
from qostui.errors import ConfigError
from qostui.forecast import service
from qostui.forecast.baselines import Baseline
from qostui.forecast.dataset import Series, TooLittleData, fill_short_gaps, prepare, season_steps
from qostui.forecast.model_store import SavedModel, load_model
from qostui.forecast.service import ForecastResult
from qostui.records import Forecast

__all__ = ["ForecastResult", "Forecaster", "choose_baseline"]


class Forecaster:
    """A loaded plan: a saved model, or (without one) a baseline chosen on the history."""

    def __init__(self, cfg: ForecastConfig, saved: SavedModel | None) -> None:
        self.cfg = cfg
        self.saved = saved
        self.model: service.Model | None = None
        self.state = None  # the intervals' online state, loaded once and kept up to date here
        self.baseline: Baseline | None = None
        self.reason = ""
        if saved is None:
            return
        self.model = service.Model.from_saved(saved)
        service.check_step(self.model.info, cfg)
        self.window = self.model.info.window
        self.horizon = self.model.info.horizon
        self.reason = self.model.info.uses
        self.state = service.load_state(self.model)

    @classmethod
    def load(cls, cfg: ForecastConfig, model_id: str | None = None) -> Forecaster:
        return cls(cfg, load_model(cfg.resolved_model_dir(), model_id))

    @property
    def model_label(self) -> str:
        if self.model is not None:
            return self.model.model_id
        assert self.baseline is not None
        return f"baseline:{self.baseline.label}"

    def forecast(
        self, series: Series, horizon: int | None = None, now: float | None = None, *, update_intervals: bool = True
    ) -> ForecastResult:
        if self.model is not None:
            return service.forecast(self.model, series, horizon, now, update_intervals=update_intervals, state=self.state)
        series = series.trimmed()
        if series.observed == 0:
            raise TooLittleData("no bandwidth data to forecast from; run `qostui record` or `qostui import FILE` first")
        if self.baseline is None:
            self.baseline, self.reason = choose_baseline(series, self.cfg)
        h = horizon or self.cfg.horizon
        if not 1 <= h <= self.cfg.horizon:
            raise ConfigError(f"--horizon must be 1..{self.cfg.horizon} (the model's horizon), got {h}")
        values = fill_short_gaps(series.bandwidth_mbps, self.cfg.max_gap_steps)
        pred = self.baseline.predict(values, np.array([len(values)]), h, season_steps(series.step_s))[0]
        made_at = time.time() if now is None else now
        end = float(series.ts[-1])
        label = f"baseline:{self.baseline.label}"
        steps = [Forecast(made_at, end + (k + 1) * series.step_s, k + 1, label, float(v)) for k, v in enumerate(pred)]
        return ForecastResult(made_at, label, "baseline", self.reason, end, steps, (self.baseline.label,) * h)


def choose_baseline(series: Series, cfg: ForecastConfig) -> tuple[Baseline, str]:
    """No saved model: the baseline with the lowest test MAE on this history, or persistence."""
    from qostui.forecast.evaluate import evaluate
    from qostui.forecast.training import tuned_baselines

    try:
        prep = prepare(series, cfg)
    except TooLittleData:
        return Baseline("persistence"), "no trained model and too little history to compare baselines: persistence"
    baselines = tuned_baselines(prep)
    test = prep.origins("test")
    season = season_steps(series.step_s)
    preds = {b.label: b.predict(prep.filled_mbps, test, prep.horizon, season) for b in baselines}
    ev = evaluate(preds, prep.targets_mbps(test), {name: "baseline" for name in preds})
    best = next(b for b in baselines if b.label == ev.best_baseline)
    return best, f"no trained model: best baseline on this history is {best.label}"
