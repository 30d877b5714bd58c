"""LSTM inference in numpy from exported Keras weights: no TensorFlow, well under a millisecond.

Keras stores an LSTM layer as kernel (k, 4u), recurrent_kernel (u, 4u) and bias (4u) with the
gates in the order i, f, c, o; the recurrent activation is sigmoid. The model is
LSTM(u) -> Dense(H) (the last hidden state feeds one dense layer predicting the whole horizon).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

WEIGHT_NAMES = ("lstm_kernel", "lstm_recurrent_kernel", "lstm_bias", "dense_kernel", "dense_bias")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # overflow-free form


def _activation(name: str):  # noqa: ANN202 - returns a ufunc-like callable
    if name == "tanh":
        return np.tanh
    if name == "relu":
        return lambda x: np.maximum(x, 0.0)
    if name == "sigmoid":
        return _sigmoid
    if name == "linear":
        return lambda x: x
    raise ValueError(f"unsupported LSTM activation {name!r} (expected tanh, relu, sigmoid or linear)")


class NumpyLSTM:
    """Forward pass of LSTM(u) -> Dense(H) with float64 numpy."""

    def __init__(self, weights: Mapping[str, np.ndarray], activation: str = "tanh") -> None:
        missing = [n for n in WEIGHT_NAMES if n not in weights]
        if missing:
            raise ValueError(f"weights lack {', '.join(missing)}")
        self.kernel = np.asarray(weights["lstm_kernel"], dtype=np.float64)
        self.recurrent = np.asarray(weights["lstm_recurrent_kernel"], dtype=np.float64)
        self.bias = np.asarray(weights["lstm_bias"], dtype=np.float64)
        self.dense_kernel = np.asarray(weights["dense_kernel"], dtype=np.float64)
        self.dense_bias = np.asarray(weights["dense_bias"], dtype=np.float64)
        self.units = self.recurrent.shape[0]
        if self.kernel.shape[1] != 4 * self.units or self.dense_kernel.shape[0] != self.units:
            raise ValueError("inconsistent LSTM weight shapes")
        self.activation_name = activation
        self._act = _activation(activation)

    @property
    def n_features(self) -> int:
        return int(self.kernel.shape[0])

    @property
    def horizon(self) -> int:
        return int(self.dense_kernel.shape[1])

    def hidden(self, x: np.ndarray) -> np.ndarray:
        """Last hidden state for inputs of shape (batch, steps, features)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 3 or x.shape[2] != self.n_features:
            raise ValueError(f"expected inputs of shape (batch, steps, {self.n_features}), got {x.shape}")
        u, act = self.units, self._act
        h = np.zeros((x.shape[0], u))
        c = np.zeros((x.shape[0], u))
        xw = x @ self.kernel + self.bias  # all input projections at once: (batch, steps, 4u)
        for t in range(x.shape[1]):
            z = xw[:, t] + h @ self.recurrent
            i = _sigmoid(z[:, :u])
            f = _sigmoid(z[:, u : 2 * u])
            g = act(z[:, 2 * u : 3 * u])
            o = _sigmoid(z[:, 3 * u :])
            c = f * c + i * g
            h = o * act(c)
        return h

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Scaled predictions, shape (batch, horizon)."""
        return self.hidden(x) @ self.dense_kernel + self.dense_bias


def weights_from_keras(arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
    """model.get_weights() of LSTM -> Dense, in layer order, -> named arrays for the npz file."""
    if len(arrays) != 5:
        raise ValueError(f"expected 5 weight arrays (LSTM kernel, recurrent, bias; Dense kernel, bias), got {len(arrays)}")
    return {name: np.asarray(a) for name, a in zip(WEIGHT_NAMES, arrays, strict=True)}


RESIDUAL_WEIGHTS = (*WEIGHT_NAMES, "highway_kernel", "highway_bias")


class ResidualNet:
    """anchor + highway(flat) + head(LSTM(seq)), in numpy (see `qostui.forecast.lstm`).

    The highway is a linear map of the flat inputs (started from the ridge solution, adjusted slowly), the head a
    dense layer on the LSTM's last hidden state (started at zero), so an untrained net is the
    linear model, and with a zero highway exactly its anchor.
    """

    def __init__(self, weights: Mapping[str, np.ndarray], activation: str = "tanh") -> None:
        missing = [n for n in RESIDUAL_WEIGHTS if n not in weights]
        if missing:
            raise ValueError(f"weights lack {', '.join(missing)}")
        self.lstm = NumpyLSTM(weights, activation)
        self.highway_kernel = np.asarray(weights["highway_kernel"], dtype=np.float64)
        self.highway_bias = np.asarray(weights["highway_bias"], dtype=np.float64)
        if self.highway_kernel.shape[1] != self.lstm.horizon:
            raise ValueError("inconsistent highway and head shapes")

    @property
    def horizon(self) -> int:
        return self.lstm.horizon

    def predict(self, seq: np.ndarray, flat: np.ndarray, anchor: np.ndarray) -> np.ndarray:
        """Level-relative log predictions, shape (batch, horizon)."""
        flat = np.asarray(flat, dtype=np.float64)
        if flat.ndim != 2 or flat.shape[1] != self.highway_kernel.shape[0]:
            raise ValueError(f"expected flat inputs of shape (batch, {self.highway_kernel.shape[0]}), got {flat.shape}")
        return np.asarray(anchor, dtype=np.float64) + flat @ self.highway_kernel + self.highway_bias + self.lstm.predict(seq)


def zero_residual_weights(n_seq: int, n_flat: int, units: int, horizon: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random LSTM, zero head and zero highway: a net that returns its anchor (for tests and as
    the starting point before the ridge initialisation)."""
    rng = np.random.default_rng(seed)
    return {
        "lstm_kernel": rng.normal(0, 0.3, (n_seq, 4 * units)),
        "lstm_recurrent_kernel": rng.normal(0, 0.3, (units, 4 * units)),
        "lstm_bias": np.zeros(4 * units),
        "dense_kernel": np.zeros((units, horizon)),
        "dense_bias": np.zeros(horizon),
        "highway_kernel": np.zeros((n_flat, horizon)),
        "highway_bias": np.zeros(horizon),
    }
