"""The data behind each analytic plot, computed from the store and the saved model; no plotting here.

Every plot has one function returning a small frozen dataclass of numpy arrays and labels. The
matplotlib PNGs (`report.png`) and the terminal charts (`report.terminal`, shown by the TUI) draw
the very same objects, so a number can never differ between the two.

    store = Store(path)
    ev = evaluation_data(store, config)          # model (or best baseline) on the test part
    actual_vs_predicted(ev); loss_history(ev); error_distribution(ev)
    correlation(store, config); multi_target(store, config)
    plot_data("correlation", store, config)      # one view by its id (PLOTS lists ids and names)
    report_data(store, config)                   # all five, for `qostui report`

A TUI view computes its data in a worker thread (store reads take up to a few seconds on weeks
of 5 s rounds) and renders it with `qostui.report.terminal.render(data, width, height)`.

When no model was trained, plots 1-3 use the best baseline and say so in their title; when the
store has no latency data, plots 4-5 carry a note instead of data. Nothing here raises for
missing data: the note explains what is missing, so a report can always be written.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from qostui.charts import Series
from qostui.config import Config
from qostui.errors import QostuiError
from qostui.forecast import service
from qostui.forecast.dataset import TooLittleData, prepare, season_steps
from qostui.forecast.evaluate import Evaluation, evaluate
from qostui.forecast.model_store import SavedModel, load_model
from qostui.forecast.source import series_from_store
from qostui.forecast.training import MODEL_NAME, tuned_baselines

if TYPE_CHECKING:
    from qostui.store import Store

# The five analytic plots: (file stem / view id, display name), in report order. The TUI's views use
# the same ids, report.md the same names.
PLOTS: tuple[tuple[str, str], ...] = (
    ("actual_vs_predicted", "Actual vs predicted bandwidth"),
    ("loss_history", "Training and validation loss"),
    ("error_distribution", "Error distribution per horizon step"),
    ("correlation", "Feature correlation"),
    ("multi_target", "RTT and loss of all targets"),
)
PING_SERIES = ("rtt_avg_ms", "jitter_ms", "loss_pct")
SHORT = {"bandwidth_mbps": "bw", "rtt_avg_ms": "rtt", "jitter_ms": "jitter", "loss_pct": "loss"}
MIN_CORR_STEPS = 100  # fewer points than this on the forecast grid: correlate on a finer one
MAX_CORR_TARGETS = 8  # beyond this a heatmap's labels are unreadable; the busiest targets win
MAX_TIME_POINTS = 720  # multi-target chart: about one point per pixel column of a PNG
NICE_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
HIST_BINS = 30
DAY_S = 86400.0
MAX_AVP_SPAN_S = 3 * DAY_S  # plot 1 shows at most the last 3 days of the test part (scores use all of it)


# --- evaluation on the test part (shared by plots 1-3 and the metrics table) ------------------------


@dataclass(frozen=True)
class EvaluationData:
    """The chosen method's (model or best baseline) forecasts on the test part, with the truth.

    `predictions` holds every scored method, each (n_origins, horizon) in Mbps; `truth` has the
    same shape (NaN where no real reading exists). `method` names the one the plots show.
    """

    method: str  # key of `predictions` drawn in plots 1 and 3; "" when nothing could be evaluated
    method_kind: str  # "model" | "baseline" | ""
    best_baseline: str
    evaluation: Evaluation | None
    predictions: dict[str, np.ndarray]
    truth: np.ndarray  # (n_origins, horizon)
    origin_ts: np.ndarray  # epoch seconds of each origin's first predicted step
    step_s: float
    horizon: int
    ts: np.ndarray  # the whole (trimmed) series, for context
    actual_mbps: np.ndarray
    test_start_ts: float
    model_id: str = ""  # saved model used, "" when none
    model_meta: dict[str, Any] = field(default_factory=dict)
    note: str = ""  # why there is no model / no evaluation; shown in titles and report.md
    source: str = ""
    bounds_mbps: np.ndarray | None = None  # (n_origins, 2 levels, lo/hi, horizon): the shown method's intervals

    @property
    def has_model(self) -> bool:
        return self.method_kind in ("model", "selected")

    @property
    def ok(self) -> bool:
        return bool(self.method) and self.evaluation is not None

    @property
    def method_title(self) -> str:
        """How plot titles name what is drawn."""
        if not self.method:
            return "nothing to evaluate"
        if self.has_model:
            return f"model {self.model_id or self.method} (per-step selected forecast)"
        return f"best baseline {self.method} (no trained model)"


def _empty_evaluation(note: str, step_s: float, horizon: int, source: str = "") -> EvaluationData:
    z = np.zeros(0)
    return EvaluationData("", "", "", None, {}, np.zeros((0, horizon)), z, step_s, horizon, z, z, math.nan,
                          note=note, source=source)  # fmt: skip


def load_saved_model(config: Config, model_id: str | None = None) -> SavedModel | None:
    """The model `qostui forecast` would use (LATEST), or the named one; None when none was trained."""
    return load_model(config.forecast.resolved_model_dir(), model_id)


def evaluation_data(
    store: Store,
    config: Config,
    *,
    since: float | None = None,
    until: float | None = None,
    saved: SavedModel | None = None,
    use_saved: bool = True,
) -> EvaluationData:
    """Score the saved model (if any) and the baselines on the test part of the store's series.

    With a saved model its own features, scaler, window, horizon and split are used, so on the data
    it was trained on the scores equal those in its metadata. Baselines are tuned on the validation
    part of this data (as `qostui evaluate` does); without a model the best of them stands in.
    """
    fc = config.forecast
    if saved is None and use_saved:
        saved = load_saved_model(config)
    skipped = ""
    if saved is not None and saved.info is not None and abs(saved.info.step_s - fc.step_s) > 1e-9:
        # A report still helps here: show the baselines and say why the model is not used.
        skipped = (f"model {saved.model_id} uses {saved.info.step_s:g}s steps but forecast.step_s is"
                   f" {fc.step_s:g}s, so plots show the best baseline")  # fmt: skip
        saved = None
    model = service.Model.from_saved(saved) if saved is not None else None
    if model is not None:
        fc = service.model_config(model.info, fc)
    series = series_from_store(store, fc, since=since, until=until, source=str(store.path)).trimmed()
    if series.observed == 0:
        return _empty_evaluation("no bandwidth data", fc.step_s, fc.horizon, series.source)
    try:
        prep = prepare(series, fc, purpose="evaluation")
    except TooLittleData as exc:
        out = _empty_evaluation(str(exc), fc.step_s, fc.horizon, series.source)
        return replace(out, ts=series.ts, actual_mbps=series.bandwidth_mbps)
    origins = prep.origins("test")
    ts = prep.series.ts
    test_start = float(ts[prep.split.b]) if prep.split.b < len(ts) else math.nan
    if len(origins) == 0:
        out = _empty_evaluation("no complete test window (long gaps in the test part)", fc.step_s, fc.horizon, series.source)
        return replace(out, ts=ts, actual_mbps=prep.series.bandwidth_mbps, test_start_ts=test_start)

    note = ""
    bounds: np.ndarray | None = None
    if model is not None:
        try:
            scored = service.score(model, prep)
        except (KeyError, ValueError, TypeError) as exc:
            raise QostuiError(f"model {model.model_id}: does not fit this data ({exc}); train again") from None
        evaluation, predictions, bounds = scored.evaluation, scored.predictions, scored.bounds_mbps
        method, kind = service.SELECTED, "selected"
        if not evaluation.model_has_skill:
            note = evaluation.verdict()
    else:
        # Baselines tuned as `qostui evaluate` does, so both print the same table.
        season = season_steps(series.step_s)
        predictions = {b.label: b.predict(prep.filled_mbps, origins, prep.horizon, season) for b in tuned_baselines(prep)}
        evaluation = evaluate(predictions, prep.targets_mbps(origins), {name: "baseline" for name in predictions})
        method, kind = evaluation.best_baseline, "baseline"
        note = skipped or "no trained model: plots show the best baseline"
    return EvaluationData(
        method=method,
        method_kind=kind,
        best_baseline=evaluation.best_baseline,
        evaluation=evaluation,
        predictions=predictions,
        truth=prep.targets_mbps(origins),
        origin_ts=ts[origins].astype(float),
        step_s=fc.step_s,
        horizon=prep.horizon,
        ts=ts,
        actual_mbps=prep.series.bandwidth_mbps,
        test_start_ts=test_start,
        model_id=saved.model_id if saved is not None else "",
        model_meta=dict(saved.meta) if saved is not None else {},
        note=note,
        source=series.source,
        bounds_mbps=bounds,
    )


# --- plot 1: actual vs predicted ------------------------------------------------------------------


Line = Series  # one line of a plot: the chart layer's series type


@dataclass(frozen=True)
class Band:
    """A prediction interval around a forecast line: lo..hi per time (NaN = none there)."""

    label: str  # e.g. "80% interval (+1 step)"
    ts: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    level: float  # nominal coverage, 0.8 or 0.95


@dataclass(frozen=True)
class ActualVsPredicted:
    title: str
    lines: list[Line]  # the first is the actual series
    ylabel: str = "Mbps"
    note: str = ""  # non-empty: nothing to draw, say this instead
    bands: list[Band] = field(default_factory=list)  # widest first, around the +1 step line

    @property
    def empty(self) -> bool:
        return not self.lines or all(np.isnan(ln.values).all() for ln in self.lines)


def _on_grid(ts: np.ndarray, values: np.ndarray, grid: np.ndarray, step_s: float) -> np.ndarray:
    """Values placed on `grid` (same step), NaN where missing: gaps break lines instead of bridging."""
    out = np.full(len(grid), np.nan)
    if len(grid) == 0 or len(ts) == 0:
        return out
    idx = np.round((ts - grid[0]) / step_s).astype(np.int64)
    keep = (idx >= 0) & (idx < len(grid))
    out[idx[keep]] = values[keep]
    return out


def actual_vs_predicted(ev: EvaluationData, stored_forecasts: Sequence[Any] = ()) -> ActualVsPredicted:
    """The test part: actual bandwidth, the method's 1-step and H-step forecasts, the best baseline's
    1-step forecast beside a model, and forecasts stored by `qostui forecast` in that span."""
    if not ev.ok:
        return ActualVsPredicted("Actual vs predicted bandwidth", [], note=ev.note or "nothing to evaluate")
    H = ev.horizon
    # The span ends where the last scored forecast does: readings after it (a short recording
    # after a long gap, too short for a window) would otherwise push every forecast off the plot.
    end = float(ev.ts[-1])
    if len(ev.origin_ts):
        end = min(end, float(ev.origin_ts[-1]) + (H - 1) * ev.step_s)
    lo = max(ev.test_start_ts, end - MAX_AVP_SPAN_S)  # a long test part is unreadable
    capped = lo > ev.test_start_ts
    sel = (ev.ts >= lo) & (ev.ts <= end)
    grid = ev.ts[sel]
    lines = [Line("actual", grid, ev.actual_mbps[sel])]
    pred = ev.predictions[ev.method]
    name = service.SELECTED if ev.has_model else ev.method
    lines.append(Line(f"{name} +1 step", grid, _on_grid(ev.origin_ts, pred[:, 0], grid, ev.step_s)))
    if H > 1:
        at = ev.origin_ts + (H - 1) * ev.step_s
        lines.append(Line(f"{name} +{H} steps", grid, _on_grid(at, pred[:, H - 1], grid, ev.step_s), "dashed"))
    if ev.has_model and ev.best_baseline in ev.predictions and ev.best_baseline != MODEL_NAME:
        b = ev.predictions[ev.best_baseline]
        lines.append(Line(f"{ev.best_baseline} +1 step", grid, _on_grid(ev.origin_ts, b[:, 0], grid, ev.step_s), "dashed"))
    if stored_forecasts and len(grid):
        hi = float(grid[-1]) + (H + 1) * ev.step_s
        pts = sorted((f.ts, f.predicted_mbps) for f in stored_forecasts if lo <= f.ts < hi)
        if pts:
            arr = np.asarray(pts, dtype=float)
            lines.append(Line("stored forecasts", arr[:, 0], arr[:, 1], "points"))
    bands: list[Band] = []
    if ev.bounds_mbps is not None and len(ev.bounds_mbps) == len(ev.origin_ts):
        for i, level in sorted(enumerate((0.80, 0.95)), key=lambda x: -x[1]):
            b_lo = _on_grid(ev.origin_ts, ev.bounds_mbps[:, i, 0, 0], grid, ev.step_s)
            b_hi = _on_grid(ev.origin_ts, ev.bounds_mbps[:, i, 1, 0], grid, ev.step_s)
            bands.append(Band(f"{level:.0%} interval (+1 step)", grid, b_lo, b_hi, level))
    part = f"last {MAX_AVP_SPAN_S / DAY_S:g} days of the test part" if capped else "test part"
    title = f"Actual vs predicted bandwidth ({part}): {ev.method_title}"
    return ActualVsPredicted(title, lines, bands=bands)


# --- plot 2: loss history ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LossHistory:
    title: str
    epochs: np.ndarray  # 1-based
    loss: np.ndarray
    val_loss: np.ndarray
    best_epoch: int
    loss_name: str = ""
    note: str = ""

    @property
    def empty(self) -> bool:
        return len(self.epochs) == 0


def loss_history(ev: EvaluationData) -> LossHistory:
    """Training and validation loss per epoch from the saved model's metadata."""
    z = np.zeros(0)
    training = ev.model_meta.get("training", {}) if ev.model_meta else {}
    history = training.get("history") or []
    if not ev.model_id or not history:
        why = "no trained model" if not ev.model_id else f"model {ev.model_id} has no loss history"
        note = f"{why}: no loss history"
        if ev.method and not ev.has_model:
            note += f"; forecasts use the best baseline, {ev.method}"
        return LossHistory(f"Training and validation loss: {why}", z, z, z, 0, note=note)
    arr = np.asarray([[math.nan if v is None else float(v) for v in row[:2]] for row in history], dtype=float)
    best = int(training.get("best_epoch", 0) or 0)
    loss_name = str(training.get("loss", ""))
    title = f"Training and validation loss: model {ev.model_id} (best epoch {best})"
    return LossHistory(title, np.arange(1, len(arr) + 1, dtype=float), arr[:, 0], arr[:, 1], best, loss_name)


