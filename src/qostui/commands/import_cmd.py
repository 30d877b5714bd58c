"""`qostui import`: import InfluxDB annotated-CSV or plain CSV into the store."""

from __future__ import annotations

import argparse

from qostui.config import Config
from qostui.errors import QostuiError

HELP = "import InfluxDB annotated-CSV or plain CSV into the store"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace, config: Config) -> int:
    raise QostuiError("not implemented yet")
