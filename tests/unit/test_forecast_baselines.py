"""Baselines: exact behaviour on tiny series, parameters chosen on validation, numpy only."""

from __future__ import annotations

import numpy as np
import pytest

from qostui.forecast.baselines import Baseline, fit_baselines, seasonal_available


def test_persistence_repeats_the_last_known_value() -> None:
    v = np.array([1.0, 2.0, 3.0, np.nan, np.nan])
    p = Baseline("persistence").predict(v, np.array([3, 5]), 2)
    assert p.tolist() == [[3.0, 3.0], [3.0, 3.0]]


def test_seasonal_naive_copies_one_season_back() -> None:
    season = 24
    v = np.tile(np.arange(season, dtype=float), 4)
    origins = np.array([50, 70])
    p = Baseline("seasonal_naive", season).predict(v, origins, 6)
    assert p == pytest.approx(v[origins[:, None] + np.arange(6)[None, :]])  # exact on a periodic series


def test_seasonal_naive_needs_a_day_of_history() -> None:
    assert not seasonal_available(first_origin=100, season=288, horizon=12)
    assert seasonal_available(first_origin=300, season=288, horizon=12)
    assert not seasonal_available(first_origin=300, season=0, horizon=12)


def test_rolling_median_and_ewm_log() -> None:
    v = np.array([1.0, 100.0, 2.0, 3.0, 1000.0])
    assert Baseline("rolling_median", 3).predict(v, np.array([5]), 2).tolist() == [[3.0, 3.0]]
    flat = np.full(50, 7.0)
    assert Baseline("ewm_log", 0.2).predict(flat, np.array([50]), 3) == pytest.approx(np.full((1, 3), 7.0))
    # alpha=1 is persistence; smaller alphas react slower to a jump
    jump = np.concatenate([np.full(30, 1.0), np.full(3, 100.0)])
    fast = Baseline("ewm_log", 1.0).predict(jump, np.array([33]), 1)[0, 0]
    slow = Baseline("ewm_log", 0.1).predict(jump, np.array([33]), 1)[0, 0]
    assert fast == pytest.approx(100.0) and 1.0 < slow < 20.0


def test_parameters_are_tuned_on_validation() -> None:
    rng = np.random.default_rng(1)
    v = np.exp(rng.normal(2, 1.5, 2000))  # pure noise: long medians win
    val = np.arange(1000, 1500)
    truth = v[val[:, None] + np.arange(3)[None, :]]
    bl = {b.name: b for b in fit_baselines(v, val, truth, 3, season=288, first_eval_origin=1500)}
    assert set(bl) == {"persistence", "seasonal_naive", "seasonal_decay", "rolling_median", "ewm_log"}  # no 2 weeks: no weekly
    assert bl["rolling_median"].param >= 96
    assert bl["ewm_log"].param <= 0.05
    short = fit_baselines(v[:300], np.arange(100, 200), v[100:200, None], 1, season=288, first_eval_origin=200)
    assert "seasonal_naive" not in {b.name for b in short}


def test_labels_round_trip() -> None:
    b = Baseline("rolling_median", 48)
    assert b.label == "rolling_median(48)"
    assert Baseline.from_dict(b.to_dict()) == b