# --- plot 3: error distribution ---------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorDistribution:
    """Residuals (predicted - actual, Mbps) per horizon step on the test part, binned on shared edges."""

    title: str
    steps: np.ndarray  # 1..H
    edges: np.ndarray  # (bins + 1,)
    counts: np.ndarray  # (H, bins)
    mae: np.ndarray  # (H,)
    bias: np.ndarray  # (H,) mean residual: > 0 means over-forecasting
    n: np.ndarray  # (H,) scored pairs per step
    note: str = ""

    @property
    def empty(self) -> bool:
        return len(self.steps) == 0 or int(self.n.sum()) == 0

    def selected_steps(self, k: int = 4) -> list[int]:
        """A few representative steps (1-based), the same as the metrics table: 1, 3, 6 and H."""
        H = len(self.steps)
        if H == 0:
            return []
        picks = sorted({1, min(3, H), min(6, H), H})  # the steps the metrics table shows
        if k >= len(picks):
            return picks
        return [1, H] if k >= 2 else [1]

    @property
    def centers(self) -> np.ndarray:
        return (self.edges[:-1] + self.edges[1:]) / 2


def error_distribution(ev: EvaluationData, bins: int = HIST_BINS) -> ErrorDistribution:
    z = np.zeros(0)
    if not ev.ok:
        return ErrorDistribution("Forecast error distribution", z, z, np.zeros((0, 0)), z, z, z,
                                 note=ev.note or "nothing to evaluate")  # fmt: skip
    res = ev.predictions[ev.method] - ev.truth
    finite = res[np.isfinite(res)]
    H = res.shape[1]
    if len(finite) == 0:
        return ErrorDistribution("Forecast error distribution", z, z, np.zeros((0, 0)), z, z, z,
                                 note="no scored test points")  # fmt: skip
    # Clip the range at the 0.5/99.5 percentiles so one spike does not squash every bar into one bin;
    # the outer bins then count everything beyond.
    lo, hi = np.percentile(finite, [0.5, 99.5])
    if not hi > lo:
        lo, hi = lo - 1.0, hi + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    counts = np.zeros((H, bins), dtype=np.int64)
    mae, bias, n = np.full(H, np.nan), np.full(H, np.nan), np.zeros(H, dtype=np.int64)
    for h in range(H):
        r = res[:, h]
        r = r[np.isfinite(r)]
        n[h] = len(r)
        if len(r):
            counts[h] = np.histogram(np.clip(r, lo, hi), bins=edges)[0]
            mae[h] = float(np.mean(np.abs(r)))
            bias[h] = float(np.mean(r))
    title = f"Forecast error (predicted - actual) per horizon step: {ev.method_title}"
    return ErrorDistribution(title, np.arange(1, H + 1), edges, counts, mae, bias, n)


