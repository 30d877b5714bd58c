"""The forecasting service: load a saved model, apply it to a series, forecast, score. numpy only.

Every caller (CLI train/forecast/evaluate, the training screen through `training.train`, the
forecast view through `forecaster.Forecaster`, the report through `report.data`) goes through
these functions, so a saved model is applied by one rule:

    model = load_model_for(cfg)                      # None when none was trained
    cfg = model_config(model.info, cfg)              # the model's window, horizon, split, gaps
    scored = score(model, prepare(series, cfg, ...)) # test part: every method, selected, intervals
    result = forecast(model, series)                 # next steps + 80/95% intervals, ACI updated

Methods: "lstm" (the residual net), "linear" (ridge on the same inputs), the tuned baselines, and
"selected": per horizon step the method that was best on the validation part (chosen once, at
training). Intervals are split-conformal on the validation residuals of the selected forecast in
log1p space, adapted online (conformal.AciState); the state lives in the model's directory
(aci_state.npz) and `forecast` updates it with the outcomes that arrived since the last call.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from qostui.config import ForecastConfig
from qostui.errors import QostuiError
from qostui.forecast import conformal
from qostui.forecast.baselines import Baseline
from qostui.forecast.dataset import (
    AUX_SERIES,
    Prepared,
    Series,
    TooLittleData,
    _ffill,
    fill_short_gaps,
    season_steps,
)
from qostui.forecast.design import build_inputs, inverse, transform
from qostui.forecast.evaluate import Evaluation, evaluate
from qostui.forecast.infer import ResidualNet
from qostui.forecast.linear import Ridge
from qostui.forecast.meta import ModelMeta
from qostui.forecast.model_store import SavedModel, load_model
from qostui.records import Forecast

LSTM = "lstm"
LINEAR = "linear"
BLEND = "lstm+linear"  # the two averaged in log1p space: less variance than either
SELECTED = "selected"
TIE = 1e-4  # relative MAE difference below which two methods count as equal
MAX_CATCH_UP = 500  # origins scored per step when `forecast` updates the intervals after a long pause


@dataclass(frozen=True)
class Model:
    """A saved (or just trained) model ready to apply: typed metadata, numpy net, ridge."""

    info: ModelMeta
    net: ResidualNet | None
    linear: Ridge
    path: Path | None = None
    calibration: conformal.AciState | None = None  # validation residuals, before any test outcome

    @property
    def model_id(self) -> str:
        return self.info.model_id

    @classmethod
    def from_saved(cls, saved: SavedModel) -> Model:
        info = saved.info
        if info is None or saved.weights is None:
            raise QostuiError(f"model {saved.model_id}: incomplete; train again with `qostui train`")
        w = saved.weights
        try:
            net = ResidualNet(w, info.activation)
            linear = Ridge(np.asarray(w["linear_kernel"], float), np.asarray(w["linear_bias"], float))
        except (KeyError, ValueError) as exc:
            raise QostuiError(f"model {saved.model_id}: unusable weights ({exc}); train again with `qostui train`") from None
        calibration = None
        cpath = saved.path / conformal.CALIBRATION_FILE
        if cpath.is_file():
            try:
                calibration = conformal.AciState.load(cpath)
            except (OSError, ValueError, KeyError):
                calibration = None
        return cls(info, net, linear, saved.path, calibration)

    def state_path(self) -> Path | None:
        return self.path / conformal.STATE_FILE if self.path is not None else None


def load_model_for(cfg: ForecastConfig, model_id: str | None = None) -> Model | None:
    """The named (else LATEST) model, checked against forecast.step_s; None when none exists."""
    saved = load_model(cfg.resolved_model_dir(), model_id)
    if saved is None:
        return None
    model = Model.from_saved(saved)
    check_step(model.info, cfg)
    return model


def check_step(info: ModelMeta, cfg: ForecastConfig) -> None:
    if abs(info.step_s - cfg.step_s) > 1e-9:
        raise QostuiError(
            f"model {info.model_id} was trained with step {info.step_s:g}s but forecast.step_s is {cfg.step_s:g}s;"
            " train again or set forecast.step_s back"
        )


def model_config(info: ModelMeta, cfg: ForecastConfig) -> ForecastConfig:
    """`cfg` with the model's own window, horizon, split and gap rule (the one place this is done)."""
    return replace(cfg, sequence_length=info.window, horizon=info.horizon, split=info.split,
                   max_gap_steps=info.max_gap_steps, log1p=info.design.log1p)  # fmt: skip


