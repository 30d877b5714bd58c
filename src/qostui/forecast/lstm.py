"""Keras LSTM training. Keras is imported only inside functions, never at module import.

Only the `keras` API is used, so `KERAS_BACKEND=torch` or `jax` works where installed. The model
(see `qostui.forecast.design` for its inputs) forecasts level-relative log1p values:

    out = anchor + highway(flat) + head(LSTM(seq))

The anchor is a naive forecast (persistence or a seasonal lag), the highway a Dense on the flat
inputs set to the closed-form ridge solution (as LSTNet's autoregressive part) that learns only
HIGHWAY_RATE times as fast as the rest, the head a Dense on the LSTM's last state started at zero:
the untrained net is the linear model, and the LSTM learns what that misses. (A highway trained at
the full rate drifts from the ridge optimum in the first epochs faster than the head learns, so
early stopping mostly kept the untrained net; a fixed one cannot follow a drift the ridge missed.)
Loss MAE by default (the series are spiky: MAE aims at the median), each step's error weighted by
1 / the linear model's training MAE at that step: unweighted, the long steps' larger errors steer
the shared LSTM and the short steps are traded away. Early stopping on validation loss with the
best weights restored, the untrained net (epoch 0) included. The result is plain numpy weights
for `qostui.forecast.infer.ResidualNet`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qostui.errors import QostuiError
from qostui.forecast.events import EpochEnded, TrainingEvent, TrainingStage

HIGHWAY_RATE = 0.03  # the highway's learning speed relative to the LSTM's (see the module docstring)
INSTALL_HINT = "TensorFlow/Keras is not installed: pip install 'qostui[ml]' (forecasts use baselines meanwhile)"


class KerasMissing(QostuiError):
    """Training needs Keras (and a backend); the message says how to install it."""


class Cancelled(QostuiError):
    """Training was cancelled; nothing was saved."""

    exit_code = 130

    def __init__(self, message: str, epoch: int = 0, seconds: float = 0.0) -> None:
        super().__init__(message)
        self.epoch = epoch  # last completed epoch
        self.seconds = seconds


@dataclass
class FitResult:
    weights: dict[str, np.ndarray]
    epochs_run: int
    best_epoch: int
    best_val_loss: float
    seconds: float
    history: list[tuple[float, float]] = field(default_factory=list)  # (loss, val_loss) per epoch
    versions: dict[str, str] = field(default_factory=dict)
    backend: str = ""


def import_keras() -> Any:
    """Import keras quietly, or raise KerasMissing with the install line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter
    try:
        with _quiet_fd2():
            import keras

            keras.ops.convert_to_tensor([0.0])  # device set-up logs its banner now, while muted
    except ImportError as exc:
        backend = os.environ.get("KERAS_BACKEND", "")
        if backend and backend != "tensorflow" and "keras" not in str(exc.name or ""):
            raise KerasMissing(f"KERAS_BACKEND={backend} but it failed to import ({exc}); install it or unset KERAS_BACKEND") from None
        raise KerasMissing(INSTALL_HINT) from None
    except Exception as exc:  # a broken backend install: still one line
        raise KerasMissing(f"Keras failed to load ({type(exc).__name__}: {exc}); {INSTALL_HINT}") from None
    return keras


@contextlib.contextmanager
def _quiet_fd2() -> Iterator[None]:
    """Mute file descriptor 2 (native libraries' log lines) unless QOSTUI_KERAS_LOGS=1.

    Python's own sys.stderr is flushed before and after, so nothing of ours is lost.
    """
    if os.environ.get("QOSTUI_KERAS_LOGS") == "1":
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real fd 2 (embedded, pytest capture): skip
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def library_versions(keras: Any) -> dict[str, str]:
    import numpy

    versions = {"keras": str(keras.__version__), "numpy": numpy.__version__}
    backend = keras.backend.backend()
    try:
        mod = __import__(backend)
        versions[backend] = str(getattr(mod, "__version__", "?"))
    except ImportError:  # pragma: no cover
        pass
    return versions


