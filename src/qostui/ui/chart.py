"""The monitor's chart data (bucketing a time window into series and lines), without Textual.

Series are reduced to about one bucket per chart column before plotting, so a 24 h window of 1 s
rounds costs the same to draw as five minutes. Drawing is the chart layer's (`qostui.charts`:
the plotext figure, its lock, the clock); this module adds the ANSI -> Rich Text fast path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from qostui.charts import PLOT_LOCK, SMOKE_SHADES, Line, loss_band, render
from qostui.records import BandwidthSample, PingRound, ProbeState

__all__ = ["PLOT_LOCK", "Line", "render"]  # the chart layer's, re-exported for the monitor's callers
SCALES = ("auto", "zero", "log")
WINDOWS_S = (300.0, 3600.0, 86400.0)
WINDOW_NAMES = {300.0: "5 min", 3600.0: "1 h", 86400.0: "24 h"}


@dataclass
class PingSeries:
    """Per-bucket RTT min/avg/max (None: no reply in the bucket) and where probes were lost."""

    ts: list[float] = field(default_factory=list)
    rtt_min_ms: list[float | None] = field(default_factory=list)
    rtt_avg_ms: list[float | None] = field(default_factory=list)
    rtt_max_ms: list[float | None] = field(default_factory=list)
    loss_ts: list[float] = field(default_factory=list)
    loss_pct: list[float] = field(default_factory=list)
    rounds: int = 0
    sent: int = 0
    received: int = 0

    @property
    def loss_total_pct(self) -> float | None:
        return 100.0 * (self.sent - self.received) / self.sent if self.sent else None


@dataclass
class BandwidthSeries:
    ts: list[float] = field(default_factory=list)
    rx_mbps: list[float] = field(default_factory=list)
    tx_mbps: list[float] = field(default_factory=list)


def _bucket_of(ts: float, since: float, width_s: float) -> int:
    return int((ts - since) // width_s) if width_s > 0 else 0


def ping_series(rounds: Iterable[PingRound], since: float, until: float, max_points: int = 300) -> PingSeries:
    """Reduce the rounds inside [since, until] to at most `max_points` buckets."""
    width_s = max(0.0, (until - since) / max(1, max_points))
    out = PingSeries()
    cur = -1
    acc_min: float | None = None
    acc_max: float | None = None
    acc_sum = 0.0
    acc_n = 0
    acc_ts = 0.0
    b_sent = b_recv = 0
    b_ts = 0.0

    def close() -> None:
        out.ts.append(acc_ts)
        out.rtt_min_ms.append(acc_min)
        out.rtt_max_ms.append(acc_max)
        out.rtt_avg_ms.append(acc_sum / acc_n if acc_n else None)
        if b_sent > b_recv:
            out.loss_ts.append(b_ts)
            out.loss_pct.append(100.0 * (b_sent - b_recv) / b_sent)

    for r in rounds:
        if r.ts < since or r.ts > until:
            continue
        b = _bucket_of(r.ts, since, width_s)
        if b != cur:
            if cur >= 0:
                close()
            cur = b
            acc_min = acc_max = None
            acc_sum, acc_n, acc_ts = 0.0, 0, r.ts
            b_sent = b_recv = 0
            b_ts = r.ts
        out.rounds += 1
        if r.state is not ProbeState.OK:
            # unreachable: the round counts as lost probes on the chart and in the window's loss
            b_sent += max(1, r.sent)
            out.sent += max(1, r.sent)
            b_ts = r.ts
            continue
        b_sent += r.sent
        b_recv += r.received
        out.sent += r.sent
        out.received += r.received
        if r.rtt_min_ms is not None:
            acc_min = r.rtt_min_ms if acc_min is None else min(acc_min, r.rtt_min_ms)
        if r.rtt_max_ms is not None:
            acc_max = r.rtt_max_ms if acc_max is None else max(acc_max, r.rtt_max_ms)
        if r.rtt_avg_ms is not None and r.received:
            acc_sum += r.rtt_avg_ms * r.received
            acc_n += r.received
        if r.sent > r.received:
            b_ts = r.ts  # mark the loss where it happened, not where the bucket began
    if cur >= 0:
        close()
    return out


def bandwidth_series(samples: Iterable[BandwidthSample], since: float, until: float, max_points: int = 300) -> BandwidthSeries:
    width_s = max(0.0, (until - since) / max(1, max_points))
    out = BandwidthSeries()
    cur = -1
    rx = tx = 0.0
    n = 0
    ts0 = 0.0
    for s in samples:
        if s.ts < since or s.ts > until:
            continue
        b = _bucket_of(s.ts, since, width_s)
        if b != cur:
            if n:
                out.ts.append(ts0)
                out.rx_mbps.append(rx / n)
                out.tx_mbps.append(tx / n)
            cur, rx, tx, n, ts0 = b, 0.0, 0.0, 0, s.ts
        rx += s.rx_mbps
        tx += s.tx_mbps
        n += 1
    if n:
        out.ts.append(ts0)
        out.rx_mbps.append(rx / n)
        out.tx_mbps.append(tx / n)
    return out


def compact_rounds(rounds: Sequence[PingRound], since: float, until: float, max_points: int) -> list[PingRound]:
    """One summary round per bucket (min of mins, probe-weighted mean, max of maxes, probe counts),
    so a 24 h window held by the detail view is a few hundred records, not 86 400.
    `ping_series` of the result draws the same chart as of the input."""
    width_s = max(1e-9, (until - since) / max(1, max_points))
    out: list[PingRound] = []
    group: list[PingRound] = []
    cur = None

    def flush() -> None:
        ok = [r for r in group if r.state is ProbeState.OK]
        sent = sum(r.sent if r.state is ProbeState.OK else max(1, r.sent) for r in group)
        received = sum(r.received for r in ok)
        mins = [r.rtt_min_ms for r in ok if r.rtt_min_ms is not None]
        maxs = [r.rtt_max_ms for r in ok if r.rtt_max_ms is not None]
        weighted = [(r.rtt_avg_ms, r.received) for r in ok if r.rtt_avg_ms is not None and r.received]
        n = sum(w for _, w in weighted)
        first = group[0]
        pooled = sorted(v for r in ok for v in r.rtts_ms if v is not None)
        per_round = max((len(r.rtts_ms) for r in ok), default=0)
        out.append(PingRound(
            rtts_ms=tuple(quantiles(pooled, per_round)),  # the smoke of the bucket, one value per probe
            ts=first.ts, target=first.target, address=first.address, probe=first.probe, state=ProbeState.OK,
            sent=sent, received=received, loss_pct=100.0 * (sent - received) / sent if sent else 0.0,
            rtt_min_ms=min(mins) if mins else None, rtt_max_ms=max(maxs) if maxs else None,
            rtt_avg_ms=sum(a * w for a, w in weighted) / n if n else None,
        ))

    for r in rounds:
        b = _bucket_of(r.ts, since, width_s)
        if b != cur and group:
            flush()
            group = []
        cur = b
        group.append(r)
    if group:
        flush()
    return out


def quantiles(sorted_values: Sequence[float], n: int) -> list[float]:
    """`n` evenly spaced order statistics of sorted values (n == len: the values themselves)."""
    m = len(sorted_values)
    if not m or n <= 0:
        return []
    if n == 1:
        return [sorted_values[m // 2]]
    return [sorted_values[round(i * (m - 1) / (n - 1))] for i in range(n)]


def compact_samples(samples: Sequence[BandwidthSample], since: float, until: float, max_points: int) -> list[BandwidthSample]:
    """One mean sample per bucket (see compact_rounds)."""
    width_s = max(1e-9, (until - since) / max(1, max_points))
    out: list[BandwidthSample] = []
    group: list[BandwidthSample] = []
    cur = None
    for s in [*samples, None]:
        b = None if s is None else _bucket_of(s.ts, since, width_s)
        if group and (s is None or b != cur):
            g0 = group[0]
            out.append(BandwidthSample(
                ts=g0.ts, interface=g0.interface, rx_mbps=sum(x.rx_mbps for x in group) / len(group),
                tx_mbps=sum(x.tx_mbps for x in group) / len(group), interval_s=sum(x.interval_s for x in group),
            ))
            group = []
        if s is not None:
            cur = b
            group.append(s)
    return out


@dataclass
class SmokeSeries:
    """Per bucket: the probes' RTT distribution as SmokePing draws it. bands[k] = (low, high) edges
    of the k-th band: k-th fastest to k-th slowest probe (outermost first); the median and the
    bucket's loss colour the median line. None: no reply in the bucket."""

    ts: list[float] = field(default_factory=list)
    bands: list[tuple[list[float | None], list[float | None]]] = field(default_factory=list)
    median_ms: list[float | None] = field(default_factory=list)
    loss_pct: list[float] = field(default_factory=list)
    probes: int = 0  # probes per round (the widest round seen)


