"""Dataset preparation: gap filling, split, scalers fit on training data only, windows, too-little-data."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from qostui.config import ForecastConfig
from qostui.forecast.dataset import (
    Series,
    Split,
    TooLittleData,
    fill_short_gaps,
    latest_inputs,
    points_needed,
    prepare,
)


def ramp_series(n: int, step_s: float = 300.0) -> Series:
    return Series.from_values(np.arange(n, dtype=float) + 1.0, step_s, t0=1_700_000_000.0, source="ramp")


def test_short_gaps_are_interpolated_and_long_ones_stay_marked() -> None:
    v = np.array([1.0, np.nan, 3.0, np.nan, np.nan, np.nan, np.nan, 8.0, np.nan])
    out = fill_short_gaps(v, max_gap_steps=3)
    assert out[1] == pytest.approx(2.0)
    assert np.isnan(out[3:7]).all()  # 4 steps > 3: a long gap, not invented
    assert np.isnan(out[8])  # trailing gap has no right neighbour
    assert fill_short_gaps(v, 4)[3:7] == pytest.approx([4.0, 5.0, 6.0, 7.0])


def test_split_is_chronological_with_config_fractions() -> None:
    s = Split.of(1000, (0.64, 0.16, 0.20))
    assert (s.a, s.b, s.n) == (640, 800, 1000)


def test_too_little_data_says_how_many_exist_and_are_needed() -> None:
    cfg = ForecastConfig()
    need = points_needed(cfg)
    assert need >= cfg.sequence_length + cfg.horizon
    with pytest.raises(TooLittleData) as err:
        prepare(ramp_series(need - 1), cfg)
    msg = str(err.value)
    assert f"{need - 1} point(s)" in msg and f"need at least {need}" in msg
    assert "\n" not in msg
    prepare(ramp_series(need), cfg)  # exactly enough works


def test_scaler_is_fit_on_the_training_part_only() -> None:
    cfg = ForecastConfig()
    base = np.abs(np.sin(np.arange(600) / 7.0)) * 50 + 1
    changed = base.copy()
    changed[int(600 * 0.64) :] *= 100  # validation and test parts differ wildly
    a = prepare(Series.from_values(base, 300.0), cfg)
    b = prepare(Series.from_values(changed, 300.0), cfg)
    assert np.allclose(a.scaler.mean, b.scaler.mean) and np.allclose(a.scaler.std, b.scaler.std)
    expected = np.log1p(base[: a.split.a])
    assert a.scaler.mean[0] == pytest.approx(expected.mean())
    assert a.scaler.inverse_bw(a.scaler.transform_bw(np.array([0.5, 42.0]))) == pytest.approx([0.5, 42.0])


def test_windows_line_up_with_the_raw_series() -> None:
    cfg = replace(ForecastConfig(), log1p=False, time_features=False)
    prep = prepare(ramp_series(400), cfg)
    o = prep.origins("test")
    assert o[0] >= prep.split.b and o[-1] + cfg.horizon <= prep.n
    x = prep.inputs(o[:1])
    y = prep.targets_mbps(o[:1])
    raw_x = prep.scaler.inverse_bw(x[0, :, 0])
    assert raw_x == pytest.approx(np.arange(o[0] - cfg.sequence_length, o[0]) + 1.0, rel=1e-5)
    assert y[0] == pytest.approx(np.arange(o[0], o[0] + cfg.horizon) + 1.0)
    # Train windows never reach into the validation part (no leakage through targets).
    assert prep.origins("train")[-1] + cfg.horizon <= prep.split.a


def test_windows_touching_a_long_gap_are_dropped_and_filled_steps_not_scored() -> None:
    cfg = ForecastConfig()
    v = np.arange(500, dtype=float) + 1
    v[100:110] = np.nan  # long gap
    v[200] = np.nan  # short gap: filled for inputs, not scored as truth
    prep = prepare(Series.from_values(v, 300.0), cfg)
    tr = prep.origins("train")
    assert not any(o - cfg.sequence_length < 110 and o + cfg.horizon > 100 for o in tr)
    assert 200 - 5 in tr  # a window across the short gap stays
    truth = prep.targets_mbps(np.array([200]))
    assert np.isnan(truth[0, 0]) and not np.isnan(truth[0, 1])


def test_time_features_only_when_the_data_spans_days() -> None:
    cfg = ForecastConfig()
    assert prepare(ramp_series(300), cfg).names == ["bandwidth_mbps"]  # 25 hours
    assert prepare(ramp_series(700), cfg).names == ["bandwidth_mbps", "tod_sin", "tod_cos"]
    assert prepare(ramp_series(700), replace(cfg, time_features=False)).names == ["bandwidth_mbps"]


def test_aux_features_join_when_covered() -> None:
    cfg = ForecastConfig()
    s = ramp_series(300)
    rtt = np.full(300, 20.0)
    rtt[::7] = np.nan  # sparse holes are forward-filled
    loss = np.full(300, np.nan)  # never measured: left out
    s = Series(s.step_s, s.ts, s.bandwidth_mbps, {"rtt_avg_ms": rtt, "loss_pct": loss}, "x")
    prep = prepare(s, cfg)
    assert prep.names == ["bandwidth_mbps", "rtt_avg_ms"]
    assert not np.isnan(prep.x[:, 1]).any()


def test_latest_inputs_refuse_a_recent_long_gap() -> None:
    cfg = ForecastConfig()
    prep = prepare(ramp_series(300), cfg)
    x = latest_inputs(ramp_series(300), prep.names, prep.scaler, cfg.sequence_length, cfg.max_gap_steps)
    assert x.shape == (1, cfg.sequence_length, 1)
    v = np.arange(300, dtype=float)
    v[-8:-2] = np.nan
    with pytest.raises(TooLittleData, match="missing bandwidth"):
        latest_inputs(Series.from_values(v, 300.0), prep.names, prep.scaler, cfg.sequence_length, cfg.max_gap_steps)


def test_split_by_readings_survives_a_long_gap() -> None:
    # 100 readings, ten months of nothing, 100 readings: the grid split would put everything
    # after the gap in the test part; the readings split keeps 64/16/20 of the readings.
    observed = np.concatenate([np.ones(100, bool), np.zeros(10_000, bool), np.ones(100, bool)])
    s = Split.of_readings(observed, (0.64, 0.16, 0.20))
    assert int(observed[: s.a].sum()) == 128
    assert int(observed[s.a : s.b].sum()) == 32
    assert int(observed[s.b :].sum()) == 40
    contiguous = Split.of_readings(np.ones(1000, bool), (0.64, 0.16, 0.20))
    assert (contiguous.a, contiguous.b) == (640, 800) == (Split.of(1000, (0.64, 0.16, 0.20)).a, Split.of(1000, (0.64, 0.16, 0.20)).b)
