"""Names in a Flux query against what qostui's writer produces
(qostui.exporters.line_protocol.MEASUREMENTS): measurements, fields, tags and pivoted columns."""

from __future__ import annotations

import re

from qostui.exporters.line_protocol import MEASUREMENTS

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
