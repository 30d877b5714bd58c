"""The embedded SQLite store (WAL): the single source of truth for history."""

from __future__ import annotations

from qostui.store.schema import KINDS, SCHEMA_VERSION
from qostui.store.sqlite import SERIES, Store

__all__ = ["KINDS", "SCHEMA_VERSION", "SERIES", "Store"]
