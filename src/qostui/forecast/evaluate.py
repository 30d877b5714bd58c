"""Scores on the test part: MAE, RMSE, R², MAPE, sMAPE and skill against the best baseline.

Every method is scored on the same origins and the same truth (real readings only: steps whose
value was filled across a short gap are not scored). `skill` = 1 - MAE / MAE(best baseline),
computed per horizon step and overall: > 0 means better than the best naive forecast.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

METRICS = ("mae", "rmse", "r2", "mape", "smape")


def scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Metrics over all non-NaN pairs of two equally shaped arrays (Mbps)."""
    ok = ~np.isnan(truth) & ~np.isnan(pred)
    if not ok.any():
        return {m: float("nan") for m in METRICS} | {"n": 0}
    p, y = pred[ok].astype(float), truth[ok].astype(float)
    err = p - y
    sst = float(np.sum((y - y.mean()) ** 2))
    nz = np.abs(y) > 1e-9
    denom = np.abs(y) + np.abs(p)
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(math.sqrt(np.mean(err**2))),
        "r2": float(1 - np.sum(err**2) / sst) if sst > 0 else float("nan"),
        "mape": float(100 * np.mean(np.abs(err[nz]) / np.abs(y[nz]))) if nz.any() else float("nan"),
        "smape": float(100 * np.mean(np.where(denom > 0, 2 * np.abs(err) / np.where(denom > 0, denom, 1), 0.0))),
        "n": int(ok.sum()),
    }


@dataclass
class MethodScore:
    name: str
    kind: str  # "model" (the LSTM) | "selected" (the per-step product forecast) | "baseline" (all others)
    overall: dict[str, float]
    per_step: list[dict[str, float]]
    skill: float = float("nan")  # overall, vs the best baseline
    skill_per_step: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "overall": _clean(self.overall),
            "per_step": [_clean(s) for s in self.per_step],
            "skill": _num(self.skill),
            "skill_per_step": [_num(s) for s in self.skill_per_step],
        }


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def _clean(d: Mapping[str, float]) -> dict[str, float | None]:
    return {k: (v if k == "n" or isinstance(v, str) else _num(v)) for k, v in d.items()}


