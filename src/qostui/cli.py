"""Argument parsing and dispatch to sub-commands; no logic of its own.

Each sub-command lives in `qostui.commands.<name>` with `HELP`, `add_arguments(parser)` and
`run(args, config) -> int`. Those modules are cheap to import: heavy imports happen inside `run`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from qostui.commands import add_prometheus_argument
from qostui.config import Config, check_number, load_config, parse_listen, parse_targets_arg
from qostui.errors import QostuiError
from qostui.redact import install_log_redaction, redact

# sub-command -> module under qostui.commands
COMMANDS: dict[str, str] = {
    "monitor": "monitor",
    "record": "record",
    "import": "import_cmd",
    "export": "export",
    "train": "train",
    "forecast": "forecast",
    "evaluate": "evaluate",
    "report": "report",
    "grafana": "grafana",
    "path": "path",
}


def _common_options(suppress: bool) -> argparse.ArgumentParser:
    """Options accepted before and after the sub-command name."""
    default = argparse.SUPPRESS if suppress else None
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--config", metavar="PATH", default=default, help="config file (TOML)")
    p.add_argument("--targets", metavar="A,B", default=default, help="comma-separated targets to probe")
    p.add_argument("--interval", metavar="SECONDS", type=float, default=default, help="seconds between rounds")
    p.add_argument("--db", metavar="PATH", default=default, help="SQLite store path")
    p.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS if suppress else False, help="debug logging"
    )
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qostui",
        description="Network QoS monitor: latency, jitter, loss, bandwidth and forecasts.",
        parents=[_common_options(False)],
    )
    parser.add_argument("--record", action="store_true", help="record headless (same as `qostui record`)")
    parser.add_argument("--duration", default=None, help="with --record: stop after this long (30s, 5m, 2h)")
    parser.add_argument("--json", action="store_true", help="with --record: JSON lines instead of status lines")
    add_prometheus_argument(parser, default=None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"qostui.commands.{module_name}")
        sp = sub.add_parser(name, help=module.HELP, description=module.HELP, parents=[_common_options(True)])
        module.add_arguments(sp)
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    cfg = load_config(args.config)
    changes = {}
    if args.targets:
        changes["targets"] = parse_targets_arg(args.targets)
    if args.interval is not None:
        check_number("interval_s", float(args.interval), "--interval", name="")
        changes["interval_s"] = float(args.interval)
    if args.db:
        from dataclasses import replace

        changes["store"] = replace(cfg.store, path=args.db)
    if getattr(args, "prometheus", None):
        from dataclasses import replace

        parse_listen(args.prometheus, "--prometheus")
        changes["prometheus"] = replace(cfg.prometheus, listen=args.prometheus)
    if changes:
        cfg = cfg.with_overrides(**changes)
    return cfg


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="qostui: %(levelname)s: %(message)s",
    )
    install_log_redaction()
    command = args.command or ("record" if args.record else "monitor")
    try:
        cfg = config_from_args(args)
        module = importlib.import_module(f"qostui.commands.{COMMANDS[command]}")
        if args.command is None:
            # `qostui --record ...`: fill the sub-command's own defaults
            sub_parser = argparse.ArgumentParser(add_help=False)
            module.add_arguments(sub_parser)
            defaults = vars(sub_parser.parse_args([]))
            for key, value in defaults.items():
                if getattr(args, key, None) is None:
                    setattr(args, key, value)
        return int(module.run(args, cfg) or 0)
    except QostuiError as exc:
        print(f"qostui: error: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
