"""prometheus/ and the Prometheus Grafana files: promtool checks the scrape config and the alert
rules (and runs their unit tests); every PromQL expression, in the rules and in the dashboard, is
parsed by promtool and names only metrics and labels a real exporter's /metrics has."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import need, need_tool
from unit.prometheus_helpers import every_kind_of_record, labels_by_sample_name, running_exporter, scrape

try:
    import yaml
except ImportError:  # the `test` extra installs pyyaml
    yaml = None

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "prometheus"
CONFIG = PROM / "prometheus.yml"
RULES = PROM / "qostui-rules.yml"
RULE_TESTS = PROM / "tests" / "qostui-rules.test.yml"
DASHBOARD = ROOT / "grafana" / "dashboards" / "qostui-prometheus.json"
DATASOURCE = ROOT / "grafana" / "provisioning" / "datasources" / "prometheus.yaml"

SCRAPE_LABELS = {"job", "instance"}  # Prometheus adds them to every scraped series
PROMETHEUS_OWN = {"up": SCRAPE_LABELS}  # series Prometheus makes itself
# Grafana's variables, rendered for promtool as Grafana would send them
GRAFANA_VARS = {"$__rate_interval": "1m", "$__range": "6h", "$__interval": "15s"}
_VAR = re.compile(r"\$\{?([A-Za-z_]\w*)\}?")


def load_yaml(path: Path) -> Any:
    need(yaml is not None, "needs pyyaml (the test extra)")
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def exposed() -> dict[str, set[str]]:
    """sample name -> its label names, from a real exporter fed every record kind, plus scrape labels."""
    with running_exporter(every_kind_of_record(), influx_backlog=lambda: 0.0) as exporter:
        text = scrape(exporter)[0]
    names = {name: labels | SCRAPE_LABELS for name, labels in labels_by_sample_name(text).items()}
    names.update(PROMETHEUS_OWN)
    return names


# --- a small PromQL reader: enough to find metric names, matchers and grouping labels ----------------
_SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*\"")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_WORD = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "group",
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool",
    "rate", "irate", "increase", "delta", "idelta", "changes", "resets", "deriv", "histogram_quantile",
    "avg_over_time", "max_over_time", "min_over_time", "sum_over_time", "last_over_time", "count_over_time",
    "absent", "absent_over_time", "time", "label_replace", "label_join", "vector", "scalar", "abs", "clamp_min",
    "clamp_max", "round", "ceil", "floor", "timestamp",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    bare = _STRING.sub('""', expr)
    bare = re.sub(r"\{[^}]*\}", "", bare)  # label matchers
    bare = _GROUPING.sub("", bare)
    bare = re.sub(r"\[[^\]]*\]", "", bare)  # ranges
    bare = re.sub(r"\boffset\s+-?\w+", "", bare)
    bare = re.sub(r"\b\d+(\.\d+)?(e[+-]?\d+)?\b", "", bare)
    return {w for w in _WORD.findall(bare) if w not in PROMQL_WORDS}


def result_labels(expr: str, exposed: dict[str, set[str]]) -> set[str]:
    """Labels the result can carry: the by-lists when it aggregates, else the metrics' labels."""
    bys = [set(re.findall(r"\w+", g)) for kind, g in _GROUPING.findall(expr) if kind == "by"]
    if bys:
        return set.intersection(*bys) - {"le"}
    labels: set[str] = set()
    for name in metric_names(expr):
        labels |= exposed.get(name, set())
    for kind, group in _GROUPING.findall(expr):
        if kind == "without":
            labels -= set(re.findall(r"\w+", group))
    return labels - {"le"}


def promql_problems(expr: str, exposed: dict[str, set[str]], *, uses: set[str] = frozenset()) -> list[str]:
    """Names in `expr` (and labels it `uses` in legends or alert templates) the exporter lacks."""
    problems = []
    names = metric_names(expr)
    if not names:
        problems.append(f"names no metric: {expr!r}")
    for name in sorted(names - set(exposed)):
        problems.append(f"metric {name!r} is not exported")
    in_expr: set[str] = set()
    for name, matchers in _SELECTOR.findall(expr):
        for label, _op in _MATCHER.findall(matchers):
            if name in exposed and label not in exposed[name]:
                problems.append(f"{name} has no label {label!r} (labels: {sorted(exposed[name])})")
        in_expr |= exposed.get(name, set())
    for name in names:
        in_expr |= exposed.get(name, set())
    for _kind, group in _GROUPING.findall(expr):
        for label in re.findall(r"\w+", group):
            if label not in in_expr:
                problems.append(f"grouping label {label!r} is on none of {sorted(names)}")
    available = result_labels(expr, exposed)
    for label in sorted(uses - available):
        problems.append(f"uses label {label!r}, which the result does not have (it has {sorted(available)})")
    return problems


