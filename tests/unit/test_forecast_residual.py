"""The residual design (numpy only, no Keras): anchors, ridge, selection, intervals, typed metadata."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qostui.config import ForecastConfig
from qostui.forecast import conformal, service
from qostui.forecast.baselines import Baseline, fit_baselines
from qostui.forecast.dataset import Series, prepare
from qostui.forecast.design import autocorrelation, build_inputs, confirmed_season
from qostui.forecast.infer import ResidualNet, zero_residual_weights
from qostui.forecast.linear import fit_ridge, fit_ridge_validated, recency_weights
from qostui.forecast.meta import ModelMeta, OldModel
from qostui.forecast.model_store import load_model
from qostui.forecast.training import fit_linear_part, untrained

DAY_S = 86400.0


def cycle(days: int = 8, step_s: float = 900.0, noise: float = 2.0, seed: int = 0, trend: float = 0.0) -> Series:
    rng = np.random.default_rng(seed)
    ts = 1_700_000_000.0 - 1_700_000_000.0 % DAY_S + step_s * np.arange(int(days * DAY_S / step_s))
    level = 50 * np.exp(trend * (ts - ts[0]) / DAY_S)
    v = level * (1 + 0.4 * np.sin(2 * np.pi * ts / DAY_S)) + rng.normal(0, noise, len(ts))
    return Series(step_s, ts, np.maximum(v, 0.1), {}, "cycle")


@pytest.fixture
def cfg(tmp_path: Path) -> ForecastConfig:
    return ForecastConfig(step_s=900.0, model_dir=str(tmp_path / "models"))


def test_an_untrained_net_equals_its_anchor_and_with_the_ridge_highway_the_linear_model(cfg: ForecastConfig) -> None:
    result = untrained(cycle(), cfg, save=False)
    model = result.model
    assert model is not None and model.net is not None
    prep = prepare(cycle(), cfg)
    view = service.view_of_prepared(prep)
    test = prep.origins("test")
    # Highway = the ridge, head = 0: the net forecasts exactly what the linear model does.
    preds = service.predict_methods(model, view, test)
    np.testing.assert_allclose(preds["lstm"], preds["linear"], rtol=1e-5)
    # Highway = 0 as well: the net returns its anchor, the naive forecast chosen per step.
    d = model.info.design
    zero = ResidualNet(zero_residual_weights(d.seq_features, d.flat_features, 8, d.horizon), "tanh")
    bare = replace(model, net=zero)
    got = service.predict_methods(bare, view, test, ["lstm"])["lstm"]
    season = 96
    for h, label in enumerate(model.info.anchors):
        b = model.info.baseline(label)
        assert b is not None
        np.testing.assert_allclose(got[:, h], b.predict(view.values, test, d.horizon, season)[:, h], rtol=1e-6)


def test_inputs_are_relative_to_the_level_so_a_tenfold_series_looks_the_same(cfg: ForecastConfig) -> None:
    s = cycle()
    prep = prepare(s, cfg)
    fitted = fit_linear_part(prep, cfg)
    view = service.view_of_prepared(prep)
    big = service.view_of(replace(s, bandwidth_mbps=s.bandwidth_mbps * 10 + 9), 3)  # log1p(10x+9) = log(10)+log1p(x)
    o = prep.origins("val")
    a = build_inputs(fitted.design, view.lv, view.ts, {}, o)
    b = build_inputs(fitted.design, big.lv, big.ts, {}, o)
    np.testing.assert_allclose(a.flat, b.flat, atol=1e-9)
    np.testing.assert_allclose(b.level - a.level, np.log(10.0), atol=1e-9)


def test_season_is_confirmed_by_autocorrelation() -> None:
    lv = np.log1p(cycle(days=6).bandwidth_mbps)
    assert autocorrelation(lv, 96) > 0.8
    assert confirmed_season(lv, 96, len(lv)) == 96
    noise = np.random.default_rng(1).normal(size=600)
    assert confirmed_season(noise, 96, 600) == 0
    assert confirmed_season(lv, 96, 150) == 0  # fewer than two seasons: not confirmed


def test_ridge_matches_least_squares_and_weights_favour_recent_rows() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5))
    w_true = rng.normal(size=(5, 3))
    y = x @ w_true + 0.7 + rng.normal(0, 0.01, (400, 3))
    r = fit_ridge(x, y, 0.0)
    np.testing.assert_allclose(r.kernel, w_true, atol=0.01)
    np.testing.assert_allclose(r.bias, 0.7, atol=0.01)
    assert np.abs(fit_ridge(x, y, 1e6).kernel).max() < 0.01  # a huge penalty: back to the intercept
    w = recency_weights(np.arange(100), 0.1)
    assert w.mean() == pytest.approx(1.0) and w[-1] > 100 * w[0]
    # A regime change: the half-life chosen on the later (validation) rows follows it.
    y2 = np.where(np.arange(400)[:, None] < 300, x @ w_true, -(x @ w_true))
    chosen = fit_ridge_validated(x[:300], y2[:300], np.arange(300), x[300:], y2[300:])
    assert chosen.half_life > 0


def test_new_baselines_weekly_and_decaying_deviation() -> None:
    season = 24
    week = 7 * season
    v = np.tile(np.arange(week, dtype=float) + 1, 4)
    o = np.array([2 * week + 5, 3 * week])
    p = Baseline("seasonal_weekly", week).predict(v, o, 6, season)
    np.testing.assert_allclose(p, v[o[:, None] + np.arange(6)[None, :]])
    # Yesterday plus today's deviation: with phi = 1 the deviation persists, with phi = 0 it is gone.
    flat = np.full(200, 10.0)
    flat[100:] = 20.0  # today is twice yesterday
    o = np.array([150])
    keep = Baseline("seasonal_decay", 1.0).predict(flat, o, 3, season)
    assert keep == pytest.approx(20.0, rel=1e-6)
    gone = Baseline("seasonal_decay", 0.0).predict(flat, o, 3, season)
    assert gone == pytest.approx(20.0)  # yesterday at that time was already 20 (index >= 100)
    half = Baseline("seasonal_decay", 0.5).predict(flat, np.array([110]), 1, season)[0, 0]
    assert 10.0 < half < 20.0
    labels = {b.label.split("(")[0] for b in fit_baselines(v, np.arange(3 * week, 3 * week + 50), v[3 * week:3 * week + 50, None], 1, season, 3 * week)}
    assert {"seasonal_weekly", "seasonal_decay"} <= labels


def test_selection_takes_the_best_method_per_step_on_validation() -> None:
    # Scored on each step with its neighbours: "a" wins steps 1-3, "b" steps 4-6 (ties keep the first).
    truth = np.zeros((50, 6))
    preds = {"a": np.array([[0.1, 0.1, 0.1, 0.5, 0.9, 0.9]] * 50), "b": np.array([[0.2, 0.2, 0.2, 0.5, 0.3, 0.3]] * 50)}
    assert service.select_per_step(preds, truth) == ("a", "a", "a", "b", "b", "b")
    # One step's lone blip (validation noise) does not flip it while its neighbours disagree...
    preds["b"][:, 1] = 0.05
    assert service.select_per_step(preds, truth)[1] == "a"
    # ...but a method better at neighbouring steps too takes them.
    preds["b"][:, 0] = preds["b"][:, 2] = 0.05
    assert service.select_per_step(preds, truth)[:3] == ("b", "b", "b")
    assert service.selected_forecast(("a", "b", "a"), preds)[0].tolist() == [0.1, 0.05, 0.1]
    assert service.describe_selection(("lstm", "lstm", "linear")) == "lstm at steps 1-2, linear at step 3"


def test_conformal_intervals_cover_iid_errors_and_aci_recovers_after_a_shift() -> None:
    rng = np.random.default_rng(3)
    H, n = 2, 3000
    cal = rng.normal(0, 1, (1000, H))
    state = conformal.AciState.calibrated(cal, gamma=0.01)
    origins = np.arange(n)
    pred = np.zeros((n, H))
    actual = rng.normal(0, 1, (n, H))
    cov, _ = conformal.coverage(conformal.simulate(state, origins, pred, actual), actual)
    assert np.all(np.abs(cov[0] - 0.8) < 0.03) and np.all(np.abs(cov[1] - 0.95) < 0.02), cov
    # The errors triple after calibration: split-conformal alone would cover far less; ACI adapts.
    shifted = rng.normal(0, 3, (n, H))
    fixed = conformal.AciState.calibrated(cal, gamma=0.0)
    fixed.scores = [s for s in fixed.scores]
    cov_fixed, _ = conformal.coverage(conformal.simulate(_frozen(fixed), origins, pred, shifted), shifted)
    adaptive = conformal.AciState.calibrated(cal, gamma=0.01)
    cov_aci, _ = conformal.coverage(conformal.simulate(adaptive, origins, pred, shifted), shifted)
    assert cov_fixed[0].max() < 0.5
    assert np.all(np.abs(cov_aci[0] - 0.8) < 0.05) and np.all(np.abs(cov_aci[1] - 0.95) < 0.05), cov_aci


def test_the_aci_step_is_chosen_on_validation_per_level_and_levels_stay_nested() -> None:
    rng = np.random.default_rng(5)
    H = 3
    # Residuals whose spread triples halfway through validation: the faster step keeps the 80%
    # coverage; every level's step is the configured one halved, kept or doubled.
    drifting = np.concatenate([rng.normal(0, 1, (300, H)), rng.normal(0, 3, (300, H))])
    chosen = conformal.choose_gamma(drifting, 0.01)
    assert chosen[0] == 0.02 and chosen[1] in (0.005, 0.01, 0.02)
    # Too little validation to tell: the configured step for every level; 0 (fixed) stays 0.
    assert conformal.choose_gamma(drifting[:30], 0.01).tolist() == [0.01, 0.01]
    assert conformal.choose_gamma(drifting, 0.0).tolist() == [0.0, 0.0]
    # Each level adapts with its own step; the 95% interval still contains the 80% one.
    state = conformal.AciState.calibrated(rng.normal(0, 1, (200, H)), gamma=np.array([0.5, 0.0]))
    state.update(0, 0.0, 50.0)  # a miss of both: the 80% level moves (to full coverage), the 95% one not
    assert state.alpha[0, 0] < 0.01 and state.alpha[1, 0] == pytest.approx(0.05)
    off = state.offsets(0)
    assert off[1, 0] <= off[0, 0] < off[0, 1] <= off[1, 1]
    assert off[1, 1] == off[0, 1] == state.scores[0].max()  # the 95% bound widened to the 80% one


def _frozen(state: conformal.AciState) -> conformal.AciState:
    """A state that never learns: no level moves and no new scores (plain split-conformal)."""

    class Frozen(conformal.AciState):
        def update(self, h: int, predicted: float, actual: float, issued: np.ndarray | None = None) -> None:
            return

    return Frozen(state.scores, state.alpha, state.next_ts, 0.0)


def test_outcomes_are_used_only_once_known() -> None:
    """Origin o's step-h outcome may move the intervals only from origin o + h on."""
    state = conformal.AciState.calibrated(np.zeros((10, 3)), gamma=0.5)
    origins = np.arange(6)
    pred = np.zeros((6, 3))
    actual = np.zeros((6, 3))
    actual[0] = 100.0  # a huge miss at origin 0, every step
    b = conformal.simulate(state, origins, pred, actual)
    width = b[:, 0, 1, :] - b[:, 0, 0, :]
    # step 1 (index 0) learns at origin 1, step 3 (index 2) only at origin 3
    assert width[1, 0] > width[0, 0] and width[2, 2] == width[0, 2] and width[3, 2] > width[0, 2]


