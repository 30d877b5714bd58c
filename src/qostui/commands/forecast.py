"""`qostui forecast`: forecast the next bandwidth steps."""

from __future__ import annotations

import argparse

from qostui.config import Config
from qostui.errors import QostuiError

HELP = "forecast the next bandwidth steps"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace, config: Config) -> int:
    raise QostuiError("not implemented yet")
