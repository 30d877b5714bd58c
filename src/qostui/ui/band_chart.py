"""An actual-vs-predicted chart with shaded prediction-interval bands (the forecast view's chart).

The bands are filled areas between lo and hi, drawn first so every line stays on top: the 95%
band with a light shade (░), the 80% band inside it with a denser one (▒), so the two read apart
in any theme and without colour. A band is a chart-layer line with a lower edge (`charts.Line`
with `fill_to`), drawn by the layer under the report's actual-vs-predicted chart
(`report.terminal.render_actual_vs_predicted`), so lines, colours, axes and the clock are the
report's; without bands the report's own renderer draws the chart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qostui.charts import PLOT_LOCK, Line, plotext
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


def band_line(band: Band, columns: int) -> Line | None:
    """The band as a filled chart-layer line, resampled to about one point per column: the layer
    fills a stem from hi down to lo at each point, so a coarse forecast step would leave gaps."""
    ok = np.isfinite(band.ts) & np.isfinite(band.lo) & np.isfinite(band.hi)
    ts, lo, hi = band.ts[ok], band.lo[ok], band.hi[ok]
    if len(ts) < 2:
        return None
    xs = np.linspace(ts[0], ts[-1], max(2, columns))
    return Line(xs.tolist(), np.interp(xs, ts, hi).tolist(), "", BAND_COLOR,
                marker=BAND_SHADES.get(band.label, "░"), fill_to=np.interp(xs, ts, lo).tolist())  # fmt: skip


def render_banded(data: BandedPlot, width: int = 80, height: int = 24, color: bool = True) -> str:
    """Like `report.terminal.render` for an ActualVsPredicted, with the bands shaded under the lines."""
    from qostui.report import terminal

    d = data.plot
    if not data.bands or d.empty:
        return terminal.render(d, width, height, color)
    all_ts = np.concatenate([ln.ts for ln in d.lines])
    lo, hi = float(np.nanmin(all_ts)), float(np.nanmax(all_ts))
    under = []
    for band in data.bands:
        # columns the band spans on the chart (two dots a cell; the plot area is a little narrower)
        share = (float(np.nanmax(band.ts)) - float(np.nanmin(band.ts))) / (hi - lo) if hi > lo else 1.0
        line = band_line(band, int(np.ceil(2 * width * min(1.0, share))) + 2)
        if line is not None:
            under.append(line)
    with PLOT_LOCK:
        return terminal.render_actual_vs_predicted(plotext(), d, width, height, color, under=under)
