"""Metrics, skill against the best baseline, and the evaluation table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qostui.forecast.evaluate import Evaluation, evaluate, scores


def test_scores_known_values() -> None:
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    pred = np.array([2.0, 2.0, 3.0, 2.0])
    s = scores(pred, truth)
    assert s["mae"] == pytest.approx(0.75)
    assert s["rmse"] == pytest.approx(math.sqrt(5 / 4))
    assert s["r2"] == pytest.approx(1 - 5 / 5)
    assert s["mape"] == pytest.approx(100 * (1 + 0 + 0 + 0.5) / 4)
    assert s["smape"] == pytest.approx(100 * (2 / 3 + 0 + 0 + 2 * 2 / 6) / 4)
    assert s["n"] == 4


def test_nan_truth_is_not_scored() -> None:
    s = scores(np.array([1.0, 100.0]), np.array([1.0, np.nan]))
    assert s["mae"] == 0 and s["n"] == 1


def test_skill_against_the_best_baseline_per_step() -> None:
    truth = np.tile(np.array([[10.0, 20.0]]), (5, 1))
    preds = {
        "lstm": truth + np.array([1.0, 4.0]),
        "persistence": truth + np.array([2.0, 2.0]),
        "rolling_median(6)": truth + 5.0,
    }
    kinds = {"lstm": "model", "persistence": "baseline", "rolling_median(6)": "baseline"}
    ev = evaluate(preds, truth, kinds)
    assert ev.best_baseline == "persistence"
    m = ev.get("lstm")
    assert m.skill == pytest.approx(1 - 2.5 / 2.0)
    assert m.skill_per_step == pytest.approx([0.5, -1.0])
    assert not ev.model_has_skill
    assert "does NOT beat" in ev.verdict() and "persistence" in ev.verdict()
    table = ev.format_table()
    assert "lstm" in table and "persistence *" in table and "MAE@2" in table
    again = Evaluation.from_dict(ev.to_dict())
    assert again.get("lstm").skill == pytest.approx(m.skill)
    assert again.best_baseline == "persistence"


def test_model_with_skill_is_reported_as_such() -> None:
    truth = np.ones((4, 1)) * 5
    ev = evaluate({"lstm": truth + 0.5, "persistence": truth + 1.0}, truth, {"lstm": "model", "persistence": "baseline"})
    assert ev.model_has_skill and "beats the best baseline" in ev.verdict()
