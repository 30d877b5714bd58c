"""What frames a Flux query gives Grafana, modelled from its pipeline (no server needed).

Grafana's Flux reader (pkg/tsdb/influxdb/flux/builder.go) makes one frame per Flux table (one per
group-key value); a table with `_value` and a time column becomes a time series whose value field is
named after `_field` and labelled with the table's columns that do not start with `_` (never
`_field`, `_measurement`, ...). A table without `_value` becomes a plain table frame. This model takes
the labels a frame reliably has as its group-key columns that are not `_`-prefixed.

The model knows the Flux functions qostui's files use; anything else makes the query "unmodelled",
and a check that needs its shape then fails rather than guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from qostui.exporters.line_protocol import MEASUREMENTS

AGGREGATES = {"mean", "sum", "count", "median", "stddev", "spread", "integral", "mode", "quantile"}
SELECTORS = {"min", "max", "top", "bottom", "distinct", "unique", "sample"}
ORDERED_SELECTORS = {"first", "last", "limit", "tail"}  # take rows by position
PASS_THROUGH = {"filter", "yield", "fill", "timeShift", "toFloat", "toInt", "toString", "duplicate", "rename"}


@dataclass(frozen=True)
class Shape:
    columns: frozenset[str] | None  # None: not known
    key: tuple[str, ...]  # group key
    single: frozenset[str] = frozenset()  # columns known to hold one value across the stream
    time_sorted: bool = True  # rows of each table in ascending _time
    problems: tuple[str, ...] = ()
    unmodelled: str | None = None

    @property
    def labels(self) -> list[str]:
        return [c for c in self.key if not c.startswith("_") and c not in ("result", "table")]

    @property
    def timeseries(self) -> bool:
        return self.columns is not None and "_value" in self.columns

    @property
    def one_frame(self) -> bool:
        return all(c in self.single for c in self.key)


@dataclass
class _Call:
    name: str
    args: str  # the text between the parentheses


def _split_top(text: str, sep: str) -> list[str]:
    """Split at `sep` outside brackets and strings."""
    out, depth, cur, i, quote = [], 0, [], 0, False
    while i < len(text):
        ch = text[i]
        if quote:
            cur.append(ch)
            if ch == "\\":
                cur.append(text[i + 1])
                i += 1
            elif ch == '"':
                quote = False
        elif ch == '"':
            quote = True
            cur.append(ch)
        elif ch in "([{":
            depth += 1
            cur.append(ch)
        elif ch in ")]}":
            depth -= 1
            cur.append(ch)
        elif depth == 0 and text.startswith(sep, i):
            out.append("".join(cur))
            cur = []
            i += len(sep)
            continue
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out


def _calls(expr: str) -> list[_Call]:
    out = []
    for part in _split_top(expr, "|>"):
        part = part.strip()
        m = re.match(r"^([A-Za-z_][\w.]*)\s*\((.*)\)\s*$", part, re.S)
        out.append(_Call(m.group(1), m.group(2)) if m else _Call(part, ""))
    return out


def _arg(args: str, name: str) -> str | None:
    for item in _split_top(args, ","):
        k, _, v = item.partition(":")
        if k.strip() == name:
            return v.strip()
    return None


def _strings(list_text: str | None) -> list[str]:
    return re.findall(r'"((?:[^"\\]|\\.)*)"', list_text or "")


def _record_keys(fn: str) -> tuple[bool, list[str]]:
    """map(fn: (r) => ({r with a: .., b: ..})) -> (with?, [a, b])."""
    m = re.search(r"=>\s*\(\s*\{(.*)\}\s*\)\s*$", fn, re.S)
    if not m:
        return False, []
    body = m.group(1).strip()
    with_ = bool(re.match(r"^r\s+with\b", body))
    if with_:
        body = re.sub(r"^r\s+with\b", "", body)
    keys = [item.partition(":")[0].strip() for item in _split_top(body, ",") if item.strip()]
    return with_, keys


def _source(calls: list[_Call]) -> Shape:
    filters = " ".join(c.args for c in calls if c.name == "filter")
    measurements = set(re.findall(r'r\._measurement\s*==\s*"([^"]+)"', filters))
    fields = set(re.findall(r'r\._field\s*==\s*"([^"]+)"', filters))
    if not measurements or not measurements <= set(MEASUREMENTS):
        return Shape(None, (), unmodelled=f"measurement(s) {sorted(measurements)} not written by qostui")
    tags = sorted({t for m in measurements for t in MEASUREMENTS[m][0]})
    single = {"_start", "_stop"} | ({"_measurement"} if len(measurements) == 1 else set())
    single |= {"_field"} if len(fields) == 1 else set()
    for tag in tags:  # r.tag == "x" pins a tag too
        if len(set(re.findall(rf'r\.{tag}\s*==\s*"([^"]*)"', filters))) == 1:
            single.add(tag)
    key = ("_start", "_stop", "_measurement", "_field", *tags)
    cols = frozenset({*key, "_time", "_value"})
    return Shape(cols, key, frozenset(single), time_sorted=True)


def shape(query: str) -> Shape:
    """The shape of the last expression of a (rendered) Flux script."""
    env: dict[str, Shape] = {}
    statements = [
        s.strip() for s in re.split(r"\n(?=\S)", query) if s.strip() and not s.startswith("import ")
    ]
    last: Shape | None = None
    for stmt in statements:
        m = re.match(r"^([A-Za-z_]\w*)\s*=(?!=)\s*(.*)$", stmt, re.S)
        name, expr = (m.group(1), m.group(2)) if m else (None, stmt)
        result = _pipeline(_calls(expr), env)
        if name:
            env[name] = result
        else:
            last = result
    if last is None:
        raise ValueError("the script has no result expression")
    return last


def _pipeline(calls: list[_Call], env: dict[str, Shape]) -> Shape:
    head = calls[0]
    if head.name == "from":
        s = _source(calls)
    elif head.name == "join":
        tables = dict(
            (k.strip(), v.strip()) for k, _, v in (i.partition(":") for i in _split_top(
                (re.search(r"\{(.*)\}", _arg(head.args, "tables") or "", re.S) or re.search("", "")).group(1) or "", ","))
        )  # fmt: skip
        on = _strings(_arg(head.args, "on"))
        shapes = [env.get(v) for v in tables.values()]
        if len(shapes) != 2 or any(x is None or x.columns is None for x in shapes):
            return Shape(None, (), unmodelled="join() of unknown tables")
        a, b = shapes
        names = list(tables)
        cols = set(on)
        for c in (a.columns | b.columns) - set(on):  # type: ignore[operator]
            if c in a.columns and c in b.columns:  # type: ignore[operator]
                cols |= {f"{c}_{names[0]}", f"{c}_{names[1]}"}
            else:
                cols.add(c)
        key = tuple(c for c in a.key if c in on and c in b.key)
        s = Shape(frozenset(cols), key, a.single & b.single, time_sorted=False)
    elif head.name in env and not head.args:
        s = env[head.name]
    else:
        return Shape(None, (), unmodelled=f"{head.name}()")
    for call in calls[1:]:
        s = _step(s, call)
        if s.unmodelled:
            break
    return s


def _step(s: Shape, call: _Call) -> Shape:
    n, a = call.name, call.args
    cols = s.columns
    if n == "range" or n in PASS_THROUGH:
        return s
    if n == "group":
        columns = _strings(_arg(a, "columns"))
        if (_arg(a, "mode") or '"by"').strip('"') != "by":
            return replace(s, unmodelled='group(mode: "except")')
        merges = any(c not in columns and c not in s.single for c in s.key)
        return replace(s, key=tuple(columns), time_sorted=s.time_sorted and not merges)
    if n == "keep":
        keep = set(_strings(_arg(a, "columns")))
        return replace(
            s,
            columns=frozenset(c for c in (cols or keep) if c in keep),
            key=tuple(c for c in s.key if c in keep),
        )
    if n == "drop":
        drop = set(_strings(_arg(a, "columns")))
        return replace(
            s, columns=None if cols is None else cols - drop, key=tuple(c for c in s.key if c not in drop)
        )
    if n == "pivot":
        column_key = _strings(_arg(a, "columnKey"))
        value = (_arg(a, "valueColumn") or '"_value"').strip('"')
        new = {"<pivoted>"}
        return replace(s, columns=None if cols is None else (cols - set(column_key) - {value}) | new,
                       key=tuple(c for c in s.key if c not in column_key), time_sorted=False)  # fmt: skip
    if n == "map":
        with_, keys = _record_keys(_arg(a, "fn") or "")
        if not keys and not with_:
            return replace(s, unmodelled="map() without a record literal")
        new_cols = (set(cols or ()) | set(keys)) if with_ else set(keys)
        return replace(s, columns=frozenset(new_cols), key=tuple(c for c in s.key if c in new_cols))
    if n == "aggregateWindow":
        column = (_arg(a, "column") or '"_value"').strip('"')
        return replace(s, columns=frozenset({*s.key, "_time", column}), time_sorted=True)
    if n in AGGREGATES:
        column = (_arg(a, "column") or '"_value"').strip('"')
        return replace(s, columns=frozenset({*s.key, column}), time_sorted=True)
    if n in SELECTORS:
        return s
    if n in ORDERED_SELECTORS:
        if not s.time_sorted:
            problem = (f"{n}() takes rows by position after group() merged series: Flux does not keep "
                       "them in time order (sort(columns: [\"_time\"]) first, or select by value)")  # fmt: skip
            return replace(s, problems=(*s.problems, problem))
        return s
    if n == "sort":
        columns = _strings(_arg(a, "columns")) or ["_value"]
        desc = (_arg(a, "desc") or "false").strip() == "true"
        return replace(s, time_sorted=columns[0] == "_time" and not desc)
    return replace(s, unmodelled=f"{n}()")


@dataclass
class PanelProblems:
    problems: list[str] = field(default_factory=list)


_LABEL_REF = re.compile(r"\$\{__field\.labels\.([^}]+)\}")
TABLE_MERGERS = {
    "merge",
    "joinByField",
    "seriesToColumns",
    "seriesToRows",
    "concatenate",
    "reduce",
    "joinByLabels",
}


def display_names(panel: dict) -> list[tuple[str | None, str]]:
    """(refId it applies to, or None for every query; display-name template) of a panel."""
    fc = panel.get("fieldConfig") or {}
    out = []
    if (fc.get("defaults") or {}).get("displayName"):
        out.append((None, fc["defaults"]["displayName"]))
    for ov in fc.get("overrides") or []:
        matcher = ov.get("matcher") or {}
        ref = matcher.get("options") if matcher.get("id") == "byFrameRefID" else None
        for prop in ov.get("properties") or []:
            if prop.get("id") in ("displayName", "displayNameFromDS") and isinstance(prop.get("value"), str):
                out.append((ref, prop["value"]))
    return out


def label_problems(panel: dict, shapes: dict[str, Shape]) -> list[str]:
    """Every ${__field.labels.X} of a panel names a label its queries' frames have."""
    problems = []
    for ref, template in display_names(panel):
        for label in _LABEL_REF.findall(template):
            for ref_id, s in shapes.items():
                if ref is not None and ref != ref_id:
                    continue
                if s.unmodelled:
                    problems.append(f"{ref_id}: cannot tell the labels ({s.unmodelled} is not modelled)")
                elif label.startswith("_"):
                    problems.append(f"{ref_id}: ${{__field.labels.{label}}} is always empty: Grafana never turns "
                                    "`_`-prefixed columns into labels (use ${__field.name} for _field)")  # fmt: skip
                elif not s.timeseries:
                    problems.append(f"{ref_id}: ${{__field.labels.{label}}}: a table frame has no labels")
                elif label not in s.labels:
                    problems.append(
                        f"{ref_id}: ${{__field.labels.{label}}} is not a label (labels: {s.labels})"
                    )
    return problems


def table_problems(panel: dict, shapes: dict[str, Shape]) -> list[str]:
    if panel.get("type") != "table":
        return []
    merged = [t.get("id") for t in panel.get("transformations") or [] if t.get("id") in TABLE_MERGERS]
    many = len(shapes) > 1 or any(not s.one_frame for s in shapes.values())
    if many and not merged:
        per = {r: ("one frame" if s.one_frame else f"one frame per {[c for c in s.key if c not in s.single]}")
               for r, s in shapes.items()}  # fmt: skip
        return [f"a table shows one frame at a time, and its queries give several ({per}): "
                f"group() each query or add a transformation ({', '.join(sorted(TABLE_MERGERS))})"]  # fmt: skip
    return []
