"""Train, evaluate against baselines and save: the one entry point the CLI and the TUI share.

    from qostui.forecast.training import train
    result = train(series, config.forecast, on_event=print, cancel=threading.Event())

`train` runs in the calling thread (the TUI calls it from a thread worker) and reports progress
through `on_event` (see `qostui.forecast.events` for the event types and their order). Setting
`cancel` stops training at the next batch: `train` then emits TrainingCancelled and raises
`Cancelled` (nothing is saved). Other problems emit TrainingFailed and raise QostuiError with a
one-line message (too little data, Keras missing, ...).

Steps, every choice made on the validation part (never the test part):
1. the input design (`design`): season confirmed by autocorrelation, weekly lags once two weeks
   exist; the anchor per step: persistence or a seasonal baseline, the one with the lowest
   validation MAE at that step;
2. the ridge model on the same inputs (penalty and recency half-life by validation MAE)
   and the tuned baselines;
3. the residual LSTM on top of the ridge solution (which it may adjust only slowly), early-stopped
   on validation, its loss weighted per step so every step counts alike;
4. per step, the method (lstm, linear or a baseline) with the lowest validation MAE: `selected`;
5. the intervals: split-conformal on the selected forecast's validation residuals, adapted
   through the test part as a user would have seen it (`service.score`); saved with the model.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from qostui.config import ForecastConfig
from qostui.errors import QostuiError
from qostui.forecast import conformal, service
from qostui.forecast.baselines import Baseline, fit_baselines
from qostui.forecast.dataset import AUX_SERIES, MIN_TRAIN_WINDOWS, Prepared, Series, prepare, season_steps
from qostui.forecast.design import Design, build_inputs, inverse, make_design
from qostui.forecast.evaluate import Evaluation
from qostui.forecast.events import (
    TrainingCancelled,
    TrainingEvent,
    TrainingFailed,
    TrainingFinished,
    TrainingStage,
    TrainingStarted,
)
from qostui.forecast.infer import ResidualNet, zero_residual_weights
from qostui.forecast.linear import Ridge, fit_ridge_validated, recency_weights
from qostui.forecast.linear import refit as refit_ridge
from qostui.forecast.meta import ModelMeta
from qostui.forecast.model_store import new_model_id, save_model

MODEL_NAME = service.LSTM


@dataclass(frozen=True)
class TrainResult:
    model_id: str
    path: Path | None  # None when not saved
    evaluation: Evaluation
    uses: str  # "lstm" when the LSTM forecasts every step, else the per-step description
    epochs_run: int
    best_epoch: int
    seconds: float  # fitting only (Keras import and data preparation excluded)
    meta: dict[str, Any]
    weights: dict[str, np.ndarray]
    model: service.Model | None = None
    scored: service.Scored | None = None


def tuned_baselines(prep: Prepared) -> list[Baseline]:
    """Baselines with parameters chosen on the end of the training part (as long as the
    validation part), so the validation part scores them out of sample like the models when the
    forecast per step is selected there."""
    s = prep.split
    tune = prep.valid_origins(max(s.a - (s.b - s.a), 0), s.a - prep.horizon)
    if len(tune) < 8:  # a very short history: the validation part itself
        tune = prep.origins("val")
    val = prep.origins("val")
    first = int(val[0]) if len(val) else s.a
    return fit_baselines(prep.filled_mbps, tune, prep.targets_mbps(tune), prep.horizon, season_steps(prep.series.step_s), first)


STRUCTURAL = ("persistence", "seasonal_naive", "seasonal_weekly", "seasonal_decay")  # anchor candidates


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def data_meta(prep: Prepared) -> dict[str, Any]:
    s = prep.series
    return {
        "source": s.source,
        "start_ts": float(s.ts[0]),
        "end_ts": float(s.ts[-1]),
        "start": _iso(float(s.ts[0])),
        "end": _iso(float(s.ts[-1])),
        "points": len(s),
        "observed": s.observed,
        "split_index": {"val": prep.split.a, "test": prep.split.b},
        "windows": {p: len(prep.origins(p)) for p in ("train", "val", "test")},
    }


@dataclass(frozen=True)
class Fitted:
    """Everything chosen before the LSTM: design, anchors, ridge (fit on the training part, and
    refit on training + validation), baselines, and the inputs of both fits."""

    design: Design
    anchors: tuple[str, ...]
    ridge: Ridge  # fit on the training part: scored on validation (selection, calibration)
    ridge_full: Ridge  # the same penalty and half-life refit on training + validation: the product
    baselines: list[Baseline]
    x_train: list[np.ndarray]
    y_train: np.ndarray
    w_train: np.ndarray
    x_val: list[np.ndarray]
    y_val: np.ndarray
    x_full: list[np.ndarray]
    y_full: np.ndarray
    w_full: np.ndarray
    first_origin: int = 0  # training origins start here (seasonal anchors need their lag)


def _relative_targets(lv: np.ndarray, level: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    idx = origins[:, None] + np.arange(horizon)[None, :]
    return lv[idx] - level[:, None]


def fit_linear_part(prep: Prepared, config: ForecastConfig) -> Fitted:
    """Steps 1-2 of the module docstring (numpy only)."""
    view = service.view_of_prepared(prep, config.log1p)
    aux_names = [n for n in prep.names if n in AUX_SERIES]
    design = make_design(view.lv, prep.series.step_s, prep.split.a, prep.window, prep.horizon,
                         season_steps(prep.series.step_s), view.aux, aux_names, config.time_features, config.log1p)  # fmt: skip
    tr, va = prep.origins("train"), prep.origins("val")
    full = np.concatenate([tr, va])  # every val origin's targets lie before the test part
    # Training targets: filled values count (they are the series the model sees), long gaps never.
    inp_tr = build_inputs(design, view.lv, view.ts, view.aux, tr)
    inp_va = build_inputs(design, view.lv, view.ts, view.aux, va)
    inp_full = build_inputs(design, view.lv, view.ts, view.aux, full)
    y_tr = _relative_targets(view.lv, inp_tr.level, tr, prep.horizon)
    y_va = _relative_targets(view.lv, inp_va.level, va, prep.horizon)
    y_full = _relative_targets(view.lv, inp_full.level, full, prep.horizon)
    baselines = tuned_baselines(prep)
    # Anchor per step: persistence or a seasonal baseline the design confirmed (its lag is then
    # known at every training origin used).
    # Smoothing baselines are left out: the window inputs let the ridge smooth by itself.
    lag_of = {"persistence": 0, "seasonal_naive": design.season, "seasonal_decay": design.season + 1 if design.season else 0,
              "seasonal_weekly": design.week}  # fmt: skip
    usable = [b for b in baselines if b.name in lag_of and (b.name == "persistence" or lag_of[b.name] > 0)]
    truth_va = prep.targets_mbps(va)
    # Each candidate as the anchor of every step, corrected by its own ridge: per step, the anchor
    # whose corrected forecast is best on validation (an anchor the ridge can improve on may win
    # over one that is better alone).
    corrected: dict[str, np.ndarray] = {}
    for b in usable:
        tr_b = tr[tr >= lag_of[b.name]]
        if len(tr_b) < MIN_TRAIN_WINDOWS:
            continue
        probe_b = ModelMeta(model_id="", created_at=0.0, step_s=prep.series.step_s, window=prep.window,
                            horizon=prep.horizon, max_gap_steps=config.max_gap_steps, split=tuple(config.split),  # type: ignore[arg-type]
                            design=design, anchors=(b.label,) * prep.horizon, selection=(), baselines=tuple(baselines),
                            units=config.units, activation=config.activation, aci_gamma=config.aci_gamma)  # fmt: skip
        i_tr = build_inputs(design, view.lv, view.ts, view.aux, tr_b)
        a_tr_b = service.anchor_values(probe_b, view, tr_b, i_tr.level)
        a_va_b = service.anchor_values(probe_b, view, va, inp_va.level)
        r_b = fit_ridge_validated(i_tr.flat, _relative_targets(view.lv, i_tr.level, tr_b, prep.horizon) - a_tr_b, tr_b,
                                  inp_va.flat, y_va - a_va_b)  # fmt: skip
        corrected[b.label] = inverse(inp_va.level[:, None] + a_va_b + r_b.predict(inp_va.flat), config.log1p)
    anchors = tuple(service.select_per_step(corrected, truth_va)) if corrected else ("persistence",) * prep.horizon
    need = max((lag_of[next(b.name for b in usable if b.label == a)] for a in anchors), default=0)
    if len(tr[tr >= need]) < MIN_TRAIN_WINDOWS:
        anchors, need = ("persistence",) * prep.horizon, 0
    tr, full = tr[tr >= need], full[full >= need]
    inp_tr = build_inputs(design, view.lv, view.ts, view.aux, tr)
    inp_full = build_inputs(design, view.lv, view.ts, view.aux, full)
    y_tr = _relative_targets(view.lv, inp_tr.level, tr, prep.horizon)
    y_full = _relative_targets(view.lv, inp_full.level, full, prep.horizon)
    probe = ModelMeta(model_id="", created_at=0.0, step_s=prep.series.step_s, window=prep.window, horizon=prep.horizon,
                      max_gap_steps=config.max_gap_steps, split=tuple(config.split), design=design,  # type: ignore[arg-type]
                      anchors=anchors, selection=(), baselines=tuple(baselines), units=config.units,
                      activation=config.activation, aci_gamma=config.aci_gamma)  # fmt: skip
    a_tr = service.anchor_values(probe, view, tr, inp_tr.level)
    a_va = service.anchor_values(probe, view, va, inp_va.level)
    a_full = service.anchor_values(probe, view, full, inp_full.level)
    ridge = fit_ridge_validated(inp_tr.flat, y_tr - a_tr, tr, inp_va.flat, y_va - a_va)
    ridge_full = refit_ridge(ridge, inp_full.flat, y_full - a_full, full)
    f32 = np.float32
    return Fitted(
        design, anchors, ridge, ridge_full, baselines,
        [inp_tr.seq, inp_tr.flat.astype(f32), a_tr.astype(f32)], y_tr.astype(f32),
        recency_weights(tr, ridge.half_life).astype(f32),
        [inp_va.seq, inp_va.flat.astype(f32), a_va.astype(f32)], y_va.astype(f32),
        [inp_full.seq, inp_full.flat.astype(f32), a_full.astype(f32)], y_full.astype(f32),
        recency_weights(full, ridge.half_life).astype(f32), int(need),
    )  # fmt: skip


def step_weights(fitted: Fitted) -> np.ndarray:
    """Per-step loss weights: 1 / the linear start's training MAE at that step, mean 1. Long steps
    err more; unweighted, the shared net trades the short steps away for them."""
    hk, hb = fitted.ridge.kernel, fitted.ridge.bias
    pred = fitted.x_train[2].astype(np.float64) + fitted.x_train[1].astype(np.float64) @ hk + hb
    mae = np.mean(np.abs(pred - fitted.y_train), axis=0)
    inv = 1.0 / np.maximum(mae, 1e-9)
    return inv / inv.mean()


def features_of(design: Design) -> list[str]:
    names = ["bandwidth_mbps"]
    if design.season:
        names.append("daily_lag")
    if design.week:
        names.append("weekly_lag")
    names += list(design.aux)
    if design.calendar:
        names += ["tod_sin", "tod_cos", "dow_sin", "dow_cos"]
    return names


def build_model(
    prep: Prepared, config: ForecastConfig, fitted: Fitted, weights: dict[str, np.ndarray] | None, *,
    model_id: str = "", extra: dict[str, Any] | None = None,
) -> service.Model:
    """The training-part model (ridge and net fit on the training part only) with its per-step
    selection made on the validation part."""
    info = ModelMeta(
        model_id=model_id, created_at=time.time(), step_s=config.step_s, window=prep.window, horizon=prep.horizon,
        max_gap_steps=config.max_gap_steps, split=tuple(config.split), design=fitted.design,  # type: ignore[arg-type]
        anchors=fitted.anchors, selection=(), baselines=tuple(fitted.baselines), units=config.units,
        activation=config.activation, aci_gamma=config.aci_gamma, features=tuple(features_of(fitted.design)),
        **(extra or {}),
    )  # fmt: skip
    net = ResidualNet(weights, config.activation) if weights is not None else None
    model = service.Model(info, net, fitted.ridge)
    val = prep.origins("val")
    view = service.view_of_prepared(prep, config.log1p)
    preds = service.predict_methods(model, view, val)
    truth = prep.targets_mbps(val)
    gain = refit_gain(prep, fitted, model, view)
    selection = service.select_per_step(preds, truth, scale={m: gain for m in MODELS})
    if not config.use_baseline_without_skill and net is not None:
        selection = (service.LSTM,) * prep.horizon  # the user asked for the LSTM, skill or not
    model = replace_info(model, selection=selection)
    return replace(model, calibration=service.calibrate(model, view, val, truth))


MODELS = (service.LSTM, service.LINEAR, service.BLEND)  # refit on training + validation for the product
MAX_REFIT_GAIN = 0.2


def refit_gain(prep: Prepared, fitted: Fitted, model: service.Model, view: service.SeriesView) -> np.ndarray:
    """Per step, how much refitting on more recent data helps, measured on validation: the ridge
    fit on the training part vs the same ridge refit on training + the first half of validation,
    both scored on the second half, compounded for the product's twice-as-long addition. The
    product models are refit on training + validation, the baselines are not, so the selection
    weighs the models' validation MAE by this factor (at most 1, at least 1 - MAX_REFIT_GAIN)
    instead of judging them as if they were never refit."""
    H = prep.horizon
    val = prep.origins("val")
    if len(val) < 16:
        return np.ones(H)
    first, second = val[: len(val) // 2], val[len(val) // 2 :]
    first = first[first + H <= second[0]]  # their targets lie before the second half starts
    tr = prep.origins("train")
    tr = tr[tr >= fitted.first_origin]
    both = np.concatenate([tr, first])
    inp = build_inputs(fitted.design, view.lv, view.ts, view.aux, both)
    y = _relative_targets(view.lv, inp.level, both, H) - service.anchor_values(model.info, view, both, inp.level)
    early = refit_ridge(fitted.ridge, inp.flat, y, both)
    truth = prep.targets_mbps(second)
    before = service.predict_methods(model, view, second, [service.LINEAR])[service.LINEAR]
    after = service.predict_methods(replace(model, linear=early), view, second, [service.LINEAR])[service.LINEAR]
    ratio = np.array([service._mae(after[:, h], truth[:, h]) / max(service._mae(before[:, h], truth[:, h]), 1e-12)
                      for h in range(H)])  # fmt: skip
    ratio = np.clip(np.nan_to_num(ratio, nan=1.0), 0.0, 1.0)
    # The product adds the whole validation part, the estimate only its first half: compound it.
    ratio = ratio ** (len(val) / max(len(first), 1))
    return np.clip(ratio, 1 - MAX_REFIT_GAIN, 1.0)


def summary(ev: Evaluation) -> dict[str, Any]:
    """Evaluation.to_dict() with the rows a training screen shows: the LSTM, the selected forecast,
    the linear model, persistence and the best naive baseline (`qostui evaluate` has them all)."""
    doc = ev.to_dict()
    naive = [m for m in doc["methods"] if m["kind"] == "baseline" and m["name"] != service.LINEAR]
    best = min(naive, key=lambda m: m["overall"].get("mae") or math.inf)["name"] if naive else ""
    keep = {service.LSTM, service.SELECTED, service.LINEAR, "persistence", best}
    return doc | {"methods": [m for m in doc["methods"] if m["name"] in keep], "best_baseline": best}


def replace_info(model: service.Model, **changes: Any) -> service.Model:
    return replace(model, info=replace(model.info, **changes))


def uses_line(selection: tuple[str, ...]) -> str:
    return MODEL_NAME if set(selection) == {MODEL_NAME} else service.describe_selection(selection)


def verdict(ev: Evaluation) -> str:
    """Plain words: does the LSTM beat the best baseline, and the linear model?"""
    m = ev.model
    base = ev.verdict()
    if m is None:
        return base
    try:
        lin = ev.get(service.LINEAR)
    except KeyError:
        return base
    tie = 1 - service.TIE
    steps = sum(1 for a, b in zip(m.per_step, lin.per_step, strict=True) if a["mae"] < b["mae"] * tie)
    if steps == 0 and abs(m.overall["mae"] - lin.overall["mae"]) <= service.TIE * lin.overall["mae"]:
        return f"{base}; the LSTM did not improve on its linear start: it forecasts as the linear model"
    if m.overall["mae"] >= lin.overall["mae"] * tie:
        return f"{base}; the LSTM does NOT beat the linear model (MAE {m.overall['mae']:.2f} vs {lin.overall['mae']:.2f}, better at {steps} of {len(m.per_step)} steps)"
    return f"{base}; the LSTM beats the linear model at {steps} of {len(m.per_step)} steps"


def train(
    series: Series,
    config: ForecastConfig,
    on_event: Callable[[TrainingEvent], None] | None = None,
    cancel: threading.Event | None = None,
    *,
    save: bool = True,
    keras: Any = None,
) -> TrainResult:
    """Prepare, fit the LSTM, score it against baselines and save it. See the module docstring."""
    emit = on_event or (lambda event: None)
    from qostui.forecast.lstm import Cancelled, fit_residual, import_keras, refit_residual

    started = 0
    try:
        emit(TrainingStage("preparing data", f"{series.observed} readings from {series.source or 'memory'}"))
        prep = prepare(series, config)
        tr, va, te = prep.origins("train"), prep.origins("val"), prep.origins("test")
        fitted = fit_linear_part(prep, config)
        if keras is None:
            emit(TrainingStage("loading keras"))
            keras = import_keras()
        emit(
            TrainingStarted(
                epochs=config.epochs,
                patience=config.patience,
                n_train=len(tr),
                n_val=len(va),
                n_test=len(te),
                features=tuple(features_of(fitted.design)),
                backend=str(keras.backend.backend()),
            )
        )
        started = 1
        step_w = step_weights(fitted)
        fit = fit_residual(
            fitted.x_train, fitted.y_train, fitted.x_val, fitted.y_val,
            highway=(fitted.ridge.kernel, fitted.ridge.bias),
            units=config.units, activation=config.activation, loss=config.loss, epochs=config.epochs,
            patience=config.patience, batch_size=config.batch_size, learning_rate=config.learning_rate,
            seed=config.seed, on_event=emit, cancel=cancel, keras=keras, sample_weight=fitted.w_train,
            step_weights=step_w,
        )  # fmt: skip
        # Selection and calibration: the training-part models on the validation part.
        # The product: the same choices refit on training + validation (the part nearest the future).
        epochs_full = fit.best_epoch
        emit(TrainingStage("refitting on training + validation", f"{epochs_full} epoch(s), {len(fitted.y_full)} windows"))
        full_weights = refit_residual(
            fitted.x_full, fitted.y_full, highway=(fitted.ridge_full.kernel, fitted.ridge_full.bias),
            sample_weight=fitted.w_full, epochs=epochs_full, units=config.units, activation=config.activation,
            loss=config.loss, batch_size=config.batch_size, learning_rate=config.learning_rate, seed=config.seed,
            cancel=cancel, keras=keras, step_weights=step_w,
        )  # fmt: skip
        emit(TrainingStage("evaluating"))
        training = {
            "epochs_max": config.epochs, "epochs_run": fit.epochs_run, "best_epoch": fit.best_epoch,
            "best_val_loss": fit.best_val_loss, "seconds": round(fit.seconds, 3), "loss": config.loss,
            "learning_rate": config.learning_rate, "batch_size": config.batch_size, "patience": config.patience,
            "seed": config.seed, "backend": fit.backend, "linear_penalty": fitted.ridge.penalty,
            "half_life": fitted.ridge.half_life, "refit_epochs": epochs_full,
            "linear_penalties": list(fitted.ridge.penalties), "half_lives": list(fitted.ridge.half_lives),
            "history": [[round(a, 6), round(b, 6)] for a, b in fit.history],
        }  # fmt: skip
        result = finish(prep, config, fitted, fit.weights, full_weights, training, fit.versions, save=save, emit=emit)
        emit(
            TrainingFinished(
                model_id=result.model_id,
                path=str(result.path or ""),
                epochs_run=fit.epochs_run,
                best_epoch=fit.best_epoch,
                seconds=fit.seconds,
                uses=result.uses,
                verdict=result.meta["verdict"],
                evaluation=summary(result.evaluation),
            )
        )
        return replace(result, epochs_run=fit.epochs_run, best_epoch=fit.best_epoch, seconds=fit.seconds)
    except Cancelled as exc:
        emit(TrainingCancelled(epoch=exc.epoch, seconds=exc.seconds) if started else TrainingFailed(str(exc)))
        raise
    except QostuiError as exc:
        emit(TrainingFailed(str(exc)))
        raise
    except Exception as exc:  # unexpected: still tell the subscriber before propagating
        emit(TrainingFailed(f"{type(exc).__name__}: {exc}"))
        raise


def finish(
    prep: Prepared, config: ForecastConfig, fitted: Fitted, weights_train: dict[str, np.ndarray],
    weights_full: dict[str, np.ndarray], training: dict[str, Any], versions: dict[str, str], *, save: bool,
    emit: Callable[[TrainingEvent], None] | None = None,
) -> TrainResult:
    """Select per step and calibrate with the training-part net, score the refit one, save both."""
    from qostui import __version__ as qostui_version

    model_id = new_model_id(MODEL_NAME)
    chosen = build_model(prep, config, fitted, weights_train, model_id=model_id)
    model = replace(chosen, net=ResidualNet(weights_full, config.activation), linear=fitted.ridge_full)
    scored = service.score(model, prep)
    ev = scored.evaluation
    uses = uses_line(model.info.selection)
    model = replace_info(model, uses=uses, verdict=verdict(ev), evaluation=ev.to_dict(), training=training,
                         data=data_meta(prep), versions=dict(versions) | {"qostui": qostui_version})  # fmt: skip
    weights = dict(weights_full) | {"linear_kernel": fitted.ridge_full.kernel, "linear_bias": fitted.ridge_full.bias}
    meta = model.info.to_dict()
    path: Path | None = None
    if save:
        if emit is not None:
            emit(TrainingStage("saving"))
        assert model.calibration is not None
        files = {conformal.STATE_FILE: scored.state.save, conformal.CALIBRATION_FILE: model.calibration.save}
        path = save_model(config.resolved_model_dir(), model_id, meta, weights, extra_files=files)
        model_id = path.name
        meta["model_id"] = model_id
        model = replace(replace_info(model, model_id=model_id), path=path)
    return TrainResult(model_id, path, ev, uses, 0, 0, 0.0, meta, weights, model, scored)


def untrained(series: Series, config: ForecastConfig, *, save: bool = True, seed: int = 0) -> TrainResult:
    """The whole pipeline without Keras: the net is untrained (random LSTM, head at zero, highway
    = the ridge solution), so it forecasts exactly like the linear model. For tests and for
    machines without TensorFlow that still want intervals and per-step selection."""
    prep = prepare(series, config)
    fitted = fit_linear_part(prep, config)
    n_seq, n_flat = fitted.x_train[0].shape[2], fitted.x_train[1].shape[1]

    def net(ridge: Ridge) -> dict[str, np.ndarray]:
        w = zero_residual_weights(n_seq, n_flat, config.units, prep.horizon, seed)
        return w | {"highway_kernel": ridge.kernel, "highway_bias": ridge.bias}

    training = {"epochs_max": 0, "epochs_run": 0, "best_epoch": 0, "loss": config.loss, "history": [],
                "linear_penalty": fitted.ridge.penalty, "half_life": fitted.ridge.half_life}  # fmt: skip
    return finish(prep, config, fitted, net(fitted.ridge), net(fitted.ridge_full), training, {"numpy": np.__version__},
                  save=save)  # fmt: skip


def event_dict(event: TrainingEvent) -> dict[str, Any]:
    """An event as a JSON-ready dict with its type name (for --json output); NaN/inf -> None."""

    def clean(v: Any) -> Any:
        if isinstance(v, float):
            return v if math.isfinite(v) else None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return {"event": type(event).__name__} | clean(asdict(event))
