"""Configuration: TOML -> frozen dataclasses, validated once at start-up.

Lookup order: --config PATH, $QOSTUI_CONFIG, $XDG_CONFIG_HOME/qostui/config.toml, built-in defaults.
Every problem raises ConfigError with one line naming the file, the key and what was expected.
Secrets (the Influx token) come from the environment or a token file; they are never printed.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

from qostui.errors import ConfigError

__all__ = ["Config", "ConfigError", "load_config"]

DEFAULT_TARGETS = ("8.8.8.8", "1.1.1.1", "150.171.27.11")
PROBE_METHODS = ("icmp", "tcp", "auto")


def data_dir() -> Path:
    """$XDG_DATA_HOME/qostui (default ~/.local/share/qostui)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "qostui"


@dataclass(frozen=True)
class TargetConfig:
    address: str  # IP address or hostname
    name: str = ""  # display name; defaults to the address
    probe: str = ""  # "" -> ProbeConfig.method
    tcp_port: int = 0  # 0 -> ProbeConfig.tcp_port

    @property
    def label(self) -> str:
        return self.name or self.address


@dataclass(frozen=True)
class ProbeConfig:
    method: str = "auto"  # icmp | tcp | auto (icmp, falling back to tcp without permission)
    count: int = 5  # echo requests per target per round
    spacing_ms: float = 200.0  # between requests to the same target
    timeout_ms: float = 1000.0  # wait for the last reply
    payload_bytes: int = 56
    tcp_port: int = 443
    resolve_retry_s: float = 60.0  # re-resolve names after failures at most this often


@dataclass(frozen=True)
class BandwidthConfig:
    enabled: bool = True
    interfaces: tuple[str, ...] = ()  # empty: the default-route interface, else all non-loopback summed


@dataclass(frozen=True)
class StoreConfig:
    path: str = ""  # "" -> $XDG_DATA_HOME/qostui/qostui.db
    retention_days: float = 90.0  # 0 keeps everything
    flush_interval_s: float = 1.0

    def resolved_path(self) -> Path:
        return Path(self.path).expanduser() if self.path else data_dir() / "qostui.db"


@dataclass(frozen=True)
class ThresholdConfig:
    rtt_warn_ms: float = 100.0
    rtt_crit_ms: float = 300.0
    jitter_warn_ms: float = 30.0
    jitter_crit_ms: float = 100.0
    loss_warn_pct: float = 1.0
    loss_crit_pct: float = 20.0
    mos_warn: float = 3.6
    mos_crit: float = 3.1
    bandwidth_below_forecast_pct: float = 50.0
    hysteresis_rounds: int = 3  # consecutive rounds needed to raise or clear an alert


@dataclass(frozen=True)
class UiConfig:
    theme: str = "textual-dark"
    history_rounds: int = 120  # ring buffer length per target for sparklines


@dataclass(frozen=True)
class ForecastConfig:
    step_s: float = 300.0
    sequence_length: int = 10
    horizon: int = 12
    split: tuple[float, float, float] = (0.64, 0.16, 0.20)
    log1p: bool = True
    units: int = 32
    activation: str = "tanh"
    loss: str = "mae"  # mae | huber | mse (in level-relative log1p units)
    epochs: int = 60
    patience: int = 5
    batch_size: int = 128
    learning_rate: float = 0.003
    max_gap_steps: int = 3  # gaps up to this many steps are filled; longer ones are marked
    target: str = ""  # latency/loss features from this target; "" -> mean over targets
    use_baseline_without_skill: bool = True
    model_dir: str = ""  # "" -> $XDG_DATA_HOME/qostui/models
    time_features: bool = True  # time-of-day (and day-of-week) encodings when the data spans the cycle
    seed: int = 0  # training seed (weights init, shuffling)
    aci_gamma: float = 0.01  # adaptive conformal step: how fast the intervals' level reacts to misses (x0.5/1/2 per level by validation)

    def resolved_model_dir(self) -> Path:
        return Path(self.model_dir).expanduser() if self.model_dir else data_dir() / "models"


@dataclass(frozen=True)
class InfluxConfig:
    enabled: bool = False
    url: str = ""
    org: str = ""
    bucket: str = ""
    token: str = field(default="", repr=False)  # prefer $INFLUXDB_TOKEN or token_file
    token_file: str = ""
    host_tag: str = ""  # "" -> this machine's hostname
    batch_size: int = 5000
    flush_interval_ms: int = 1000
    backlog_max_points: int = 1_000_000
    timeout_ms: int = 5000


