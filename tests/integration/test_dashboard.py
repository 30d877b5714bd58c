"""Grafana files: every Flux query in the dashboard and the alert rules names only measurements,
fields and tags that the writer produces (qostui.exporters.line_protocol.MEASUREMENTS), and every
panel uses the provisioned datasource."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import need
from qostui.exporters.line_protocol import MEASUREMENTS

try:
    import yaml
except ImportError:  # the `test` extra installs pyyaml; under QOSTUI_REQUIRE_LAB=1 its absence fails
    yaml = None

GRAFANA = Path(__file__).resolve().parents[2] / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "qostui.json"
DATASOURCE = GRAFANA / "provisioning" / "datasources" / "influxdb.yaml"
ALERTS = GRAFANA / "provisioning" / "alerting" / "qostui-alerts.yaml"

_MEASUREMENT_RE = re.compile(r'r\._measurement\s*[!=]=\s*"([^"]+)"')
_FIELD_RE = re.compile(r'r\._field\s*[!=]=\s*"([^"]+)"')
_COLUMN_RE = re.compile(r"\br\.([A-Za-z][A-Za-z0-9_]*)")
_COLUMNS_LIST_RE = re.compile(r"(?:columns|rowKey|columnKey|on)\s*:\s*\[([^\]]*)\]")
_TAG_ARG_RE = re.compile(r'\btag:\s*"([^"]+)"')


def flux_problems(query: str) -> list[str]:
    """Names in a Flux query that the writer does not produce ([] when the query is sound)."""
    problems = []
    measurements = set(_MEASUREMENT_RE.findall(query))
    if not measurements:
        return [f"names no measurement: {query[:80]!r}"]
    for m in measurements - set(MEASUREMENTS):
        problems.append(f"unknown measurement {m!r}")
    known = [MEASUREMENTS[m] for m in measurements if m in MEASUREMENTS]
    tags = {t for tag_keys, _ in known for t in tag_keys}
    fields = {f for _, field_keys in known for f in field_keys}
    for f in _FIELD_RE.findall(query):
        if f not in fields:
            problems.append(f"field {f!r} is not written to {sorted(measurements)}")
    # r.<column>: a tag, or a field turned into a column by pivot()
    for name in _COLUMN_RE.findall(query):
        if name not in tags and name not in fields:
            problems.append(f"column r.{name} is neither a tag nor a field of {sorted(measurements)}")
    for group in _COLUMNS_LIST_RE.findall(query):
        for name in re.findall(r'"([^"]+)"', group):
            if not name.startswith("_") and name not in tags and name not in fields:
                problems.append(f"column {name!r} in a column list is neither a tag nor a field")
    for name in _TAG_ARG_RE.findall(query):
        if name not in tags:
            problems.append(f"schema.tagValues tag {name!r} is not a tag of {sorted(measurements)}")
    return problems


def dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            out.append((f"panel {panel['title']!r} {target['refId']}", target["query"]))
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            out.append((f"variable {var['name']}", var["query"]))
    for ann in dashboard["annotations"]["list"]:
        if "target" in ann:
            out.append((f"annotation {ann['name']}", ann["target"]["query"]))
    return out


def alert_queries(rules: dict[str, Any], datasource_uid: str) -> list[tuple[str, str]]:
    out = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            for item in rule["data"]:
                if item["datasourceUid"] == datasource_uid:
                    out.append((f"alert {rule['uid']} {item['refId']}", item["model"]["query"]))
    return out


@pytest.fixture(scope="module")
def provisioned() -> dict[str, Any]:
    need(yaml is not None, "needs pyyaml (pip install pyyaml) to read the Grafana provisioning files")
    return yaml.safe_load(DATASOURCE.read_text())


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def test_datasource_is_flux_and_holds_no_secret(provisioned: dict[str, Any]) -> None:
    (ds,) = provisioned["datasources"]
    assert ds["type"] == "influxdb" and ds["jsonData"]["version"] == "Flux"
    assert ds["secureJsonData"]["token"] == "${INFLUXDB_TOKEN}"  # from Grafana's environment, never a literal
    assert ds["jsonData"]["defaultBucket"] == "${INFLUXDB_BUCKET}"


def test_every_dashboard_query_names_what_the_writer_produces(
    dashboard: dict[str, Any], provisioned: dict[str, Any]
) -> None:
    uid = provisioned["datasources"][0]["uid"]
    queries = dashboard_queries(dashboard)
    assert len(queries) >= 12
    problems = [f"{where}: {p}" for where, q in queries for p in flux_problems(q)]
    assert problems == []
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert all(t["datasource"]["uid"] == uid for t in panel["targets"]), panel["title"]


def test_dashboard_covers_the_issue(dashboard: dict[str, Any]) -> None:
    """Latency/jitter/loss per target, MOS, bandwidth rx/tx, forecast overlaid on actual bandwidth."""
    text = "\n".join(q for _, q in dashboard_queries(dashboard))
    for field in ("rtt_avg_ms", "jitter_ms", "loss_pct", "mos", "rx_mbps", "tx_mbps", "predicted_mbps"):
        assert f'r._field == "{field}"' in text, field
    overlay = [p for p in dashboard["panels"] if "forecast" in p["title"].lower()]
    assert overlay, "a forecast panel"
    overlay_text = "\n".join(t["query"] for t in overlay[0]["targets"])
    assert '"qos_bandwidth"' in overlay_text and '"qos_forecast"' in overlay_text  # both in one panel
    per_target = [p for p in dashboard["panels"] if "qos_ping" in json.dumps(p["targets"])]
    assert all('"target"' in t["query"] for p in per_target[:4] for t in p["targets"])  # grouped per target


def test_alert_rules_name_what_the_writer_produces(provisioned: dict[str, Any]) -> None:
    uid = provisioned["datasources"][0]["uid"]
    rules = yaml.safe_load(ALERTS.read_text())
    queries = alert_queries(rules, uid)
    titles = {r["title"] for g in rules["groups"] for r in g["rules"]}
    assert {"qostui high latency", "qostui packet loss", "qostui bandwidth below forecast"} <= titles
    assert len(queries) == len(titles)  # every rule queries our datasource
    problems = [f"{where}: {p}" for where, q in queries for p in flux_problems(q)]
    assert problems == []
    for group in rules["groups"]:
        for rule in group["rules"]:
            refs = {d["refId"] for d in rule["data"]}
            assert rule["condition"] in refs


@pytest.mark.parametrize(
    ("bad", "complaint"),
    [
        ('r._field == "rtt_avg"', "field 'rtt_avg'"),
        ('r._measurement == "network_metrics"', "unknown measurement"),
        ('group(columns: ["hostname"])', "'hostname'"),
        ("r.interface", "r.interface"),
    ],
)
def test_the_checker_catches_wrong_names(bad: str, complaint: str) -> None:
    good = (
        "from(bucket: v.defaultBucket) |> range(start: -1h)\n"
        '  |> filter(fn: (r) => r._measurement == "qos_ping" and r._field == "rtt_avg_ms")\n'
        '  |> group(columns: ["host", "target"])'
    )
    assert flux_problems(good) == []
    if bad.startswith("r._field"):
        query = good.replace('r._field == "rtt_avg_ms"', bad)
    elif bad.startswith("r._measurement"):
        query = good.replace('r._measurement == "qos_ping"', bad)
    elif bad.startswith("group"):
        query = good.replace('group(columns: ["host", "target"])', bad)
    else:
        query = good + f'\n  |> filter(fn: (r) => {bad} == "eth0")'
    assert any(complaint in p for p in flux_problems(query)), flux_problems(query)
