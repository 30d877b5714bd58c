"""The one chart layer: plotext's figure and its lock, line types, time axes, the clock and colours.

Every terminal chart in the process (the monitor's detail and preview charts, the report's plots
shown by the TUI and `qostui report --text`) is drawn through here. plotext keeps one global
figure, so every plotext call holds PLOT_LOCK (re-entrant: a caller may hold it around several
calls); charts may then be drawn on any thread. Headless: no Textual; plotext (and numpy) imported on first use, not at start-up.

The clock rule: time labels are local time unless `[ui] timezone` names another zone ("UTC" or an
IANA name); `set_clock` applies it for the whole process, `clock_text` / `time_ticks` use it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

PLOT_LOCK = threading.RLock()  # plotext's one global figure: one chart at a time, on any thread
# Line colours by index (plotext names): the report's plots and the forecast view's legend.
PALETTE = ("white", "cyan", "yellow", "magenta", "red", "green", "blue")
# plotext and Rich name some colours differently (legend lines are Rich Text)
RICH_COLOR = {"gray": "bright_black", "white": "default"}
# Smoke bands, outer to inner (xterm-256 greys: fixed RGB, the same in every theme): 243 #767676
# and 241 #626262 keep >= 3:1 contrast with the dark (#121212) and the light (#e0e0e0) background
# (only greys 241..243 do both); 248 #a8a8a8 faded into the light one (1.8:1).
SMOKE_SHADES = (243, 241, 239, 237)
# Median colour by the round's loss, as SmokePing does: (loss up to this %, colour). Fixed bright
# xterm-256 colours, not ANSI names: a theme maps names (the light theme's green is a dark
# #448c27, as dark as the grey bands under it), these stay bright over the greys in both themes.
LOSS_COLORS = ((0.0, 46), (10.0, 45), (25.0, 207), (100.0, 196))  # green, blue, magenta, red


def rich_color(color: str | int) -> str:
    if isinstance(color, int):
        return f"color({color})"
    return RICH_COLOR.get(color, color)


def loss_band(loss_pct: float) -> tuple[float, int]:
    """The (loss up to this %, colour) entry of LOSS_COLORS that a round's loss falls in."""
    for band in LOSS_COLORS:
        if loss_pct <= band[0]:
            return band
    return LOSS_COLORS[-1]


# --- the clock ---------------------------------------------------------------------------------
_zone: tzinfo | None = None  # None: the process's local time (TZ)
_zone_name = "local"


def zone_of(name: str) -> tzinfo | None:
    """"" / "local" -> None (local time), "UTC" -> UTC, else the IANA zone; ValueError if unknown."""
    if name in ("", "local"):
        return None
    if name.upper() == "UTC":
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def set_clock(name: str) -> None:
    """The zone every chart and time label uses from now on (validated by the config already)."""
    global _zone, _zone_name
    _zone = zone_of(name)
    _zone_name = "local" if _zone is None else ("UTC" if _zone is timezone.utc else name)


def clock_name() -> str:
    """How labels name the zone: "" for local time, else "UTC" or the IANA name."""
    return "" if _zone is None else _zone_name


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=_zone) if _zone is not None else datetime.fromtimestamp(ts)


def clock_text(ts: float, fmt: str = "%H:%M") -> str:
    return _dt(ts).strftime(fmt)


def clock_stamp(ts: float, fmt: str = "%H:%M") -> str:
    """A time for text lines: the clock time, with the zone's name unless it is local time."""
    name = clock_name()
    return f"{clock_text(ts, fmt)} {name}" if name else clock_text(ts, fmt)


def span_text(seconds: float) -> str:
    """A duration as a chart title says it: 40 s, 25 min, 6 h, 3 d."""
    if seconds < 90:
        return f"{max(0.0, seconds):.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def _offset_s(ts: float) -> float:
    off = _dt(ts).astimezone().utcoffset() if _zone is None else _dt(ts).utcoffset()
    return off.total_seconds() if off is not None else 0.0


TICK_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
                172800, 604800)  # fmt: skip