# --- plot 4: feature correlation --------------------------------------------------------------------


@dataclass(frozen=True)
class Correlation:
    title: str
    names: list[str]  # e.g. "bw", "rtt 10.0.0.1"
    matrix: np.ndarray  # (k, k) Pearson r over steps where both are known; NaN when undefined
    n_steps: int
    step_s: float
    note: str = ""

    @property
    def empty(self) -> bool:
        return len(self.names) < 2


def _data_range(store: Store, since: float | None, until: float | None) -> tuple[float, float] | None:
    ranges = [r for r in (store.time_range("bandwidth"), store.time_range("ping")) if r is not None]
    if not ranges:
        return None
    lo = min(r[0] for r in ranges)
    hi = max(r[1] for r in ranges)
    if since is not None:
        lo = max(lo, since)
    if until is not None:
        hi = min(hi, until)
    return (lo, hi) if hi >= lo else None


def _target_columns(
    store: Store, targets: Sequence[str], step: float, lo: float, hi: float, limit: int
) -> tuple[list[tuple[str, str, np.ndarray]], int]:
    """(series, target, values) for the `limit` targets with the most RTT bins; how many were left out."""
    rtt: dict[str, np.ndarray] = {}
    for t in targets:
        _, v = store.resample("rtt_avg_ms", step, since=lo, until=hi, target=t)
        rtt[t] = v
    ranked = sorted(targets, key=lambda t: (-int(np.count_nonzero(np.isfinite(rtt[t]))), t))
    chosen = sorted(ranked[:limit])
    cols: list[tuple[str, str, np.ndarray]] = []
    for t in chosen:
        for name in PING_SERIES:
            if name == "rtt_avg_ms":
                v = rtt[t]
            else:
                _, v = store.resample(name, step, since=lo, until=hi, target=t)
            cols.append((name, t, v))
    return cols, max(len(targets) - limit, 0)


