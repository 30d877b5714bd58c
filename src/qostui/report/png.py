"""matplotlib rendering of the report's plot data to PNG files (the `report` extra).

matplotlib is imported only here, inside functions, with the Agg backend (no display needed), so
importing qostui never pulls it in. Each `draw_*` takes the data object from `report.data` and
draws it on a fresh figure; a plot without data shows its note ("no latency data") in the picture
instead of failing, so a report always has all five images.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from qostui.errors import QostuiError
from qostui.report.data import (
    ActualVsPredicted,
    Correlation,
    ErrorDistribution,
    LossHistory,
    MultiTarget,
)

INSTALL_HINT = "writing PNG plots needs matplotlib: pip install 'qostui[report]'"
WIDTH_IN, HEIGHT_IN, DPI = 12.0, 6.75, 100  # 1200 x 675 px
MAX_LEGEND = 12


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)  # files only: never open a window, never need $DISPLAY
        import matplotlib.pyplot as plt
    except ImportError:
        raise QostuiError(INSTALL_HINT) from None
    return plt


def check_available() -> None:
    """Raise QostuiError with the install line when matplotlib cannot be imported."""
    _pyplot()


def _dates(ts: np.ndarray) -> np.ndarray:
    """Epoch seconds -> datetime64 (UTC), which matplotlib puts on a date axis."""
    return (np.asarray(ts, dtype=float) * 1000).astype("datetime64[ms]")


def _title(ax: Any, text: str, width: int = 95) -> None:
    ax.set_title("\n".join(textwrap.wrap(text, width)) or " ", fontsize=12)


def _note(ax: Any, text: str) -> None:
    """The reason a plot is empty, written large in the middle of the axes."""
    ax.text(0.5, 0.5, "\n".join(textwrap.wrap(text, 70)), ha="center", va="center", fontsize=15,
            color="#8a3b12", transform=ax.transAxes,
            bbox={"boxstyle": "round,pad=0.6", "facecolor": "#fff4e5", "edgecolor": "#d9822b"})  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])


def _date_axis(ax: Any) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("time (UTC)")


def draw_actual_vs_predicted(plt: Any, data: ActualVsPredicted) -> Any:
    fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    _title(ax, data.title)
    if data.empty:
        _note(ax, data.note or "nothing to plot")
        return fig
    colors = ["#222222", "#1f77b4", "#ff7f0e", "#7f7f7f", "#d62728"]
    for band in data.bands:  # under the lines; the wider (95%) one lighter
        alpha = 0.15 if band.level > 0.9 else 0.3
        ax.fill_between(_dates(band.ts), band.lo, band.hi, color="#1f77b4", alpha=alpha, lw=0, label=band.label,
                        step="mid")  # fmt: skip
    for i, ln in enumerate(data.lines):
        c = colors[i % len(colors)]
        x = _dates(ln.ts)
        if ln.style == "points":
            ax.scatter(x, ln.values, s=14, color="#d62728", label=ln.label, zorder=3)
        else:
            ax.plot(x, ln.values, color=c, lw=1.6 if i == 0 else 1.2, ls="--" if ln.style == "dashed" else "-",
                    label=ln.label, alpha=1.0 if i < 2 else 0.85)  # fmt: skip
    ax.set_ylabel(data.ylabel)
    ax.grid(alpha=0.3)
    _date_axis(ax)
    ax.legend(loc="upper left", fontsize=9)
    return fig


def draw_loss_history(plt: Any, data: LossHistory) -> Any:
    fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    _title(ax, data.title)
    if data.empty:
        _note(ax, data.note)
        return fig
    ax.plot(data.epochs, data.loss, marker="o", ms=3, label="training loss")
    ax.plot(data.epochs, data.val_loss, marker="o", ms=3, label="validation loss")
    if data.best_epoch:
        ax.axvline(data.best_epoch, color="#2ca02c", ls=":", label=f"best epoch {data.best_epoch} (weights kept)")
    vals = np.concatenate([data.loss, data.val_loss])
    vals = vals[np.isfinite(vals) & (vals > 0)]
    if len(vals) and vals.max() / vals.min() > 30:  # a steep first epoch hides the rest on a linear axis
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"loss ({data.loss_name}, scaled units)" if data.loss_name else "loss (scaled units)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    return fig


def draw_error_distribution(plt: Any, data: ErrorDistribution) -> Any:
    if data.empty:
        fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
        _title(ax, data.title)
        _note(ax, data.note or "nothing to plot")
        return fig
    steps = data.selected_steps(4)
    fig = plt.figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    grid = fig.add_gridspec(2, len(steps), height_ratios=(3, 2))
    fig.suptitle("\n".join(textwrap.wrap(data.title, 110)), fontsize=12)
    widths = np.diff(data.edges)
    for i, s in enumerate(steps):
        ax = fig.add_subplot(grid[0, i])
        ax.bar(data.edges[:-1], data.counts[s - 1], width=widths, align="edge", color="#1f77b4", alpha=0.8)
        ax.axvline(0, color="#222222", lw=0.8)
        ax.set_title(f"step {s}: MAE {data.mae[s - 1]:.2f}, bias {data.bias[s - 1]:+.2f}", fontsize=9)
        ax.set_xlabel("error (Mbps)", fontsize=8)
        if i == 0:
            ax.set_ylabel("test windows")
        ax.tick_params(labelsize=8)
    ax = fig.add_subplot(grid[1, :])
    ax.plot(data.steps, data.mae, marker="o", label="MAE (Mbps)")
    ax.plot(data.steps, data.bias, marker="s", label="bias = mean error (Mbps)")
    ax.axhline(0, color="#222222", lw=0.8)
    ax.set_xlabel("horizon step")
    ax.set_xticks(data.steps)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    return fig


def draw_correlation(plt: Any, data: Correlation) -> Any:
    fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    title = data.title + (f": {data.note}" if data.note else "")
    _title(ax, title)
    if data.empty:
        _note(ax, data.note or "nothing to correlate")
        return fig
    import matplotlib as mpl

    k = len(data.names)
    cmap = mpl.colormaps["RdBu_r"].with_extremes(bad="#cccccc")  # grey: undefined (a constant series)
    im = ax.imshow(np.ma.masked_invalid(data.matrix), cmap=cmap, vmin=-1, vmax=1)
    ax.set_xticks(range(k), data.names, rotation=45, ha="right", fontsize=8 if k > 8 else 10)
    ax.set_yticks(range(k), data.names, fontsize=8 if k > 8 else 10)
    if k <= 16:
        for i in range(k):
            for j in range(k):
                v = data.matrix[i, j]
                text = "n/a" if not math.isfinite(v) else f"{v:.2f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=7 if k > 8 else 9,
                        color="white" if math.isfinite(v) and abs(v) > 0.6 else "black")  # fmt: skip
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="Pearson r")
    ax.set_xlabel(f"{data.n_steps} steps; n/a = constant or too little overlap")
    return fig


def draw_multi_target(plt: Any, data: MultiTarget) -> Any:
    if data.empty:
        fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
        _title(ax, data.title)
        _note(ax, data.note or "no latency data")
        return fig
    fig, (ax_rtt, ax_loss) = plt.subplots(2, 1, figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, sharex=True, layout="constrained",
                                          gridspec_kw={"height_ratios": (3, 2)})  # fmt: skip
    _title(ax_rtt, data.title)
    cmap = plt.get_cmap("tab10" if len(data.targets) <= 10 else "tab20")
    for i, t in enumerate(data.targets):
        c = cmap(i % cmap.N)
        label = t.target if i < MAX_LEGEND else None
        x = _dates(t.ts)
        # NaN steps break the line (an outage stays visible); sparse readings would then be
        # invisible single points, so mark every reading when most steps are empty.
        marker = "o" if np.mean(np.isfinite(t.rtt_avg_ms)) < 0.5 else None
        ax_rtt.plot(x, t.rtt_avg_ms, color=c, lw=1.1, label=label, marker=marker, ms=3)
        ax_loss.plot(x, t.loss_pct, color=c, lw=1.0, drawstyle="steps-post", marker=marker, ms=3)
    ax_rtt.set_ylabel("RTT avg (ms)")
    ax_loss.set_ylabel("loss (%)")
    losses = np.concatenate([t.loss_pct for t in data.targets])
    worst = float(np.nanmax(losses)) if np.isfinite(losses).any() else 0.0
    ax_loss.set_ylim(0, max(5.0, worst * 1.1))  # 0-5 % at least, so a loss-free link reads as flat zero
    for ax in (ax_rtt, ax_loss):
        ax.grid(alpha=0.3)
    _date_axis(ax_loss)
    extra = len(data.targets) - MAX_LEGEND
    ax_rtt.legend(loc="upper left", fontsize=8, ncol=min(4, len(data.targets)),
                  title=f"+{extra} more not labelled" if extra > 0 else None)  # fmt: skip
    return fig


_DRAW = {
    ActualVsPredicted: draw_actual_vs_predicted,
    LossHistory: draw_loss_history,
    ErrorDistribution: draw_error_distribution,
    Correlation: draw_correlation,
    MultiTarget: draw_multi_target,
}


def write_png(data: Any, path: Path) -> Path:
    """Draw one plot's data to `path` (PNG). Raises QostuiError when matplotlib is missing or the
    file cannot be written."""
    plt = _pyplot()
    draw = _DRAW.get(type(data))
    if draw is None:
        raise TypeError(f"no PNG renderer for {type(data).__name__}")
    fig = draw(plt, data)
    try:
        fig.savefig(path, format="png")
    except OSError as exc:
        raise QostuiError(f"{path}: cannot write the PNG ({exc.strerror or exc})") from None
    finally:
        plt.close(fig)
    return path
