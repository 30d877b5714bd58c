"""Remember UI choices in the user's config file: only the `[ui] theme` key is ever written.

The edit is textual (comments and the rest of the file stay as they were), checked by parsing the
result before it replaces the file atomically; anything unexpected leaves the file untouched.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

log = logging.getLogger(__name__)

_HEADER_RE = re.compile(r"^\s*\[\s*([^\]\[]+?)\s*\]\s*(#.*)?$")
_THEME_RE = re.compile(r"^(\s*)theme\s*=.*$")


def config_file_for(source: str) -> Path:
    """The file the config came from, or the default location when built-in defaults were used."""
    if source and not source.startswith("<"):
        return Path(source)
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(xdg) / "qostui" / "config.toml"


def with_ui_theme(text: str, theme: str) -> str:
    """`text` with `[ui] theme = "<theme>"` set, everything else unchanged."""
    value = f"theme = {json.dumps(theme)}"
    lines = text.splitlines()
    section = None
    ui_header = -1
    for i, line in enumerate(lines):
        m = _HEADER_RE.match(line)
        if m:
            section = m.group(1)
            if section == "ui":
                ui_header = i
            continue
        if section == "ui" and _THEME_RE.match(line):
            lines[i] = _THEME_RE.match(line).group(1) + value  # type: ignore[union-attr]
            return "\n".join(lines) + "\n"
    if ui_header >= 0:
        lines.insert(ui_header + 1, value)
    else:
        if lines and lines[-1].strip():
            lines.append("")
        lines += ["[ui]", value]
    return "\n".join(lines) + "\n"


def save_theme(source: str, theme: str) -> Path | None:
    """Write the theme into the config file; returns the path written, None when it was unsafe."""
    path = config_file_for(source)
    try:
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        new = with_ui_theme(old, theme)
        parsed = tomllib.loads(new)
        if parsed.get("ui", {}).get("theme") != theme:  # e.g. an inline `ui = {...}` table
            log.warning("%s: not saving the theme: [ui] is written in a form this edit does not handle", path)
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(new, encoding="utf-8")
        os.replace(tmp, path)
        return path
    except (OSError, tomllib.TOMLDecodeError) as exc:
        log.warning("%s: could not save the theme (%s)", path, exc)
        return None