def time_ticks(lo: float, hi: float, n: int) -> tuple[list[float], list[str]]:
    """Round clock times inside [lo, hi] (epoch s), at most `n`, labelled as briefly as the span allows."""
    n = max(2, n)
    if not hi > lo:
        return [lo], [clock_text(lo)]
    span = hi - lo
    step = next((s for s in TICK_STEPS_S if span / s <= n), None)
    if step is None:
        step = math.ceil(span / n / 86400) * 86400
    off = _offset_s(lo)  # round on the shown clock, not on UTC (zones at +5:30 and such)
    first = math.ceil((lo + off) / step) * step - off
    count = int((hi + 1e-9 - first) // step) + 1 if first <= hi + 1e-9 else 0
    pos = [first + i * step for i in range(count)] or [lo]
    if step >= 86400:
        fmt = "%m-%d"
    elif span > 86400:
        fmt = "%d %H:%M"
    elif step < 60:
        fmt = "%H:%M:%S"
    else:
        fmt = "%H:%M"
    return pos, [clock_text(p, fmt) for p in pos]


# --- lines and drawing ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Series:
    """Data of one line of a report plot (numpy; NaN breaks the line); colours come from PALETTE."""

    label: str
    ts: np.ndarray
    values: np.ndarray  # NaN breaks the line
    style: str = "line"  # "line" | "dashed" | "points"


@dataclass
class Line:
    """One drawn line. `fill_to`: a lower edge; the area between it and `ys` is filled (a band)."""

    xs: Sequence[float]
    ys: Sequence[float | None]
    label: str
    color: str | int
    marker: str = "hd"
    connect: bool = True
    fill_to: Sequence[float | None] | None = None


def segments(xs: Sequence[float], ys: Sequence[float | None]) -> list[tuple[list[float], list[float]]]:
    """Runs of finite points: a gap (None, NaN) breaks the line instead of bridging it."""
    segs: list[tuple[list[float], list[float]]] = []
    cx: list[float] = []
    cy: list[float] = []
    for x, y in zip(xs, ys, strict=False):
        if y is None or not math.isfinite(y) or not math.isfinite(x):
            if cx:
                segs.append((cx, cy))
                cx, cy = [], []
            continue
        cx.append(float(x))
        cy.append(float(y))
    if cx:
        segs.append((cx, cy))
    return segs


def plotext() -> Any:
    import plotext as plt

    return plt


def begin(width: int, height: int, title: str = "", *, color: bool = True) -> Any:
    """Clear the figure for a chart of width x height cells (hold PLOT_LOCK until `finish`)."""
    plt = plotext()
    plt.terminal.limit(False, False)  # the caller chose the size, not the process's terminal
    f = plt.figure
    f.clear()
    f.plot_size(width, height)
    f.theme("simple" if color else "colorless")
    if title:
        f.title(title)
    return f


def finish(f: Any, *, color: bool = True) -> str:
    plt = plotext()
    try:
        text = f.build().string().rstrip("\n")
    finally:
        plt.terminal.limit(True, True)  # plotext's default
    return text if color else plt.uncolorize(text)


def draw(f: Any, ln: Line, *, x_offset: float = 0.0, log: bool = False) -> None:
    """One line (its segments) onto the figure or subplot `f`; x values are shifted by -x_offset."""
    plt = plotext()
    marker = plt.marker(ln.marker, plt.pixel(foreground=ln.color))
    first = True
    if ln.fill_to is not None:
        for (sx, hi), (_, lo) in _band_segments(ln.xs, ln.ys, ln.fill_to):
            xs = [x - x_offset for x in sx]
            top = f.signal(xs, hi, marker=marker)
            bottom = f.signal(xs, lo, marker=marker)
            top.lines()
            bottom.lines()
            top.fill(bottom)
            f.draw(top)
        return
    for sx, sy in segments(ln.xs, ln.ys):
        if log:
            pts = [(x, y) for x, y in zip(sx, sy, strict=False) if y > 0]
            if not pts:
                continue
            sx, sy = [p[0] for p in pts], [p[1] for p in pts]
        sig = f.signal([x - x_offset for x in sx], sy, marker=marker)
        if ln.connect and len(sx) > 1:
            sig.lines()
        if first and ln.label:
            sig.label(ln.label)
            first = False
        f.draw(sig)


def _band_segments(xs: Sequence[float], hi: Sequence[float | None], lo: Sequence[float | None]) -> list[
        tuple[tuple[list[float], list[float]], tuple[list[float], list[float]]]]:  # fmt: skip
    out = []
    cx: list[float] = []
    ch: list[float] = []
    cl: list[float] = []
    for x, h, low in zip(xs, hi, lo, strict=False):
        if h is None or low is None or not (math.isfinite(h) and math.isfinite(low)):
            if cx:
                out.append(((cx, ch), (cx, cl)))
                cx, ch, cl = [], [], []
            continue
        cx.append(float(x))
        ch.append(float(h))
        cl.append(float(low))
    if cx:
        out.append(((cx, ch), (cx, cl)))
    return out


def y_limits(values: Sequence[float], scale: str) -> tuple[float, float] | None:
    """The y range: from zero for "zero", a margin for "log", and never a degenerate range: a flat
    series gets a band around its value (plotext would otherwise draw -1..1 around a flat zero)."""
    vals = [v for v in values if math.isfinite(v) and (v > 0 or scale != "log")]
    if not vals:
        return None
    lo, hi = min(vals), max(vals)
    if scale == "zero":
        return 0.0, hi * 1.1 if hi > 0 else 1.0
    if scale == "log":
        return lo * 0.8, hi * 1.25
    if hi - lo <= 1e-9 * max(1.0, abs(hi)):
        if abs(hi) < 1e-12:
            return 0.0, 1.0
        pad = abs(hi) * 0.1
        return (max(0.0, lo - pad) if lo >= 0 else lo - pad), hi + pad
    return None


def render(
    lines: Sequence[Line],
    *,
    width: int,
    height: int,
    since: float,
    until: float,
    scale: str,
    title: str = "",
) -> str:
    """A time chart of [since, until] as text with ANSI colours (x relative to `until`: plotext
    keeps its precision; the tick labels are clock times)."""
    width = max(20, width)
    height = max(6, height)
    vals = [float(y) for ln in lines for y in ln.ys if y is not None and math.isfinite(y)]
    vals += [float(y) for ln in lines if ln.fill_to is not None for y in ln.fill_to if y is not None and math.isfinite(y)]
    ylim = y_limits(vals, scale)
    ticks, labels = time_ticks(since, until, max(2, min(6, width // 14)))
    with PLOT_LOCK:
        f = begin(width, height, title)
        for ln in lines:
            draw(f, ln, x_offset=until, log=scale == "log")
        f.legend(False)  # the legend box would hide data; the screen prints a legend line instead
        f.ruler("x").lim(since - until, 0.0)
        f.ruler("x").ticks([t - until for t in ticks], labels)
        if scale == "log":
            f.ruler("y").scale("log")
        if ylim is not None:
            f.ruler("y").lim(*ylim)
        return finish(f)
