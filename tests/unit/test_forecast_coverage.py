"""Coverage of past forecasts against what really happened, on a real SQLite store file.

The numbers are worked out by hand from the construction below (each comment says how), so the
test does not repeat the module's arithmetic.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from qostui.exporters.line_protocol import encode
from qostui.forecast.coverage import coverage_from_store, score_forecasts
from qostui.records import BandwidthSample, Forecast
from qostui.store import Store
from qostui.store.schema import MIGRATIONS

STEP_S = 300.0
T0 = 1_795_800_000.0  # a multiple of 300: bins start at T0 + i * STEP_S
MISSING_BIN = 10


def actual(i: int) -> float:
    return 40.0 + i


def bin_ts(i: int) -> float:
    return T0 + i * STEP_S


def fill(db: Path) -> None:
    samples = []
    for i in range(24):
        if i == MISSING_BIN:
            continue  # no reading in this step: forecasts for it cannot be scored
        # two readings per 5-minute bin whose mean is actual(i): the store's resampling is used
        samples += [BandwidthSample(bin_ts(i) + 10, "eth0", actual(i) - 1, 0.0, 5.0),
                    BandwidthSample(bin_ts(i) + 200, "eth0", actual(i) + 1, 0.0, 5.0)]  # fmt: skip
    forecasts = []
    for i in range(1, 13):  # step 1: predicted 2 above the actual; 80% band too narrow on odd bins
        p = actual(i) + 2
        half = 3.0 if i % 2 == 0 else 1.0
        forecasts.append(Forecast(bin_ts(i - 1), bin_ts(i), 1, "m", p, p - half, p + half, p - 10, p + 10))
    for i in range(2, 14):  # step 2: predicted 4 below; bins 2..7 are old rows without bounds (NULL)
        p = actual(i) - 4
        bounds = (p - 1, p + 5) if i >= 8 else (None, None)
        forecasts.append(Forecast(bin_ts(i - 2), bin_ts(i), 2, "m", p, *bounds))
    for i in (30, 31):  # step 3: not due yet, nothing recorded there
        forecasts.append(Forecast(bin_ts(i - 3), bin_ts(i), 3, "m", 1.0, 0.0, 2.0, -1.0, 3.0))
    with Store(db) as store:
        store.write(samples + forecasts)


def test_coverage_per_step_and_overall_from_a_store_file(tmp_path: Path) -> None:
    db = tmp_path / "cov.db"
    fill(db)
    with Store(db) as store:
        cov = coverage_from_store(store, STEP_S)
    assert cov.forecasts == 12 + 12 + 2
    s1, s2, s3 = (cov.step(k) for k in (1, 2, 3))
    assert s1 is not None and s2 is not None and s3 is not None
    # step 1: bins 1..12 without the missing bin 10 -> 11 scored; odd bins 1,3,5,7,9,11 miss the 80% band
    assert (s1.n, s1.n_80, s1.held_80, s1.n_95, s1.held_95) == (11, 11, 5, 11, 11)
    assert s1.mae_mbps == pytest.approx(2.0)
    assert s1.coverage_80_pct == pytest.approx(100 * 5 / 11)
    assert s1.width_80_mbps == pytest.approx((5 * 6 + 6 * 2) / 11)  # even bins 2,4,6,8,12 are 6 wide
    assert s1.width_95_mbps == pytest.approx(20.0)
    # step 2: bins 2..13 without 10 -> 11 scored; only bins 8,9,11,12,13 carry a band (held: +4 in [-1, +5])
    assert (s2.n, s2.n_80, s2.held_80, s2.n_95, s2.held_95) == (11, 5, 5, 0, 0)
    assert s2.mae_mbps == pytest.approx(4.0)
    assert math.isnan(s2.coverage_95_pct) and math.isnan(s2.width_95_mbps)
    # step 3: nothing recorded yet
    assert s3.n == 0 and math.isnan(s3.mae_mbps) and math.isnan(s3.coverage_80_pct)
    o = cov.overall
    assert (o.step, o.n, o.n_80, o.held_80, o.n_95, o.held_95) == (0, 22, 16, 10, 11, 11)
    assert o.mae_mbps == pytest.approx((11 * 2 + 11 * 4) / 22)
    assert o.coverage_80_pct == pytest.approx(62.5) and o.coverage_95_pct == pytest.approx(100.0)
    assert cov.has_intervals
    assert cov.summary() == "past forecasts: 80% band held 62% (n=16), 95% held 100% (n=11); MAE 3.0 Mbps"


def test_time_window_model_and_unfinished_bins(tmp_path: Path) -> None:
    db = tmp_path / "cov.db"
    fill(db)
    with Store(db) as store:
        # bins whose 5 minutes have not ended are not scored: up to the end of bin 11 only
        cut = coverage_from_store(store, STEP_S, complete_before=bin_ts(12))
        assert (cut.step(1).n, cut.step(2).n) == (10, 9)  # type: ignore[union-attr]
        # [since, until) on the forecast time, like Store.forecasts
        window = coverage_from_store(store, STEP_S, since=bin_ts(8), until=bin_ts(12))
        assert (window.overall.n, window.overall.n_80) == (6, 6)  # bins 8, 9, 11 at steps 1 and 2
        only_1 = score_forecasts([f for f in store.forecasts() if f.step == 1], *store.resample(
            "bandwidth_mbps", STEP_S), STEP_S)  # fmt: skip
        assert only_1.summary() == "past forecasts: 80% band held 45% (n=11), 95% held 100%; MAE 2.0 Mbps"
        other = coverage_from_store(store, STEP_S, model="another")
        assert other.forecasts == 0 and other.overall.n == 0 and not other.has_intervals
        assert other.summary() == "past forecasts: none due yet (0 stored)"


def test_old_rows_without_bounds_give_no_interval_but_an_error() -> None:
    ts = T0 + STEP_S * np.arange(4)
    values = np.array([10.0, np.nan, 12.0, 13.0])
    old = [Forecast(T0, T0 + STEP_S * k, k, "m", 11.0) for k in range(1, 4)]
    cov = score_forecasts(old, ts, values, STEP_S)
    assert (cov.overall.n, cov.overall.n_80, cov.overall.n_95) == (2, 0, 0)  # step 1 falls on the NaN
    assert not cov.has_intervals
    assert cov.summary() == "past forecasts: no intervals stored (n=2); MAE 1.5 Mbps"
    # a forecast time inside a bin (not on its start) is scored against that bin
    mid = [Forecast(T0, T0 + 2 * STEP_S + 60, 2, "m", 12.5, 12.0, 13.0)]
    assert score_forecasts(mid, ts, values, STEP_S).overall.held_80 == 1


def test_a_store_written_before_the_interval_columns(tmp_path: Path) -> None:
    """Forecast rows of a schema-1 file get NULL bounds on migration: scored, no intervals, exported."""
    db = tmp_path / "v1.db"
    conn = sqlite3.connect(db)
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version (version) VALUES (1)")
    conn.executemany("INSERT INTO bandwidth (ts, interface, rx_mbps, tx_mbps, interval_s) VALUES (?, 'eth0', ?, 0, 5)",
                     [(bin_ts(i), actual(i)) for i in range(6)])  # fmt: skip
    conn.executemany("INSERT INTO forecast (made_at, ts, step, model, predicted_mbps) VALUES (?, ?, ?, 'old', ?)",
                     [(bin_ts(0), bin_ts(k), k, actual(k) + 1) for k in range(1, 9)])  # fmt: skip
    conn.commit()
    conn.close()
    with Store(db) as store:
        assert store.schema_version == len(MIGRATIONS)
        old = store.forecasts()
        cov = coverage_from_store(store, STEP_S)
    assert len(old) == 8 and all(f.predicted_lo_mbps is None and f.predicted_hi95_mbps is None for f in old)
    assert (cov.overall.n, cov.overall.n_80, cov.overall.n_95) == (5, 0, 0)  # steps 6..8 have no reading
    assert cov.overall.mae_mbps == pytest.approx(1.0) and not cov.has_intervals
    assert all("_lo" not in encode(f, "h") and "predicted_mbps=" in encode(f, "h") for f in old)