def smoke_series(rounds: Iterable[PingRound], since: float, until: float, max_points: int = 300) -> SmokeSeries:
    """Bucket the rounds like `ping_series`, pooling each bucket's probe RTTs (PingRound.rtts_ms)."""
    width_s = max(0.0, (until - since) / max(1, max_points))
    buckets: list[tuple[float, list[float], int, int]] = []  # (ts, rtts, sent, received)
    cur = -1
    probes = 0
    for r in rounds:
        if r.ts < since or r.ts > until:
            continue
        b = _bucket_of(r.ts, since, width_s)
        if b != cur:
            buckets.append((r.ts, [], 0, 0))
            cur = b
        ts, rtts, sent, received = buckets[-1]
        if r.state is ProbeState.OK:
            got = [v for v in r.rtts_ms if v is not None]
            rtts.extend(got)
            probes = max(probes, len(r.rtts_ms))
            buckets[-1] = (ts, rtts, sent + r.sent, received + r.received)
        else:
            buckets[-1] = (ts, rtts, sent + max(1, r.sent), received)
    n_bands = max(1, probes // 2)
    out = SmokeSeries(bands=[([], []) for _ in range(n_bands)], probes=probes)
    for ts, rtts, sent, received in buckets:
        out.ts.append(ts)
        out.loss_pct.append(100.0 * (sent - received) / sent if sent else 0.0)
        rtts.sort()
        q = quantiles(rtts, max(probes, 1)) if rtts else []
        out.median_ms.append(rtts[len(rtts) // 2] if rtts else None)
        for k in range(n_bands):
            lo, hi = out.bands[k]
            ok = len(q) > 2 * k
            lo.append(q[k] if ok else None)
            hi.append(q[len(q) - 1 - k] if ok else None)
    return out


def smoke_lines(s: SmokeSeries, scale: str) -> list[Line]:
    """Grey bands (outer light, inner darker) and the median in runs coloured by the loss."""
    lines: list[Line] = []
    for k, (lo, hi) in enumerate(s.bands):
        shade = SMOKE_SHADES[min(k, len(SMOKE_SHADES) - 1)]
        lines.append(Line(s.ts, hi, "smoke" if k == 0 else "", shade, fill_to=lo))
    # the median: one line per loss colour, None elsewhere (a gap); a run also takes the point
    # before it, so the median reads as one line changing colour
    bands = [loss_band(p) for p in s.loss_pct]
    for band in dict.fromkeys(bands):
        ys: list[float | None] = [None] * len(s.ts)
        for i, b in enumerate(bands):
            if b == band:
                ys[i] = s.median_ms[i]
                if i and bands[i - 1] != band:
                    ys[i - 1] = s.median_ms[i - 1]
        limit, color = band
        lines.append(Line(s.ts, ys, "median" if limit == 0 else f"median, loss <= {limit:g}%", color))
    return lines


def ping_lines(s: PingSeries, scale: str) -> list[Line]:
    """min/avg/max as a band of three lines, and an 'x' at the bottom wherever probes were lost."""
    lines = [
        Line(s.ts, s.rtt_max_ms, "max", "gray"),
        Line(s.ts, s.rtt_min_ms, "min", "gray"),
        Line(s.ts, s.rtt_avg_ms, "avg", "cyan"),
    ]
    if s.loss_ts:
        vals = [v for v in s.rtt_min_ms if v is not None and (v > 0 or scale != "log")]
        base = 0.0 if scale == "zero" or not vals else min(vals)
        if scale == "log" and base <= 0:
            base = 0.01
        lines.append(Line(s.loss_ts, [base] * len(s.loss_ts), "lost", "red", marker="x", connect=False))
    return lines


def bandwidth_lines(s: BandwidthSeries) -> list[Line]:
    return [Line(s.ts, s.rx_mbps, "rx", "green"), Line(s.ts, s.tx_mbps, "tx", "magenta")]


# --- ANSI -> Rich Text, fast path for plotext's output ------------------------------------------
_SGR_RE = re.compile(r"\x1b\[([0-9;]*)m")
_STYLE_CACHE: dict[str, object] = {}


def _sgr_style(params: str) -> object:
    """A Rich Style for one SGR parameter list (only what plotext emits: colours, bold)."""
    from rich.color import Color
    from rich.style import Style

    style = _STYLE_CACHE.get(params)
    if style is not None:
        return style
    codes = params.split(";") if params else ["0"]
    fg = bg = None
    bold = None
    i = 0
    while i < len(codes):
        c = codes[i]
        if c in ("38", "48") and i + 2 < len(codes) and codes[i + 1] == "5":
            color = Color.from_ansi(int(codes[i + 2]))
            if c == "38":
                fg = color
            else:
                bg = color
            i += 3
            continue
        if c == "1":
            bold = True
        elif c.isdigit() and 30 <= int(c) <= 37:
            fg = Color.from_ansi(int(c) - 30)
        elif c.isdigit() and 90 <= int(c) <= 97:
            fg = Color.from_ansi(int(c) - 90 + 8)
        i += 1
    style = Style(color=fg, bgcolor=bg, bold=bold)
    _STYLE_CACHE[params] = style
    return style


def ansi_to_text(raw: str):  # type: ignore[no-untyped-def]
    """Rich Text from plotext's ANSI output; several times faster than Text.from_ansi here
    because plotext only emits SGR colour codes, and each code resets the previous one."""
    from rich.text import Span, Text

    plain: list[str] = []
    spans: list[Span] = []
    pos = 0
    style: object = None
    last = 0
    for m in _SGR_RE.finditer(raw):
        chunk = raw[last : m.start()]
        if chunk:
            plain.append(chunk)
            if style is not None:
                spans.append(Span(pos, pos + len(chunk), style))  # type: ignore[arg-type]
            pos += len(chunk)
        params = m.group(1)
        style = None if params in ("", "0") else _sgr_style(params)
        last = m.end()
    chunk = raw[last:]
    if chunk:
        plain.append(chunk)
        if style is not None:
            spans.append(Span(pos, pos + len(chunk), style))  # type: ignore[arg-type]
    return Text("".join(plain), spans=spans, no_wrap=True, overflow="crop")
