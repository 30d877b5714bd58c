"""Headless modules must never import Textual or TensorFlow at import time (start-up speed, servers)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import qostui

HEAVY = ("textual", "tensorflow", "keras", "torch", "jax", "matplotlib")
# Modules allowed to pull in a heavy library at import time.
ALLOWED_HEAVY = ("qostui.ui", "qostui.forecast.lstm", "qostui.report.png")


def headless_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(qostui.__path__, "qostui."):
        if info.name == "qostui.__main__" or info.name.startswith(ALLOWED_HEAVY):
            continue
        names.append(info.name)
    return names


def imported_heavy(modules: list[str]) -> dict[str, list[str]]:
    code = (
        "import importlib, json, sys\n"
        f"mods = {modules!r}\n"
        f"heavy = {HEAVY!r}\n"
        "for m in mods: importlib.import_module(m)\n"
        "print(json.dumps(sorted({k.split('.')[0] for k in sys.modules if k.split('.')[0] in heavy})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_core_modules_exist() -> None:
    names = headless_modules()
    for required in ("qostui.probes", "qostui.store", "qostui.commands.record", "qostui.pipeline", "qostui.cli"):
        assert required in names


def test_headless_modules_import_neither_textual_nor_tensorflow() -> None:
    assert imported_heavy(headless_modules()) == []


def test_probes_store_and_recorder_alone() -> None:
    assert imported_heavy(["qostui.probes", "qostui.store", "qostui.commands.record", "qostui.pipeline"]) == []