def _pairwise_corr(cols: np.ndarray) -> np.ndarray:
    """Pearson r per pair over rows where both are finite; NaN for constant or too-short pairs."""
    k = cols.shape[1]
    out = np.full((k, k), np.nan)
    for i in range(k):
        for j in range(i, k):
            ok = np.isfinite(cols[:, i]) & np.isfinite(cols[:, j])
            if ok.sum() < 3:
                continue
            a, b = cols[ok, i], cols[ok, j]
            sa, sb = a.std(), b.std()
            if sa < 1e-12 or sb < 1e-12:
                continue
            r = float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))
            out[i, j] = out[j, i] = max(-1.0, min(1.0, r))
    return out


def correlation(store: Store, config: Config, *, since: float | None = None, until: float | None = None) -> Correlation:
    """Bandwidth and latency/jitter/loss per target on the forecast step grid (the features the
    model sees), or on a finer grid when the data is too short for that to give MIN_CORR_STEPS."""
    span = _data_range(store, since, until)
    step = config.forecast.step_s
    if span is not None and span[1] - span[0] < MIN_CORR_STEPS * step:
        step = min(step, nice_step(span[1] - span[0], MIN_CORR_STEPS, min_step_s=config.interval_s))
    title = f"Feature correlation (Pearson r, {_fmt_step(step)} steps)"
    if span is None:
        return Correlation(title, [], np.zeros((0, 0)), 0, step, note="no data")
    lo, hi = span[0], span[1] + step  # include the newest sample's bin
    targets = store.targets()
    names: list[str] = []
    cols: list[np.ndarray] = []
    _, bw = store.resample("bandwidth_mbps", step, since=lo, until=hi)
    if not np.isnan(bw).all():
        names.append("bw")
        cols.append(bw)
    target_cols, dropped = _target_columns(store, targets, step, lo, hi, MAX_CORR_TARGETS)
    for series, t, v in target_cols:
        if len(v) and not np.isnan(v).all():
            names.append(f"{SHORT[series]} {t}")
            cols.append(v)
    note = ""
    if not targets or len(names) == sum(n == "bw" for n in names):
        note = "no latency data"
    elif dropped:
        note = f"{dropped} more target(s) not shown (the {MAX_CORR_TARGETS} with most rounds are)"
    if not cols:
        return Correlation(title, [], np.zeros((0, 0)), 0, step, note=note or "no data")
    m = np.column_stack(cols)
    n_steps = int(np.count_nonzero(np.isfinite(m).any(axis=1)))
    matrix = _pairwise_corr(m) if len(names) >= 2 else np.ones((1, 1))
    off_diagonal = matrix[~np.eye(len(names), dtype=bool)]
    if len(names) >= 2 and not note and not np.isfinite(off_diagonal).any():
        note = f"too few steps with data to correlate ({n_steps})"
    return Correlation(title, names, matrix, n_steps, step, note=note)


