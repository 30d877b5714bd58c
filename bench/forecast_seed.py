"""Forecasting benchmark on ../shared/data/seed_bandwidth_5min.csv (the original tool's real data).

Compares, on the SAME test windows (origins in the last 20% of the series, real readings only):
  - the original tool's pipeline, re-run: LSTM(50, relu) -> Dense(1), MinMax scaling fit on the
    whole series (as the original did), 10-step windows, 1 step ahead, 80/20 split, MSE, Adam,
    epochs 80, early stopping patience 50 on a 10% validation split of the training windows,
    best weights restored;
  - qostui's default model (config defaults: log1p + standardisation fit on the training part,
    time-of-day features, LSTM(32, tanh) predicting 12 steps, Huber loss, 64/16/20 split);
  - the baselines (parameters chosen on the validation part).
Over 3 seeds; prints MAE/RMSE/R² at step 1 and MAE at step 12, training seconds and inference ms.

    python bench/forecast_seed.py [--seeds 0,1,2] [--csv PATH] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "seed_bandwidth_5min.csv"


def load_series(csv: Path) -> Any:
    from qostui.config import ForecastConfig
    from qostui.forecast.dataset import Series

    try:
        from qostui.forecast.source import series_from_file

        series = series_from_file(csv, ForecastConfig())
        if series.observed > 0:
            return series
    except Exception as exc:  # interop not available in this checkout: read the two-column CSV directly
        print(f"(reading {csv.name} directly: {exc})", file=sys.stderr)
    data = np.genfromtxt(csv, delimiter=",", skip_header=1)
    return Series.from_values(data[:, 1], 300.0, 1735689600.0, source=str(csv))


def original_pipeline(prep: Any, test_origins: np.ndarray, seed: int, keras: Any) -> tuple[np.ndarray, float, float]:
    """The original tool's model, re-run; returns (1-step predictions at test origins, train s, infer ms)."""
    values = prep.filled_mbps
    ok = ~np.isnan(values)
    lo, hi = float(np.min(values[ok])), float(np.max(values[ok]))  # MinMax on the WHOLE series (a leak, as originally)
    scaled = (values - lo) / (hi - lo)
    L = prep.window
    b = prep.split.b  # 80%: the test part starts here, for every method
    train_o = np.array([o for o in range(L, b) if not np.isnan(scaled[o - L : o + 1]).any()])
    x_tr = np.stack([scaled[o - L : o] for o in train_o])[:, :, None].astype(np.float32)
    y_tr = scaled[train_o][:, None].astype(np.float32)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input(shape=(L, 1)), keras.layers.LSTM(50, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer="adam", loss="mse")
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=50, restore_best_weights=True)
    t0 = time.perf_counter()
    model.fit(x_tr, y_tr, epochs=80, batch_size=32, validation_split=0.1, shuffle=True, verbose=0, callbacks=[stop])
    train_s = time.perf_counter() - t0
    x_te = np.stack([scaled[o - L : o] for o in test_origins])[:, :, None].astype(np.float32)
    pred = model.predict(x_te, verbose=0)[:, 0] * (hi - lo) + lo
    one = x_te[-1:]
    model.predict(one, verbose=0)
    t0 = time.perf_counter()
    for _ in range(20):
        model.predict(one, verbose=0)
    infer_ms = (time.perf_counter() - t0) / 20 * 1000
    return pred, train_s, infer_ms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--csv", default=str(DEFAULT_CSV))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    from dataclasses import replace

    from qostui.config import ForecastConfig
    from qostui.forecast.dataset import prepare, season_steps
    from qostui.forecast.evaluate import scores
    from qostui.forecast.infer import NumpyLSTM
    from qostui.forecast.lstm import import_keras
    from qostui.forecast.training import MODEL_NAME, train, tuned_baselines

    csv = Path(args.csv)
    series = load_series(csv)
    cfg = ForecastConfig()
    prep = prepare(series, cfg)
    test = prep.origins("test")
    truth = prep.targets_mbps(test)
    season = season_steps(cfg.step_s)
    t0 = time.perf_counter()
    keras = import_keras()
    import_s = time.perf_counter() - t0

    rows: dict[str, list[dict[str, float]]] = {}

    def add(name: str, pred: np.ndarray, train_s: float, infer_ms: float) -> None:
        s1 = scores(pred[:, 0], truth[:, 0])
        row = {"mae1": s1["mae"], "rmse1": s1["rmse"], "r2_1": s1["r2"], "train_s": train_s, "infer_ms": infer_ms}
        if pred.shape[1] > 1:
            row["mae12"] = scores(pred[:, -1], truth[:, -1])["mae"]
            row["mae_all"] = scores(pred, truth)["mae"]
        rows.setdefault(name, []).append(row)

    for b in tuned_baselines(prep):
        pred = b.predict(prep.filled_mbps, test, cfg.horizon, season)
        t0 = time.perf_counter()
        for _ in range(20):
            b.predict(prep.filled_mbps, test[-1:], cfg.horizon, season)
        add(f"baseline {b.label}", pred, 0.0, (time.perf_counter() - t0) / 20 * 1000)

    for seed in seeds:
        print(f"seed {seed}: original pipeline ...", file=sys.stderr)
        pred, train_s, infer_ms = original_pipeline(prep, test, seed, keras)
        add("original LSTM(50,relu), MinMax", pred[:, None], train_s, infer_ms)
        print(f"seed {seed}: qostui default ...", file=sys.stderr)
        result = train(series, replace(cfg, seed=seed), save=False, keras=keras)
        m = result.evaluation.get(MODEL_NAME)
        # The same numpy path `qostui forecast` runs, on the test windows.
        model = NumpyLSTM(result.weights, cfg.activation)
        pred = prep.scaler.inverse_bw(model.predict(prep.inputs(test)))
        assert abs(scores(pred, truth)["mae"] - m.overall["mae"]) < 1e-3  # same windows as the evaluation
        x = prep.inputs(test[-1:])
        t0 = time.perf_counter()
        for _ in range(200):
            prep.scaler.inverse_bw(model.predict(x))
        add("qostui default LSTM(32,tanh)", pred, result.seconds, (time.perf_counter() - t0) / 200 * 1000)

    summary = {name: {k: statistics.fmean(r[k] for r in rs) for k in rs[0]} for name, rs in rows.items()}
    spread = {
        name: {k: (statistics.pstdev([r[k] for r in rs]) if len(rs) > 1 else 0.0) for k in rs[0]}
        for name, rs in rows.items()
    }
    if args.json:
        print(json.dumps({"data": csv.name, "seeds": seeds, "keras_import_s": import_s, "mean": summary, "sd": spread}))
        return 0
    print(f"data: {csv.name} ({series.observed} readings, {len(series)} steps of {cfg.step_s:g}s);"
          f" {len(test)} test windows (last 20%); seeds {','.join(map(str, seeds))}; mean over seeds (sd)")
    head = f"| {'method':<32} | {'MAE@1':>13} | {'RMSE@1':>8} | {'R²@1':>7} | {'MAE@12':>7} | {'train s':>7} | {'infer ms':>8} |"
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for name, s in summary.items():
        sd = spread[name]["mae1"]
        mae1 = f"{s['mae1']:.2f}" + (f" ({sd:.2f})" if sd > 0 else "")
        mae12 = f"{s['mae12']:.2f}" if "mae12" in s else "-"
        train_s = f"{s['train_s']:.1f}" if s["train_s"] > 0 else "-"
        print(f"| {name:<32} | {mae1:>13} | {s['rmse1']:>8.2f} | {s['r2_1']:>7.3f} | {mae12:>7} | {train_s:>7} | {s['infer_ms']:>8.3f} |")
    print(f"Keras import: {import_s:.1f}s (once per training run, not included above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
