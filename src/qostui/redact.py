"""Secrets out of text: the one helper every message, log line, status line and stored value uses.

Two kinds of secret: the userinfo of a URL (`http://user:PASSWORD@host`), which is always replaced by
`***`, and the values registered with `add_secret()` (the Influx token, URL passwords), which are
replaced wherever they appear, whatever the text around them.
"""

from __future__ import annotations

import logging
import re
import threading

__all__ = ["add_secret", "install_log_redaction", "redact", "redact_url"]

MASK = "***"
_MIN_SECRET_LEN = 4  # shorter values would mask ordinary words; such a token is no secret anyway
# scheme://userinfo@ ; userinfo stops at the first '/', whitespace or quote (RFC 3986 authority)
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s@'\"<>]*)@")
_secrets: set[str] = set()
_lock = threading.Lock()


def add_secret(value: str) -> None:
    """Mask `value` from now on in everything redact() sees (the process keeps it in memory only)."""
    value = value.strip()
    if len(value) >= _MIN_SECRET_LEN:
        with _lock:
            _secrets.add(value)


def redact_url(url: str) -> str:
    """The URL without its userinfo: http://user:pw@host:8086/x -> http://***@host:8086/x."""
    return redact(url)


def redact(text: str) -> str:
    """`text` with every URL userinfo and every registered secret replaced by ***."""
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)  # longest first: one may contain another
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


_installed = False


def install_log_redaction() -> None:
    """Every log record from now on, to any handler (stderr, the UI's log pane), is redacted."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call: the handler reports it, as it would without us
            return record
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return record

    logging.setLogRecordFactory(factory)