# --- plot 5: multi-target comparison ----------------------------------------------------------------


@dataclass(frozen=True)
class TargetSeries:
    target: str
    ts: np.ndarray
    rtt_avg_ms: np.ndarray
    loss_pct: np.ndarray


@dataclass(frozen=True)
class MultiTarget:
    title: str
    step_s: float
    targets: list[TargetSeries]
    note: str = ""

    @property
    def empty(self) -> bool:
        return not self.targets


def nice_step(span_s: float, max_points: int = MAX_TIME_POINTS, min_step_s: float = 1.0) -> float:
    """The smallest round step giving at most `max_points` bins over `span_s`."""
    want = max(span_s / max(max_points, 1), min_step_s)
    for s in NICE_STEPS_S:
        if s >= want:
            return float(s)
    return float(math.ceil(want / 86400.0) * 86400)


def multi_target(
    store: Store, config: Config, *, since: float | None = None, until: float | None = None, max_points: int = MAX_TIME_POINTS
) -> MultiTarget:
    """RTT and loss of every target on one shared time grid."""
    span = None
    pr = store.time_range("ping")
    if pr is not None:
        lo = pr[0] if since is None else max(pr[0], since)
        hi = pr[1] if until is None else min(pr[1], until)
        span = (lo, hi) if hi >= lo else None
    if span is None or not store.targets():
        return MultiTarget("RTT and loss per target", 0.0, [], note="no latency data")
    step = nice_step(span[1] - span[0], max_points, min_step_s=min(config.interval_s, 60.0))
    lo, hi = span[0], span[1] + step
    out: list[TargetSeries] = []
    for t in store.targets():
        ts, rtt = store.resample("rtt_avg_ms", step, since=lo, until=hi, target=t)
        _, loss = store.resample("loss_pct", step, since=lo, until=hi, target=t)
        if len(ts) and not (np.isnan(rtt).all() and np.isnan(loss).all()):
            out.append(TargetSeries(t, ts, rtt, loss))
    if not out:
        return MultiTarget("RTT and loss per target", step, [], note="no latency data")
    return MultiTarget(f"RTT and loss per target ({_fmt_step(step)} means)", step, out)


