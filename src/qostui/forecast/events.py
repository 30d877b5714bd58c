"""Training progress as plain event dataclasses.

`qostui.forecast.training.train(..., on_event=callback)` calls `callback(event)` synchronously from
the thread that runs training, in this order:

    TrainingStage("loading keras") ... TrainingStarted -> EpochEnded* ->
        TrainingFinished | TrainingCancelled | TrainingFailed

The CLI prints them on stderr; the TUI's training screen runs `train` in a thread worker and
forwards each event to the UI thread (`app.call_from_thread`). Callbacks must be quick and must
not raise. Events are frozen and hold only plain values, so they can cross threads and be
serialised with `dataclasses.asdict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TrainingStage:
    """A slow step before or after the epochs (loading data, importing Keras, evaluating, saving)."""

    stage: str
    detail: str = ""


@dataclass(frozen=True)
class TrainingStarted:
    epochs: int  # maximum; early stopping usually ends sooner
    patience: int
    n_train: int  # windows
    n_val: int
    n_test: int
    features: tuple[str, ...]
    backend: str  # keras backend: tensorflow | torch | jax


@dataclass(frozen=True)
class EpochEnded:
    epoch: int  # 1-based
    epochs: int
    loss: float
    val_loss: float
    best_epoch: int
    best_val_loss: float
    patience_left: int  # epochs without improvement before early stopping
    elapsed_s: float
    eta_s: float  # if validation loss stops improving now (early stop); never beyond `epochs`


@dataclass(frozen=True)
class TrainingFinished:
    model_id: str
    path: str  # directory holding weights.npz and meta.json ("" when not saved)
    epochs_run: int
    best_epoch: int
    seconds: float
    uses: str  # what `qostui forecast` will use: "lstm" or a baseline label
    verdict: str  # one line: does the model beat the best baseline?
    evaluation: dict[str, Any] = field(default_factory=dict)  # Evaluation.to_dict()


@dataclass(frozen=True)
class TrainingCancelled:
    epoch: int  # last completed epoch
    seconds: float


@dataclass(frozen=True)
class TrainingFailed:
    message: str


TrainingEvent = TrainingStage | TrainingStarted | EpochEnded | TrainingFinished | TrainingCancelled | TrainingFailed
