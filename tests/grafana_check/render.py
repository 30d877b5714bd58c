"""Every Flux query in the Grafana files, rendered exactly as Grafana sends it to InfluxDB.

Two steps, as in Grafana:
1. the frontend's template variables (`${host:json}`, `$step`, `[[x]]`, ...) are replaced with the
   variable's current value in the requested format (a multi-value "All" selection is every option);
2. the backend's Flux macros (pkg/tsdb/influxdb/flux/macros.go) are replaced textually, by the same
   regular expression `([a-zA-Z]+)\\.([a-zA-Z]+)`: `v.timeRangeStart`/`v.timeRangeStop` become RFC 3339
   (nanosecond) time literals, `v.windowPeriod` a Go duration string ("1m0s"), `v.defaultBucket`,
   `v.bucket` and `v.organization` a quoted string with no escaping, `$__interval(_ms)` the interval.
   Grafana does not pass `v` as a Flux record (an `option v = {...}` prelude would also draw the Flux
   language server's "avoid using v" warning), so this is substitution, like Grafana itself.

Which datasource speaks Flux comes from the provisioning files (type influxdb, jsonData.version
Flux); queries for any other datasource (Prometheus, ...) are left out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# What the renderer feeds in: names a real recorder may well have (the line protocol escapes
# them all): quotes, backslashes, spaces, commas, '=', non-ASCII, IPv6. Grafana's `json` format
# does not escape `${`, which Flux would read as string interpolation: a host tag containing `${`
# cannot be selected in the dashboard (build_query() below escapes it; see test_build_query).
AWKWARD_VALUES = {
    "host": ["lab-1", 'rack "7"', "back\\slash", "web server, a=b", "ünïcödé"],
    "target": ["10.231.0.2", "::1", 'gw "main"', "dns,1=2", "ä b\\"],
    "interface": ["eth0", "wlan 0", "br-lan\\x"],
    "model": ["lstm-1", 'naive "p"'],
}
TIME_RANGE_START = "2026-12-01T10:00:00Z"
TIME_RANGE_STOP = "2026-12-01T16:00:00.123456789Z"  # RFC3339Nano, as Go formats a fractional time
WINDOW_PERIOD = "1m0s"  # Go's Duration.String() of one minute: also valid Flux
ALERT_INTERVAL = "1s"  # Grafana alerting's default query interval (intervalMs 1000)
DEFAULT_BUCKET = "qostui/prod-1"
ORGANIZATION = "home lab"

_MACRO = re.compile(r"([a-zA-Z]+)\.([a-zA-Z]+)")
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)(?::(\w+))?\]\]|\$(\w+)")
_BUILTIN_DEFAULTS = {"__interval": "1m", "__interval_ms": "60000", "__rate_interval": "1m"}


@dataclass
class FluxQuery:
    where: str  # e.g. "qostui.json panel 'Latency' A"
    raw: str  # as stored in the file
    text: str  # as Grafana sends it
    kind: str  # panel | variable | annotation | alert | build_query
    source: Path | None = None
    panel: dict[str, Any] | None = None
    target: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def load_yaml_files(root: Path, sub: str) -> list[tuple[Path, Any]]:
    folder = root / "provisioning" / sub
    return [(p, yaml.safe_load(p.read_text())) for p in sorted(folder.glob("*.y*ml"))]


def dashboards(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    return [(p, json.loads(p.read_text())) for p in sorted((root / "dashboards").glob("*.json"))]


def flux_datasources(root: Path) -> dict[str, dict[str, Any]]:
    """uid -> provisioned datasource, for the InfluxDB datasources in Flux mode."""
    out = {}
    for _, doc in load_yaml_files(root, "datasources"):
        for ds in (doc or {}).get("datasources") or []:
            if ds.get("type") == "influxdb" and (ds.get("jsonData") or {}).get("version") == "Flux":
                out[ds.get("uid", ds.get("name"))] = ds
    return out


def _format(values: list[str], fmt: str | None, multi: bool) -> str:
    if fmt == "json":
        return json.dumps(values if multi else values[0], ensure_ascii=False)
    if fmt in (None, "raw") and not multi:
        return values[0]
    if fmt == "csv":
        return ",".join(values)
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt in (None, "regex"):  # Grafana's default for a multi-value variable in InfluxDB: a regex
        escaped = [re.sub(r"[\\^$*+?.()|{}\[\]/]", lambda m: "\\" + m.group(0), v) for v in values]
        return "(" + "|".join(escaped) + ")" if len(escaped) > 1 else escaped[0]
    raise ValueError(f"variable format {fmt!r} is not modelled by the renderer")


def variable_values(dashboard: dict[str, Any]) -> dict[str, tuple[list[str], bool]]:
    """name -> (the values of an "All" or the current selection, multi?) for every variable."""
    out: dict[str, tuple[list[str], bool]] = {}
    for var in (dashboard.get("templating") or {}).get("list") or []:
        name = var["name"]
        multi = bool(var.get("multi") or var.get("includeAll"))
        if var.get("type") == "custom":
            options = [o["value"] for o in var.get("options") or []] or str(var.get("query", "")).split(",")
            current = (var.get("current") or {}).get("value")
            values = options if multi else [str(current if current is not None else options[0])]
        elif var.get("type") == "constant" or var.get("type") == "textbox":
            values = [str(var.get("query", ""))]
        else:
            values = AWKWARD_VALUES.get(name, [f"{name}-a", f'{name} "b"'])
        out[name] = (values, multi)
    return out


def interpolate_variables(text: str, variables: dict[str, tuple[list[str], bool]]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3) or m.group(5)
        fmt = m.group(2) or m.group(4)
        if name in variables:
            values, multi = variables[name]
            return _format(values, fmt, multi)
        if name in _BUILTIN_DEFAULTS:
            return _BUILTIN_DEFAULTS[name]
        return m.group(0)  # Grafana leaves an unknown variable as it is

    return _VARIABLE.sub(sub, text)


def interpolate_macros(text: str, window_period: str) -> str:
    """Grafana's backend: the same regular expression and replacements as macros.go."""
    values = {
        "timeRangeStart": TIME_RANGE_START,
        "timeRangeStop": TIME_RANGE_STOP,
        "windowPeriod": window_period,
        "bucket": f'"{DEFAULT_BUCKET}"',
        "defaultBucket": f'"{DEFAULT_BUCKET}"',
        "organization": f'"{ORGANIZATION}"',
    }
    for m in list(_MACRO.finditer(text)):  # found in the original, replaced everywhere (strings.ReplaceAll)
        if m.group(2) in values:
            text = text.replace(m.group(0), values[m.group(2)])
    return text.replace("$__interval_ms", "60000").replace("$__interval", "1m")


