"""Run the npm checkers installed under tests/grafana_check/node_modules (see package.json).

`flux_diagnostics()` type-checks Flux with InfluxData's language server (@influxdata/flux-lsp-node),
`tsc_dashboard()` type-checks a dashboard JSON against @grafana/schema with TypeScript's compiler.
Both need Node.js and `npm ci` in this folder; `missing()` says what is absent (the tests skip on it,
or fail under QOSTUI_REQUIRE_LAB=1).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
TSC = NODE_MODULES / "typescript" / "bin" / "tsc"
SCHEMA = NODE_MODULES / "@grafana" / "schema"
TIMEOUT_S = 600  # a cold tsc on a busy 2-core machine; normally a few seconds


def missing() -> str | None:
    if shutil.which("node") is None:
        return "needs Node.js (`node`) to run the Flux language server and tsc"
    for need in (NODE_MODULES / "@influxdata" / "flux-lsp-node", SCHEMA, TSC):
        if not need.exists():
            return f"needs {need.relative_to(HERE.parent.parent)} (run `npm ci` in tests/grafana_check)"
    return None


def versions() -> dict[str, str]:
    out = {"node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()}
    for name in ("@influxdata/flux-lsp-node", "@grafana/schema", "typescript"):
        out[name] = json.loads((NODE_MODULES / name / "package.json").read_text())["version"]
    return out


def flux_diagnostics(scripts: dict[str, str]) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    """id -> the language server's diagnostics for that script (every severity), and its version."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "diagnostics.json"
        proc = subprocess.run(
            ["node", str(HERE / "flux_check.js"), str(out)],
            input=json.dumps([{"id": k, "text": v} for k, v in scripts.items()]),
            capture_output=True, text=True, timeout=TIMEOUT_S,
        )  # fmt: skip
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"flux_check.js exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
        answer = json.loads(out.read_text())
    return answer["server"], answer["results"]


# Panel type -> the directory of its generated types in @grafana/schema (raw/composable/<dir>).
PANEL_TYPE_DIRS = {
    "timeseries": "timeseries", "table": "table", "stat": "stat", "gauge": "gauge", "bargauge": "bargauge",
    "barchart": "barchart", "piechart": "piechart", "text": "text", "heatmap": "heatmap",
    "histogram": "histogram", "logs": "logs", "state-timeline": "statetimeline",
    "status-history": "statushistory", "geomap": "geomap", "news": "news", "nodeGraph": "nodegraph",
    "dashlist": "dashboardlist", "xychart": "xychart", "trend": "trend", "candlestick": "candlestick",
    "canvas": "canvas", "annolist": "annotationslist",
}  # fmt: skip

# Query models per datasource type (not in @grafana/schema): the keys Grafana's editors write.
_TARGET_TYPES = """
interface FluxTarget extends DataQuery { query: string; }
interface PromTarget extends DataQuery {
  expr: string; legendFormat?: string; instant?: boolean; range?: boolean; exemplar?: boolean;
  format?: 'time_series' | 'table' | 'heatmap'; interval?: string; intervalFactor?: number;
  editorMode?: 'code' | 'builder';
}
"""
_TARGET_BY_DS = {"influxdb": "FluxTarget", "prometheus": "PromTarget"}

_PRELUDE = """
import type {
  AnnotationQuery, Dashboard, DataQuery, FieldConfig, FieldConfigSource, Panel, RowPanel,
} from '@grafana/schema';
%(imports)s
// JSON has no enums: accept an enum's literal values; everything else stays exact (excess-property
// checks apply to every object literal below).
type Json<T> = T extends string ? `${T}` : T extends number | boolean | null | undefined ? T
  : T extends Array<infer U> ? Array<Json<U>> : T extends object ? { [K in keyof T]: Json<T[K]> } : T;
// Grafana fills a panel's missing options from the plugin's defaults, so options may be partial.
type Partly<T> = T extends string ? `${T}` : T extends number | boolean | null | undefined ? T
  : T extends Array<infer U> ? Array<Partly<U>> : T extends object ? { [K in keyof T]?: Partly<T[K]> } : T;
type TypedPanel<O, C, Q> = Json<Omit<Panel, 'options' | 'fieldConfig' | 'targets'>> & {
  options?: Partly<O>;
  fieldConfig?: {
    defaults: Json<Omit<FieldConfig, 'custom'>> & { custom?: Partly<C> };
    overrides: Json<FieldConfigSource['overrides']>;
  };
  targets?: Q[];
};
%(targets)s
"""


def _panel_module(dirname: str) -> str:
    exports = json.loads((SCHEMA / "package.json").read_text())["exports"]
    prefix = f"./dist/esm/raw/composable/{dirname}/panelcfg/x/"
    for key in exports:
        if key.startswith(prefix) and key.endswith("_types.gen"):
            return "@grafana/schema" + key[1:]
    raise KeyError(dirname)


