"""`f`: the last hours of bandwidth and the forecast of the next horizon, on one plotext chart.

The forecast comes from `qostui.forecast.forecaster.Forecaster` (numpy only, the same code as
`qostui forecast`): the saved model (its LSTM, or its best baseline when the LSTM has no skill),
or without a model the best baseline on the history. The baselines' forecasts can be overlaid
(`b`), and forecasts stored earlier are drawn as points against what really happened.

When the forecast carries prediction intervals (80% and 95% bounds), they are shaded under the
lines; without them the view says so. The current forecast's own bounds are used, else those of
the newest stored forecast for the coming steps. A coverage line says how often the bounds of past
forecasts held against the recorded bandwidth (`qostui.forecast.coverage`, in its own worker,
again whenever the data gains a step).

Store reads and the forecast run in a thread worker; the chart is drawn on the UI thread.
The view refreshes as rounds arrive (at most once a second); when the data gains a new step the
new forecast is stored, like `qostui forecast` would. `F` forecasts and stores now.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Static

from qostui.charts import PALETTE, clock_stamp, rich_color, span_text
from qostui.errors import QostuiError
from qostui.records import BandwidthSample, Forecast, Record
from qostui.ui.band_chart import BAND_COLOR, BAND_SHADES, Band, BandedPlot, render_banded
from qostui.ui.keys import bindings_for
from qostui.ui.screens.base import QostuiScreen, one_line
from qostui.ui.screens.training import fmt_s
from qostui.ui.widgets.footer import KeysFooter
from qostui.ui.widgets.header import HeaderBar
from qostui.ui.widgets.plot_view import PlotView

if TYPE_CHECKING:
    from qostui.forecast.coverage import Coverage
    from qostui.forecast.forecaster import Forecaster, ForecastResult
    from qostui.store import Store
    from qostui.ui.app import QostuiApp
    from qostui.ui.model import Changes

SHOW_HISTORY_S = 6 * 3600.0  # "the last hours" of actual bandwidth on the chart
MIN_REFRESH_S = 1.0  # a round every 0.3 s must not re-read the store every 0.3 s
COVERAGE_WINDOW_S = 7 * 86400.0  # past forecasts scored: a week of them (a few 10 000 rows at most)


@dataclass
class ForecastView:
    """Everything the chart and the text lines need, computed in the worker."""

    result: ForecastResult
    hist_ts: np.ndarray
    hist_mbps: np.ndarray
    baselines: dict[str, np.ndarray] = field(default_factory=dict)  # label -> (h,) Mbps
    past_ts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    past_mbps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    past_mae: float = math.nan
    past_n: int = 0
    model_line: str = ""
    step_s: float = 300.0
    stored: int = 0  # forecasts written by this computation
    band: list[Forecast] = field(default_factory=list)  # the forecast whose intervals are shaded; [] none
    band_from: str = ""  # "" the current forecast, else which stored one ("lstm-x made 10:05", the clock rule)


def has_bounds(f: Forecast) -> bool:
    return f.predicted_lo_mbps is not None or f.predicted_lo95_mbps is not None


def interval_forecast(current: Sequence[Forecast], stored: Sequence[Forecast]) -> tuple[list[Forecast], str]:
    """The forecast whose intervals the chart shades and where it is from: the current one when it
    has bounds, else the newest stored forecast of the coming steps (`stored`) when that has them."""
    if any(has_bounds(f) for f in current):
        return list(current), ""
    if not stored:
        return [], ""
    newest = max(stored, key=lambda f: f.made_at)
    run = sorted((f for f in stored if (f.made_at, f.model) == (newest.made_at, newest.model)), key=lambda f: f.step)
    if not any(has_bounds(f) for f in run):
        return [], ""
    return run, f"{newest.model} made {clock_stamp(newest.made_at)}"


def interval_bands(run: Sequence[Forecast], anchor_ts: float, anchor_mbps: float, step_s: float) -> tuple[Band, ...]:
    """The 95% band, then the 80% one (drawn in that order, so the inner one shows). A forecast made
    from the last reading starts its bands there, as its line does."""
    ts = np.array([f.ts for f in run], dtype=float)
    start = len(ts) > 0 and abs(ts[0] - step_s - anchor_ts) < step_s / 2
    bands = []
    for label, lo_name, hi_name in (("95%", "predicted_lo95_mbps", "predicted_hi95_mbps"),
                                    ("80%", "predicted_lo_mbps", "predicted_hi_mbps")):  # fmt: skip
        lo = np.array([getattr(f, lo_name) for f in run], dtype=float)  # None (no bound) -> NaN
        hi = np.array([getattr(f, hi_name) for f in run], dtype=float)
        if not (np.isfinite(lo) & np.isfinite(hi)).any():
            continue
        if start:
            bands.append(Band(label, np.r_[anchor_ts, ts], np.r_[anchor_mbps, lo], np.r_[anchor_mbps, hi]))
        else:
            bands.append(Band(label, ts, lo, hi))
    return tuple(bands)


@contextlib.contextmanager
def open_store(app: QostuiApp, store: Store | None = None) -> Iterator[Store | None]:
    """The given store, else the live pipeline's, else the configured file opened for this read
    (None when there is none yet). For worker threads: the Store serialises its own access."""
    store = store or app.store
    if store is not None:
        yield store
        return
    path = app.config.store.resolved_path()
    if not path.exists():
        yield None
        return
    from qostui.store import Store

    opened = Store(path)
    try:
        yield opened
    finally:
        opened.close()


def model_summary(forecaster: Forecaster, result: ForecastResult, now: float) -> str:
    """The model in use, its age and skill, in one line."""
    saved = forecaster.saved
    if saved is None:
        return f"{result.reason} (t: train)"
    meta = saved.meta
    age = fmt_s(now - float(meta.get("created_at", now)))
    ev = meta.get("evaluation", {})
    model = next((m for m in ev.get("methods", []) if m.get("kind") == "model"), None)
    skill = model.get("skill") if model else None
    skill_txt = f"skill {skill:+.3f} vs {ev.get('best_baseline', '?')}" if isinstance(skill, (int, float)) else "skill -"
    using = "its LSTM" if result.method == "lstm" else f"baseline {result.model.removeprefix('baseline:')}"
    return f"model {saved.model_id}, {age} old, {skill_txt}; forecasts use {using}"


class ForecastScreen(QostuiScreen):
    class CoverageScored(Message):
        """The coverage of past forecasts, from the worker (None and a one-line error if it failed)."""

        def __init__(self, coverage: Coverage | None, error: str) -> None:
            super().__init__()
            self.coverage = coverage
            self.error = error

    CSS_PATH = "forecast.tcss"
    BINDINGS = bindings_for("forecast", "views")
    view_name = "forecast"

    def __init__(self, *, store: Store | None = None, clock: Callable[[], float] | None = None) -> None:
        """`store`/`clock` default to the app's; tests pass a fixed store and clock."""
        super().__init__(id="forecast")
        self._store = store
        self._clock = clock or time.time
        self.show_baselines = True
        self.view: ForecastView | None = None
        self.lines: list[Any] = []  # the chart's lines with their labels (tests read them)
        self.bands: tuple[Band, ...] = ()  # the shaded intervals on the chart (tests read them)
        self.coverage: Coverage | None = None
        self.coverage_error = ""
        self.coverage_runs = 0  # finished scorings (tests wait on it)
        self._scored_end: float | None = None
        self.error = ""
        self.computes = 0  # finished computations (tests wait on it)
        self.stored_total = 0
        self._forecaster: Forecaster | None = None
        self._forecaster_key: tuple[str, str] | None = None
        self._last_end_ts: float | None = None
        self._last_start = 0.0
        self._busy = False
        self._pending: tuple[bool | None] | None = None  # a request that came in while busy

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        yield Static(id="fc-info")
        yield PlotView(id="fc-chart", message="forecasting…")
        yield Static(id="fc-summary")
        yield Static(id="fc-coverage")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.refresh_forecast(store=False)

    # --- keys and the palette ------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reforecast(self) -> None:
        self.refresh_forecast(store=True)
        self.app.notify("forecasting now; the new forecasts are stored", timeout=1.5)

    def action_toggle_baselines(self) -> None:
        self.show_baselines = not self.show_baselines
        self.redraw()
        self.app.notify(f"baselines {'shown' if self.show_baselines else 'hidden'}", timeout=1.5)

    def system_commands(self) -> Iterator[Any]:
        from textual.app import SystemCommand

        yield SystemCommand("Re-forecast now", "F: forecast and store", self.action_reforecast)
        yield SystemCommand("Toggle baselines", "b: show / hide the baselines' forecasts", self.action_toggle_baselines)

    # --- refreshing ----------------------------------------------------------------------------
    def records_arrived(self, records: list[Record], changes: Changes) -> None:
        """Every round: forecast again (throttled); new bandwidth steps get stored."""
        if not any(isinstance(r, BandwidthSample) for r in records) and self.view is not None:
            return
        if time.monotonic() - self._last_start >= MIN_REFRESH_S:
            self.refresh_forecast(store=None)

    def refresh_forecast(self, store: bool | None) -> None:
        """store: True always stores, None stores when the data gained a step, False never."""
        if self._busy:  # run once more when this one ends; the strongest request wins
            rank = {False: 0, None: 1, True: 2}
            if self._pending is None or rank[store] > rank[self._pending[0]]:
                self._pending = (store,)
            return
        self._busy = True
        self._last_start = time.monotonic()
        self._compute(store)

    def _open_store(self) -> contextlib.AbstractContextManager[Store | None]:
        return open_store(self.app, self._store)

    def _load_forecaster(self) -> Forecaster:
        """The LATEST model (reloaded when training saved a new one)."""
        from qostui.forecast.forecaster import Forecaster
        from qostui.forecast.model_store import latest_model_id

        cfg = self.app.config.forecast
        key = (str(cfg.resolved_model_dir()), latest_model_id(cfg.resolved_model_dir()) or "")
        if self._forecaster is None or key != self._forecaster_key:
            self._forecaster = Forecaster.load(cfg)
            self._forecaster_key = key
        return self._forecaster

    @work(thread=True, exclusive=True, group="forecast", exit_on_error=False)
    def _compute(self, store_it: bool | None) -> None:
        try:
            view = self._forecast(store_it)
        except Exception as exc:  # one line on screen, never a traceback
            self.app.call_from_thread(self._done, None, one_line(exc))
        else:
            self.app.call_from_thread(self._done, view, "")

    def _forecast(self, store_it: bool | None) -> ForecastView:
        from qostui.forecast.baselines import ROLLING_STEPS, Baseline
        from qostui.forecast.dataset import fill_short_gaps, season_steps
        from qostui.forecast.source import series_from_store

        cfg = self.app.config.forecast
        with self._open_store() as store:
            if store is None:
                raise QostuiError(
                    f"{self.app.config.store.resolved_path()}: no store yet; record or `qostui import FILE` first"
                )
            forecaster = self._load_forecaster()
            span = store.time_range("bandwidth")
            if span is None:
                raise QostuiError("no bandwidth data yet: the forecast needs bandwidth samples (record or import some)")
            since = None
            if forecaster.saved is not None or forecaster.baseline is not None:
                # as `qostui forecast`: enough recent history for the window and any baseline
                window = forecaster.window if forecaster.saved is not None else cfg.sequence_length
                since = span[1] - (max(ROLLING_STEPS) + season_steps(cfg.step_s) + window + 16) * cfg.step_s
            series = series_from_store(store, cfg, since=since).trimmed()
            now = self._clock()
            result = forecaster.forecast(series, now=now)
            end = result.data_end_ts
            h = len(result.forecasts)
            stored = 0
            due = store_it is True or (store_it is None and self._last_end_ts is not None and end > self._last_end_ts)
            if due:
                store.write(result.forecasts)
                stored = len(result.forecasts)
            self._last_end_ts = end if self._last_end_ts is None else max(self._last_end_ts, end)
            lo = end - SHOW_HISTORY_S
            keep = series.ts >= lo
            values = fill_short_gaps(series.bandwidth_mbps, cfg.max_gap_steps)
            season = season_steps(series.step_s)
            baselines: dict[str, np.ndarray] = {}
            candidates: list[Baseline] = []
            if forecaster.saved is not None:
                candidates = [Baseline.from_dict(b) for b in forecaster.saved.meta.get("baselines", [])]
            elif forecaster.baseline is not None:
                candidates = [forecaster.baseline, Baseline("persistence")]
            for b in candidates:
                label = f"baseline:{b.label}"
                if label == result.model or b.label in baselines:
                    continue
                with contextlib.suppress(ValueError, IndexError):
                    baselines[b.label] = b.predict(values, np.array([len(values)]), h, season)[0]
            past = store.forecasts(since=lo, until=end + cfg.step_s / 2)
            band, band_from = interval_forecast(result.forecasts, store.forecasts(since=end + cfg.step_s / 2))
        # one point per time: the forecast made closest to it (its smallest step)
        best: dict[float, tuple[int, float]] = {}
        for f in past:
            if f.ts not in best or f.step < best[f.ts][0]:
                best[f.ts] = (f.step, f.predicted_mbps)
        past_ts = np.array(sorted(best), dtype=float)
        past_mbps = np.array([best[t][1] for t in past_ts], dtype=float)
        past_mae, past_n = math.nan, 0
        if len(past_ts):
            idx = np.round((past_ts - series.ts[0]) / series.step_s).astype(np.int64)
            ok = (idx >= 0) & (idx < len(series))
            truth = np.full(len(past_ts), np.nan)
            truth[ok] = series.bandwidth_mbps[idx[ok]]
            known = ~np.isnan(truth)
            if known.any():
                past_mae, past_n = float(np.mean(np.abs(past_mbps[known] - truth[known]))), int(known.sum())
        return ForecastView(
            result=result,
            hist_ts=series.ts[keep],
            hist_mbps=series.bandwidth_mbps[keep],
            baselines=baselines,
            past_ts=past_ts,
            past_mbps=past_mbps,
            past_mae=past_mae,
            past_n=past_n,
            model_line=model_summary(forecaster, result, now),
            step_s=series.step_s,
            stored=stored,
            band=band,
            band_from=band_from,
        )

    @work(thread=True, exclusive=True, group="coverage", exit_on_error=False)
    def _score_past(self, end: float, step_s: float) -> None:
        """Coverage of the forecasts stored for the last week up to `end`, against the recorded data."""
        from qostui.forecast.coverage import coverage_from_store

        try:
            with self._open_store() as store:
                if store is None:
                    raise QostuiError("no store yet")
                cov = coverage_from_store(store, step_s, since=end - COVERAGE_WINDOW_S, until=end + step_s,
                                          complete_before=self._clock())  # fmt: skip
        except Exception as exc:  # one line on screen, never a traceback
            self.post_message(self.CoverageScored(None, one_line(exc)))
        else:
            self.post_message(self.CoverageScored(cov, ""))

    def on_forecast_screen_coverage_scored(self, message: CoverageScored) -> None:
        self.coverage, self.coverage_error = message.coverage, message.error
        self.coverage_runs += 1
        if self.view is not None:  # only its line changes: the chart is not drawn again
            self.query_one("#fc-coverage", Static).update(self._coverage_text())

    def _done(self, view: ForecastView | None, error: str) -> None:
        self._busy = False
        self.computes += 1
        self.error = error
        if view is not None:
            self.view = view
            self.stored_total += view.stored
            end = view.result.data_end_ts
            if self._scored_end is None or end > self._scored_end:  # new actuals: score again
                self._scored_end = end
                self._score_past(end, view.step_s)
        self.redraw()
        if self._pending is not None:
            (again,), self._pending = self._pending, None
            self.refresh_forecast(store=again)

    # --- drawing -------------------------------------------------------------------------------
    def redraw(self) -> None:
        from qostui.report.data import ActualVsPredicted, Line

        info = self.query_one("#fc-info", Static)
        chart = self.query_one("#fc-chart", PlotView)
        summary = self.query_one("#fc-summary", Static)
        coverage = self.query_one("#fc-coverage", Static)
        v = self.view
        if v is None:
            info.update(Text(self.error or "forecasting…", style="red" if self.error else "dim"))
            chart.show_message(self.error and "no forecast: " + self.error)
            summary.update("")
            coverage.update("")
            return
        r = v.result
        fts = np.array([f.ts for f in r.forecasts], dtype=float)
        fv = np.array([f.predicted_mbps for f in r.forecasts], dtype=float)
        # each forecast line starts at the last reading, so it continues the actual series
        anchor_ts, anchor_v = float(v.hist_ts[-1]), float(v.hist_mbps[-1])
        name = "LSTM" if r.method == "lstm" else r.model.removeprefix("baseline:")
        lines = [
            Line("actual", v.hist_ts, v.hist_mbps),
            Line(f"forecast ({name})", np.concatenate([[anchor_ts], fts]), np.concatenate([[anchor_v], fv])),
        ]
        if self.show_baselines:
            for label, pred in v.baselines.items():
                lines.append(Line(label, np.concatenate([[anchor_ts], fts]), np.concatenate([[anchor_v], pred]), "dashed"))
        if len(v.past_ts):
            lines.append(Line("past forecasts", v.past_ts, v.past_mbps, "points"))
        # the window is what the data holds (at most SHOW_HISTORY_S), never "last 0 h"
        shown_s = float(v.hist_ts[-1] - v.hist_ts[0]) if len(v.hist_ts) > 1 else 0.0
        past = f"last {span_text(shown_s + v.step_s)}" if shown_s > 0 else "the latest step"
        title = f"bandwidth Mbps: {past} and the next {len(fv)} steps of {v.step_s / 60:g} min"
        self.bands = interval_bands(v.band, anchor_ts, anchor_v, v.step_s)
        # plotext's legend box would hide the newest data (top left); a legend line goes above instead
        legend = Text(no_wrap=True, overflow="ellipsis")
        for i, ln in enumerate(lines):
            color = "red" if ln.style == "points" else rich_color(PALETTE[i % len(PALETTE)])
            mark = {"points": "x", "dashed": "┄"}.get(ln.style, "━")
            legend.append("  " if i else "")
            legend.append(mark, style=color)
            legend.append(f" {ln.label}")
            if i == 1:  # the bands (inner one first) right after their forecast: the legend is cut at the right
                for band in reversed(self.bands):
                    legend.append("  ")
                    legend.append(BAND_SHADES[band.label] * 2, style=BAND_COLOR)
                    legend.append(f" {band.label}")
        if self.bands and v.band_from:
            legend.append(f"  (intervals: {v.band_from})", style="dim")
        self.lines = lines
        plot = ActualVsPredicted(title, [replace(ln, label="") for ln in lines])
        chart.show(BandedPlot(plot, self.bands), render_banded)

        head = Text(no_wrap=False)
        head.append(v.model_line)
        head.append("\n")
        head.append_text(legend)
        if self.error:
            head.append(f"  (last refresh failed: {self.error})", style="red")
        info.update(head)
        s = Text(no_wrap=False)
        s.append(f"next {len(fv)}: ", style="bold")
        s.append(f"{fv.min():.1f}–{fv.max():.1f} Mbps, mean {fv.mean():.1f}")
        s.append(f"  from {clock_stamp(fts[0])}", style="dim")
        if len(v.past_ts):
            mae = f"MAE {v.past_mae:.1f} Mbps on {v.past_n}" if v.past_n else "none due yet"
            s.append(f"  past forecasts: {len(v.past_ts)} ({mae})", style="")
        s.append(f"  baselines {'on' if self.show_baselines else 'off'} (b)", style="dim")
        if v.stored:
            s.append(f"  stored {v.stored}", style="green")
        summary.update(s)
        coverage.update(self._coverage_text())

    def _coverage_text(self) -> Text:
        """'past forecasts: 80% band held 78% (n=123), 95% held 94%; ...', and whether intervals exist."""
        t = Text(no_wrap=False)
        if not self.bands:
            t.append("intervals not available", style="yellow")
            t.append(" (the forecasts carry no 80%/95% bounds)  ", style="dim")
        if self.coverage_error:
            t.append(f"past forecasts: cannot score them: {self.coverage_error}", style="red")
        elif self.coverage is None:
            t.append("past forecasts: scoring…", style="dim")
        else:
            t.append(self.coverage.summary())
            window = f" (last {COVERAGE_WINDOW_S / 86400:g} d)"
            if self.coverage.overall.n and len(t) + len(window) <= self.size.width - 2:  # one line at 80 columns
                t.append(window, style="dim")
        return t
