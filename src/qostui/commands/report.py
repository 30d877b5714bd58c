"""`qostui report`: write PNG plots and report.md."""

from __future__ import annotations

import argparse

from qostui.config import Config
from qostui.errors import QostuiError

HELP = "write PNG plots and report.md"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace, config: Config) -> int:
    raise QostuiError("not implemented yet")
