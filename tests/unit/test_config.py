"""Config: TOML -> frozen dataclasses; one-line errors naming file, key and expectation."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from qostui.config import (
    Config,
    ConfigError,
    load_config,
    parse_config,
    parse_duration,
    parse_targets_arg,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_defaults_are_the_public_targets_but_valid() -> None:
    cfg = Config()
    assert [t.address for t in cfg.targets] == ["8.8.8.8", "1.1.1.1", "150.171.27.11"]
    assert 1 <= cfg.interval_s <= 10


def test_example_file_parses_and_documents_every_key() -> None:
    cfg = load_config(str(EXAMPLE))
    assert cfg.probe.count == Config().probe.count
    text = EXAMPLE.read_text()
    for section in ("probe", "bandwidth", "store", "thresholds", "ui", "forecast", "influx", "prometheus"):
        assert f"[{section}]" in text
        for f in dataclasses.fields(getattr(Config(), section)):
            assert re.search(rf"^{f.name}\s*=", text, re.M), f"config.example.toml lacks {section}.{f.name}"


def test_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().interval_s = 3  # type: ignore[misc]


def test_values_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, 'interval_s = 2\ntargets = ["127.0.0.1", {address="::1", name="v6"}]\n[probe]\ncount = 3\n')
    cfg = load_config(str(path))
    assert cfg.interval_s == 2.0
    assert [t.label for t in cfg.targets] == ["127.0.0.1", "v6"]
    assert cfg.probe.count == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("colour = 1\n", r"unknown key 'colour'"),
        ("[probe]\ncuont = 3\n", r"unknown key 'probe.cuont'"),
        ("[probe]\ncount = 'five'\n", r"'probe.count' must be a whole number"),
        ('targets = ["300.1.2.3"]\n', r"'targets\[0\].address' = '300.1.2.3' is not an IP address"),
        ('targets = ["bad host!"]\n', r"is not an IP address or hostname"),
        ("interval_s = 0\n", r"'interval_s' must be between"),
        ("interval_s = 'fast'\n", r"'interval_s' must be a number"),
        ("[forecast]\nhorizon = 50\n", r"'forecast.horizon' must be 1..48"),
        ("[probe]\nmethod = 'udp'\n", r"'probe.method' must be one of"),
        ("interval_s = = 3\n", r"not valid TOML"),
        ("[thresholds]\nrtt_warn_ms = 500\n", r"'thresholds.rtt_warn_ms' \(500\) must be between 0 and"),
        ("[influx]\nbatch_size = 0\n", r"'influx.batch_size' must be 1..1000000"),
    ],
)
def test_bad_input_is_one_line_naming_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert re.search(expected, message), message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(str(tmp_path / "nope.toml"))


def test_lookup_order_env_then_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "qostui").mkdir(parents=True)
    (xdg / "qostui" / "config.toml").write_text("interval_s = 7\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    monkeypatch.delenv("QOSTUI_CONFIG", raising=False)
    assert load_config().interval_s == 7
    env_file = write(tmp_path, "interval_s = 9\n")
    monkeypatch.setenv("QOSTUI_CONFIG", str(env_file))
    assert load_config().interval_s == 9
    assert load_config(str(xdg / "qostui" / "config.toml")).interval_s == 7


def test_influx_token_from_env_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFLUXDB_TOKEN", "s3cret-token")
    monkeypatch.setenv("INFLUXDB_URL", "http://127.0.0.1:8086")
    monkeypatch.setenv("INFLUXDB_ORG", "o")
    monkeypatch.setenv("INFLUXDB_BUCKET", "b")
    monkeypatch.delenv("QOSTUI_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent")
    cfg = load_config()
    assert cfg.influx.enabled and cfg.influx.token == "s3cret-token"
    assert "s3cret" not in repr(cfg)


def test_effective_probe_fits_short_interval() -> None:
    cfg = Config().with_overrides(interval_s=1.0)
    p = cfg.effective_probe()
    assert ((p.count - 1) * p.spacing_ms + p.timeout_ms) / 1000 <= 0.9 + 1e-9
    assert Config().effective_probe() == Config().probe


def test_targets_arg_and_durations() -> None:
    assert [t.address for t in parse_targets_arg("127.0.0.1, ::1")] == ["127.0.0.1", "::1"]
    with pytest.raises(ConfigError, match="--targets"):
        parse_targets_arg("127.0.0.1,999.1.1.1")
    assert parse_duration("30s") == 30 and parse_duration("5m") == 300 and parse_duration("2h") == 7200
    assert parse_duration("1.5") == 1.5
    with pytest.raises(ConfigError, match="--duration"):
        parse_duration("soon")


def test_parse_config_rejects_non_table_section() -> None:
    with pytest.raises(ConfigError, match=r"\[probe\] must be a table"):
        parse_config({"probe": 3}, "x.toml")


@pytest.mark.parametrize(
    "text", ["colour = 1\n", 'targets = ["300.1.2.3"]\n']
)
def test_cli_exits_2_with_one_line(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    proc = subprocess.run(
        [sys.executable, "-m", "qostui", "record", "--config", str(path), "--db", str(tmp_path / "x.db"), "--duration", "1s"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.db").exists()


def test_cli_bad_targets_arg_exits_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "qostui", "record", "--targets", "127.0.0.1,10.0.0.999", "--db", str(tmp_path / "x.db")],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2 and "10.0.0.999" in proc.stderr and "Traceback" not in proc.stderr
