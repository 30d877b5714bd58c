"""User-facing errors: printed as one line (never a traceback) with a fixed exit status."""

from __future__ import annotations


class QostuiError(Exception):
    """A problem the user can fix; the message is one line and names what was wrong."""

    exit_code = 1


class ConfigError(QostuiError, ValueError):
    """Bad configuration or command-line input (exit status 2)."""

    exit_code = 2
