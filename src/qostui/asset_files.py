"""Where the shipped Grafana and Prometheus files are, and which belong to which datasource.

The repository keeps them at its root (`grafana/`, `prometheus/`: what users mount and edit, what
the README and the tests name). A wheel carries a copy under `qostui/assets/` (setup.py copies them
at build time), so an installed qostui finds them beside its package; a source checkout (PYTHONPATH
or an editable install) finds them at the repository root.

Files are told apart by content, without a YAML parser (not a runtime dependency): a datasource
file by its `type:` lines, a dashboard by its panels' datasource types, an alert-rule file by the
`datasourceUid:` values it queries.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

ASSET_DIRS = ("grafana", "prometheus")
# --datasource NAME -> the Grafana datasource plugin type
DATASOURCE_TYPES = {"influx": "influxdb", "prometheus": "prometheus"}

_TYPE_LINE = re.compile(r"^\s*-?\s*type:\s*['\"]?([\w-]+)", re.M)
_UID_LINE = re.compile(r"^\s*-?\s*uid:\s*['\"]?([\w.-]+)", re.M)
_QUERY_UID = re.compile(r"datasourceUid:\s*['\"]?([\w.-]+)")


def asset_root() -> Path | None:
    """The folder holding grafana/ (and prometheus/ when shipped), or None if neither is found."""
    here = Path(__file__).resolve().parent
    for root in (here / "assets", here.parents[1]):  # installed wheel, then a source checkout
        if (root / "grafana" / "dashboards").is_dir():
            return root
    return None


@dataclass(frozen=True)
class Provisioning:
    datasource: str  # influx | prometheus
    datasources: tuple[Path, ...]
    providers: tuple[Path, ...]
    dashboards: tuple[Path, ...]
    alerting: tuple[Path, ...]


def _datasource_types(path: Path) -> set[str]:
    return set(_TYPE_LINE.findall(path.read_text(encoding="utf-8")))


def _dashboard_types(path: Path) -> set[str]:
    try:
        dash = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return set()
    types = set()
    for panel in dash.get("panels") or []:
        for item in (panel, *(panel.get("targets") or [])):
            kind = (item.get("datasource") or {}).get("type")
            if kind and not kind.startswith("-- ") and kind not in ("grafana", "__expr__", "datasource"):
                types.add(kind)
    return types


def provisioning(root: Path, datasource: str) -> Provisioning:
    """The files of one datasource's provisioning folder (any part may be empty)."""
    grafana = root / "grafana"
    plugin = DATASOURCE_TYPES[datasource]
    sources = tuple(p for p in sorted((grafana / "provisioning" / "datasources").glob("*.y*ml"))
                    if plugin in _datasource_types(p))  # fmt: skip
    uids = {u for p in sources for u in _UID_LINE.findall(p.read_text(encoding="utf-8"))}
    dashboards = tuple(
        p for p in sorted((grafana / "dashboards").glob("*.json")) if _dashboard_types(p) == {plugin}
    )
    alerting = tuple(
        p for p in sorted((grafana / "provisioning" / "alerting").glob("*.y*ml"))
        if (queried := set(_QUERY_UID.findall(p.read_text(encoding="utf-8"))) - {"__expr__"}) and queried <= uids
    )  # fmt: skip
    providers = tuple(sorted((grafana / "provisioning" / "dashboards").glob("*.y*ml")))
    return Provisioning(datasource, sources, providers, dashboards, alerting)
