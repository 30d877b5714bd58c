"""The forecast view's chart: interval bands shaded under the lines, the report's chart without them."""

from __future__ import annotations

import numpy as np

from qostui.report.data import ActualVsPredicted, Line
from qostui.report.terminal import render
from qostui.ui.band_chart import Band, BandedPlot, render_banded

T0 = 1_795_800_000.0


def plot() -> ActualVsPredicted:
    hist_ts = T0 + 300.0 * np.arange(60)
    hist = 50 + 10 * np.sin(np.arange(60) / 5)
    fts = T0 + 300.0 * np.arange(59, 72)
    return ActualVsPredicted("t", [Line("actual", hist_ts, hist), Line("forecast", fts, np.full(13, 50.0))])


def bands() -> tuple[Band, ...]:
    fts = T0 + 300.0 * np.arange(59, 72)
    half = np.linspace(0.0, 20.0, 13)
    return (Band("95%", fts, 50 - 1.5 * half, 50 + 1.5 * half), Band("80%", fts, 50 - half, 50 + half))


def test_without_bands_it_is_the_reports_chart() -> None:
    assert render_banded(BandedPlot(plot()), 80, 20, color=False) == render(plot(), 80, 20, color=False)


def test_bands_are_shaded_on_the_right_under_the_forecast_line() -> None:
    text = render_banded(BandedPlot(plot(), bands()), 80, 20, color=False)
    rows = text.splitlines()
    assert len(rows) == 20
    inner = [(r, c) for r, row in enumerate(rows) for c, ch in enumerate(row) if ch == "▒"]
    outer = [(r, c) for r, row in enumerate(rows) for c, ch in enumerate(row) if ch == "░"]
    assert len(inner) >= 20 and len(outer) >= 10
    # the forecast spans the last 12 of 71 steps: every shade sits in the right sixth of the plot
    assert min(c for _, c in inner + outer) > 80 * 0.75
    # the 95% band reaches further up and down than the 80% one
    assert min(r for r, _ in outer) < min(r for r, _ in inner) and max(r for r, _ in outer) > max(r for r, _ in inner)
    # the flat forecast line is drawn over the bands, not hidden by them
    line_row = next(r for r, row in enumerate(rows) if row.count("▄") + row.count("▀") >= 10)
    assert "▒" in rows[line_row - 1] and "▒" in rows[line_row + 1]


def test_colour_output_uses_the_band_colour() -> None:
    text = render_banded(BandedPlot(plot(), bands()), 80, 20, color=True)
    assert "\x1b[38;5;4m▒" in text or "\x1b[34m▒" in text  # blue (ANSI 4) shades
