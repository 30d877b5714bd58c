"""plotext rendering of the report's plot data to a string: what the TUI's analytic views show.

`render(data, width, height, color=True) -> str` takes any object from `report.data` and returns
the chart as text (ANSI colours unless color=False; a Textual widget can show it with
`rich.text.Text.from_ansi`). A plot without data renders its note inside a frame of the same size.

plotext keeps one global figure shared with every other plotext chart in the process (the
monitor's): the chart layer (`qostui.charts`) owns it, its lock, the palette and the clock, so
`render` may be called from any thread. Time axes follow the clock rule (`[ui] timezone`).
"""

from __future__ import annotations

import math
import textwrap
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from qostui.charts import PALETTE, PLOT_LOCK, Line, begin, draw, finish, plotext, time_ticks, y_limits
from qostui.report.data import (
    ActualVsPredicted,
    Correlation,
    ErrorDistribution,
    LossHistory,
    MultiTarget,
)

COLORS = PALETTE  # line colours by index: the chart layer's palette
MIN_W, MIN_H = 30, 8


def note_panel(title: str, note: str, width: int, height: int) -> str:
    """A framed box of exactly width x height cells with the title on top and the note centred."""
    width, height = max(width, 10), max(height, 3)
    inner = width - 2
    lines = textwrap.wrap(note, inner - 2)[: max(height - 3, 1)]
    top = "┌" + "─" * inner + "┐"
    head = "│" + title[:inner].center(inner) + "│"
    body = ["│" + " " * inner + "│" for _ in range(height - 3)]
    start = max((len(body) - len(lines)) // 2, 0)
    for i, ln in enumerate(lines):
        if start + i < len(body):
            body[start + i] = "│" + ln.center(inner) + "│"
    return "\n".join([top, head, *body, "└" + "─" * inner + "┘"])


def decimate(xs: np.ndarray, ys: np.ndarray, n: int, how: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """At most `n` points: consecutive chunks reduced to one (mean, or max so spikes stay visible).

    A terminal has about two dots per column; drawing more points costs time and shows nothing more.
    """
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if len(xs) <= n or n < 2:
        return xs, ys
    k = int(math.ceil(len(xs) / n))
    pad = (-len(xs)) % k
    xp = np.concatenate([xs, np.full(pad, np.nan)]).reshape(-1, k)
    yp = np.concatenate([ys, np.full(pad, np.nan)]).reshape(-1, k)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN chunks stay NaN: a gap
        x = np.nanmean(xp, axis=1)
        y = np.nanmax(yp, axis=1) if how == "max" else np.nanmean(yp, axis=1)
    return x, y


def _draw_line(f: Any, xs: np.ndarray, ys: np.ndarray, label: str, color: str,
               connect: bool = True, symbol: str = "hd") -> None:  # fmt: skip
    draw(f, Line(np.asarray(xs, dtype=float).tolist(), np.asarray(ys, dtype=float).tolist(), label, color,
                 marker=symbol, connect=connect))  # fmt: skip


def _start(width: int, height: int, title: str, color: bool) -> Any:
    return begin(max(width, MIN_W), max(height, MIN_H), title, color=color)


def render_actual_vs_predicted(plt: Any, d: ActualVsPredicted, width: int, height: int, color: bool,
                               under: Sequence[Line] = ()) -> str:  # fmt: skip
    """`under`: chart-layer lines drawn first, below the plot's lines (the forecast view's interval
    bands); the y axis makes room for them."""
    f = _start(width, height, _short_title(d.title, width), color)
    all_ts = np.concatenate([ln.ts for ln in d.lines])
    lo, hi = float(np.nanmin(all_ts)), float(np.nanmax(all_ts))
    for extra in under:
        draw(f, extra)
    for i, ln in enumerate(d.lines):
        c = COLORS[i % len(COLORS)] if ln.style != "points" else "red"
        xs, ys = (ln.ts, ln.values) if ln.style == "points" else decimate(ln.ts, ln.values, 2 * width)
        _draw_line(f, xs, ys, ln.label, c, connect=ln.style != "points",
                   symbol="x" if ln.style == "points" else ("dot" if ln.style == "dashed" else "hd"))  # fmt: skip
    f.ruler("x").lim(lo, hi)
    f.ruler("x").ticks(*time_ticks(lo, hi, max(2, min(8, width // 14))))
    values = [float(v) for ln in d.lines for v in ln.values]
    values += [float(v) for ln in under for v in (*ln.ys, *(ln.fill_to or ())) if v is not None]
    ylim = y_limits(values, "auto")
    if ylim is not None:  # a flat series: a band around its value, not plotext's -1..1
        f.ruler("y").lim(*ylim)
    f.label(d.ylabel, "y")
    return finish(f, color=color)


def render_loss_history(plt: Any, d: LossHistory, width: int, height: int, color: bool) -> str:
    f = _start(width, height, _short_title(d.title, width), color)
    _draw_line(f, d.epochs, d.loss, "loss", "cyan")
    _draw_line(f, d.epochs, d.val_loss, "val_loss", "yellow")
    if d.best_epoch:
        vals = np.concatenate([d.loss, d.val_loss])
        vals = vals[np.isfinite(vals)]
        if len(vals):
            _draw_line(f, np.array([d.best_epoch, d.best_epoch]), np.array([vals.min(), vals.max()]),
                       f"best {d.best_epoch}", "green", symbol="dot")  # fmt: skip
    vals = np.concatenate([d.loss, d.val_loss])
    vals = vals[np.isfinite(vals)]
    if len(vals) and len(d.epochs):  # losses fall: the top right corner is free for the legend
        f.legend(True, x=float(np.max(d.epochs)), y=float(vals.max()), relative=True, ha="right", va="top")
    f.label("epoch", "x")
    return finish(f, color=color)


def render_error_distribution(plt: Any, d: ErrorDistribution, width: int, height: int, color: bool) -> str:
    """Frequency polygons of a few horizon steps on the shared bins (bars of several steps would
    not fit side by side in a terminal)."""
    f = _start(width, height, _short_title(d.title, width), color)
    centers = d.centers
    for i, s in enumerate(d.selected_steps(4)):
        _draw_line(f, centers, d.counts[s - 1].astype(float),
                   f"step {s} MAE {d.mae[s - 1]:.1f}", COLORS[(i + 1) % len(COLORS)])  # fmt: skip
    f.label("error Mbps (predicted - actual)", "x")
    return finish(f, color=color)


def render_correlation(plt: Any, d: Correlation, width: int, height: int, color: bool) -> str:
    """A grid of r values: numbers read better than shades in a terminal cell grid.

    Built by hand rather than with plotext's heatmap, which has no diverging palette and no room
    for labels at 80 columns; colours follow the sign (red positive, blue negative) when enabled.
    """
    k = len(d.names)
    label_w = min(max(len(n) for n in d.names), max(8, width // 4))
    cell = 6
    cols_fit = max(1, (width - label_w - 1) // cell)
    shown = min(k, cols_fit, max(1, height - 3))
    title = d.title + (f": {d.note}" if d.note else "")
    lines = [_short_title(title, width)[:width]]
    head = " " * (label_w + 1) + "".join(f"{i + 1:>{cell}}" for i in range(shown))
    lines.append(head)
    for i in range(shown):
        row = f"{d.names[i][:label_w]:<{label_w}} "
        for j in range(shown):
            v = d.matrix[i, j]
            txt = f"{v:+.2f}" if math.isfinite(v) else "  n/a"
            txt = f"{txt:>{cell}}"
            if color and math.isfinite(v) and i != j:
                code = 31 if v > 0 else 34  # red / blue
                bold = ";1" if abs(v) >= 0.5 else ""
                txt = f"\x1b[{code}{bold}m{txt}\x1b[0m"
            row += txt
        lines.append(row)
    legend = "  ".join(f"{i + 1}={d.names[i]}" for i in range(shown))
    lines += textwrap.wrap(legend, width)[: max(0, height - len(lines) - 1)]
    if shown < k:
        lines.append(f"({k - shown} more feature(s) need a larger view)"[:width])
    return "\n".join(lines[:height])


def render_multi_target(plt: Any, d: MultiTarget, width: int, height: int, color: bool) -> str:
    f = begin(max(width, MIN_W), max(height, MIN_H), color=color)
    f.subplots(2, 1)
    top, bottom = f.subplot(1, 1), f.subplot(2, 1)
    for p in (top, bottom):
        p.theme("simple" if color else "colorless")
    top.title(_short_title(d.title, width))
    lo = min(float(t.ts[0]) for t in d.targets)
    hi = max(float(t.ts[-1]) for t in d.targets)
    for i, t in enumerate(d.targets):
        c = COLORS[(i + 1) % len(COLORS)]
        _draw_line(top, *decimate(t.ts, t.rtt_avg_ms, 2 * width), t.target if i < 8 else "", c)
        _draw_line(bottom, *decimate(t.ts, t.loss_pct, 2 * width, "max"), "", c)
    ticks = time_ticks(lo, hi, max(2, min(8, width // 14)))
    for p in (top, bottom):
        p.ruler("x").lim(lo, hi)
        p.ruler("x").ticks(*ticks)
    top.label("RTT ms", "y")
    bottom.label("loss %", "y")
    return finish(f, color=color)


_RENDER = {
    ActualVsPredicted: render_actual_vs_predicted,
    LossHistory: render_loss_history,
    ErrorDistribution: render_error_distribution,
    Correlation: render_correlation,
    MultiTarget: render_multi_target,
}


def _short_title(title: str, width: int) -> str:
    return title if len(title) <= width - 2 else title[: max(width - 3, 1)] + "…"


def render(data: Any, width: int = 80, height: int = 24, color: bool = True) -> str:
    """One plot's data as a chart string of about width x height terminal cells."""
    fn = _RENDER.get(type(data))
    if fn is None:
        raise TypeError(f"no terminal renderer for {type(data).__name__}")
    if data.empty:
        return note_panel(_short_title(data.title, width), data.note or "nothing to plot", width, height)
    if isinstance(data, Correlation):
        return render_correlation(None, data, width, height, color)
    with PLOT_LOCK:
        return fn(plotext(), data, width, height, color)


def render_all(plots: Sequence[tuple[str, Any]], width: int = 80, height: int = 24, color: bool = False) -> str:
    """Every plot one below the other (e.g. for `qostui report --text`)."""
    return "\n\n".join(render(p, width, height, color) for _, p in plots)