def _target_type(datasource_types: set[str | None]) -> str:
    return (
        _TARGET_BY_DS.get(datasource_types.pop(), "DataQuery") if len(datasource_types) == 1 else "DataQuery"
    )


def dashboard_source(dashboard: dict[str, Any]) -> tuple[str, list[tuple[int, int, str]]]:
    """The TypeScript file for one dashboard: one typed constant per panel, per annotation and for
    the rest of the dashboard; and (first line, last line, what) of each constant."""
    imports: dict[str, str] = {}
    parts: list[tuple[str, str, Any]] = []  # (what, TypeScript type, JSON value)
    panels = []
    for p in dashboard.get("panels") or []:
        panels.append(p)
        panels.extend(p.get("panels") or [])
    for panel in panels:
        kind = panel.get("type")
        what = f"panel {panel.get('title')!r} ({kind})"
        if kind == "row":
            parts.append(
                (what, "Json<Omit<RowPanel, 'panels'>>", {k: v for k, v in panel.items() if k != "panels"})
            )
            continue
        if kind not in PANEL_TYPE_DIRS:
            parts.append((f"{what}: no @grafana/schema types for this panel type", "never", panel))
            continue
        alias = "p_" + PANEL_TYPE_DIRS[kind]
        imports[alias] = _panel_module(PANEL_TYPE_DIRS[kind])
        default_ds = panel.get("datasource") or {}
        target = _target_type(
            {(t.get("datasource") or default_ds).get("type") for t in panel.get("targets") or []}
        )
        parts.append((what, f"TypedPanel<{alias}.Options, {alias}.FieldConfig, {target}>", panel))
    annotations = (dashboard.get("annotations") or {}).get("list") or []
    for ann in annotations:
        target = _target_type({(ann.get("datasource") or {}).get("type")})
        parts.append((f"annotation {ann.get('name')!r}", f"Json<AnnotationQuery<{target}>>", ann))
    rest = {k: v for k, v in dashboard.items() if k != "panels"}
    if "annotations" in rest:
        rest["annotations"] = {**rest["annotations"], "list": []}  # checked one by one above
    parts.append(("dashboard (variables, time, links, ...)", "Json<Omit<Dashboard, 'panels'>>", rest))

    lines = (_PRELUDE % {
        "imports": "\n".join(f"import type * as {a} from '{m}';" for a, m in sorted(imports.items())),
        "targets": _TARGET_TYPES,
    }).split("\n")  # fmt: skip
    bounds = []
    for i, (what, type_, value) in enumerate(parts):
        text = f"export const part_{i}: {type_} = {json.dumps(value, indent=1, ensure_ascii=False)};"
        bounds.append((len(lines) + 1, len(lines) + 1 + text.count("\n"), what))
        lines.extend(text.split("\n"))
    return "\n".join(lines) + "\n", bounds


_TSC_LINE = re.compile(r"^(?P<file>[^(]+)\((?P<line>\d+),(?P<col>\d+)\): error (?P<code>TS\d+): (?P<msg>.*)$")


def tsc_dashboard(dashboard: dict[str, Any]) -> list[str]:
    """tsc's errors for one dashboard, each attributed to the panel (or dashboard part) it is in."""
    source, bounds = dashboard_source(dashboard)
    with tempfile.TemporaryDirectory(dir=HERE) as tmp:  # inside HERE so node_modules resolves
        (Path(tmp) / "dashboard.ts").write_text(source)
        (Path(tmp) / "tsconfig.json").write_text(json.dumps({
            "compilerOptions": {
                "strict": True, "noEmit": True, "target": "ES2022", "module": "ESNext",
                "moduleResolution": "Bundler", "skipLibCheck": True, "types": [],
            },
            "files": ["dashboard.ts"],
        }))  # fmt: skip
        proc = subprocess.run(
            ["node", str(TSC), "-p", str(Path(tmp) / "tsconfig.json"), "--pretty", "false"],
            capture_output=True, text=True, timeout=TIMEOUT_S,
        )  # fmt: skip
    lines = source.split("\n")
    errors = []
    pending: list[str] = []
    for raw in proc.stdout.splitlines():
        m = _TSC_LINE.match(raw)
        if not m:
            if pending and raw.startswith(" "):
                pending[-1] += " " + raw.strip()
            continue
        n = int(m.group("line"))
        what = next((w for lo, hi, w in bounds if lo <= n <= hi), "prelude")
        context = lines[n - 1].strip()[:120] if 0 < n <= len(lines) else ""
        pending.append(f"{what}: {m.group('code')} {m.group('msg')} [at: {context}]")
    errors.extend(pending)
    if proc.returncode != 0 and not errors:
        errors.append(f"tsc exited {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-2000:]}")
    return errors