@dataclass
class Evaluation:
    """Model(s) vs baselines on the same test origins."""

    horizon: int
    n_windows: int
    methods: list[MethodScore]
    best_baseline: str

    def get(self, name: str) -> MethodScore:
        for m in self.methods:
            if m.name == name:
                return m
        raise KeyError(name)

    @property
    def model(self) -> MethodScore | None:
        return next((m for m in self.methods if m.kind == "model"), None)

    @property
    def model_has_skill(self) -> bool:
        m = self.model
        return m is not None and math.isfinite(m.skill) and m.skill > 1e-4  # float noise is no skill

    def to_dict(self) -> dict[str, Any]:
        return {
            "horizon": self.horizon,
            "n_windows": self.n_windows,
            "best_baseline": self.best_baseline,
            "model_has_skill": self.model_has_skill,
            "methods": [m.to_dict() for m in self.methods],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Evaluation:
        def f(x: Any) -> float:
            return float("nan") if x is None else float(x)

        methods = [
            MethodScore(
                m["name"],
                m["kind"],
                {k: f(v) for k, v in m["overall"].items()},
                [{k: v if isinstance(v, str) else f(v) for k, v in s.items()} for s in m["per_step"]],
                f(m.get("skill")),
                [f(s) for s in m.get("skill_per_step", [])],
            )
            for m in d["methods"]
        ]
        return cls(int(d["horizon"]), int(d["n_windows"]), methods, str(d["best_baseline"]))

    def format_table(self, steps: tuple[int, ...] | None = None) -> str:
        """Plain-text table: one row per method, overall metrics plus MAE at a few horizon steps."""
        H = self.horizon
        if steps is None:
            steps = tuple(sorted({1, min(3, H), min(6, H), H}))
        head = f"{'method':<22} {'MAE':>8} {'RMSE':>8} {'R2':>7} {'sMAPE%':>7} {'skill':>7}"
        head += "".join(f" {'MAE@' + str(s):>8}" for s in steps)
        lines = [head, "-" * len(head)]
        for m in self.methods:
            o = m.overall
            mark = " *" if m.name == self.best_baseline else ""
            row = (
                f"{(m.name + mark)[:22]:<22} {_fmt(o['mae'], 8, 2)} {_fmt(o['rmse'], 8, 2)} {_fmt(o['r2'], 7, 3)}"
                f" {_fmt(o['smape'], 7, 1)} {_fmt(m.skill, 7, 3)}"
            )
            row += "".join(f" {_fmt(m.per_step[s - 1]['mae'], 8, 2)}" for s in steps)
            lines.append(row)
        lines.append(
            f"{self.n_windows} test window(s), horizon {H}; MAE/RMSE in Mbps; skill = 1 - MAE/MAE(best baseline *)"
        )
        return "\n".join(lines)

    def format_intervals(self) -> str:
        """Per step: the selected method, empirical coverage and mean width of both intervals."""
        try:
            sel = self.get("selected")
        except KeyError:
            return ""
        head = f"{'step':>4} {'method':<22} {'MAE':>10} {'cover80%':>8} {'width80':>10} {'cover95%':>8} {'width95':>10}"
        lines = [head, "-" * len(head)]
        for i, s in enumerate(sel.per_step):
            lines.append(
                f"{i + 1:>4} {str(s.get('method', '?'))[:22]:<22} {_fmt(s['mae'], 10, 2)}"
                f" {_fmt(100 * s.get('coverage_80', math.nan), 8, 1)} {_fmt(s.get('width_80', math.nan), 10, 2)}"
                f" {_fmt(100 * s.get('coverage_95', math.nan), 8, 1)} {_fmt(s.get('width_95', math.nan), 10, 2)}"
            )
        lines.append("intervals: split-conformal on validation residuals, adapted online (ACI) through the test part")
        return "\n".join(lines)

    def verdict(self) -> str:
        m = self.model
        if m is None:
            return f"no trained model: forecasts use the best baseline, {self.best_baseline}"
        if self.model_has_skill:
            return f"the model beats the best baseline ({self.best_baseline}) by {100 * m.skill:.1f}% in MAE"
        return (
            f"the model does NOT beat the best baseline ({self.best_baseline}): MAE {m.overall['mae']:.2f}"
            f" vs {self.get(self.best_baseline).overall['mae']:.2f} Mbps"
        )


def _fmt(x: float, width: int, digits: int) -> str:
    if x is None or not math.isfinite(x):
        return f"{'-':>{width}}"
    return f"{x:>{width}.{digits}f}"


def evaluate(
    predictions: Mapping[str, np.ndarray],
    truth: np.ndarray,
    kinds: Mapping[str, str],
) -> Evaluation:
    """Score each method's (n, H) predictions against `truth` (n, H; NaN = not scored)."""
    n, H = truth.shape
    methods: list[MethodScore] = []
    for name, pred in predictions.items():
        per_step = [scores(pred[:, h], truth[:, h]) for h in range(H)]
        methods.append(MethodScore(name, kinds.get(name, "model"), scores(pred, truth), per_step))
    baselines = [m for m in methods if m.kind == "baseline"]
    best = min(baselines, key=lambda m: m.overall["mae"]) if baselines else None
    if best is not None:
        for m in methods:
            m.skill = 1 - m.overall["mae"] / best.overall["mae"] if best.overall["mae"] > 0 else float("nan")
            m.skill_per_step = [
                1 - s["mae"] / b["mae"] if b["mae"] > 0 else float("nan")
                for s, b in zip(m.per_step, best.per_step, strict=True)
            ]
    return Evaluation(H, n, methods, best.name if best else "")