def build_residual_model(
    keras: Any, window: int, n_seq: int, n_flat: int, horizon: int, units: int, activation: str,
    loss: str, learning_rate: float, step_weights: np.ndarray | None = None, highway_rate: float = HIGHWAY_RATE,
) -> Any:
    """anchor + highway(flat) + head(LSTM(seq)); the head starts at zero (see infer.ResidualNet)."""
    seq_in = keras.Input(shape=(window, n_seq), name="seq")
    flat_in = keras.Input(shape=(n_flat,), name="flat")
    anchor_in = keras.Input(shape=(horizon,), name="anchor")
    hidden = keras.layers.LSTM(units, activation=activation, name="lstm")(seq_in)
    head = keras.layers.Dense(horizon, kernel_initializer="zeros", bias_initializer="zeros", name="head")(hidden)
    highway_layer = keras.layers.Dense(horizon, kernel_initializer="zeros", bias_initializer="zeros", name="highway")
    terms = [anchor_in, highway_layer(flat_in), head]
    highway_layer.trainable = False  # set to the ridge solution; it moves only through the delta
    if highway_rate > 0:
        # highway + rate * delta: Adam steps every weight by about the learning rate, so the scale
        # makes the highway learn `rate` times slower than the LSTM.
        delta = keras.layers.Dense(horizon, kernel_initializer="zeros", bias_initializer="zeros", name="highway_delta")(flat_in)
        terms.insert(2, keras.layers.Rescaling(highway_rate, name="highway_rate")(delta))
    out = keras.layers.Add(name="forecast")(terms)
    model = keras.Model([seq_in, flat_in, anchor_in], out)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss=_loss(keras, loss, step_weights))
    return model


def residual_weights(model: Any) -> dict[str, np.ndarray]:
    """Named arrays of a build_residual_model model (infer.RESIDUAL_WEIGHTS)."""
    k, r, b = model.get_layer("lstm").get_weights()
    dk, db = model.get_layer("head").get_weights()
    hk, hb = model.get_layer("highway").get_weights()
    if any(layer.name == "highway_delta" for layer in model.layers):
        rate = float(model.get_layer("highway_rate").scale)
        dhk, dhb = model.get_layer("highway_delta").get_weights()
        hk, hb = hk + rate * dhk, hb + rate * dhb
    arrays = {"lstm_kernel": k, "lstm_recurrent_kernel": r, "lstm_bias": b, "dense_kernel": dk, "dense_bias": db,
              "highway_kernel": hk, "highway_bias": hb}  # fmt: skip
    return {name: np.asarray(a) for name, a in arrays.items()}


def _loss(keras: Any, name: str, step_weights: np.ndarray | None = None) -> Any:
    """The training loss (mae | huber | mse) with each step's error weighted (default: all 1);
    `loss_value` is the same rule in numpy."""
    ops = keras.ops
    w = ops.convert_to_tensor(np.asarray(step_weights if step_weights is not None else 1.0, np.float32))

    def weighted(y_true: Any, y_pred: Any) -> Any:
        err = ops.abs(y_true - y_pred)
        if name == "huber":
            err = ops.where(err <= 1.0, 0.5 * err * err, err - 0.5)
        elif name != "mae":
            err = err * err
        return ops.mean(err * w, axis=-1)

    return weighted


def loss_value(err: np.ndarray, name: str, step_weights: np.ndarray | None = None) -> float:
    """The training loss in numpy (for the untrained net's epoch-0 score)."""
    a = np.abs(err)
    if name == "huber":
        a = np.where(a <= 1, 0.5 * a**2, a - 0.5)
    elif name != "mae":
        a = a**2
    if step_weights is not None:
        a = a * np.asarray(step_weights)[None, :]
    return float(np.mean(a))