def _target_query(target: dict[str, Any]) -> str | None:
    q = target.get("query")
    if isinstance(q, dict):
        q = q.get("query")
    return q if isinstance(q, str) else None


def dashboard_queries(root: Path) -> list[FluxQuery]:
    flux = flux_datasources(root)
    out = []
    for path, dash in dashboards(root):
        variables = variable_values(dash)

        def render(raw: str, variables: dict[str, tuple[list[str], bool]] = variables) -> str:
            return interpolate_macros(interpolate_variables(raw, variables), WINDOW_PERIOD)

        for var in (dash.get("templating") or {}).get("list") or []:
            if var.get("type") == "query" and (var.get("datasource") or {}).get("uid") in flux:
                raw = _target_query(var)
                if raw is not None:
                    out.append(
                        FluxQuery(f"{path.name} variable {var['name']}", raw, render(raw), "variable", path)
                    )
        for ann in (dash.get("annotations") or {}).get("list") or []:
            if (ann.get("datasource") or {}).get("uid") in flux:
                raw = _target_query(ann.get("target") or {})
                if raw is not None:
                    out.append(
                        FluxQuery(f"{path.name} annotation {ann['name']!r}", raw, render(raw), "annotation", path,
                                  extra={"annotation": ann})
                    )  # fmt: skip
        for panel in _all_panels(dash):
            panel_uid = (panel.get("datasource") or {}).get("uid")
            for target in panel.get("targets") or []:
                uid = (target.get("datasource") or {}).get("uid", panel_uid)
                raw = _target_query(target)
                if uid in flux and raw is not None:
                    where = f"{path.name} panel {panel.get('title')!r} {target.get('refId')}"
                    out.append(FluxQuery(where, raw, render(raw), "panel", path, panel, target))
    return out


def _all_panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    panels = []
    for p in dash.get("panels") or []:
        panels.append(p)
        panels.extend(p.get("panels") or [])  # collapsed rows hold their panels
    return panels


def alert_queries(root: Path) -> list[FluxQuery]:
    flux = flux_datasources(root)
    out = []
    for path, doc in load_yaml_files(root, "alerting"):
        for group in (doc or {}).get("groups") or []:
            for rule in group.get("rules") or []:
                for item in rule.get("data") or []:
                    raw = (item.get("model") or {}).get("query")
                    if item.get("datasourceUid") in flux and isinstance(raw, str):
                        where = f"{path.name} rule {rule.get('uid')} {item.get('refId')}"
                        text = interpolate_macros(raw, ALERT_INTERVAL)
                        out.append(
                            FluxQuery(where, raw, text, "alert", path, extra={"rule": rule, "item": item})
                        )
    return out


def all_queries(root: Path) -> list[FluxQuery]:
    return dashboard_queries(root) + alert_queries(root)
