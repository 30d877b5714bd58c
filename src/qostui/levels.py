"""The one threshold rule: which PingRound value each threshold watches, and value -> level.

Used by the alert engine (with hysteresis on top), the UI model (a panel's colour) and the panels
and rows (each value's colour), so a threshold can never mean two things.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from qostui.config import ThresholdConfig
from qostui.records import PingRound


class Level(StrEnum):
    """Severity, as Event.level and CSS class names spell it; IDLE: nothing measured yet."""

    IDLE = "idle"
    OK = "ok"
    WARN = "warn"
    CRIT = "crit"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def of_rank(cls, rank: int) -> Level:
        return _BY_RANK[rank]


_RANK = {Level.IDLE: -1, Level.OK: 0, Level.WARN: 1, Level.CRIT: 2}
_BY_RANK = {v: k for k, v in _RANK.items()}


def worst(*levels: Level) -> Level:
    return max(levels, key=lambda lv: lv.rank)


@dataclass(frozen=True)
class Metric:
    kind: str  # Event.kind
    label: str  # how the value is named in messages
    unit: str
    warn: float
    crit: float
    higher_is_worse: bool = True
    field: str = ""  # the PingRound attribute it reads ("" for values computed elsewhere)

    def level_of(self, value: float | None) -> Level:
        """OK for no value (nothing to judge), else OK / WARN / CRIT against the thresholds."""
        if value is None:
            return Level.OK
        if self.higher_is_worse:
            return Level.CRIT if value >= self.crit else Level.WARN if value >= self.warn else Level.OK
        return Level.CRIT if value <= self.crit else Level.WARN if value <= self.warn else Level.OK

    def value(self, r: PingRound) -> float | None:
        v = getattr(r, self.field)
        return None if v is None else float(v)

    def fmt(self, value: float) -> str:
        return f"{value:.1f}{self.unit}" if self.unit != " Mbps" else f"{value:.2f}{self.unit}"

    def threshold_text(self, level: Level) -> str:
        op = ">=" if self.higher_is_worse else "<="
        limit = self.crit if level is Level.CRIT else self.warn
        return f"{op} {self.fmt(limit)}"


@lru_cache(maxsize=16)  # called per round and per panel repaint; configs are few and frozen
def ping_metrics(t: ThresholdConfig) -> dict[str, Metric]:
    """Threshold -> metric, keyed by Event.kind: the only place these pairs are written.
    (Shared and cached: do not modify the returned dict.)"""
    return {
        "latency": Metric("latency", "latency", " ms", t.rtt_warn_ms, t.rtt_crit_ms, field="rtt_avg_ms"),
        "jitter": Metric("jitter", "jitter", " ms", t.jitter_warn_ms, t.jitter_crit_ms, field="jitter_ms"),
        "loss": Metric("loss", "loss", "%", t.loss_warn_pct, t.loss_crit_pct, field="loss_pct"),
        "mos": Metric("mos", "MOS", "", t.mos_warn, t.mos_crit, higher_is_worse=False, field="mos"),
    }


def bandwidth_metric(t: ThresholdConfig) -> Metric:
    """Bandwidth below forecast: warn at the configured shortfall, crit at halfway to zero."""
    below_pct = t.bandwidth_below_forecast_pct
    return Metric("bandwidth", "bandwidth shortfall", "%", below_pct, below_pct + (100.0 - below_pct) / 2)


def round_levels(r: PingRound, metrics: dict[str, Metric]) -> dict[str, Level]:
    """Each metric's level for one measured round."""
    return {kind: m.level_of(m.value(r)) for kind, m in metrics.items()}
