"""Offline proof of every Grafana and Flux file (no InfluxDB or Grafana can run here).

- Every Flux query (dashboard panels, variables, annotations, alert rules, and
  influx_query.build_query() with awkward names), rendered exactly as Grafana sends it
  (grafana_check/render.py: variable interpolation, then the backend's textual v.* macros), is
  type-checked by InfluxData's Flux language server (@influxdata/flux-lsp-node): any diagnostic fails.
- Every dashboard JSON is type-checked by tsc against @grafana/schema, each panel's options and
  field config with its own panel type's generated types, excess-property checks on.
- Frame shapes (grafana_check/shapes.py): ${__field.labels.X} names a real label; a table gets one
  frame or a merging transformation; no positional selector after a regroup; Flux annotations give
  time/text/tags fields; alert $labels exist in their queries.
- Provisioning YAML against Grafana's documented formats.

Generic over every dashboard and provisioning file under grafana/ (Flux checks only for queries on a
Flux InfluxDB datasource). QOSTUI_GRAFANA_DIR points the module at another copy of grafana/ (how the
old files on main were shown to fail). Needs Node.js and `npm ci` in tests/grafana_check.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import need

try:
    import yaml
except ImportError:  # the `test` extra installs pyyaml
    yaml = None

REPO = Path(__file__).resolve().parents[2]
GRAFANA = Path(os.environ.get("QOSTUI_GRAFANA_DIR") or REPO / "grafana")
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
SUBS = ("datasources", "dashboards", "alerting")
PROVISIONING_FILES = sorted(p for sub in SUBS for p in (GRAFANA / "provisioning" / sub).glob("*.y*ml"))


def _need_yaml() -> None:
    need(yaml is not None, "needs pyyaml (the `test` extra)")


@pytest.fixture(scope="module")
def tools() -> Any:
    _need_yaml()
    from grafana_check import tools as t

    reason = t.missing()
    need(reason is None, reason or "")
    return t


@pytest.fixture(scope="module")
def queries() -> list[Any]:
    _need_yaml()
    from grafana_check.render import all_queries

    found = all_queries(GRAFANA)
    assert found, f"no Flux query found under {GRAFANA}"
    return found


def _shapes_by_panel(queries: list[Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    from grafana_check.shapes import shape

    panels: dict[int, tuple[str, dict[str, Any], dict[str, Any]]] = {}
    for q in queries:
        if q.kind == "panel":
            where = f"{q.source.name} panel {q.panel.get('title')!r}"
            panels.setdefault(id(q.panel), (where, q.panel, {}))[2][q.target.get("refId")] = shape(q.text)
    return list(panels.values())


# --- Flux: the language server ------------------------------------------------------------------

AWKWARD_BUILD_QUERY = [
    ("qostui", "lab-1"),
    ('my "bucket"', 'rack "7"'),
    ("back\\slash\\", "end\\"),
    ("b ${x} $y", "h ${host} {}"),
    ("ünïcödé/bücket", "web server, a=b"),
]


def test_every_flux_query_type_checks(tools: Any, queries: list[Any]) -> None:
    from qostui.exporters.influx_query import build_query

    scripts = {q.where: q.text for q in queries}
    for bucket, host in AWKWARD_BUILD_QUERY:
        scripts[f"build_query({bucket!r}, {host!r})"] = build_query(bucket, host, 7 * 86400, 300.0)
    server, results = tools.flux_diagnostics(scripts)
    assert server.startswith("flux-lsp")
    problems = [
        f"{where}: line {d['range']['start']['line'] + 1}: {d['message']}\n{scripts[where]}"
        for where, diags in results.items() for d in diags
    ]  # fmt: skip
    assert problems == []
    assert set(results) == set(scripts)
    kinds = {q.kind for q in queries}
    assert {"panel", "alert"} <= kinds, kinds


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ('from(bucket: "b") |> range(start: -1h, bogus: 1)', "unexpected argument bogus"),
        ('from(bucket: "b") |> aggregateWindow(fn: mean)', "missing required argument every"),
        ('from(bucket: "b") |> range(start: -1h', "expected RPAREN"),
        ('x = "a" + 1', "expected string but found int"),
        ("from(bucket: v.defaultBucket) |> range(start: v.timeRangeStart)", "undefined identifier v"),
        ('import "influxdata/influxdb/schema"\nschema.tagValuez(bucket: "b", tag: "host")', "tagValuez"),
    ],
)
def test_the_flux_checker_is_alive(tools: Any, broken: str, message: str) -> None:
    good = 'from(bucket: "b") |> range(start: -1h) |> filter(fn: (r) => r._measurement == "qos_ping")'
    _, results = tools.flux_diagnostics({"good": good, "broken": broken})
    assert results["good"] == []
    assert any(message in d["message"] for d in results["broken"]), results["broken"]


def test_rendering_is_what_grafana_sends(queries: list[Any]) -> None:
    """No macro or dashboard variable is left for InfluxDB to choke on."""
    for q in queries:
        assert not re.search(r"\bv\.(timeRangeStart|timeRangeStop|windowPeriod|defaultBucket)\b", q.text), (
            q.where
        )
        assert not re.search(r"\$\{?(host|target|interface|model|step)\b", q.text), q.where


# --- Dashboards: tsc against @grafana/schema ------------------------------------------------------


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_type_checks_against_grafana_schema(tools: Any, path: Path) -> None:
    assert tools.tsc_dashboard(json.loads(path.read_text())) == []


def test_the_schema_checker_is_alive(tools: Any) -> None:
    dash = json.loads(DASHBOARD_FILES[0].read_text())
    broken = copy.deepcopy(dash)
    ts = [p for p in broken["panels"] if p["type"] == "timeseries"]
    assert len(ts) >= 3
    # one mistake per panel: tsc reports one problem per object literal
    ts[0]["options"]["legend"]["placment"] = "bottom"  # misspelt option
    ts[1].setdefault("fieldConfig", {"defaults": {}, "overrides": []})["defaults"]["unitt"] = "ms"
    ts[2].setdefault("fieldConfig", {"defaults": {}, "overrides": []})["defaults"].setdefault("custom", {})[
        "lineWidth"
    ] = "thick"  # wrong type
    broken["annotations"]["list"].append({**broken["annotations"]["list"][0], "textColumn": "_value"})
    errors = tools.tsc_dashboard(broken)
    for fragment in ("'\"placment\"'", "'\"unitt\"'", "not assignable to type 'number", "'\"textColumn\"'"):
        assert any(fragment in e for e in errors), (fragment, errors)


# --- Frame shapes ---------------------------------------------------------------------------------


def test_field_labels_name_real_labels(queries: list[Any]) -> None:
    """Defect 1 on main: ${__field.labels._field} is always empty, so rx and tx shared a legend."""
    from grafana_check.shapes import label_problems

    problems = [
        f"{w}: {p}" for w, panel, shapes in _shapes_by_panel(queries) for p in label_problems(panel, shapes)
    ]
    assert problems == []


def test_table_panels_get_one_frame_or_merge(queries: list[Any]) -> None:
    """Defect 2 on main: the Recorders table got one frame per host and query, no transformation."""
    from grafana_check.shapes import table_problems

    problems = [
        f"{w}: {p}" for w, panel, shapes in _shapes_by_panel(queries) for p in table_problems(panel, shapes)
    ]
    assert problems == []


def test_no_positional_selector_after_a_regroup(queries: list[Any]) -> None:
    """Defect 3 on main: group(columns: ["host"]) |> last() picks whichever row came last."""
    from grafana_check.shapes import shape

    problems = [f"{q.where}: {p}" for q in queries for p in shape(q.text).problems]
    assert problems == []


def test_flux_annotations_give_time_text_and_tags(queries: list[Any]) -> None:
    """Defect 4 on main: textColumn/tagsColumn are InfluxQL-only; for Flux, Grafana maps a frame's
    fields named time, text and tags (standardAnnotationSupport), so `kind` never became a tag."""
    from grafana_check.shapes import shape

    annotations = [q for q in queries if q.kind == "annotation"]
    problems = []
    for q in annotations:
        ann = q.extra["annotation"]
        problems += [
            f"{q.where}: {k} is InfluxQL-only"
            for k in ("textColumn", "tagsColumn", "titleColumn", "timeEndColumn")
            if k in ann
        ]
        s = shape(q.text)
        if s.columns is None or not {"time", "text", "tags"} <= s.columns:
            problems.append(
                f"{q.where}: the frame needs fields time, text and tags, has {sorted(s.columns or [])}"
            )
        if s.timeseries:
            problems.append(
                f"{q.where}: a _value column makes a time-series frame (its value field is named after _field)"
            )
        if not s.one_frame:
            problems.append(f"{q.where}: several frames are joined on Time by Grafana: group() into one")
    assert problems == []


def test_alert_labels_exist_in_their_queries(queries: list[Any]) -> None:
    from grafana_check.shapes import shape

    problems = []
    for q in (q for q in queries if q.kind == "alert"):
        rule = q.extra["rule"]
        s = shape(q.text)
        text = json.dumps(rule.get("annotations") or {}) + json.dumps(rule.get("labels") or {})
        used = set(re.findall(r"\$labels\.(\w+)", text)) | set(re.findall(r'index \$labels \\?"(\w+)', text))
        for label in sorted(used):
            if s.unmodelled or label not in s.labels:
                problems.append(f"{q.where}: $labels.{label} is not a label of the query (labels {s.labels})")
    assert problems == []


def test_the_shape_checks_are_alive() -> None:
    """Each defect on main, restored in a small query, is caught."""
    from grafana_check.shapes import label_problems, shape, table_problems

    base = ('from(bucket: "b") |> range(start: -1h) |> filter(fn: (r) => r._measurement == "qos_bandwidth" and '
            '(r._field == "rx_mbps" or r._field == "tx_mbps")) |> group(columns: ["host", "interface", "_field"])')  # fmt: skip
    panel = {"type": "timeseries", "fieldConfig": {"defaults": {"displayName": "${__field.labels._field}"}}}
    assert "always empty" in label_problems(panel, {"A": shape(base)})[0]
    panel["fieldConfig"]["defaults"]["displayName"] = "${__field.labels.nic}"
    assert "not a label" in label_problems(panel, {"A": shape(base)})[0]
    last = ('from(bucket: "b") |> range(start: -1h) |> filter(fn: (r) => r._measurement == "qos_ping" and '
            'r._field == "sent") |> group(columns: ["host"]) |> last() |> map(fn: (r) => ({host: r.host, t: r._time}))')  # fmt: skip
    assert shape(last).problems
    assert not shape(last.replace("|> last()", '|> sort(columns: ["_time"]) |> last()')).problems
    assert table_problems({"type": "table"}, {"A": shape(last), "B": shape(last)})
    grouped = last.replace("|> map(", "|> group() |> map(")
    assert not table_problems({"type": "table"}, {"A": shape(grouped)})
    assert table_problems({"type": "table"}, {"A": shape(grouped), "B": shape(grouped)})


# --- Provisioning YAML ----------------------------------------------------------------------------


def _datasource_uids() -> set[str]:
    uids = set()
    for p in (GRAFANA / "provisioning" / "datasources").glob("*.y*ml"):
        for ds in (yaml.safe_load(p.read_text()) or {}).get("datasources") or []:
            uids.add(ds.get("uid", ds.get("name")))
    return uids


@pytest.mark.parametrize("path", PROVISIONING_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_provisioning_follows_grafanas_format(path: Path) -> None:
    """Includes: no InfluxQL-only jsonData (httpMode: POST was on main) for a Flux datasource."""
    _need_yaml()
    from grafana_check import provisioning

    doc = yaml.safe_load(path.read_text())
    kind = path.parent.name
    if kind == "datasources":
        problems = provisioning.datasources(path, doc)
    elif kind == "dashboards":
        problems = provisioning.dashboard_providers(path, doc)
    else:
        problems = provisioning.alert_rules(path, doc, _datasource_uids())
    assert problems == []


def test_the_provisioning_checker_is_alive() -> None:
    _need_yaml()
    from grafana_check import provisioning

    ds = {"apiVersion": 1, "datasources": [{"name": "x", "type": "influxdb", "uid": "u", "jsonData": {
        "version": "Flux", "organization": "o", "defaultBucket": "b", "httpMode": "POST"},
        "secureJsonData": {"token": "literal-secret"}, "isDefault": "yes"}]}  # fmt: skip
    problems = "\n".join(provisioning.datasources(Path("ds.yaml"), ds))
    assert (
        "httpMode is InfluxQL-only" in problems
        and "not a literal" in problems
        and "'isDefault' must be bool" in problems
    )
    rules = {"apiVersion": 1, "groups": [{"name": "g", "folder": "f", "interval": "1 minute", "rules": [
        {"uid": "r", "title": "t", "condition": "Z", "noDataState": "Fine", "data": [
            {"refId": "A", "datasourceUid": "other", "model": {}}]}]}]}  # fmt: skip
    problems = "\n".join(provisioning.alert_rules(Path("a.yaml"), rules, {"u"}))
    for fragment in ("interval must be a duration", "noDataState", "not a provisioned datasource", "condition 'Z'",
                     "relativeTimeRange"):  # fmt: skip
        assert fragment in problems, (fragment, problems)
    providers = {"apiVersion": 1, "providers": [{"name": "p", "type": "file", "options": {}}]}
    assert "missing required key 'path'" in "\n".join(
        provisioning.dashboard_providers(Path("p.yaml"), providers)
    )


# --- Defect 5: a round that could not be sent is not 0% loss --------------------------------------


def test_an_unsent_round_gives_the_loss_panel_and_alert_nothing(queries: list[Any]) -> None:
    """Every field a loss panel or loss alert reads is absent from the line of a no_route/unresolved
    round (main wrote loss_pct=0.0: 0% loss for an unreachable target)."""
    from qostui.exporters.line_protocol import encode
    from qostui.probes.stats import failed_round
    from qostui.records import ProbeState

    loss_fields = {
        f for q in queries if "loss" in q.where.lower() for f in re.findall(r'r\._field == "(\w+)"', q.text)
    }
    assert "loss_pct" in loss_fields
    for state in (s for s in ProbeState if s is not ProbeState.OK):
        line = encode(failed_round(ts=1.0, target="t", address="", probe="icmp", state=state, error="x"), "h")
        fields = {kv.split("=", 1)[0] for kv in line.split(" ")[1].split(",")}
        assert not fields & loss_fields, (state, line)


# --- Names: what qostui's writer produces (was tests/integration/test_dashboard.py) ---------------


def test_flux_queries_name_what_the_writer_produces(queries: list[Any]) -> None:
    from grafana_check.names import flux_problems

    problems = [f"{q.where}: {p}" for q in queries for p in flux_problems(q.raw)]
    assert problems == []


@pytest.mark.parametrize(
    ("bad", "complaint"),
    [
        ('r._field == "rtt_avg"', "field 'rtt_avg'"),
        ('r._measurement == "network_metrics"', "unknown measurement"),
        ('group(columns: ["hostname"])', "'hostname'"),
        ("r.interface", "r.interface"),
    ],
)
def test_the_name_checker_catches_wrong_names(bad: str, complaint: str) -> None:
    from grafana_check.names import flux_problems

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


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_every_panel_uses_a_provisioned_datasource(path: Path) -> None:
    _need_yaml()
    uids = _datasource_uids()
    dash = json.loads(path.read_text())
    for panel in dash.get("panels") or []:
        if panel.get("type") == "row":
            continue
        refs = [panel.get("datasource") or {}] + [
            t.get("datasource") or {} for t in panel.get("targets") or []
        ]
        assert all(r.get("uid") in uids for r in refs), (panel.get("title"), refs, uids)
    for var in (dash.get("templating") or {}).get("list") or []:
        if var.get("type") == "query":
            assert (var.get("datasource") or {}).get("uid") in uids, var["name"]


def test_the_flux_dashboard_covers_the_issue(queries: list[Any]) -> None:
    """Latency/jitter/loss per target, MOS, bandwidth rx/tx, forecast overlaid on actual bandwidth,
    and the alert rules for latency, loss and bandwidth below forecast."""
    panel_queries = [q for q in queries if q.kind == "panel"]
    text = "\n".join(q.raw for q in panel_queries)
    for name in ("rtt_avg_ms", "jitter_ms", "loss_pct", "mos", "rx_mbps", "tx_mbps", "predicted_mbps"):
        assert f'r._field == "{name}"' in text, name
    overlay = [q.raw for q in panel_queries if "forecast" in q.panel["title"].lower()]
    assert any('"qos_bandwidth"' in q for q in overlay) and any('"qos_forecast"' in q for q in overlay)
    per_target = [q for q in panel_queries if '"qos_ping"' in q.raw and "Recorders" not in q.panel["title"]]
    assert per_target and all('"target"' in q.raw for q in per_target)  # grouped per target
    titles = {q.extra["rule"]["title"] for q in queries if q.kind == "alert"}
    assert {"qostui high latency", "qostui packet loss", "qostui bandwidth below forecast"} <= titles
