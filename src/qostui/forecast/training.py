"""Train, evaluate against baselines and save: the one entry point the CLI and the TUI share.

    from qostui.forecast.training import train
    result = train(series, config.forecast, on_event=print, cancel=threading.Event())

`train` runs in the calling thread (the TUI calls it from a thread worker) and reports progress
through `on_event` (see `qostui.forecast.events` for the event types and their order). Setting
`cancel` stops training at the next batch: `train` then emits TrainingCancelled and raises
`Cancelled` (nothing is saved). Other problems emit TrainingFailed and raise QostuiError with a
one-line message (too little data, Keras missing, ...).

After training, the model and every baseline are scored on the same test windows. If the model
does not beat the best baseline and `forecast.use_baseline_without_skill` is on, the saved model
says so and `qostui forecast` uses that baseline instead.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qostui.config import ForecastConfig
from qostui.errors import QostuiError
from qostui.forecast.baselines import Baseline, fit_baselines
from qostui.forecast.dataset import Prepared, Series, prepare, season_steps
from qostui.forecast.evaluate import Evaluation, evaluate
from qostui.forecast.events import (
    TrainingCancelled,
    TrainingEvent,
    TrainingFailed,
    TrainingFinished,
    TrainingStage,
    TrainingStarted,
)
from qostui.forecast.infer import NumpyLSTM
from qostui.forecast.model_store import new_model_id, save_model

MODEL_NAME = "lstm"


@dataclass
class TrainResult:
    model_id: str
    path: Path | None  # None when not saved
    evaluation: Evaluation
    uses: str  # "lstm" or the label of the baseline forecasts will use
    epochs_run: int
    best_epoch: int
    seconds: float  # fitting only (Keras import and data preparation excluded)
    meta: dict[str, Any]
    weights: dict[str, np.ndarray]  # as saved (infer.WEIGHT_NAMES)


def tuned_baselines(prep: Prepared) -> list[Baseline]:
    """Baselines with parameters chosen on the validation part."""
    val = prep.origins("val")
    test = prep.origins("test")
    first = int(test[0]) if len(test) else prep.split.b
    return fit_baselines(prep.filled_mbps, val, prep.targets_mbps(val), prep.horizon, season_steps(prep.series.step_s), first)


def predictions_prepared(
    prep: Prepared, model: NumpyLSTM | None, baselines: Sequence[Baseline], origins: np.ndarray
) -> dict[str, np.ndarray]:
    """Each method's (n, H) forecasts in Mbps at `origins`: the model (if any), then the baselines."""
    season = season_steps(prep.series.step_s)
    preds: dict[str, np.ndarray] = {}
    if model is not None:
        preds[MODEL_NAME] = prep.scaler.inverse_bw(model.predict(prep.inputs(origins)))
    for b in baselines:
        preds[b.label] = b.predict(prep.filled_mbps, origins, prep.horizon, season)
    return preds


def evaluate_prepared(
    prep: Prepared,
    model: NumpyLSTM | None,
    baselines: list[Baseline],
    origins: np.ndarray | None = None,
    extra: dict[str, np.ndarray] | None = None,
) -> Evaluation:
    """Model and baselines on the same origins (default: the test part)."""
    if origins is None:
        origins = prep.origins("test")
    computed = predictions_prepared(prep, model, baselines, origins)
    # table order: the model, references (extra), then the baselines
    preds = {name: p for name, p in computed.items() if name == MODEL_NAME}
    preds.update(extra or {})
    preds.update((name, p) for name, p in computed.items() if name != MODEL_NAME)
    kinds = {name: "model" if name == MODEL_NAME else "reference" if name in (extra or {}) else "baseline"
             for name in preds}
    return evaluate(preds, prep.targets_mbps(origins), kinds)


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
    from qostui.forecast.lstm import Cancelled, fit_lstm, import_keras

    started = 0
    try:
        emit(TrainingStage("preparing data", f"{series.observed} readings from {series.source or 'memory'}"))
        prep = prepare(series, config)
        tr, va, te = prep.origins("train"), prep.origins("val"), prep.origins("test")
        baselines = tuned_baselines(prep)
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
                features=tuple(prep.names),
                backend=str(keras.backend.backend()),
            )
        )
        started = 1
        fit = fit_lstm(
            prep.inputs(tr),
            prep.targets_scaled(tr),
            prep.inputs(va),
            prep.targets_scaled(va),
            units=config.units,
            activation=config.activation,
            loss=config.loss,
            epochs=config.epochs,
            patience=config.patience,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            seed=config.seed,
            on_event=emit,
            cancel=cancel,
            keras=keras,
        )
        emit(TrainingStage("evaluating"))
        model = NumpyLSTM(fit.weights, config.activation)
        ev = evaluate_prepared(prep, model, baselines)
        uses = MODEL_NAME if ev.model_has_skill or not config.use_baseline_without_skill else ev.best_baseline
        model_id = new_model_id(MODEL_NAME)
        from qostui import __version__ as qostui_version

        meta: dict[str, Any] = {
            "kind": MODEL_NAME,
            "model_id": model_id,
            "created_at": time.time(),
            "created": _iso(time.time()),
            "architecture": {"layers": "LSTM -> Dense", "units": config.units, "activation": config.activation,
                             "recurrent_activation": "sigmoid", "gate_order": "ifco"},
            "features": prep.names,
            "scaler": prep.scaler.to_dict(),
            "step_s": config.step_s,
            "window": config.sequence_length,
            "horizon": config.horizon,
            "max_gap_steps": config.max_gap_steps,
            "split": list(config.split),
            "season_steps": season_steps(config.step_s),
            "data": data_meta(prep),
            "baselines": [b.to_dict() | {"label": b.label} for b in baselines],
            "evaluation": ev.to_dict(),
            "uses": uses,
            "verdict": ev.verdict(),
            "training": {
                "epochs_max": config.epochs,
                "epochs_run": fit.epochs_run,
                "best_epoch": fit.best_epoch,
                "best_val_loss": fit.best_val_loss,
                "seconds": round(fit.seconds, 3),
                "loss": config.loss,
                "learning_rate": config.learning_rate,
                "batch_size": config.batch_size,
                "patience": config.patience,
                "seed": config.seed,
                "backend": fit.backend,
                "history": [[round(a, 6), round(b, 6)] for a, b in fit.history],
            },
            "versions": fit.versions | {"qostui": qostui_version},
        }
        path: Path | None = None
        if save:
            emit(TrainingStage("saving"))
            path = save_model(config.resolved_model_dir(), model_id, meta, fit.weights)
            model_id = path.name
            meta["model_id"] = model_id
        emit(
            TrainingFinished(
                model_id=model_id,
                path=str(path or ""),
                epochs_run=fit.epochs_run,
                best_epoch=fit.best_epoch,
                seconds=fit.seconds,
                uses=uses,
                verdict=ev.verdict(),
                evaluation=ev.to_dict(),
            )
        )
        return TrainResult(model_id, path, ev, uses, fit.epochs_run, fit.best_epoch, fit.seconds, meta, fit.weights)
    except Cancelled as exc:
        emit(TrainingCancelled(epoch=exc.epoch, seconds=exc.seconds) if started else TrainingFailed(str(exc)))
        raise
    except QostuiError as exc:
        emit(TrainingFailed(str(exc)))
        raise
    except Exception as exc:  # unexpected: still tell the subscriber before propagating
        emit(TrainingFailed(f"{type(exc).__name__}: {exc}"))
        raise


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
