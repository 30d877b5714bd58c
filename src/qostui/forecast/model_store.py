"""Saved models on disk: one directory per model with weights.npz and meta.json.

    <model_dir>/<model_id>/weights.npz   the residual net's arrays (infer.RESIDUAL_WEIGHTS) and
                                         the linear model's (linear_kernel, linear_bias)
    <model_dir>/<model_id>/meta.json     meta.ModelMeta.to_dict(): step, window, horizon, design,
                                         anchors, per-step selection, baselines, metrics, versions
    <model_dir>/<model_id>/aci_state.npz the intervals' online state (conformal.AciState), updated
                                         by `qostui forecast` as readings arrive
    <model_dir>/LATEST                   the id of the model `qostui forecast` uses

Writes go to a temporary directory first and are renamed into place, so a crash never leaves a
half-written model behind LATEST.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qostui.errors import QostuiError
from qostui.forecast.meta import META_FORMAT, ModelMeta

LATEST = "LATEST"


@dataclass(frozen=True)
class SavedModel:
    model_id: str
    path: Path
    meta: dict[str, Any]  # meta.json as read (for display); `info` is the typed form every rule uses
    weights: dict[str, np.ndarray] | None
    info: ModelMeta | None = None


def new_model_id(kind: str = "lstm", now: float | None = None) -> str:
    return f"{kind}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now or time.time()))}"


def save_model(
    model_dir: Path, model_id: str, meta: dict[str, Any], weights: dict[str, np.ndarray] | None, *,
    make_latest: bool = True, extra_files: dict[str, Any] | None = None,
) -> Path:
    """Write a model atomically and (by default) point LATEST at it. Returns its directory."""
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QostuiError(f"{model_dir}: cannot create the model directory ({exc.strerror})") from None
    final = model_dir / model_id
    n = 1
    while final.exists():  # two trainings in the same second
        n += 1
        final = model_dir / f"{model_id}-{n}"
    model_id = final.name
    meta = dict(meta, model_id=model_id, format=META_FORMAT)
    extra = dict(extra_files or {})
    tmp = Path(tempfile.mkdtemp(prefix=f".{model_id}.", dir=model_dir))
    try:
        if weights is not None:
            np.savez(tmp / "weights.npz", **{k: np.asarray(v, dtype=np.float32) for k, v in weights.items()})
        for name, write in extra.items():  # name -> callable(path) writing that file
            write(tmp / name)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if make_latest:
        latest_tmp = model_dir / f".{LATEST}.tmp"
        latest_tmp.write_text(model_id + "\n", encoding="utf-8")
        os.replace(latest_tmp, model_dir / LATEST)
    return final


def latest_model_id(model_dir: Path) -> str | None:
    try:
        text = (model_dir / LATEST).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def list_models(model_dir: Path) -> list[str]:
    if not model_dir.is_dir():
        return []
    return sorted(p.name for p in model_dir.iterdir() if (p / "meta.json").is_file())


def load_model(model_dir: Path, model_id: str | None = None) -> SavedModel | None:
    """The named model, else the LATEST one; None when no model was trained yet."""
    model_id = model_id or latest_model_id(model_dir)
    if model_id is None:
        return None
    path = model_dir / model_id
    if not path.is_dir():
        known = ", ".join(list_models(model_dir)) or "none"
        raise QostuiError(f"no model {model_id!r} in {model_dir} (saved models: {known})")
    meta_path = path / "meta.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QostuiError(f"{meta_path}: model metadata missing (train again with `qostui train`)") from None
    except (OSError, ValueError) as exc:
        raise QostuiError(f"{meta_path}: unreadable model metadata ({exc}); train again with `qostui train`") from None
    if not isinstance(meta, dict):
        raise QostuiError(f"{meta_path}: unreadable model metadata (not an object); train again with `qostui train`")
    info = ModelMeta.from_dict(meta, where=f"model {model_id} ({path})")
    wpath = path / "weights.npz"
    try:
        with np.load(wpath) as npz:
            weights = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise QostuiError(f"{wpath}: model weights missing (train again with `qostui train`)") from None
    except (OSError, ValueError) as exc:
        raise QostuiError(f"{wpath}: unreadable model weights ({exc})") from None
    return SavedModel(model_id, path, meta, weights, info)
