"""`qostui grafana --out DIR [--datasource influx|prometheus]`: write a Grafana provisioning folder.

DIR gets `provisioning/` (datasource, dashboard provider, alert rules) and `dashboards/` (the
dashboard JSON), the layout the provider file expects once mounted:

    docker run -v DIR/provisioning:/etc/grafana/provisioning \\
               -v DIR/dashboards:/var/lib/grafana/dashboards/qostui grafana/grafana
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from qostui.config import Config
from qostui.errors import ConfigError, QostuiError

HELP = "write Grafana provisioning files (datasource, dashboard, alert rules) to a folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR", required=True, help="folder to write (created if missing)")
    parser.add_argument(
        "--datasource", choices=("influx", "prometheus"), default="influx",
        help="which datasource the files query (default influx)",
    )  # fmt: skip
    parser.add_argument("--force", action="store_true", help="overwrite files that already exist in DIR")


def _shipped(root: Path) -> str:
    from qostui.asset_files import DATASOURCE_TYPES, provisioning

    have = [n for n in DATASOURCE_TYPES if (p := provisioning(root, n)).datasources and p.dashboards]
    return ", ".join(have) or "none"


def run(args: argparse.Namespace, config: Config) -> int:
    from qostui.asset_files import asset_root, provisioning

    root = asset_root()
    if root is None:
        raise QostuiError(
            "grafana: this installation carries no Grafana files (qostui/assets/grafana is missing)"
        )
    files = provisioning(root, args.datasource)
    missing = [what for what, found in (("datasource", files.datasources), ("dashboard", files.dashboards),
                                        ("dashboard provider", files.providers)) if not found]  # fmt: skip
    if missing:
        raise QostuiError(
            f"grafana: no {args.datasource} {' or '.join(missing)} file is shipped "
            f"(datasources with files: {_shipped(root)})"
        )
    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {out} exists and is not a folder")
    plan = [(p, out / "provisioning" / "datasources" / p.name) for p in files.datasources]
    plan += [(p, out / "provisioning" / "dashboards" / p.name) for p in files.providers]
    plan += [(p, out / "provisioning" / "alerting" / p.name) for p in files.alerting]
    plan += [(p, out / "dashboards" / p.name) for p in files.dashboards]
    existing = [dst for _, dst in plan if dst.exists()]
    if existing and not args.force:
        raise ConfigError(f"--out: {existing[0]} already exists (use --force to overwrite)")
    try:
        for src, dst in plan:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    except OSError as exc:
        raise ConfigError(f"--out: cannot write {exc.filename or out}: {exc.strerror or exc}") from None
    for _, dst in plan:
        print(dst)
    print(
        f"grafana: {len(plan)} files for the {args.datasource} datasource in {out}; mount "
        f"{out / 'provisioning'} at /etc/grafana/provisioning and {out / 'dashboards'} at "
        "/var/lib/grafana/dashboards/qostui",
        file=sys.stderr,
    )
    return 0
