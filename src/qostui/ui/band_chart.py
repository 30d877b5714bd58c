"""An actual-vs-predicted chart with shaded prediction-interval bands (the forecast view's chart).

The bands are filled areas between lo and hi, drawn first so every line stays on top: the 95%
band with a light shade (░), the 80% band inside it with a denser one (▒), so the two read apart
in any theme and without colour. Everything else (lines, colours, axes, time ticks) is the
report's terminal renderer's (`qostui.report.terminal`), reused rather than repeated; without
bands the report's own renderer draws the chart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qostui.report.data import ActualVsPredicted

BAND_COLOR = "blue"  # no line uses it before the 7th; shade characters carry the meaning in monochrome
BAND_SHADES = {"80%": "▒", "95%": "░"}


@dataclass(frozen=True)
class Band:
    label: str  # "80%" | "95%" (a key of BAND_SHADES)
    ts: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


@dataclass(frozen=True)
class BandedPlot:
    """`plot` with `bands` under its lines (outer bands first)."""

    plot: ActualVsPredicted
    bands: tuple[Band, ...] = ()

    @property
    def lines(self) -> list:  # type: ignore[type-arg]
        return self.plot.lines


def _draw_band(plt, f, band: Band, columns: int) -> None:  # type: ignore[no-untyped-def]
    ok = np.isfinite(band.ts) & np.isfinite(band.lo) & np.isfinite(band.hi)
    ts, lo, hi = band.ts[ok], band.lo[ok], band.hi[ok]
    if len(ts) < 2:
        return
    # one point per column at least: the fill is vertical stems from hi down to lo at each point
    xs = np.linspace(ts[0], ts[-1], max(2, columns))
    marker = plt.marker(BAND_SHADES.get(band.label, "░"), plt.pixel(foreground=BAND_COLOR))
    top = f.signal(xs.tolist(), np.interp(xs, ts, hi).tolist(), marker=marker)
    bottom = f.signal(xs.tolist(), np.interp(xs, ts, lo).tolist(), marker=marker)
    top.fill(bottom)
    top.density("full")  # every cell between the bounds, no gaps on steep steps
    f.draw(top)


def render_banded(data: BandedPlot, width: int = 80, height: int = 24, color: bool = True) -> str:
    """Like `report.terminal.render` for an ActualVsPredicted, with the bands shaded under the lines."""
    from qostui.report import terminal as t

    d = data.plot
    if not data.bands or d.empty:
        return t.render(d, width, height, color)
    with t._LOCK:
        plt = t._plotext()
        plt.terminal.limit(False, False)  # the caller chose the size
        try:
            f = t._start(plt, width, height, t._short_title(d.title, width), color)
            all_ts = np.concatenate([ln.ts for ln in d.lines])
            lo, hi = float(np.nanmin(all_ts)), float(np.nanmax(all_ts))
            for band in data.bands:
                # columns the band spans on the chart (the plot area is a little narrower than width)
                share = (float(np.nanmax(band.ts)) - float(np.nanmin(band.ts))) / (hi - lo) if hi > lo else 1.0
                _draw_band(plt, f, band, int(np.ceil(2 * width * min(1.0, share))) + 2)
            for i, ln in enumerate(d.lines):  # as report.terminal.render_actual_vs_predicted draws them
                c = t.COLORS[i % len(t.COLORS)] if ln.style != "points" else "red"
                xs, ys = (ln.ts, ln.values) if ln.style == "points" else t.decimate(ln.ts, ln.values, 2 * width)
                t._draw_line(plt, f, xs, ys, ln.label, c, connect=ln.style != "points",
                             symbol="x" if ln.style == "points" else ("dot" if ln.style == "dashed" else "hd"))  # fmt: skip
            f.ruler("x").lim(lo, hi)
            f.ruler("x").ticks(*t._time_ticks(lo, hi, max(2, min(8, width // 14))))
            f.label(d.ylabel, "y")
            return t._finish(plt, f, color)
        finally:
            plt.terminal.limit(True, True)  # plotext's default, which other charts expect
