"""report.md: what the data is, the metrics table (model vs baselines, per horizon) and the pictures."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from qostui.forecast.evaluate import Evaluation
from qostui.report.data import PLOTS, ReportData

PLOT_TITLES = dict(PLOTS)


def _iso(ts: float | None) -> str:
    if ts is None or not math.isfinite(ts):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ts))


def _f(x: float | None, digits: int = 2) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _md(text: str) -> str:
    """Table-cell safe text."""
    return text.replace("|", "\\|").replace("\n", " ")


def metrics_table(ev: Evaluation, steps: Sequence[int] | None = None) -> list[str]:
    """Overall scores per method with MAE at a few horizon steps, as `Evaluation.format_table`."""
    H = ev.horizon
    if steps is None:
        steps = sorted({1, min(3, H), min(6, H), H})
    head = ["method", "kind", "MAE", "RMSE", "R²", "sMAPE %", "skill", *(f"MAE@{s}" for s in steps)]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|"]
    for m in ev.methods:
        o = m.overall
        name = m.name + (" (best baseline)" if m.name == ev.best_baseline else "")
        cells = [f"**{_md(name)}**" if m.kind == "model" else _md(name), m.kind,
                 _f(o.get("mae")), _f(o.get("rmse")), _f(o.get("r2"), 3), _f(o.get("smape"), 1), _f(m.skill, 3),
                 *(_f(m.per_step[s - 1].get("mae")) for s in steps)]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def horizon_table(ev: Evaluation, method: str, step_s: float) -> list[str]:
    """Per horizon step: the shown method against the best baseline."""
    m = ev.get(method)
    b = ev.get(ev.best_baseline) if ev.best_baseline else None
    same = b is not None and b.name == m.name
    head = ["step", "ahead", f"{method} MAE", f"{method} RMSE", f"{method} R²"]
    if b is not None and not same:
        head += [f"{b.name} MAE", "skill"]
    lines = ["| " + " | ".join(_md(h) for h in head) + " |", "|" + "|".join(["---:"] * len(head)) + "|"]
    for h in range(ev.horizon):
        s = m.per_step[h]
        cells = [str(h + 1), _ahead((h + 1) * step_s), _f(s.get("mae")), _f(s.get("rmse")), _f(s.get("r2"), 3)]
        if b is not None and not same:
            skill = m.skill_per_step[h] if h < len(m.skill_per_step) else math.nan
            cells += [_f(b.per_step[h].get("mae")), _f(skill, 3)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _ahead(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def render_markdown(data: ReportData, images: Mapping[str, str], range_text: str = "") -> str:
    """The report as Markdown; `images` maps plot stem -> file name relative to report.md."""
    ev = data.evaluation
    c = data.counts
    out: list[str] = ["# qostui report", ""]
    out.append(f"Generated {_iso(data.made_at)} from `{data.source}`.")
    span = [ev.ts[0], ev.ts[-1]] if len(ev.ts) else []
    facts = [f"{c.get('bandwidth', 0)} bandwidth samples", f"{c.get('ping', 0)} ping rounds",
             f"{c.get('forecast', 0)} stored forecasts"]  # fmt: skip
    out.append(f"Store holds {', '.join(facts)}" + (f"; bandwidth series {_iso(span[0])} to {_iso(span[1])}" if span else "") + ".")
    if range_text:
        out.append(f"Range: {range_text}.")
    out.append("")

    out += ["## Forecast evaluation (test part)", ""]
    if ev.has_model:
        meta = ev.model_meta
        arch = meta.get("architecture", {})
        training = meta.get("training", {})
        out.append(
            f"Model `{ev.model_id}` (created {meta.get('created', '?')}): LSTM({arch.get('units', '?')}, "
            f"{arch.get('activation', '?')}), window {meta.get('window', '?')} steps, horizon {ev.horizon} steps of "
            f"{_ahead(ev.step_s)}, features {', '.join(meta.get('features', [])) or '?'}; "
            f"{training.get('epochs_run', '?')} epochs, best {training.get('best_epoch', '?')}."
        )
    elif ev.method:
        out.append(f"**No trained model**: plots 1-3 show the best baseline, `{ev.method}` "
                   "(train one with `qostui train`).")  # fmt: skip
    if ev.ok and ev.evaluation is not None:
        e = ev.evaluation
        out += ["", f"**{e.verdict()}**", ""]
        out += metrics_table(e)
        out += ["", f"{e.n_windows} test window(s) from {_iso(ev.test_start_ts)}; MAE and RMSE in Mbps; "
                "skill = 1 - MAE / MAE(best baseline), above 0 beats it. Scored on real readings only.", ""]  # fmt: skip
        out += ["### Per horizon step", ""]
        out += horizon_table(e, ev.method, ev.step_s)
        out.append("")
    else:
        out += ["", f"No evaluation: {ev.note or 'nothing to evaluate'}.", ""]

    out += ["## Plots", ""]
    for i, (stem, plot) in enumerate(data.plots(), start=1):
        name = PLOT_TITLES.get(stem, stem)
        out.append(f"### {i}. {name}")
        out.append("")
        out.append(f"{plot.title}." if plot.title else "")
        if getattr(plot, "note", ""):
            out.append(f"Note: {plot.note}.")
        out.append("")
        if stem in images:
            out.append(f"![{name}]({images[stem]})")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def write_markdown(data: ReportData, images: Mapping[str, str], path: Path, range_text: str = "") -> Path:
    path.write_text(render_markdown(data, images, range_text), encoding="utf-8")
    return path