# --- applying a model to a series ------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesView:
    """A series as the models read it: filled values (NaN in long gaps), their log1p, aux."""

    ts: np.ndarray
    values: np.ndarray
    lv: np.ndarray
    aux: dict[str, np.ndarray]
    step_s: float

    @property
    def n(self) -> int:
        return len(self.values)


def view_of(series: Series, max_gap_steps: int, log1p: bool = True) -> SeriesView:
    values = fill_short_gaps(series.bandwidth_mbps, max_gap_steps)
    aux = {name: _ffill(fill_short_gaps(v, max_gap_steps)) for name, v in series.extras.items() if name in AUX_SERIES}
    return SeriesView(series.ts, values, transform(values, log1p), aux, series.step_s)


def view_of_prepared(prep: Prepared, log1p: bool = True) -> SeriesView:
    """The prepared series (already trimmed and gap-filled by `prepare`), scored exactly as prepared."""
    s = prep.series
    aux = {name: _ffill(fill_short_gaps(v, _gap_rule(prep))) for name, v in s.extras.items() if name in AUX_SERIES}
    return SeriesView(s.ts, prep.filled_mbps, transform(prep.filled_mbps, log1p), aux, s.step_s)


def _gap_rule(prep: Prepared) -> int:
    """The max_gap_steps `prepare` used (filled steps are NaN in the raw series but not in filled)."""
    raw = np.isnan(prep.series.bandwidth_mbps) & ~np.isnan(prep.filled_mbps)
    if not raw.any():
        return 0
    edges = np.diff(np.concatenate(([0], raw.astype(np.int8), [0])))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def predict_methods(
    model: Model, view: SeriesView, origins: np.ndarray, methods: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Each method's (n, H) forecasts in Mbps at `origins` (default: lstm, linear, every baseline)."""
    info = model.info
    H = info.horizon
    origins = np.asarray(origins, dtype=np.int64)
    wanted = list(methods) if methods is not None else [LSTM, LINEAR, BLEND, *(b.label for b in info.baselines)]
    out: dict[str, np.ndarray] = {}
    if len(origins) == 0:
        return {m: np.zeros((0, H)) for m in wanted}
    if LSTM in wanted or LINEAR in wanted or BLEND in wanted:
        inp = build_inputs(info.design, view.lv, view.ts, view.aux, origins)
        anchor = anchor_values(info, view, origins, inp.level)
        level = inp.level[:, None]
        lin_z = level + anchor + model.linear.predict(inp.flat)
        out[LINEAR] = inverse(lin_z, info.design.log1p)
        if model.net is not None:
            net_z = level + model.net.predict(inp.seq, inp.flat, anchor)
            out[LSTM] = inverse(net_z, info.design.log1p)
            out[BLEND] = inverse((net_z + lin_z) / 2, info.design.log1p)
    season = season_steps(view.step_s)
    for b in info.baselines:
        if b.label in wanted:
            out[b.label] = b.predict(view.values, origins, H, season)
    return {m: out[m] for m in wanted if m in out}


def anchor_values(info: ModelMeta, view: SeriesView, origins: np.ndarray, level: np.ndarray) -> np.ndarray:
    """(n, H) level-relative anchors: per step, the naive forecast (a baseline) the model corrects."""
    H = info.horizon
    season = season_steps(view.step_s)
    out = np.zeros((len(origins), H))
    cache: dict[str, np.ndarray] = {}
    for h, label in enumerate(info.anchors):
        if label == "persistence":
            continue  # the level itself: 0
        b = info.baseline(label)
        if b is None:
            raise QostuiError(f"model {info.model_id}: anchor {label!r} is not among its baselines; train again")
        if label not in cache:
            cache[label] = transform(b.predict(view.values, origins, H, season), info.design.log1p) - level[:, None]
        out[:, h] = np.nan_to_num(cache[label][:, h])
    return out


def selected_forecast(selection: Sequence[str], preds: dict[str, np.ndarray]) -> np.ndarray:
    """Per step, the column of the method chosen for that step."""
    return np.column_stack([preds[name][:, h] for h, name in enumerate(selection)])


def select_per_step(
    preds: dict[str, np.ndarray], truth: np.ndarray, scale: dict[str, np.ndarray] | None = None
) -> tuple[str, ...]:
    """Per step, the method with the lowest MAE on `truth` (validation), each method's MAE times
    its `scale` at that step (default 1), averaged over the step and its two neighbours; ties keep
    the first. A few hundred validation windows rank close methods by noise at a single step;
    neighbouring steps' errors are nearly the same draw, so their mean ranks more steadily."""
    H = truth.shape[1]
    scale = scale or {}
    errs = {}
    for m in preds:
        per_step = np.array([_mae(preds[m][:, h], truth[:, h]) * (scale[m][h] if m in scale else 1.0) for h in range(H)])
        errs[m] = np.array([per_step[max(h - 1, 0) : h + 2].mean() for h in range(H)])
    chosen: list[str] = []
    for h in range(H):
        best, best_err = "", math.inf
        for m in preds:
            if errs[m][h] < best_err * (1 - TIE):  # a float-noise difference (lstm = linear untrained) is a tie
                best, best_err = m, errs[m][h]
        chosen.append(best)
    return tuple(chosen)


def _mae(pred: np.ndarray, truth: np.ndarray) -> float:
    ok = ~np.isnan(truth) & ~np.isnan(pred)
    return float(np.mean(np.abs(pred[ok] - truth[ok]))) if ok.any() else math.inf


# --- scoring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    """A model scored on a prepared series' test part."""

    evaluation: Evaluation
    origins: np.ndarray  # test origins
    predictions: dict[str, np.ndarray]  # every method and "selected", (n, H) Mbps
    truth: np.ndarray  # (n, H) Mbps, NaN where no reading
    bounds_mbps: np.ndarray  # (n, len(LEVELS), 2, H): the selected forecast's intervals as a user had them
    coverage: np.ndarray  # (len(LEVELS), H)
    width_mbps: np.ndarray  # (len(LEVELS), H) mean interval width
    state: conformal.AciState  # after the test part: what `forecast` continues from


def calibrate(model: Model, view: SeriesView, val_origins: np.ndarray, truth_val: np.ndarray) -> conformal.AciState:
    """Split-conformal scores: validation residuals of the selected forecast in model space."""
    preds = predict_methods(model, view, val_origins, sorted(set(model.info.selection)))
    sel = selected_forecast(model.info.selection, preds)
    log1p = model.info.design.log1p
    residuals = transform(truth_val, log1p) - transform(sel, log1p)
    return conformal.AciState.calibrated(residuals, conformal.choose_gamma(residuals, model.info.aci_gamma))


def score(model: Model, prep: Prepared) -> Scored:
    """Every method and the selected forecast on the test part; intervals calibrated on the
    validation part and adapted through the test part in time order (outcomes used only once known)."""
    info = model.info
    log1p = info.design.log1p
    view = view_of_prepared(prep, log1p)
    val, test = prep.origins("val"), prep.origins("test")
    if model.calibration is not None and model.calibration.horizon == info.horizon:
        state = model.calibration.copy()
    else:
        state = calibrate(model, view, val, prep.targets_mbps(val))
    preds = predict_methods(model, view, test)
    preds_all = {name: preds.pop(name) for name in (LSTM, BLEND) if name in preds}
    preds_all[SELECTED] = selected_forecast(info.selection, {**preds, **preds_all})
    preds_all.update(preds)
    truth = prep.targets_mbps(test)
    # An outcome is known once its reading exists: short-gap fills count as known (as live data would).
    known = prep.targets_mbps(test, observed_only=False)
    bz = conformal.simulate(state, test, transform(preds_all[SELECTED], log1p), transform(known, log1p))
    cov, _ = conformal.coverage(bz, transform(truth, log1p))
    bounds_mbps = inverse(bz, log1p)
    width = np.nanmean(bounds_mbps[:, :, 1, :] - bounds_mbps[:, :, 0, :], axis=0) if len(test) else np.full(cov.shape, np.nan)
    kinds = {name: "model" if name in (LSTM, BLEND) else SELECTED if name == SELECTED else "baseline" for name in preds_all}
    ev = evaluate(preds_all, truth, kinds)
    sel = ev.get(SELECTED)
    for h, step in enumerate(sel.per_step):
        step["method"] = info.selection[h]  # type: ignore[assignment]
        for i, lv in enumerate(conformal.LEVELS):
            pct = int(round(lv * 100))
            step[f"coverage_{pct}"] = float(cov[i, h])
            step[f"width_{pct}"] = float(width[i, h])
    return Scored(ev, test, preds_all, truth, bounds_mbps, cov, width, state)


# --- forecasting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForecastResult:
    made_at: float
    model: str  # stored in Forecast.model: a model id, or "baseline:<label>"
    method: str  # "selected" | "baseline"
    reason: str  # one line: why this method
    data_end_ts: float  # last step of history used
    forecasts: list[Forecast]
    methods: tuple[str, ...] = ()  # per step: the method used

    def to_dict(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 4)

        return {
            "made_at": self.made_at,
            "model": self.model,
            "method": self.method,
            "reason": self.reason,
            "data_end_ts": self.data_end_ts,
            "steps": [
                {"step": f.step, "ts": f.ts, "predicted_mbps": round(f.predicted_mbps, 4),
                 "method": self.methods[i] if i < len(self.methods) else self.method,
                 "lo_mbps": r(f.predicted_lo_mbps), "hi_mbps": r(f.predicted_hi_mbps),
                 "lo95_mbps": r(f.predicted_lo95_mbps), "hi95_mbps": r(f.predicted_hi95_mbps)}
                for i, f in enumerate(self.forecasts)
            ],
        }  # fmt: skip


def _window_complete(view: SeriesView, origin: int, window: int) -> bool:
    return origin >= window and not np.isnan(view.lv[origin - window : origin]).any()


def history_steps(info: ModelMeta) -> int:
    """Steps of recent history a forecast reads: a week of lags (or a day), the window, the
    longest baseline memory, and room to score outcomes that arrived since the last forecast."""
    from qostui.forecast.baselines import ROLLING_STEPS

    lags = max(info.design.week, info.design.season, *(int(b.param) for b in info.baselines if b.name.startswith("seasonal_") and b.param >= 1))
    return lags + info.window + 2 * info.horizon + max(ROLLING_STEPS) + MAX_CATCH_UP + 500


def load_state(model: Model) -> conformal.AciState | None:
    path = model.state_path()
    if path is None or not path.is_file():
        return None
    try:
        return conformal.AciState.load(path)
    except (OSError, ValueError, KeyError):
        return None  # a damaged state: forecasts go without intervals until the next training


def catch_up(model: Model, view: SeriesView, state: conformal.AciState) -> int:
    """Score the outcomes that arrived since the state was saved (origins in time order, each
    step's outcome only once its reading exists). Returns how many outcomes were used."""
    info = model.info
    H, L = info.horizon, info.window
    log1p = info.design.log1p
    origin_ts = view.ts  # ts[o] is the time of origin o's first predicted step
    firsts = [int(np.searchsorted(origin_ts, state.next_ts[h], side="left")) for h in range(H)]
    lo = max(L, min(firsts), view.n - MAX_CATCH_UP - H)
    # The last origin with a new outcome: step h's outcome of origin o is the reading o + h.
    hi = max(min(view.n - 1 - h, view.n - 1) if firsts[h] <= view.n - 1 - h else -1 for h in range(H))
    if hi < lo:
        return 0
    origins = np.array([o for o in range(lo, hi + 1) if _window_complete(view, o, L)], dtype=np.int64)
    if len(origins) == 0:
        return 0
    preds = predict_methods(model, view, origins, sorted(set(info.selection)))
    pz = transform(selected_forecast(info.selection, preds), log1p)
    used = 0
    for h in range(H):
        start = max(firsts[h], lo)
        for i, o in enumerate(origins):
            if o < start or o + h >= view.n:
                continue
            state.update(h, float(pz[i, h]), float(view.lv[o + h]))
            used += 1
        last_known = view.n - 1 - h  # origins up to here have their step-h outcome
        if last_known >= 0:
            state.next_ts[h] = max(state.next_ts[h], float(origin_ts[last_known]) + view.step_s / 2)
    return used


def forecast(
    model: Model,
    series: Series,
    horizon: int | None = None,
    now: float | None = None,
    *,
    update_intervals: bool = True,
    state: conformal.AciState | None = None,
) -> ForecastResult:
    """The next `horizon` steps after the series' last step, with 80% and 95% intervals."""
    info = model.info
    series = series.trimmed()
    if series.observed == 0:
        raise TooLittleData("no bandwidth data to forecast from; run `qostui record` or `qostui import FILE` first")
    h = horizon or info.horizon
    if not 1 <= h <= info.horizon:
        from qostui.errors import ConfigError

        raise ConfigError(f"--horizon must be 1..{info.horizon} (the model's horizon), got {h}")
    view = view_of(series.tail(min(len(series), history_steps(info))), info.max_gap_steps, info.design.log1p)
    origin = view.n
    made_at = time.time() if now is None else now
    end = float(series.ts[-1])
    if not _window_complete(view, origin, info.window):
        # Recent history too short or gappy for the model's window: the best baseline steps in.
        b = info.baseline(info.best_baseline) or Baseline("persistence")
        if origin < info.window:
            why = f"too little recent data to forecast: {origin} step(s), need the last {info.window}"
        else:
            why = f"the last {info.window} steps have a gap longer than forecast.max_gap_steps"
        pred = b.predict(view.values, np.array([origin]), h, season_steps(series.step_s))[0]
        label = f"baseline:{b.label}"
        steps = [Forecast(made_at, end + (k + 1) * series.step_s, k + 1, label, float(v)) for k, v in enumerate(pred)]
        return ForecastResult(made_at, label, "baseline", f"{why}; using the baseline {b.label} meanwhile", end, steps,
                              (b.label,) * h)  # fmt: skip
    preds = predict_methods(model, view, np.array([origin]), sorted(set(info.selection)))
    pred = selected_forecast(info.selection, preds)[0]
    if state is None:
        state = load_state(model)
    bounds = None
    if state is not None and state.horizon == info.horizon:
        if update_intervals and catch_up(model, view, state):
            path = model.state_path()
            if path is not None:
                # a read-only model directory: intervals still work, they just do not adapt across runs
                with contextlib.suppress(OSError):
                    state.save(path)
        bounds = inverse(conformal.bounds(state, transform(pred, info.design.log1p)), info.design.log1p)
    steps: list[Forecast] = []
    for k in range(h):
        extra: dict[str, float] = {}
        if bounds is not None:
            extra = {"predicted_lo_mbps": float(bounds[0, 0, k]), "predicted_hi_mbps": float(bounds[0, 1, k]),
                     "predicted_lo95_mbps": float(bounds[1, 0, k]), "predicted_hi95_mbps": float(bounds[1, 1, k])}  # fmt: skip
        steps.append(Forecast(made_at, end + (k + 1) * series.step_s, k + 1, info.model_id, float(pred[k]), **extra))
    reason = info.uses or info.verdict
    return ForecastResult(made_at, info.model_id, SELECTED, reason, end, steps, info.selection[:h])


def describe_selection(selection: Sequence[str]) -> str:
    """'lstm at steps 1-8, linear at 9-12' (runs of equal methods)."""
    parts: list[str] = []
    start = 0
    for i in range(1, len(selection) + 1):
        if i == len(selection) or selection[i] != selection[start]:
            rng = f"{start + 1}" if i - 1 == start else f"{start + 1}-{i}"
            parts.append(f"{selection[start]} at step{'s' if i - 1 > start else ''} {rng}")
            start = i
    return ", ".join(parts)
