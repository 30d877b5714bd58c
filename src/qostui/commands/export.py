"""`qostui export`: export stored samples as CSV or JSON."""

from __future__ import annotations

import argparse

from qostui.config import Config
from qostui.errors import QostuiError

HELP = "export stored samples as CSV or JSON"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace, config: Config) -> int:
    raise QostuiError("not implemented yet")
