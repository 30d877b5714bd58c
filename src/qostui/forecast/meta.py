"""Saved-model metadata: one typed, versioned, frozen dataclass (meta.json is its `to_dict`).

Everything that decides how a saved model is applied to a series lives here and is read in one
place (`qostui.forecast.service`): the step, window, horizon, gap rule and split, the input
design, the anchor and the chosen method per step, the baselines with their parameters, the
interval settings. A model saved by an older qostui (another `format`) is refused with one line
asking to retrain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from qostui.errors import QostuiError
from qostui.forecast.baselines import Baseline
from qostui.forecast.design import Design

META_FORMAT = 2
MODEL_KIND = "residual-lstm"


class OldModel(QostuiError):
    """A model directory written by another qostui version; the message says to retrain."""


@dataclass(frozen=True)
class ModelMeta:
    model_id: str
    created_at: float
    step_s: float
    window: int
    horizon: int
    max_gap_steps: int
    split: tuple[float, float, float]
    design: Design
    anchors: tuple[str, ...]  # per step: persistence | daily | weekly (design.ANCHORS)
    selection: tuple[str, ...]  # per step: the method forecasts use (lstm, linear or a baseline label)
    baselines: tuple[Baseline, ...]
    units: int
    activation: str
    aci_gamma: float
    features: tuple[str, ...] = ()  # for display: what the inputs are made of
    uses: str = ""  # one line: what forecasts use
    verdict: str = ""
    evaluation: dict[str, Any] = field(default_factory=dict)  # Evaluation.to_dict() on the test part
    training: dict[str, Any] = field(default_factory=dict)  # epochs, loss history, seconds, ...
    data: dict[str, Any] = field(default_factory=dict)  # source, range, points, split indices
    versions: dict[str, str] = field(default_factory=dict)
    kind: str = MODEL_KIND
    format: int = META_FORMAT

    def baseline(self, label: str) -> Baseline | None:
        return next((b for b in self.baselines if b.label == label), None)

    @property
    def best_baseline(self) -> str:
        """The naive baseline with the lowest test MAE (what forecasts fall back on)."""
        labels = {b.label for b in self.baselines}
        scored = [(m["overall"].get("mae"), m["name"]) for m in self.evaluation.get("methods", [])
                  if m.get("name") in labels and m.get("overall", {}).get("mae") is not None]  # fmt: skip
        return min(scored)[1] if scored else "persistence"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "kind": self.kind,
            "model_id": self.model_id,
            "created_at": self.created_at,
            "step_s": self.step_s,
            "window": self.window,
            "horizon": self.horizon,
            "max_gap_steps": self.max_gap_steps,
            "split": list(self.split),
            "design": self.design.to_dict(),
            "anchors": list(self.anchors),
            "selection": list(self.selection),
            "baselines": [b.to_dict() | {"label": b.label} for b in self.baselines],
            "architecture": {"layers": "anchor + Dense(flat) + Dense(LSTM(seq))", "units": self.units,
                             "activation": self.activation, "recurrent_activation": "sigmoid", "gate_order": "ifco"},
            "aci_gamma": self.aci_gamma,
            "features": list(self.features),
            "uses": self.uses,
            "verdict": self.verdict,
            "evaluation": self.evaluation,
            "training": self.training,
            "data": self.data,
            "versions": self.versions,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "model") -> ModelMeta:
        fmt = d.get("format")
        if fmt != META_FORMAT or d.get("kind") != MODEL_KIND:
            raise OldModel(
                f"{where}: saved by another qostui version (format {fmt!r}, expected {META_FORMAT});"
                " train again with `qostui train`"
            )
        try:
            arch = d["architecture"]
            return cls(
                model_id=str(d["model_id"]),
                created_at=float(d["created_at"]),
                step_s=float(d["step_s"]),
                window=int(d["window"]),
                horizon=int(d["horizon"]),
                max_gap_steps=int(d["max_gap_steps"]),
                split=tuple(float(x) for x in d["split"]),  # type: ignore[arg-type]
                design=Design.from_dict(d["design"]),
                anchors=tuple(str(a) for a in d["anchors"]),
                selection=tuple(str(s) for s in d["selection"]),
                baselines=tuple(Baseline.from_dict(b) for b in d["baselines"]),
                units=int(arch["units"]),
                activation=str(arch["activation"]),
                aci_gamma=float(d["aci_gamma"]),
                features=tuple(str(f) for f in d.get("features", ())),
                uses=str(d.get("uses", "")),
                verdict=str(d.get("verdict", "")),
                evaluation=dict(d.get("evaluation", {})),
                training=dict(d.get("training", {})),
                data=dict(d.get("data", {})),
                versions={str(k): str(v) for k, v in d.get("versions", {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise OldModel(f"{where}: incomplete model metadata ({type(exc).__name__}: {exc}); train again with `qostui train`") from None