def test_typed_metadata_round_trip_and_an_old_model_asks_to_retrain(cfg: ForecastConfig) -> None:
    result = untrained(cycle(), cfg)
    saved = load_model(cfg.resolved_model_dir())
    assert saved is not None and saved.info is not None
    assert ModelMeta.from_dict(saved.info.to_dict()) == saved.info
    assert saved.info.selection == result.model.info.selection  # type: ignore[union-attr]
    meta_path = saved.path / "meta.json"
    old = json.loads(meta_path.read_text())
    old["format"] = 1
    meta_path.write_text(json.dumps(old))
    with pytest.raises(OldModel, match=r"another qostui version.*train again with `qostui train`") as exc:
        load_model(cfg.resolved_model_dir())
    assert "\n" not in str(exc.value)


def test_forecast_keeps_adapting_its_intervals_as_readings_arrive(cfg: ForecastConfig) -> None:
    s = cycle()
    untrained(s, cfg)
    model = service.load_model_for(cfg)
    assert model is not None
    before = service.load_state(model)
    assert before is not None
    n_before = sum(len(x) for x in before.scores)
    # New readings after the training data: each forecast call scores the outcomes now known.
    more = cycle(days=9)
    service.forecast(model, more)
    after = service.load_state(model)
    assert after is not None and sum(len(x) for x in after.scores) > n_before
    assert np.all(after.next_ts >= before.next_ts)
    again = sum(len(x) for x in after.scores)
    service.forecast(model, more)  # nothing new: nothing counted twice
    assert sum(len(x) for x in service.load_state(model).scores) == again  # type: ignore[union-attr]


def test_evaluate_json_shape_with_selected_intervals(cfg: ForecastConfig) -> None:
    result = untrained(cycle(), cfg, save=False)
    doc = result.evaluation.to_dict()
    kinds = {m["name"]: m["kind"] for m in doc["methods"]}
    assert kinds["lstm"] == "model" and kinds["selected"] == "selected" and kinds["linear"] == "baseline"
    sel = next(m for m in doc["methods"] if m["kind"] == "selected")
    for step in sel["per_step"]:
        assert {"mae", "rmse", "method", "coverage_80", "coverage_95", "width_80", "width_95"} <= set(step)
        assert 0 <= step["coverage_80"] <= step["coverage_95"] <= 1 and 0 < step["width_80"] < step["width_95"]
    json.dumps(doc, allow_nan=False)