@dataclass(frozen=True)
class Config:
    interval_s: float = 5.0
    targets: tuple[TargetConfig, ...] = tuple(TargetConfig(a) for a in DEFAULT_TARGETS)
    probe: ProbeConfig = ProbeConfig()
    bandwidth: BandwidthConfig = BandwidthConfig()
    store: StoreConfig = StoreConfig()
    thresholds: ThresholdConfig = ThresholdConfig()
    ui: UiConfig = UiConfig()
    forecast: ForecastConfig = ForecastConfig()
    influx: InfluxConfig = InfluxConfig()
    source: str = "<defaults>"  # where it was read from, for messages

    def with_overrides(self, **changes: Any) -> Config:
        cfg = replace(self, **changes)
        validate(cfg)
        return cfg

    def effective_probe(self) -> ProbeConfig:
        """Probe timings shrunk, if needed, so a worst-case round fits in 90% of the interval.

        Worst case: (count-1)*spacing + timeout. Scaling both keeps their proportion, so a short
        --interval on the command line works without editing the file.
        """
        p = self.probe
        worst_s = ((p.count - 1) * p.spacing_ms + p.timeout_ms) / 1000
        budget_s = 0.9 * self.interval_s
        if worst_s <= budget_s:
            return p
        scale = budget_s / worst_s
        return replace(p, spacing_ms=p.spacing_ms * scale, timeout_ms=p.timeout_ms * scale)


_SECTIONS: dict[str, type] = {
    "probe": ProbeConfig,
    "bandwidth": BandwidthConfig,
    "store": StoreConfig,
    "thresholds": ThresholdConfig,
    "ui": UiConfig,
    "forecast": ForecastConfig,
    "influx": InfluxConfig,
}


def find_config_path(cli_path: str | None) -> Path | None:
    """The file to read, or None for built-in defaults."""
    if cli_path:
        return Path(cli_path).expanduser()
    env_path = os.environ.get("QOSTUI_CONFIG")
    if env_path:
        return Path(env_path).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    candidate = Path(xdg) / "qostui" / "config.toml"
    return candidate if candidate.is_file() else None


def load_config(cli_path: str | None = None) -> Config:
    path = find_config_path(cli_path)
    if path is None:
        return apply_env(Config())
    where = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{where}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc})") from None
    return apply_env(parse_config(raw, where))


def parse_config(raw: Mapping[str, Any], where: str = "<config>") -> Config:
    known = {"interval_s", "targets", *_SECTIONS}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{where}: unknown key '{key}' (expected one of: {', '.join(sorted(known))})")
    changes: dict[str, Any] = {"source": where}
    if "interval_s" in raw:
        changes["interval_s"] = _number(raw["interval_s"], where, "interval_s")
    if "targets" in raw:
        changes["targets"] = _parse_targets(raw["targets"], where)
    for name, cls in _SECTIONS.items():
        if name in raw:
            if not isinstance(raw[name], Mapping):
                raise ConfigError(f"{where}: [{name}] must be a table")
            changes[name] = _parse_section(cls, raw[name], where, name)
    cfg = replace(Config(), **changes)
    validate(cfg)
    return cfg


