"""Config hostile values (issue 10, findings 5 and 9): every number finite and in its documented
range, one line naming the key; messages blame what the user actually set."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from cli_harness import isolate_env, run_cli

from qostui.config import RANGES, Config, ConfigError, load_config, numeric_fields, parse_config


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_env(monkeypatch, tmp_path)


def test_every_numeric_field_has_a_range() -> None:
    keys = {key for key, _, _ in numeric_fields(Config())}
    # targets' tcp_port only shows up with a target table; the defaults have none
    assert keys | {"targets.tcp_port"} == set(RANGES), set(RANGES) ^ keys
    for key, _, value in numeric_fields(Config()):
        assert RANGES[key].problem(value) is None, f"default of {key} is outside its own range"


def _set(raw_key: str, value: object) -> dict[str, object]:
    if "." not in raw_key:
        return {raw_key: value}
    section, name = raw_key.split(".")
    return {section: {name: value}}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("probe.timeout_ms", math.nan),
        ("forecast.step_s", math.nan),
        ("store.retention_days", math.nan),
        ("store.flush_interval_s", math.inf),
        ("forecast.learning_rate", math.inf),
        ("probe.resolve_retry_s", -5.0),
        ("forecast.seed", 2**40),
        ("forecast.seed", -1),
        ("interval_s", -math.inf),
        ("thresholds.mos_warn", math.nan),
        ("probe.spacing_ms", 1e300),
    ],
)
def test_non_finite_or_out_of_range_numbers_are_one_line_naming_the_key(key: str, value: float) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_set(key, value), "c.toml")
    message = str(info.value)
    assert message.startswith(f"c.toml: '{key}' must be ") and "\n" not in message, message


@pytest.mark.parametrize("key", sorted(k for k in RANGES if k != "targets.tcp_port"))
def test_nan_is_refused_for_every_numeric_key(key: str) -> None:
    default = Config()
    for part in key.split("."):
        default = getattr(default, part)
    value: object = [math.nan] * 3 if isinstance(default, tuple) else math.nan
    if isinstance(default, int):
        value = 10**30  # TOML has no integer NaN: the out-of-range integer is the hostile case
    with pytest.raises(ConfigError, match=rf"^c\.toml: '{key}' must be "):
        parse_config(_set(key, value), "c.toml")


def test_nan_in_a_toml_file_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('targets = ["127.0.0.1"]\n[probe]\ntimeout_ms = nan\n')
    code, out, err = run_cli("--config", str(path), "export", "--db", str(tmp_path / "x.db"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "'probe.timeout_ms' must be" in err and str(path) in err, err


def test_seed_at_numpy_limit_is_accepted() -> None:
    assert parse_config({"forecast": {"seed": 2**32 - 1}}).forecast.seed == 2**32 - 1


def test_interval_option_is_blamed_not_defaults(tmp_path: Path) -> None:
    for bad in ("0", "nan", "inf", "-1"):
        code, _, err = run_cli("--interval", bad, "export", "--db", str(tmp_path / "x.db"))
        assert code == 2
        assert err.startswith("qostui: error: --interval: must be between") and "<defaults>" not in err, err


def test_bad_influx_url_from_env_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFLUXDB_URL", "http://[::1")
    with pytest.raises(ConfigError) as info:
        load_config()
    assert str(info.value).startswith("$INFLUXDB_URL is not a valid URL"), info.value
    assert "<defaults>" not in str(info.value)


def test_url_without_org_names_the_env_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFLUXDB_URL", "http://127.0.0.1:8086")
    with pytest.raises(ConfigError) as info:
        load_config()
    message = str(info.value)
    assert "$INFLUXDB_URL is set" in message and "$INFLUXDB_ORG" in message, message
    assert "influx.enabled = true" not in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://[::1", "is not a valid URL"),
        ("http://[::1]:99999", "is not a valid URL"),
        ("http://127.0.0.1:port", "is not a valid URL"),
        ("ftp://127.0.0.1", "must start with http:// or https://"),
        ("http://", "has no host name"),
        ("http://[fe80::1%25lo]:8086", "IPv6 zone"),
        ("http://bad host:8086", "without spaces"),
        ("http://u:pw@999.1.1.1:8086", "invalid host"),
    ],
)
def test_influx_url_is_validated_at_load(url: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as info:
        parse_config({"influx": {"url": url, "enabled": True, "org": "o", "bucket": "b"}}, "c.toml")
    assert "pw" not in str(info.value)


def test_valid_urls_pass() -> None:
    for url in ("http://127.0.0.1:8086", "https://[::1]:8086/", "http://influx.example.org", "http://u:p@h:1/x"):
        cfg = parse_config({"influx": {"url": url, "enabled": True, "org": "o", "bucket": "b"}})
        assert cfg.influx.url == url


def test_ipv6_zone_in_a_target_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"'targets\[0\].address' = '::1%lo' has an IPv6 zone"):
        parse_config({"targets": ["::1%lo"]}, "c.toml")


def test_long_names_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"'targets\[0\].name' must be at most 256 characters"):
        parse_config({"targets": [{"address": "127.0.0.1", "name": "x" * 300}]}, "c.toml")
    with pytest.raises(ConfigError, match=r"'influx.host_tag' must be at most 256"):
        parse_config({"influx": {"host_tag": "h" * 1000}}, "c.toml")


def test_ranges_do_not_change_the_example_file() -> None:
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    cfg = load_config(str(example))
    assert dataclasses.asdict(cfg.probe) == dataclasses.asdict(Config().probe)