def fit_residual(
    x_train: list[np.ndarray],
    y_train: np.ndarray,
    x_val: list[np.ndarray],
    y_val: np.ndarray,
    *,
    highway: tuple[np.ndarray, np.ndarray] | None,
    sample_weight: np.ndarray | None = None,
    units: int,
    activation: str,
    loss: str,
    epochs: int,
    patience: int,
    batch_size: int,
    learning_rate: float,
    seed: int = 0,
    on_event: Callable[[TrainingEvent], None] | None = None,
    cancel: threading.Event | None = None,
    keras: Any = None,
    step_weights: np.ndarray | None = None,
    highway_rate: float = HIGHWAY_RATE,
) -> FitResult:
    """Train and return the best-validation weights. Raises Cancelled when `cancel` gets set."""
    emit = on_event or (lambda event: None)
    if keras is None:
        emit(TrainingStage("loading keras"))
        keras = import_keras()
    keras.utils.set_random_seed(seed)
    seq, flat = x_train[0], x_train[1]
    horizon = y_train.shape[1]
    model = build_residual_model(keras, seq.shape[1], seq.shape[2], flat.shape[1], horizon, units, activation, loss,
                                 learning_rate, step_weights, highway_rate)  # fmt: skip
    if highway is not None:  # start from the ridge solution: the LSTM learns what it misses
        model.get_layer("highway").set_weights([np.asarray(highway[0], np.float32), np.asarray(highway[1], np.float32)])
    # Epoch 0 (the untrained net: the linear model) is a candidate too, so training never makes it
    # worse. Its validation loss in numpy (head at zero: anchor + highway), no extra graph to build.
    hk, hb = model.get_layer("highway").get_weights()
    init_pred = np.asarray(x_val[2], dtype=np.float64) + np.asarray(x_val[1], dtype=np.float64) @ hk + hb
    initial = loss_value(init_pred - np.asarray(y_val, dtype=np.float64), loss, step_weights)
    state: dict[str, Any] = {"best": initial if np.isfinite(initial) else float("inf"), "best_epoch": 0,
                             "weights": residual_weights(model) if np.isfinite(initial) else None, "wait": 0,
                             "cancelled": False}  # fmt: skip
    history: list[tuple[float, float]] = []
    t0 = time.monotonic()

    class Progress(keras.callbacks.Callback):  # type: ignore[misc,name-defined]
        """Early stopping with best-weight restore, progress events and cancellation in one place."""

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if cancel is not None and cancel.is_set():
                state["cancelled"] = True
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logs = logs or {}
            loss_v, val_v = float(logs.get("loss", np.nan)), float(logs.get("val_loss", np.nan))
            history.append((loss_v, val_v))
            if np.isfinite(val_v) and val_v < state["best"] - 1e-7:
                state.update(best=val_v, best_epoch=epoch + 1, weights=residual_weights(self.model), wait=0)
            else:
                state["wait"] += 1
            # patience 0 disables early stopping (train all epochs, still restore the best weights)
            patience_left = max(patience - state["wait"], 0) if patience > 0 else epochs - epoch - 1
            elapsed = time.monotonic() - t0
            per_epoch = elapsed / (epoch + 1)
            emit(
                EpochEnded(
                    epoch=epoch + 1,
                    epochs=epochs,
                    loss=loss_v,
                    val_loss=val_v,
                    best_epoch=state["best_epoch"],
                    best_val_loss=state["best"],
                    patience_left=patience_left,
                    elapsed_s=elapsed,
                    eta_s=per_epoch * min(epochs - epoch - 1, patience_left),
                )
            )
            if (patience > 0 and patience_left == 0) or not np.isfinite(loss_v):
                self.model.stop_training = True
            if cancel is not None and cancel.is_set():
                state["cancelled"] = True
                self.model.stop_training = True

    model.fit(
        x_train,
        y_train,
        sample_weight=sample_weight,
        validation_data=(x_val, y_val),
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=0,
        callbacks=[Progress()],
    )
    seconds = time.monotonic() - t0
    if state["cancelled"]:
        raise Cancelled(f"training cancelled after epoch {len(history)}; nothing saved", len(history), seconds)
    if state["weights"] is None:
        raise QostuiError("training diverged: validation loss was never finite (try forecast.loss = 'huber' or a lower learning_rate)")
    return FitResult(
        weights=state["weights"],
        epochs_run=len(history),
        best_epoch=state["best_epoch"],
        best_val_loss=state["best"],
        seconds=seconds,
        history=history,
        versions=library_versions(keras),
        backend=keras.backend.backend(),
    )


def refit_residual(
    x: list[np.ndarray],
    y: np.ndarray,
    *,
    highway: tuple[np.ndarray, np.ndarray],
    sample_weight: np.ndarray | None,
    epochs: int,
    units: int,
    activation: str,
    loss: str,
    batch_size: int,
    learning_rate: float,
    seed: int = 0,
    cancel: threading.Event | None = None,
    keras: Any,
    step_weights: np.ndarray | None = None,
    highway_rate: float = HIGHWAY_RATE,
) -> dict[str, np.ndarray]:
    """Train a fresh net for exactly `epochs` (the count early stopping found) on more data
    (training + validation parts): no validation left to stop on, so nothing is restored."""
    keras.utils.set_random_seed(seed)
    model = build_residual_model(keras, x[0].shape[1], x[0].shape[2], x[1].shape[1], y.shape[1], units, activation,
                                 loss, learning_rate, step_weights, highway_rate)  # fmt: skip
    model.get_layer("highway").set_weights([np.asarray(highway[0], np.float32), np.asarray(highway[1], np.float32)])
    if epochs <= 0:
        return residual_weights(model)
    cancelled = {"flag": False}

    class Stop(keras.callbacks.Callback):  # type: ignore[misc,name-defined]
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if cancel is not None and cancel.is_set():
                cancelled["flag"] = True
                self.model.stop_training = True

    t0 = time.monotonic()
    model.fit(x, y, sample_weight=sample_weight, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0,
              callbacks=[Stop()])  # fmt: skip
    if cancelled["flag"]:
        raise Cancelled("training cancelled while refitting; nothing saved", epochs, time.monotonic() - t0)
    return residual_weights(model)