def _parse_targets(value: Any, where: str) -> tuple[TargetConfig, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: 'targets' must be a non-empty list of addresses or tables")
    out = []
    for i, item in enumerate(value):
        key = f"targets[{i}]"
        if isinstance(item, str):
            out.append(TargetConfig(address=item))
        elif isinstance(item, Mapping):
            out.append(_parse_section(TargetConfig, item, where, key))
        else:
            raise ConfigError(f"{where}: '{key}' must be an address string or a table, got {item!r}")
    return tuple(out)


def _parse_section(cls: type, table: Mapping[str, Any], where: str, section: str) -> Any:
    allowed = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        if key not in allowed:
            raise ConfigError(
                f"{where}: unknown key '{section}.{key}' (expected one of: {', '.join(sorted(allowed))})"
            )
        default = allowed[key].default
        if default is dataclasses.MISSING:
            default = ""
        kwargs[key] = _coerce(value, default, where, f"{section}.{key}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: [{section}] {exc}") from None


def _coerce(value: Any, default: Any, where: str, key: str) -> Any:
    """Check `value` against the type of the field's default."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: '{key}' must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: '{key}' must be a whole number, got {value!r}")
        return value
    if isinstance(default, float):
        return _number(value, where, key)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{where}: '{key}' must be a string, got {value!r}")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: '{key}' must be a list, got {value!r}")
        if default and isinstance(default[0], float):
            return tuple(_number(v, where, key) for v in value)
        if not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: '{key}' must be a list of strings, got {value!r}")
        return tuple(value)
    return value


def _number(value: Any, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: '{key}' must be a number, got {value!r}")
    return float(value)


_HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")


def check_address(address: str, where: str, key: str) -> None:
    """An IP address or a syntactically valid hostname."""
    try:
        ipaddress.ip_address(address)
        return
    except ValueError:
        pass
    # Digits-and-dots that are not a valid IPv4 address are a typo, not a hostname.
    if re.fullmatch(r"[0-9.]+", address) or not _HOSTNAME_RE.match(address):
        raise ConfigError(f"{where}: '{key}' = {address!r} is not an IP address or hostname")


def _positive(value: float, where: str, key: str, *, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        expected = "zero or more" if allow_zero else "greater than zero"
        raise ConfigError(f"{where}: '{key}' must be {expected}, got {value:g}")


def validate(cfg: Config) -> None:
    where = cfg.source
    if not 0.05 <= cfg.interval_s <= 86400:
        raise ConfigError(f"{where}: 'interval_s' must be between 0.05 and 86400 seconds, got {cfg.interval_s:g}")
    if not cfg.targets:
        raise ConfigError(f"{where}: 'targets' must name at least one target")
    for i, target in enumerate(cfg.targets):
        check_address(target.address, where, f"targets[{i}].address")
        if target.probe and target.probe not in PROBE_METHODS:
            raise ConfigError(f"{where}: 'targets[{i}].probe' must be one of {PROBE_METHODS}, got {target.probe!r}")
        if not 0 <= target.tcp_port <= 65535:
            raise ConfigError(f"{where}: 'targets[{i}].tcp_port' must be 0..65535, got {target.tcp_port}")
    p = cfg.probe
    if p.method not in PROBE_METHODS:
        raise ConfigError(f"{where}: 'probe.method' must be one of {PROBE_METHODS}, got {p.method!r}")
    if not 1 <= p.count <= 1000:
        raise ConfigError(f"{where}: 'probe.count' must be 1..1000, got {p.count}")
    _positive(p.spacing_ms, where, "probe.spacing_ms", allow_zero=True)
    _positive(p.timeout_ms, where, "probe.timeout_ms")
    if not 0 <= p.payload_bytes <= 65000:
        raise ConfigError(f"{where}: 'probe.payload_bytes' must be 0..65000, got {p.payload_bytes}")
    if not 1 <= p.tcp_port <= 65535:
        raise ConfigError(f"{where}: 'probe.tcp_port' must be 1..65535, got {p.tcp_port}")
    _positive(cfg.store.retention_days, where, "store.retention_days", allow_zero=True)
    _positive(cfg.store.flush_interval_s, where, "store.flush_interval_s")
    f = cfg.forecast
    if not 2 <= f.sequence_length <= 1000:
        raise ConfigError(f"{where}: 'forecast.sequence_length' must be 2..1000, got {f.sequence_length}")
    if not 1 <= f.horizon <= 48:
        raise ConfigError(f"{where}: 'forecast.horizon' must be 1..48, got {f.horizon}")
    if not 0 <= f.aci_gamma <= 0.5:  # NaN fails too
        raise ConfigError(f"{where}: 'forecast.aci_gamma' must be 0..0.5, got {f.aci_gamma}")
    if len(f.split) != 3 or abs(sum(f.split) - 1.0) > 1e-6 or min(f.split) <= 0:
        raise ConfigError(f"{where}: 'forecast.split' must be three positive fractions summing to 1, got {list(f.split)}")
    if f.loss not in ("huber", "mse", "mae"):
        raise ConfigError(f"{where}: 'forecast.loss' must be 'huber', 'mse' or 'mae', got {f.loss!r}")
    if f.activation not in ("tanh", "relu", "sigmoid", "linear"):  # what numpy inference implements
        raise ConfigError(f"{where}: 'forecast.activation' must be tanh, relu, sigmoid or linear, got {f.activation!r}")
    for key in ("epochs", "batch_size"):
        if getattr(f, key) < 1:
            raise ConfigError(f"{where}: 'forecast.{key}' must be 1 or more, got {getattr(f, key)}")
    for key in ("patience", "max_gap_steps", "seed"):
        if getattr(f, key) < 0:
            raise ConfigError(f"{where}: 'forecast.{key}' must be 0 or more, got {getattr(f, key)}")
    _positive(f.learning_rate, where, "forecast.learning_rate")
    if not 1 <= f.units <= 1024:
        raise ConfigError(f"{where}: 'forecast.units' must be 1..1024, got {f.units}")
    _positive(f.step_s, where, "forecast.step_s")
    t = cfg.thresholds
    for kind in ("rtt", "jitter"):
        warn, crit = getattr(t, f"{kind}_warn_ms"), getattr(t, f"{kind}_crit_ms")
        if not 0 <= warn <= crit:
            raise ConfigError(f"{where}: 'thresholds.{kind}_warn_ms' ({warn:g}) must be between 0 and thresholds.{kind}_crit_ms ({crit:g})")
    if not 0 <= t.loss_warn_pct <= t.loss_crit_pct <= 100:
        raise ConfigError(f"{where}: thresholds need 0 <= loss_warn_pct <= loss_crit_pct <= 100")
    if not 0 <= t.mos_crit <= t.mos_warn <= 5:
        raise ConfigError(f"{where}: thresholds need 0 <= mos_crit <= mos_warn <= 5")
    if not 0 < t.bandwidth_below_forecast_pct < 100:
        raise ConfigError(f"{where}: 'thresholds.bandwidth_below_forecast_pct' must be between 0 and 100, got {t.bandwidth_below_forecast_pct:g}")
    if not 1 <= t.hysteresis_rounds <= 1000:
        raise ConfigError(f"{where}: 'thresholds.hysteresis_rounds' must be 1..1000, got {t.hysteresis_rounds}")
    ix = cfg.influx
    if not 1 <= ix.batch_size <= 1_000_000:
        raise ConfigError(f"{where}: 'influx.batch_size' must be 1..1000000, got {ix.batch_size}")
    if not 10 <= ix.flush_interval_ms <= 3_600_000:
        raise ConfigError(f"{where}: 'influx.flush_interval_ms' must be 10..3600000, got {ix.flush_interval_ms}")
    if ix.backlog_max_points < ix.batch_size:
        raise ConfigError(f"{where}: 'influx.backlog_max_points' must be at least influx.batch_size ({ix.batch_size}), got {ix.backlog_max_points}")
    if not 100 <= ix.timeout_ms <= 600_000:
        raise ConfigError(f"{where}: 'influx.timeout_ms' must be 100..600000, got {ix.timeout_ms}")
    if cfg.influx.enabled:
        for key in ("url", "org", "bucket"):
            if not getattr(cfg.influx, key):
                raise ConfigError(f"{where}: 'influx.{key}' is required when influx.enabled = true")
        if not re.match(r"^https?://", cfg.influx.url):
            raise ConfigError(f"{where}: 'influx.url' must start with http:// or https://, got {cfg.influx.url!r}")


def apply_env(cfg: Config) -> Config:
    """Environment variables override the Influx settings (the original tool's names work too)."""
    env = os.environ
    influx = cfg.influx
    changes: dict[str, Any] = {}
    for key, names in {
        "url": ("QOSTUI_INFLUX_URL", "INFLUXDB_URL"),
        "org": ("QOSTUI_INFLUX_ORG", "INFLUXDB_ORG"),
        "bucket": ("QOSTUI_INFLUX_BUCKET", "INFLUXDB_BUCKET"),
        "token": ("QOSTUI_INFLUX_TOKEN", "INFLUXDB_TOKEN"),
    }.items():
        for name in names:
            if env.get(name):
                changes[key] = env[name]
                break
    token_file = env.get("QOSTUI_INFLUX_TOKEN_FILE") or influx.token_file
    if "token" not in changes and token_file:
        try:
            changes["token"] = Path(token_file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{cfg.source}: 'influx.token_file' = {token_file!r} cannot be read ({exc.strerror})") from None
    if changes.get("url") and not influx.enabled:
        changes["enabled"] = True
    if not changes:
        return cfg
    cfg = replace(cfg, influx=replace(influx, **changes))
    validate(cfg)
    return cfg


def parse_targets_arg(text: str, where: str = "--targets") -> tuple[TargetConfig, ...]:
    """`--targets a,b,c` -> target configs (validated)."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ConfigError(f"{where}: expected a comma-separated list of addresses, got {text!r}")
    for item in items:
        check_address(item, where, item)
    return tuple(TargetConfig(address=a) for a in items)


def parse_duration(text: str, where: str = "--duration") -> float:
    """'30s', '5m', '2h', '1d', '1.5' (seconds) -> seconds."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h|d|w)?\s*", text)
    if not match:
        raise ConfigError(f"{where}: expected a duration like 30s, 5m, 2h or 7d, got {text!r}")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2) or "s"]
    return float(match.group(1)) * scale
