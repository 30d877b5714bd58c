"""Cost of the forecast view's interval work: scoring a week of stored forecasts, drawing the band.

    python bench/forecast_coverage.py [--days 7] [--horizon 12] [--repeat 5]

Builds a temporary store (removed afterwards) with --days of 5-minute bandwidth readings and one
forecast run with 80%/95% bounds per step (--horizon steps each, as the view stores them), then
prints the median time of `coverage_from_store` over the whole span (what the view's coverage
worker does once per new step) and of the chart with and without the band at 80x24 and 160x48.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from qostui.forecast.coverage import coverage_from_store
from qostui.records import BandwidthSample, Forecast
from qostui.report.data import ActualVsPredicted, Line
from qostui.store import Store
from qostui.ui.band_chart import Band, BandedPlot, render_banded

STEP_S = 300.0
T0 = 1_795_795_200.0  # a day boundary


def median_s(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--horizon", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    n = int(args.days * 86400 / STEP_S)
    ts = T0 + STEP_S * np.arange(n)
    bw = np.maximum(0.1, 60 + 30 * np.sin(2 * np.pi * (ts % 86400) / 86400) + rng.normal(0, 10, n))
    samples = [BandwidthSample(float(t), "eth0", float(v), 0.0, STEP_S) for t, v in zip(ts, bw, strict=True)]
    forecasts = []
    for i in range(n):
        for k in range(1, args.horizon + 1):
            w = 10 * math.sqrt(k)
            forecasts.append(Forecast(float(ts[i]), float(ts[i]) + k * STEP_S, k, "lstm-bench", float(bw[i]),
                                      float(bw[i]) - 1.28 * w, float(bw[i]) + 1.28 * w,
                                      float(bw[i]) - 1.96 * w, float(bw[i]) + 1.96 * w))  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="qostui-bench-") as tmp, Store(Path(tmp) / "b.db") as store:
        store.write(samples)
        store.write(forecasts)
        cov = coverage_from_store(store, STEP_S)
        t_cov = median_s(lambda: coverage_from_store(store, STEP_S), args.repeat)
        print(f"store: {len(samples)} readings, {len(forecasts)} stored forecasts ({args.days:g} days, horizon {args.horizon})")
        print(f"coverage_from_store: {t_cov * 1000:.1f} ms (median of {args.repeat}); {cov.summary()}")
        step1, last = cov.step(1), cov.step(args.horizon)
        assert step1 is not None and last is not None
        print(f"  step 1: 80% {step1.coverage_80_pct:.1f}%  95% {step1.coverage_95_pct:.1f}%;  "
              f"step {args.horizon}: 80% {last.coverage_80_pct:.1f}%  95% {last.coverage_95_pct:.1f}%")  # fmt: skip
    hist = slice(n - 72, n)
    fts = ts[-1] + STEP_S * np.arange(0, args.horizon + 1)
    centre = np.full(len(fts), bw[-1])
    width = 10 * np.sqrt(np.arange(0, args.horizon + 1))
    plot = ActualVsPredicted("bench", [Line("actual", ts[hist], bw[hist]), Line("forecast", fts, centre)])
    bands = (Band("95%", fts, centre - 1.96 * width, centre + 1.96 * width),
             Band("80%", fts, centre - 1.28 * width, centre + 1.28 * width))  # fmt: skip
    for w, h in ((80, 24), (160, 48)):
        plain = median_s(lambda: render_banded(BandedPlot(plot), w, h), args.repeat)  # noqa: B023
        banded = median_s(lambda: render_banded(BandedPlot(plot, bands), w, h), args.repeat)  # noqa: B023
        print(f"chart {w}x{h}: {plain * 1000:.1f} ms without the band, {banded * 1000:.1f} ms with it")


if __name__ == "__main__":
    main()
