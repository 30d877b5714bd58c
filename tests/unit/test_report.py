"""The analytic plots' data, their terminal and PNG renderings, and report.md (no subprocess, no training).

A real SQLite store is filled with generated data: bandwidth with a daily cycle, and pings of three
targets whose RTT follows the same cycle (so bandwidth and RTT correlate strongly) and whose loss
is random, plus one target whose loss is always 0 (a constant series: correlation undefined).
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qostui.config import Config
from qostui.forecast.dataset import prepare, season_steps
from qostui.forecast.evaluate import evaluate
from qostui.forecast.source import series_from_store
from qostui.forecast.training import tuned_baselines
from qostui.records import BandwidthSample, Forecast, PingRound, ProbeState
from qostui.report import data as rd
from qostui.report import markdown, terminal
from qostui.store import Store

DAY = 86400.0
T0 = 1_750_032_000.0  # a UTC midnight
STEP = 300.0
TARGETS = ("10.231.1.2", "10.231.2.2", "127.0.0.1")


def fill_generated(store: Store, days: float = 3.0, targets: tuple[str, ...] = TARGETS, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    records: list[object] = []
    for i in range(int(days * DAY / STEP)):
        ts = T0 + i * STEP + 1.0
        phase = 2 * math.pi * (ts % DAY) / DAY
        bw = max(0.0, 50 + 30 * math.sin(phase) + rng.normal(0, 4))
        records.append(BandwidthSample(ts, "eth0", 0.9 * bw, 0.1 * bw, STEP))
        for k, t in enumerate(targets):
            rtt = 10 + 5 * k + 3 * math.sin(phase) + rng.normal(0, 0.5)
            loss = 0.0 if k == len(targets) - 1 else float(rng.choice([0, 0, 0, 20]))
            received = 5 - int(loss / 20)
            records.append(PingRound(ts + 0.1 * k, t, t, "icmp", ProbeState.OK, 5, received, loss, rtt - 1, rtt,
                                     rtt + 1, 0.5, rtt, rtt + 1, abs(rng.normal(1, 0.3)), 4.3))  # fmt: skip
    store.write(records)  # type: ignore[arg-type]


def bandwidth_only(store: Store, days: float = 3.0) -> None:
    records = []
    for i in range(int(days * DAY / STEP)):
        ts = T0 + i * STEP
        records.append(BandwidthSample(ts, "imported", 40 + 20 * math.sin(2 * math.pi * i * STEP / DAY), 0.0, STEP))
    store.write(records)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    cfg = Config()
    return cfg.with_overrides(forecast=replace(cfg.forecast, model_dir=str(tmp_path / "models")))


@pytest.fixture
def store(db_path: Path) -> Store:
    s = Store(db_path)
    fill_generated(s)
    yield s  # type: ignore[misc]
    s.close()


@pytest.fixture
def bw_store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "bw.db")
    bandwidth_only(s)
    yield s  # type: ignore[misc]
    s.close()


# --- evaluation (plots 1-3 and the table) ----------------------------------------------------------


def test_no_model_uses_best_baseline_and_matches_the_engine(store: Store, config: Config) -> None:
    ev = rd.evaluation_data(store, config)
    assert ev.ok and not ev.has_model and ev.method_kind == "baseline"
    assert ev.method == ev.best_baseline
    assert "no trained model" in ev.note and "no trained model" in ev.method_title
    # The same table `qostui evaluate` prints: the engine's own functions on the same series.
    prep = prepare(series_from_store(store, config.forecast), config.forecast)
    test = prep.origins("test")
    preds = {b.label: b.predict(prep.filled_mbps, test, prep.horizon, season_steps(STEP)) for b in tuned_baselines(prep)}
    engine = evaluate(preds, prep.targets_mbps(test), {name: "baseline" for name in preds})
    assert ev.evaluation is not None
    assert [m.name for m in ev.evaluation.methods] == [m.name for m in engine.methods]
    for mine, theirs in zip(ev.evaluation.methods, engine.methods, strict=True):
        assert mine.overall["mae"] == pytest.approx(theirs.overall["mae"])
    # The plotted forecasts are the scored ones: their MAE is the table's.
    pred, truth = ev.predictions[ev.method], ev.truth
    ok = np.isfinite(truth)
    assert np.mean(np.abs(pred[ok] - truth[ok])) == pytest.approx(ev.evaluation.get(ev.method).overall["mae"])
    # A daily cycle over 3 days: seasonal naive is available and beats persistence.
    assert ev.evaluation.get("seasonal_naive").overall["mae"] < ev.evaluation.get("persistence").overall["mae"]


def test_actual_vs_predicted_covers_the_test_part(store: Store, config: Config) -> None:
    ev = rd.evaluation_data(store, config)
    avp = rd.actual_vs_predicted(ev)
    assert not avp.empty and "no trained model" in avp.title
    actual, one, last = avp.lines[0], avp.lines[1], avp.lines[2]
    assert actual.label == "actual" and one.label.endswith("+1 step") and last.label.endswith(f"+{ev.horizon} steps")
    assert actual.ts[0] == ev.test_start_ts and actual.ts[-1] == ev.ts[-1]
    # The +1 line holds each origin's first forecast at the origin's time.
    idx = np.searchsorted(one.ts, ev.origin_ts)
    np.testing.assert_allclose(one.values[idx], ev.predictions[ev.method][:, 0])
    assert np.isnan(one.values).sum() < len(one.values)


def test_stored_forecasts_are_drawn(store: Store, config: Config) -> None:
    ev = rd.evaluation_data(store, config)
    end = float(ev.ts[-1])
    fcs = [Forecast(end, end + k * STEP, k, "baseline:x", 40.0 + k) for k in range(1, 4)]
    fcs.append(Forecast(end, T0 - DAY, 1, "old", 1.0))  # before the test part: not drawn
    avp = rd.actual_vs_predicted(ev, fcs)
    pts = [ln for ln in avp.lines if ln.style == "points"]
    assert len(pts) == 1 and list(pts[0].values) == [41.0, 42.0, 43.0]


def test_error_distribution_matches_the_per_step_scores(store: Store, config: Config) -> None:
    ev = rd.evaluation_data(store, config)
    dist = rd.error_distribution(ev)
    assert ev.evaluation is not None and not dist.empty
    assert dist.counts.shape == (ev.horizon, rd.HIST_BINS)
    np.testing.assert_array_equal(dist.counts.sum(axis=1), dist.n)  # clipped, nothing dropped
    per_step = ev.evaluation.get(ev.method).per_step
    np.testing.assert_allclose(dist.mae, [s["mae"] for s in per_step])
    assert dist.selected_steps(4) == [1, 3, 6, 12]


def test_loss_history_from_model_metadata(store: Store, config: Config) -> None:
    ev = rd.evaluation_data(store, config)
    none = rd.loss_history(ev)
    assert none.empty and "no trained model" in none.note and ev.method in none.note
    meta = {"training": {"history": [[0.5, 0.6], [0.3, 0.4], [0.2, 0.45]], "best_epoch": 2, "loss": "huber"}}
    hist = rd.loss_history(replace(ev, model_id="lstm-x", model_meta=meta, method_kind="model"))
    assert not hist.empty and hist.best_epoch == 2 and "lstm-x" in hist.title
    np.testing.assert_allclose(hist.val_loss, [0.6, 0.4, 0.45])
    np.testing.assert_allclose(hist.epochs, [1, 2, 3])


def test_too_little_data_is_a_note_not_an_error(tmp_path: Path, config: Config) -> None:
    s = Store(tmp_path / "small.db")
    try:
        s.write([BandwidthSample(T0 + i * STEP, "eth0", 10.0 + i, 0.0, STEP) for i in range(20)])
        ev = rd.evaluation_data(s, config)
        assert not ev.ok and "too little data" in ev.note
        for plot in (rd.actual_vs_predicted(ev), rd.error_distribution(ev)):
            assert plot.empty and "too little data" in plot.note
    finally:
        s.close()


# --- correlation and multi-target (plots 4-5) -------------------------------------------------------


def test_correlation_of_generated_features(store: Store, config: Config) -> None:
    c = rd.correlation(store, config)
    assert not c.empty and c.note == ""
    assert c.names[0] == "bw" and len(c.names) == 1 + 3 * len(TARGETS)  # rtt, jitter, loss per target
    m = c.matrix
    assert m.shape == (len(c.names), len(c.names))
    np.testing.assert_allclose(np.diag(m)[np.isfinite(np.diag(m))], 1.0)
    np.testing.assert_allclose(m, m.T, equal_nan=True)
    i = c.names.index(f"rtt {TARGETS[0]}")
    assert m[0, i] > 0.8  # bandwidth and RTT follow the same daily cycle
    j = c.names.index(f"loss {TARGETS[-1]}")
    assert np.isnan(m[0, j]) and np.isnan(m[j, j])  # loss is always 0 there: r is undefined, not 0


def test_plots_4_and_5_without_latency_say_so(bw_store: Store, config: Config) -> None:
    c = rd.correlation(bw_store, config)
    mt = rd.multi_target(bw_store, config)
    assert c.empty and c.note == "no latency data"
    assert mt.empty and mt.note == "no latency data"


def test_multi_target_series(store: Store, config: Config) -> None:
    mt = rd.multi_target(store, config)
    assert [t.target for t in mt.targets] == sorted(TARGETS)
    assert mt.step_s in rd.NICE_STEPS_S and len(mt.targets[0].ts) <= rd.MAX_TIME_POINTS + 1
    for t in mt.targets:
        assert len(t.ts) == len(t.rtt_avg_ms) == len(t.loss_pct)
        assert np.nanmax(t.loss_pct) <= 100 and np.nanmin(t.rtt_avg_ms) > 0
    means = [np.nanmean(t.rtt_avg_ms) for t in mt.targets]
    assert means[0] < means[1] < means[2]  # 10, 15 and 20 ms by construction (sorted names keep the order)


def test_since_limits_every_plot(store: Store, config: Config) -> None:
    since = rd.since_from_latest(store, DAY)
    assert since is not None
    mt = rd.multi_target(store, config, since=since)
    assert all(t.ts[0] >= since - mt.step_s for t in mt.targets)
    full = rd.multi_target(store, config)
    assert len(mt.targets[0].ts) < len(full.targets[0].ts) or mt.step_s < full.step_s


def test_nice_step() -> None:
    assert rd.nice_step(3600, 720) == 5.0
    assert rd.nice_step(7 * DAY, 720) == 900.0
    assert rd.nice_step(10, 720, min_step_s=1) == 1.0
    assert rd.nice_step(401 * DAY, 100) == 5 * DAY  # beyond a day: whole days, rounded up


# --- renderings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_terminal_renderings_fit_their_size(store: Store, config: Config, size: tuple[int, int]) -> None:
    width, height = size
    report = rd.report_data(store, config)
    for stem, plot in report.plots():
        text = terminal.render(plot, width, height, color=False)
        lines = text.split("\n")
        assert len(lines) <= height, stem
        assert max(len(ln) for ln in lines) <= width, stem
        assert "\x1b[" not in text
        assert len(set(text) - set(" \n")) > 5, stem  # something was drawn
        colored = terminal.render(plot, width, height, color=True)
        assert "\x1b[" in colored or plot.empty, stem
    avp = terminal.render(report.actual_vs_predicted, width, height, color=False)
    assert "actual" in avp
    corr = terminal.render(report.correlation, width, height, color=True)
    assert "\x1b[" in corr and "+1.00" in corr


def test_terminal_note_panel_for_missing_latency(bw_store: Store, config: Config) -> None:
    text = terminal.render(rd.multi_target(bw_store, config), 60, 12, color=False)
    lines = text.split("\n")
    assert "no latency data" in text and len(lines) == 12 and all(len(ln) == 60 for ln in lines)


def test_markdown_links_all_plots_and_holds_the_table(store: Store, config: Config) -> None:
    report = rd.report_data(store, config)
    images = {stem: f"{stem}.png" for stem, _ in report.plots()}
    text = markdown.render_markdown(report, images)
    for name in images.values():
        assert f"]({name})" in text
    assert "| method | kind | MAE | RMSE | R² |" in text
    assert report.evaluation.best_baseline in text and "No trained model" in text
    assert "### Per horizon step" in text and "| 12 | 1 h |" in text


def test_png_is_written_and_not_blank(store: Store, config: Config, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.image as mpimg

    from qostui.report import png

    report = rd.report_data(store, config)
    for stem, plot in report.plots()[3:]:  # the two cheapest; the CLI test draws all five
        path = png.write_png(plot, tmp_path / f"{stem}.png")
        img = mpimg.imread(path)
        assert img.shape[0] == round(png.HEIGHT_IN * png.DPI) and img.shape[1] == round(png.WIDTH_IN * png.DPI)
        assert float(img[..., :3].var()) > 0.001


# --- a saved model (random weights: the numpy path, no Keras needed) ----------------------------------


def _save_random_model(store: Store, config: Config, step_s: float | None = None) -> str:
    """A real saved model without Keras: the untrained net (ridge highway) on the store's series,
    with a made-up loss history (the report draws what the metadata holds)."""
    import json

    from qostui.forecast.training import untrained

    fc = config.forecast if step_s is None else replace(config.forecast, step_s=step_s)
    series = series_from_store(store, config.forecast)
    result = untrained(replace(series, step_s=fc.step_s), fc)
    assert result.path is not None
    meta_path = result.path / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["training"] = {"history": [[0.9, 1.0], [0.5, 0.7], [0.4, 0.75]], "best_epoch": 2, "epochs_run": 3, "loss": "mae"}
    meta_path.write_text(json.dumps(meta))
    return result.model_id


def test_saved_model_drives_plots_1_to_3(store: Store, config: Config) -> None:
    from qostui.forecast import service

    model_id = _save_random_model(store, config)
    report = rd.report_data(store, config)
    ev = report.evaluation
    assert ev.has_model and ev.method == "selected" and ev.model_id == model_id
    assert ev.evaluation is not None and ev.evaluation.model is not None
    # The plots show what `qostui evaluate` scores: the service on the same series.
    model = service.load_model_for(config.forecast)
    assert model is not None
    scored = service.score(model, prepare(series_from_store(store, config.forecast), service.model_config(model.info, config.forecast)))
    np.testing.assert_allclose(ev.predictions["selected"], scored.predictions["selected"])
    assert model_id in report.actual_vs_predicted.title and model_id in report.loss_history.title
    labels = [ln.label for ln in report.actual_vs_predicted.lines]
    assert "selected +1 step" in labels and f"{ev.best_baseline} +1 step" in labels
    bands = report.actual_vs_predicted.bands
    assert [b.level for b in bands] == [0.95, 0.8] and all(np.isfinite(b.lo).any() for b in bands)
    assert report.loss_history.best_epoch == 2 and len(report.loss_history.epochs) == 3
    text = markdown.render_markdown(report, {})
    assert f"Model `{model_id}`" in text and "| **lstm** | model |" in text


def test_old_import_long_gap_and_recent_readings_still_plot_predictions_and_band(tmp_path: Path, config: Config) -> None:
    """An old import, months of nothing, then a short recording: plot 1 shows the forecasts and
    their band (it used to show only the actual line there)."""
    from qostui.report.png import write_png

    s = Store(tmp_path / "gap.db")
    try:
        fill_generated(s, days=3.0, targets=TARGETS[:1])
        _save_random_model(s, config)
        recent = T0 + 120 * DAY
        s.write([BandwidthSample(recent + i * STEP, "eth0", 40.0 + (i % 5), 1.0, STEP) for i in range(8)])
        report = rd.report_data(s, config)
        avp = report.actual_vs_predicted
        assert report.evaluation.has_model and not avp.empty
        predicted = [ln for ln in avp.lines[1:] if ln.style != "points"]
        assert predicted and all(np.isfinite(ln.values).any() for ln in predicted), [ln.label for ln in avp.lines]
        assert avp.bands and all(np.isfinite(b.lo).sum() > 10 for b in avp.bands)
        png = write_png(avp, tmp_path / "avp.png")
        assert png.stat().st_size > 20_000
    finally:
        s.close()


def test_model_with_another_step_falls_back_to_baselines(store: Store, config: Config) -> None:
    _save_random_model(store, config, step_s=60.0)
    ev = rd.evaluation_data(store, config)
    assert ev.ok and not ev.has_model and "uses 60s steps" in ev.note


def test_plot_1_shows_at_most_the_last_days(tmp_path: Path, config: Config) -> None:
    s = Store(tmp_path / "long.db")
    try:
        bandwidth_only(s, days=20.0)  # test part: 4 days
        ev = rd.evaluation_data(s, config)
        avp = rd.actual_vs_predicted(ev)
        span = avp.lines[0].ts[-1] - avp.lines[0].ts[0]
        assert span <= rd.MAX_AVP_SPAN_S and "last 3 days of the test part" in avp.title
        assert ev.origin_ts[0] < avp.lines[0].ts[0]  # the scores still cover the whole test part
    finally:
        s.close()


def test_correlation_keeps_the_busiest_targets(tmp_path: Path, config: Config) -> None:
    s = Store(tmp_path / "many.db")
    try:
        targets = tuple(f"10.231.{i}.2" for i in range(rd.MAX_CORR_TARGETS + 2))
        fill_generated(s, days=0.5, targets=targets)
        # one more target with a single round: it must be among the dropped ones
        s.write([PingRound(T0 + 10, "10.231.99.2", "10.231.99.2", "icmp", ProbeState.OK, 1, 1, 0.0, rtt_avg_ms=5.0)])
        c = rd.correlation(s, config)
        shown = {n.split(" ", 1)[1] for n in c.names if n != "bw"}
        assert len(shown) == rd.MAX_CORR_TARGETS and "10.231.99.2" not in shown
        assert "3 more target(s)" in c.note
    finally:
        s.close()


def test_decimate_keeps_gaps_and_spikes() -> None:
    xs = np.arange(1000, dtype=float)
    ys = np.ones(1000)
    ys[500] = 100.0  # a loss spike
    ys[800:900] = np.nan  # a gap
    x, y = terminal.decimate(xs, ys, 100, "max")
    assert len(x) == 100 and np.nanmax(y) == 100.0 and np.isnan(y).sum() == 10
    x, y = terminal.decimate(xs, ys, 100)
    assert np.nanmax(y) < 100.0  # the mean smooths it
    same = terminal.decimate(xs[:50], ys[:50], 100)
    assert len(same[0]) == 50


def test_plot_data_by_id_matches_the_full_report(store: Store, config: Config) -> None:
    report = rd.report_data(store, config)
    ev = report.evaluation
    for (stem, full), (pid, _name) in zip(report.plots(), rd.PLOTS, strict=True):
        assert stem == pid
        one = rd.plot_data(stem, store, config, evaluation=ev)
        assert type(one) is type(full) and one.title == full.title
    np.testing.assert_array_equal(rd.plot_data("error_distribution", store, config).counts, report.error_distribution.counts)
    with pytest.raises(ValueError, match="unknown plot"):
        rd.plot_data("pie", store, config)


def test_short_recording_correlates_on_a_finer_grid(tmp_path: Path, config: Config) -> None:
    s = Store(tmp_path / "short.db")
    try:
        rng = np.random.default_rng(3)
        recs: list[object] = []
        for i in range(720):  # one hour of 5 s rounds
            ts = T0 + 5.0 * i
            load = math.sin(i / 60)
            recs.append(BandwidthSample(ts, "eth0", 20 + 10 * load + rng.normal(0, 1), 1.0, 5.0))
            recs.append(PingRound(ts, "127.0.0.1", "127.0.0.1", "icmp", ProbeState.OK, 5, 5, 0.0,
                                  rtt_avg_ms=1 + 0.5 * load + rng.normal(0, 0.05), jitter_ms=0.1))  # fmt: skip
        s.write(recs)  # type: ignore[arg-type]
        c = rd.correlation(s, config)
        assert c.step_s < config.forecast.step_s and c.n_steps >= rd.MIN_CORR_STEPS // 2
        assert c.note == "" and c.matrix[0, c.names.index("rtt 127.0.0.1")] > 0.8
    finally:
        s.close()
