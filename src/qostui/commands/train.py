"""`qostui train`: train the bandwidth forecasting model."""

from __future__ import annotations

import argparse

from qostui.config import Config
from qostui.errors import QostuiError

HELP = "train the bandwidth forecasting model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace, config: Config) -> int:
    raise QostuiError("not implemented yet")