# --- everything at once -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportData:
    source: str
    since: float | None
    until: float | None
    counts: dict[str, int]
    evaluation: EvaluationData
    actual_vs_predicted: ActualVsPredicted
    loss_history: LossHistory
    error_distribution: ErrorDistribution
    correlation: Correlation
    multi_target: MultiTarget
    made_at: float = field(default_factory=time.time)

    def plots(self) -> list[tuple[str, Any]]:
        """(file stem, plot data) in report order; PLOTS gives their display names."""
        return [
            ("actual_vs_predicted", self.actual_vs_predicted),
            ("loss_history", self.loss_history),
            ("error_distribution", self.error_distribution),
            ("correlation", self.correlation),
            ("multi_target", self.multi_target),
        ]


def report_data(
    store: Store,
    config: Config,
    *,
    since: float | None = None,
    until: float | None = None,
    model_id: str | None = None,
    source: str = "",
) -> ReportData:
    saved = load_saved_model(config, model_id)
    ev = evaluation_data(store, config, since=since, until=until, saved=saved, use_saved=saved is not None)
    stored: list[Any] = []
    if ev.ok:
        stored = store.forecasts(since=ev.test_start_ts)
    return ReportData(
        source=source or str(store.path),
        since=since,
        until=until,
        counts=store.counts(),
        evaluation=ev,
        actual_vs_predicted=actual_vs_predicted(ev, stored),
        loss_history=loss_history(ev),
        error_distribution=error_distribution(ev),
        correlation=correlation(store, config, since=since, until=until),
        multi_target=multi_target(store, config, since=since, until=until),
    )


