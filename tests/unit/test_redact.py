"""One redaction helper: URL userinfo and registered secrets never reach text the user sees."""

from __future__ import annotations

import logging

import pytest

from qostui.config import InfluxConfig
from qostui.exporters.influx import InfluxWriter, classify
from qostui.redact import add_secret, install_log_redaction, redact, redact_url


def test_userinfo_is_masked_wherever_it_appears() -> None:
    assert redact_url("http://user:SECRET@host:8086/x?y=1") == "http://***@host:8086/x?y=1"
    assert redact_url("https://tok@[::1]:8086") == "https://***@[::1]:8086"
    assert redact_url("http://host:8086") == "http://host:8086"
    line = "cannot reach http://a:b@h:1 (refused); was https://c:d@e"
    assert redact(line) == "cannot reach http://***@h:1 (refused); was https://***@e"
    assert redact("mail me at bob@example.org") == "mail me at bob@example.org"


def test_registered_secrets_are_masked() -> None:
    add_secret("tok-abcdef-123")
    add_secret("ab")  # too short to be a secret worth masking ordinary words for
    assert redact("Authorization: Token tok-abcdef-123!") == "Authorization: Token ***!"
    assert redact("a tab b") == "a tab b"


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    add_secret("pw-9f8e7d")
    with caplog.at_level(logging.WARNING):
        logging.getLogger("qostui.test").warning("to %s with %s", "http://u:pw@h", "pw-9f8e7d")
    assert caplog.records[-1].getMessage() == "to http://***@h with ***"


class _NoStore:
    def read_after(self, kind: str, after_rowid: int, limit: int) -> list:
        return []

    def max_rowid(self, kind: str) -> int:
        return 0

    def get_meta(self, key: str) -> str | None:
        return None

    def set_meta(self, key: str, value: str) -> None:
        pass


def test_exporter_messages_and_destination_have_no_userinfo() -> None:
    config = InfluxConfig(enabled=True, url="http://u:SECRETPW@127.0.0.1:9", org="o", bucket="b", token="t")
    problem = classify(ConnectionRefusedError("connection refused"), config)
    assert "SECRETPW" not in problem.text and "http://***@127.0.0.1:9" in problem.text
    writer = InfluxWriter(config, _NoStore(), host="h", health_check=False)
    assert "SECRETPW" not in repr(writer)
    assert writer._destination() == "http://***@127.0.0.1:9 org=o bucket=b"
