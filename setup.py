"""Build hook only (metadata lives in pyproject.toml): the wheel carries the repository's grafana/
and prometheus/ folders as package data under qostui/assets/, where `qostui grafana` finds them.

They stay at the repository root (what users mount and edit, what the README and tests name), so
the copy is made at build time instead of keeping two copies in git.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ASSET_DIRS = ("grafana", "prometheus")  # the same names as qostui.asset_files.ASSET_DIRS


class BuildPyWithAssets(build_py):
    def run(self) -> None:
        super().run()
        here = Path(__file__).resolve().parent
        for name in ASSET_DIRS:
            src = here / name
            if src.is_dir():
                dst = Path(self.build_lib) / "qostui" / "assets" / name
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPyWithAssets})
