"""Grafana's documented provisioning formats (administration/provisioning): datasources, dashboard
providers and alert rules, checked key by key: apiVersion, required keys, types, allowed values.
Each check returns problems as "file: where: what" lines ([] when the file is sound)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_ENV_REF = re.compile(r"^\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)$")
_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")

# key -> accepted Python type(s); a key not listed is unknown to Grafana.
DATASOURCE_KEYS: dict[str, Any] = {
    "name": str, "type": str, "uid": str, "access": str, "orgId": int, "url": str, "user": str,
    "database": str, "basicAuth": bool, "basicAuthUser": str, "withCredentials": bool, "isDefault": bool,
    "jsonData": dict, "secureJsonData": dict, "version": int, "editable": bool, "apiVersion": int,
}  # fmt: skip
INFLUX_FLUX_JSONDATA = {
    "version": str, "organization": str, "defaultBucket": str, "timeInterval": str, "maxSeries": int,
    "tlsSkipVerify": bool, "tlsAuth": bool, "tlsAuthWithCACert": bool, "serverName": str, "timeout": int,
    "keepCookies": list, "oauthPassThru": bool,
}  # fmt: skip
INFLUXQL_ONLY = {"httpMode", "dbName", "database", "user", "password", "retentionPolicy"}
PROVIDER_KEYS = {
    "name": str, "orgId": int, "folder": str, "folderUid": str, "type": str, "disableDeletion": bool,
    "updateIntervalSeconds": int, "allowUiUpdates": bool, "options": dict,
}  # fmt: skip
ALERTING_TOP = {"apiVersion", "groups", "deleteRules", "contactPoints", "deleteContactPoints", "policies",
                "resetPolicies", "templates", "deleteTemplates", "muteTimes", "deleteMuteTimes"}  # fmt: skip
GROUP_KEYS = {"orgId": int, "name": str, "folder": str, "interval": str, "rules": list}
RULE_KEYS = {
    "uid": str, "title": str, "condition": str, "data": list, "dashboardUid": str, "panelId": int,
    "noDataState": str, "execErrState": str, "for": str, "keep_firing_for": str, "annotations": dict,
    "labels": dict, "isPaused": bool, "notification_settings": dict, "missing_series_evals_to_resolve": int,
}  # fmt: skip
DATA_KEYS = {"refId": str, "datasourceUid": str, "model": dict, "relativeTimeRange": dict, "queryType": str}
EXPRESSION_TYPES = {"math", "reduce", "resample", "classic_conditions", "threshold", "sql"}
REDUCERS = {"last", "mean", "min", "max", "sum", "count", "median"}
EVALUATORS = {"gt", "lt", "within_range", "outside_range", "within_range_included", "outside_range_included"}


def _keys(where: str, obj: Any, allowed: dict[str, Any], required: tuple[str, ...]) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where}: expected a mapping, got {type(obj).__name__}"]
    out = [f"{where}: missing required key {k!r}" for k in required if k not in obj]
    for k, v in obj.items():
        if k not in allowed:
            out.append(f"{where}: unknown key {k!r} (Grafana expects one of {sorted(allowed)})")
        elif not isinstance(v, allowed[k]) or (allowed[k] is int and isinstance(v, bool)):
            out.append(f"{where}: {k!r} must be {allowed[k].__name__}, got {v!r}")
    return out


def _api_version(name: str, doc: Any) -> list[str]:
    if not isinstance(doc, dict):
        return [f"{name}: expected a mapping at the top"]
    return (
        [] if doc.get("apiVersion") == 1 else [f"{name}: apiVersion must be 1, got {doc.get('apiVersion')!r}"]
    )


def datasources(path: Path, doc: Any) -> list[str]:
    name = path.name
    out = _api_version(name, doc)
    if out:
        return out
    out += [
        f"{name}: unknown top-level key {k!r}"
        for k in doc
        if k not in {"apiVersion", "datasources", "deleteDatasources", "prune"}
    ]
    items = doc.get("datasources")
    if not isinstance(items, list) or not items:
        return [*out, f"{name}: 'datasources' must be a non-empty list"]
    for i, ds in enumerate(items):
        where = f"{name}: datasources[{i}]"
        out += _keys(where, ds, DATASOURCE_KEYS, ("name", "type"))
        if not isinstance(ds, dict):
            continue
        if ds.get("access", "proxy") not in ("proxy", "direct"):
            out.append(f"{where}: access must be proxy or direct, got {ds['access']!r}")
        for k, v in (ds.get("secureJsonData") or {}).items():
            if not (isinstance(v, str) and _ENV_REF.match(v)):
                out.append(
                    f"{where}: secureJsonData.{k} must come from the environment (${{VAR}}), not a literal"
                )
        json_data = ds.get("jsonData") or {}
        if ds.get("type") == "influxdb" and json_data.get("version") == "Flux":
            out += _keys(
                f"{where}: jsonData",
                json_data,
                INFLUX_FLUX_JSONDATA,
                ("version", "organization", "defaultBucket"),
            )
            out += [
                f"{where}: jsonData.{k} is InfluxQL-only: Grafana ignores it for Flux"
                for k in json_data
                if k in INFLUXQL_ONLY
            ]
            if "token" not in (ds.get("secureJsonData") or {}):
                out.append(f"{where}: a Flux datasource needs secureJsonData.token")
    return out


def dashboard_providers(path: Path, doc: Any) -> list[str]:
    name = path.name
    out = _api_version(name, doc)
    if out:
        return out
    providers = doc.get("providers")
    if not isinstance(providers, list) or not providers:
        return [f"{name}: 'providers' must be a non-empty list"]
    for i, p in enumerate(providers):
        where = f"{name}: providers[{i}]"
        out += _keys(where, p, PROVIDER_KEYS, ("name", "type", "options"))
        if isinstance(p, dict):
            if p.get("type") != "file":
                out.append(f"{where}: type must be 'file', got {p.get('type')!r}")
            out += _keys(
                f"{where}: options",
                p.get("options") or {},
                {"path": str, "foldersFromFilesStructure": bool},
                ("path",),
            )
    return out


def alert_rules(path: Path, doc: Any, datasource_uids: set[str]) -> list[str]:
    name = path.name
    out = _api_version(name, doc)
    if out:
        return out
    out += [f"{name}: unknown top-level key {k!r}" for k in doc if k not in ALERTING_TOP]
    for g, group in enumerate(doc.get("groups") or []):
        gw = f"{name}: groups[{g}]"
        out += _keys(gw, group, GROUP_KEYS, ("name", "folder", "interval", "rules"))
        if not isinstance(group, dict):
            continue
        if not _DURATION.match(str(group.get("interval", ""))):
            out.append(f"{gw}: interval must be a duration like 1m, got {group.get('interval')!r}")
        for r, rule in enumerate(group.get("rules") or []):
            rw = f"{gw}: rule {rule.get('uid', r) if isinstance(rule, dict) else r}"
            out += _keys(rw, rule, RULE_KEYS, ("uid", "title", "condition", "data"))
            if not isinstance(rule, dict):
                continue
            for k, ok in (("noDataState", {"Alerting", "NoData", "OK", "KeepLast"}),
                          ("execErrState", {"Alerting", "Error", "OK", "KeepLast"})):  # fmt: skip
                if k in rule and rule[k] not in ok:
                    out.append(f"{rw}: {k} must be one of {sorted(ok)}, got {rule[k]!r}")
            if "for" in rule and not _DURATION.match(str(rule["for"])):
                out.append(f"{rw}: 'for' must be a duration, got {rule['for']!r}")
            for k in ("labels", "annotations"):
                out += [
                    f"{rw}: {k}.{a} must be a string"
                    for a, v in (rule.get(k) or {}).items()
                    if not isinstance(v, str)
                ]
            refs = set()
            for d, item in enumerate(rule.get("data") or []):
                dw = f"{rw}: data[{d}]"
                out += _keys(dw, item, DATA_KEYS, ("refId", "datasourceUid", "model"))
                if not isinstance(item, dict):
                    continue
                refs.add(item.get("refId"))
                uid = item.get("datasourceUid")
                model = item.get("model") or {}
                if uid == "__expr__":
                    kind = model.get("type")
                    if kind not in EXPRESSION_TYPES:
                        out.append(
                            f"{dw}: expression type must be one of {sorted(EXPRESSION_TYPES)}, got {kind!r}"
                        )
                    if kind == "reduce" and model.get("reducer") not in REDUCERS:
                        out.append(
                            f"{dw}: reducer must be one of {sorted(REDUCERS)}, got {model.get('reducer')!r}"
                        )
                    if kind == "threshold":
                        for c in model.get("conditions") or [{}]:
                            if (c.get("evaluator") or {}).get("type") not in EVALUATORS:
                                out.append(f"{dw}: threshold evaluator must be one of {sorted(EVALUATORS)}")
                else:
                    if uid not in datasource_uids:
                        out.append(
                            f"{dw}: datasourceUid {uid!r} is not a provisioned datasource ({sorted(datasource_uids)})"
                        )
                    rel = item.get("relativeTimeRange")
                    if not (
                        isinstance(rel, dict)
                        and isinstance(rel.get("from"), int)
                        and isinstance(rel.get("to", 0), int)
                    ):
                        out.append(
                            f"{dw}: a datasource query needs relativeTimeRange {{from: seconds, to: seconds}}"
                        )
                if model.get("refId", item.get("refId")) != item.get("refId"):
                    out.append(f"{dw}: model.refId differs from refId")
            if rule.get("condition") not in refs:
                out.append(
                    f"{rw}: condition {rule.get('condition')!r} is not one of the data refIds {sorted(refs)}"
                )
    return out