def plot_data(
    stem: str,
    store: Store,
    config: Config,
    *,
    since: float | None = None,
    until: float | None = None,
    evaluation: EvaluationData | None = None,
) -> Any:
    """One plot's data by its id (see PLOTS): what a TUI view needs without computing all five.

    Plots 1-3 share `evaluation`; pass it in to avoid scoring the model again for each view.
    """
    if stem in ("actual_vs_predicted", "loss_history", "error_distribution"):
        ev = evaluation or evaluation_data(store, config, since=since, until=until)
        if stem == "actual_vs_predicted":
            return actual_vs_predicted(ev, store.forecasts(since=ev.test_start_ts) if ev.ok else ())
        return loss_history(ev) if stem == "loss_history" else error_distribution(ev)
    if stem == "correlation":
        return correlation(store, config, since=since, until=until)
    if stem == "multi_target":
        return multi_target(store, config, since=since, until=until)
    raise ValueError(f"unknown plot {stem!r} (expected one of: {', '.join(s for s, _ in PLOTS)})")


def since_from_latest(store: Store, duration_s: float) -> float | None:
    """`--since 7d`: the last 7 days *of the data* (a store filled from an old file still reports)."""
    ends = [r[1] for r in (store.time_range("bandwidth"), store.time_range("ping")) if r is not None]
    return max(ends) - duration_s if ends else None


def _fmt_step(step_s: float) -> str:
    if step_s >= 3600 and step_s % 3600 == 0:
        return f"{int(step_s // 3600)} h"
    if step_s >= 60 and step_s % 60 == 0:
        return f"{int(step_s // 60)} min"
    return f"{step_s:g} s"