# --- what the files hold -------------------------------------------------------------------------
def rule_expressions() -> list[tuple[str, str, set[str]]]:
    """(alert name, expr, labels its annotations use)."""
    out = []
    for group in load_yaml(RULES)["groups"]:
        for rule in group["rules"]:
            texts = " ".join(rule.get("annotations", {}).values())
            out.append((rule["alert"], rule["expr"], set(re.findall(r"\$labels\.(\w+)", texts))))
    return out


def dashboard_expressions() -> list[tuple[str, str, set[str]]]:
    """(where, expr as Grafana sends it, labels its legend uses); variables' label_values selectors too."""
    dash = json.loads(DASHBOARD.read_text())
    out = []
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
            out.append((f"panel {panel['title']!r} {target['refId']}", target["expr"], legend))
    for ann in dash["annotations"]["list"]:
        if "target" in ann and "expr" in ann["target"]:
            out.append((f"annotation {ann['name']!r}", ann["target"]["expr"], set()))
    for var in dash["templating"]["list"]:
        match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", str(var.get("query", "")), re.S)
        if var["type"] == "query":
            assert match, f"variable {var['name']}: expected label_values(selector, label)"
            out.append((f"variable {var['name']!r}", match.group(1), {match.group(2)}))
    return out


def render_grafana(expr: str) -> str:
    for name, value in GRAFANA_VARS.items():
        expr = expr.replace(name, value)
    return _VAR.sub(".*", expr)  # $host etc.: "All" is the regex .*


# --- promtool ------------------------------------------------------------------------------------
def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([need_tool("promtool"), *args], capture_output=True, text=True, timeout=120)


def test_promtool_checks_the_scrape_config_and_its_rule_files() -> None:
    proc = promtool("check", "config", str(CONFIG))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 rule files found" in proc.stdout + proc.stderr


def test_promtool_checks_the_rules() -> None:
    proc = promtool("check", "rules", str(RULES))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_unit_tests_every_alert_fires() -> None:
    proc = promtool("test", "rules", str(RULE_TESTS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tested = set(re.findall(r"alertname:\s*(\w+)", RULE_TESTS.read_text()))
    assert tested == {name for name, _, _ in rule_expressions()}, "every alert has a promtool test"


def test_alert_rules_cover_the_issue() -> None:
    names = {name for name, _, _ in rule_expressions()}
    for wanted in ("HighRtt", "PacketLoss", "HighJitter", "TargetDown", "BandwidthBelowForecast", "RecorderAbsent"):
        assert f"Qostui{wanted}" in names


def test_dashboard_promql_parses(tmp_path: Path) -> None:
    """Each dashboard expression, variables rendered, as a recording rule: promtool parses the PromQL."""
    need(yaml is not None, "needs pyyaml (the test extra)")
    rules = [{"record": f"qostui:check_{i}", "expr": render_grafana(expr)} for i, (_, expr, _) in enumerate(dashboard_expressions())]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    proc = promtool("check", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(rules)} rules found" in proc.stdout


def test_rules_name_only_exported_metrics_and_labels(exposed: dict[str, set[str]]) -> None:
    problems = [f"{name}: {p}" for name, expr, uses in rule_expressions() for p in promql_problems(expr, exposed, uses=uses)]
    assert problems == []


def test_dashboard_names_only_exported_metrics_and_labels(exposed: dict[str, set[str]]) -> None:
    found = dashboard_expressions()
    assert len(found) >= 15
    problems = [f"{where}: {p}" for where, expr, uses in found for p in promql_problems(expr, exposed, uses=uses)]
    assert problems == []


@pytest.mark.parametrize(
    ("expr", "uses", "problem"),
    [
        ("rate(qostui_probes_sent[5m])", set(), "metric 'qostui_probes_sent' is not exported"),
        ('qostui_probe_mos{taget="x"}', set(), "has no label 'taget'"),
        ("sum by (interface) (qostui_probe_mos)", set(), "grouping label 'interface'"),
        ("sum by (host) (qostui_probe_mos)", {"target"}, "uses label 'target'"),
    ],
)
def test_the_checker_catches_mistakes(exposed: dict[str, set[str]], expr: str, uses: set[str], problem: str) -> None:
    assert any(problem in p for p in promql_problems(expr, exposed, uses=uses))


def test_dashboard_and_datasource_agree() -> None:
    dash = json.loads(DASHBOARD.read_text())
    ds = load_yaml(DATASOURCE)["datasources"]
    assert [d["type"] for d in ds] == ["prometheus"]
    uid = ds[0]["uid"]
    refs = {json.dumps(p["datasource"]) for p in dash["panels"]}
    refs |= {json.dumps(t["datasource"]) for p in dash["panels"] for t in p["targets"]}
    assert refs == {json.dumps({"type": "prometheus", "uid": uid})}
    assert ds[0]["url"].startswith("${")  # from Grafana's environment
