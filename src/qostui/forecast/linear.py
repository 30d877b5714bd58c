"""Ridge regression in closed form (numpy): the linear autoregression baseline and the LSTM's
highway initialisation. Targets are level-relative log values minus the anchor, one column per
horizon step; the intercept is not penalised.

Traffic series drift (a tenfold rise, a quieter or noisier regime), so recent windows may count
more: weights halve every `half_life` (a fraction of the fitted span; 0 = equal weights). The
penalty and the half-life are chosen on the validation part (fit on the training part, lowest
validation MAE); the product model is then refit with them on training + validation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PENALTIES = (0.1, 10.0, 1000.0)  # times the number of rows / 1000; large = stay near the anchor
HALF_LIVES = (0.0, 0.5, 0.25, 0.1, 0.05)  # fractions of the fitted span; 0 = no recency weighting


@dataclass(frozen=True)
class Ridge:
    kernel: np.ndarray  # (F, H)
    bias: np.ndarray  # (H,)
    penalty: float = 0.0  # for all steps, unless `penalties` gives one per step
    half_life: float = 0.0  # the most common per-step half-life (the LSTM's sample weights)
    penalties: tuple[float, ...] = ()  # per step (times rows / 1000)
    half_lives: tuple[float, ...] = ()  # per step

    def predict(self, flat: np.ndarray) -> np.ndarray:
        return np.asarray(flat, dtype=float) @ self.kernel + self.bias


def recency_weights(origins: np.ndarray, half_life: float) -> np.ndarray:
    """Mean-1 weights halving every half_life * span steps back from the newest origin."""
    o = np.asarray(origins, dtype=float)
    if half_life <= 0 or len(o) == 0:
        return np.ones(len(o))
    span = max(o.max() - o.min(), 1.0)
    w = 0.5 ** ((o.max() - o) / (half_life * span))
    return w / w.mean()


def fit_ridge(x: np.ndarray, y: np.ndarray, penalty: float, weights: np.ndarray | None = None) -> Ridge:
    """argmin sum w |y - xW - b|^2 + penalty |W|^2, all steps at once."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=float)
    mx = (w[:, None] * x).sum(axis=0) / w.sum()
    my = (w[:, None] * y).sum(axis=0) / w.sum()
    sw = np.sqrt(w)[:, None]
    xc, yc = (x - mx) * sw, (y - my) * sw
    a = xc.T @ xc + penalty * np.eye(x.shape[1])
    k = np.linalg.solve(a, xc.T @ yc)
    return Ridge(k, my - mx @ k, penalty)


def fit_ridge_validated(
    x_train: np.ndarray, y_train: np.ndarray, origins_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray
) -> Ridge:
    """The penalty and half-life (one pair for all steps: chosen per step they fit the validation
    noise) with the lowest validation MAE (forecasts are scored by MAE)."""
    best: tuple[float, Ridge] | None = None
    scale = max(len(x_train), 1) / 1000.0
    for hl in HALF_LIVES:
        w = recency_weights(origins_train, hl)
        for p in PENALTIES:
            model = fit_ridge(x_train, y_train, p * scale, w)
            err = float(np.mean(np.abs(model.predict(x_val) - y_val))) if len(x_val) else 0.0
            if best is None or err < best[0] - 1e-12:
                best = (err, Ridge(model.kernel, model.bias, p, hl))
    assert best is not None
    return best[1]


def _assemble(cols: list[tuple[float, float, float, np.ndarray, float]]) -> Ridge:
    kernel = np.column_stack([c[3] for c in cols])
    bias = np.array([c[4] for c in cols])
    pens = tuple(c[1] for c in cols)
    hls = tuple(c[2] for c in cols)
    common = max(set(hls), key=hls.count)
    return Ridge(kernel, bias, float(np.median(pens)), common, pens, hls)


def refit(ridge: Ridge, x: np.ndarray, y: np.ndarray, origins: np.ndarray) -> Ridge:
    """The same per-step penalties and half-lives on more data (training + validation)."""
    H = y.shape[1]
    pens = ridge.penalties or (ridge.penalty,) * H
    hls = ridge.half_lives or (ridge.half_life,) * H
    scale = max(len(x), 1) / 1000.0
    cols: list[tuple[float, float, float, np.ndarray, float]] = [None] * H  # type: ignore[list-item]
    for key in sorted(set(zip(pens, hls, strict=True))):
        model = fit_ridge(x, y, key[0] * scale, recency_weights(origins, key[1]))
        for h in range(H):
            if (pens[h], hls[h]) == key:
                cols[h] = (0.0, key[0], key[1], model.kernel[:, h], float(model.bias[h]))
    return _assemble(cols)
