"""Configuration: TOML -> frozen dataclasses, validated once at start-up.

Lookup order: --config PATH, $QOSTUI_CONFIG, $XDG_CONFIG_HOME/qostui/config.toml, built-in defaults.
Every problem raises ConfigError with one line naming the file, the key and what was expected.
Secrets (the Influx token) come from the environment or a token file; they are never printed.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
import sys
from collections.abc import Iterator, Mapping
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
PATH_PROTOCOLS = ("icmp", "udp", "tcp")


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
    timezone: str = ""  # clock of every chart and time label: "" local time, "UTC" or an IANA name
    view: str = "auto"  # monitor layout: "panels", "compact" (a line per target) or "auto" (compact when panels do not fit)


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
class PrometheusConfig:
    listen: str = ""  # "host:port" or "[v6]:port" serving /metrics; "" = off


@dataclass(frozen=True)
class PathConfig:
    enabled: bool = False  # record the hop-by-hop path of every target (qostui record / monitor)
    interval_s: float = 60.0  # between path rounds of one target
    max_ttl: int = 30
    probes_per_hop: int = 10  # passes (one probe per TTL each) per path round
    spacing_ms: float = 100.0  # between two passes
    timeout_ms: float = 1000.0  # wait for a hop's reply
    hysteresis_rounds: int = 2  # path rounds with a new hop sequence before a `route` event
    resolve_names: bool = False  # reverse DNS of hop addresses in `qostui path` and the path view
    protocol: str = "icmp"  # icmp (echo requests) | udp (datagrams to port 33434) | tcp (SYNs to port 80, root only)


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
    prometheus: PrometheusConfig = PrometheusConfig()
    path: PathConfig = PathConfig()
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


@dataclass(frozen=True)
class Range:
    """The documented range of a numeric config key; *_open: that end itself is excluded."""

    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False

    def problem(self, value: float) -> str | None:
        """None when `value` is finite and inside, else 'must be ..., got ...' for a message."""
        if math.isfinite(value):
            above = value > self.lo if self.lo_open else value >= self.lo
            below = value < self.hi if self.hi_open else value <= self.hi
            if above and below:
                return None
        lo, hi = _show_number(self.lo), _show_number(self.hi)
        if isinstance(value, int) and not (self.lo_open or self.hi_open):
            return f"must be {lo}..{hi}, got {value}"
        low = f"greater than {lo}" if self.lo_open else f"at least {lo}"
        high = f"less than {hi}" if self.hi_open else f"at most {hi}"
        if not (self.lo_open or self.hi_open):
            return f"must be between {lo} and {hi}, got {value:g}"
        return f"must be {low} and {high}, got {value:g}"


def _show_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else f"{x:g}"


# Every numeric config key and its range: validate() checks each one (finite, inside) in one loop,
# and a unit test checks that no numeric field is missing here. Relations between keys
# (warn <= crit, split sums to 1, ...) are checked after it.
RANGES: dict[str, Range] = {
    "interval_s": Range(0.05, 86400),
    "targets.tcp_port": Range(0, 65535),
    "probe.count": Range(1, 1000),
    "probe.spacing_ms": Range(0, 60_000),
    "probe.timeout_ms": Range(0, 600_000, lo_open=True),
    "probe.payload_bytes": Range(0, 65000),
    "probe.tcp_port": Range(1, 65535),
    "probe.resolve_retry_s": Range(0, 86400),
    "store.retention_days": Range(0, 36500),
    "store.flush_interval_s": Range(0, 3600, lo_open=True),
    "thresholds.rtt_warn_ms": Range(0, 600_000),
    "thresholds.rtt_crit_ms": Range(0, 600_000),
    "thresholds.jitter_warn_ms": Range(0, 600_000),
    "thresholds.jitter_crit_ms": Range(0, 600_000),
    "thresholds.loss_warn_pct": Range(0, 100),
    "thresholds.loss_crit_pct": Range(0, 100),
    "thresholds.mos_warn": Range(0, 5),
    "thresholds.mos_crit": Range(0, 5),
    "thresholds.bandwidth_below_forecast_pct": Range(0, 100, lo_open=True, hi_open=True),
    "thresholds.hysteresis_rounds": Range(1, 1000),
    "ui.history_rounds": Range(1, 1_000_000),
    "forecast.step_s": Range(0, 31 * 86400, lo_open=True),
    "forecast.sequence_length": Range(2, 1000),
    "forecast.horizon": Range(1, 48),
    "forecast.split": Range(0, 1, lo_open=True),
    "forecast.units": Range(1, 1024),
    "forecast.epochs": Range(1, 1_000_000),
    "forecast.patience": Range(0, 1_000_000),
    "forecast.batch_size": Range(1, 1_000_000),
    "forecast.learning_rate": Range(0, 10, lo_open=True),
    "forecast.max_gap_steps": Range(0, 1_000_000),
    "forecast.seed": Range(0, 2**32 - 1),  # numpy's seed range
    "forecast.aci_gamma": Range(0, 0.5),
    "influx.batch_size": Range(1, 1_000_000),
    "influx.flush_interval_ms": Range(10, 3_600_000),
    "influx.backlog_max_points": Range(1, 1_000_000_000),
    "influx.timeout_ms": Range(100, 600_000),
    "path.interval_s": Range(1, 86400),
    "path.max_ttl": Range(1, 64),
    "path.probes_per_hop": Range(1, 1000),
    "path.spacing_ms": Range(1, 60_000),
    "path.timeout_ms": Range(10, 60_000),
    "path.hysteresis_rounds": Range(1, 1000),
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def numeric_fields(cfg: Config) -> Iterator[tuple[str, str, float]]:
    """(range key, key for messages, value) of every numeric value in the config."""
    yield "interval_s", "interval_s", cfg.interval_s
    for i, target in enumerate(cfg.targets):
        yield "targets.tcp_port", f"targets[{i}].tcp_port", target.tcp_port
    for section in _SECTIONS:
        obj = getattr(cfg, section)
        for f in fields(obj):
            value = getattr(obj, f.name)
            key = f"{section}.{f.name}"
            if _is_number(value):
                yield key, key, value
            elif isinstance(value, tuple) and value and all(_is_number(v) for v in value):
                for v in value:
                    yield key, key, v


def check_number(key: str, value: float, where: str, name: str | None = None) -> None:
    """ConfigError naming `where` and the key unless `value` is finite and inside RANGES[key]."""
    problem = RANGES[key].problem(value)
    if problem is not None:
        label = f"'{name or key}' " if name != "" else ""
        raise ConfigError(f"{where}: {label}{problem}")


_SECTIONS: dict[str, type] = {
    "probe": ProbeConfig,
    "bandwidth": BandwidthConfig,
    "store": StoreConfig,
    "thresholds": ThresholdConfig,
    "ui": UiConfig,
    "forecast": ForecastConfig,
    "influx": InfluxConfig,
    "prometheus": PrometheusConfig,
    "path": PathConfig,
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
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: not UTF-8 text (byte {exc.start}); expected a TOML file") from None
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


MAX_NAME = 256  # longest name (target, interface, org, ...) accepted in the config and in imported files


def check_text(value: str, where: str, key: str) -> None:
    """A name or label: at most MAX_NAME characters, no control characters (one-line messages)."""
    if len(value) > MAX_NAME:
        raise ConfigError(f"{where}: '{key}' must be at most {MAX_NAME} characters, got {len(value)}")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ConfigError(f"{where}: '{key}' must not contain control characters, got {value[:60]!r}")


def check_url(url: str, where: str, key: str = "") -> None:
    """An http(s) URL with a host (and a valid port), checked at load so it cannot fail every round.

    Messages start with "WHERE: 'KEY'", or with WHERE alone when there is no key (an env variable).
    """
    from urllib.parse import urlsplit

    from qostui.redact import redact_url

    head = f"{where}: '{key}'" if key else where
    shown = redact_url(url)
    if len(url) > 2048 or any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise ConfigError(f"{head} must be a URL without spaces or control characters, got {shown[:80]!r}")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number in 0..65535)
    except ValueError as exc:
        raise ConfigError(f"{head} is not a valid URL ({exc}), got {shown!r}") from None
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"{head} must start with http:// or https://, got {shown!r}")
    if not host:
        raise ConfigError(f"{head} has no host name, got {shown!r}")
    if "%" in host:
        raise ConfigError(f"{head} has an IPv6 zone ({host!r}); zones are not supported, use a global or ULA address")
    if not _is_ip(host) and (re.fullmatch(r"[0-9.]+", host) or not _HOSTNAME_RE.match(host)):
        raise ConfigError(f"{head} has an invalid host {host[:80]!r}, got {shown[:120]!r}")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def check_address(address: str, where: str, key: str) -> None:
    """An IP address or a syntactically valid hostname."""
    if "%" in address:
        # ipaddress accepts fe80::1%eth0, but the probes cannot use a scope id: refuse it here,
        # not with an error every round.
        raise ConfigError(
            f"{where}: '{key}' = {address[:80]!r} has an IPv6 zone (%name); zones are not supported, "
            "use the address without it (a global or ULA address)"
        )
    try:
        ipaddress.ip_address(address)
        return
    except ValueError:
        pass
    # Digits-and-dots that are not a valid IPv4 address are a typo, not a hostname.
    if re.fullmatch(r"[0-9.]+", address) or not _HOSTNAME_RE.match(address):
        raise ConfigError(f"{where}: '{key}' = {address[:80]!r} is not an IP address or hostname")


def _positive(value: float, where: str, key: str, *, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        expected = "zero or more" if allow_zero else "greater than zero"
        raise ConfigError(f"{where}: '{key}' must be {expected}, got {value:g}")


def validate(cfg: Config) -> None:
    where = cfg.source
    for key, name, value in numeric_fields(cfg):  # the one range check: every number, finite
        check_number(key, value, where, name)
    if not cfg.targets:
        raise ConfigError(f"{where}: 'targets' must name at least one target")
    for i, target in enumerate(cfg.targets):
        check_address(target.address, where, f"targets[{i}].address")
        check_text(target.name, where, f"targets[{i}].name")
        if target.probe and target.probe not in PROBE_METHODS:
            raise ConfigError(f"{where}: 'targets[{i}].probe' must be one of {PROBE_METHODS}, got {target.probe!r}")
    p = cfg.probe
    if p.method not in PROBE_METHODS:
        raise ConfigError(f"{where}: 'probe.method' must be one of {PROBE_METHODS}, got {p.method!r}")
    f = cfg.forecast
    if len(f.split) != 3 or abs(sum(f.split) - 1.0) > 1e-6 or min(f.split) <= 0:
        raise ConfigError(f"{where}: 'forecast.split' must be three positive fractions summing to 1, got {list(f.split)}")
    if f.loss not in ("huber", "mse", "mae"):
        raise ConfigError(f"{where}: 'forecast.loss' must be 'huber', 'mse' or 'mae', got {f.loss!r}")
    if f.activation not in ("tanh", "relu", "sigmoid", "linear"):  # what numpy inference implements
        raise ConfigError(f"{where}: 'forecast.activation' must be tanh, relu, sigmoid or linear, got {f.activation!r}")
    t = cfg.thresholds
    for kind in ("rtt", "jitter"):
        warn, crit = getattr(t, f"{kind}_warn_ms"), getattr(t, f"{kind}_crit_ms")
        if not 0 <= warn <= crit:
            raise ConfigError(f"{where}: 'thresholds.{kind}_warn_ms' ({warn:g}) must be between 0 and thresholds.{kind}_crit_ms ({crit:g})")
    if not 0 <= t.loss_warn_pct <= t.loss_crit_pct <= 100:
        raise ConfigError(f"{where}: thresholds need 0 <= loss_warn_pct <= loss_crit_pct <= 100")
    if not 0 <= t.mos_crit <= t.mos_warn <= 5:
        raise ConfigError(f"{where}: thresholds need 0 <= mos_crit <= mos_warn <= 5")
    _validate_path(cfg.path, where)
    if cfg.ui.view not in ("auto", "panels", "compact"):
        raise ConfigError(f"{where}: 'ui.view' must be \"auto\", \"panels\" or \"compact\", got {cfg.ui.view!r}")
    if cfg.ui.timezone:
        from qostui.charts import zone_of

        try:
            zone_of(cfg.ui.timezone)
        except ValueError:
            raise ConfigError(f"{where}: 'ui.timezone' must be \"UTC\", \"local\" or an IANA zone name such as"
                              f" \"Europe/Berlin\", got {cfg.ui.timezone!r}") from None
    ix = cfg.influx
    if ix.backlog_max_points < ix.batch_size:
        raise ConfigError(f"{where}: 'influx.backlog_max_points' must be at least influx.batch_size ({ix.batch_size}), got {ix.backlog_max_points}")
    for key in ("host_tag", "org", "bucket"):
        check_text(getattr(ix, key), where, f"influx.{key}")
    for name in cfg.bandwidth.interfaces:
        check_text(name, where, "bandwidth.interfaces")
    check_text(f.target, where, "forecast.target")
    if ix.url:
        check_url(ix.url, where, "influx.url")
    if ix.enabled:
        for key in ("url", "org", "bucket"):
            if not getattr(ix, key):
                raise ConfigError(f"{where}: 'influx.{key}' is required when influx.enabled = true")
    if cfg.prometheus.listen:
        parse_listen(cfg.prometheus.listen, f"{where}: 'prometheus.listen'")


_ENV_NAMES: dict[str, tuple[str, ...]] = {
    "url": ("QOSTUI_INFLUX_URL", "INFLUXDB_URL"),
    "org": ("QOSTUI_INFLUX_ORG", "INFLUXDB_ORG"),
    "bucket": ("QOSTUI_INFLUX_BUCKET", "INFLUXDB_BUCKET"),
    "token": ("QOSTUI_INFLUX_TOKEN", "INFLUXDB_TOKEN"),
}


def _validate_path(pc: PathConfig, where: str) -> None:
    # the numbers are checked with every other number (RANGES)
    if pc.protocol not in PATH_PROTOCOLS:
        raise ConfigError(f"{where}: 'path.protocol' must be 'icmp', 'udp' or 'tcp', got {pc.protocol!r}")


def apply_env(cfg: Config) -> Config:
    """Environment variables override the Influx settings (the original tool's names work too).

    A problem with a value from the environment names the variable, not the config file.
    """
    from qostui.redact import add_secret, redact

    env = os.environ
    influx = cfg.influx
    changes: dict[str, Any] = {}
    used: dict[str, str] = {}  # influx key -> the variable it came from
    for key, names in _ENV_NAMES.items():
        for name in names:
            if env.get(name):
                changes[key] = env[name]
                used[key] = name
                break
    token_file = env.get("QOSTUI_INFLUX_TOKEN_FILE") or influx.token_file
    if "token" not in changes and token_file:
        try:
            changes["token"] = Path(token_file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{cfg.source}: 'influx.token_file' = {token_file!r} cannot be read ({exc.strerror})") from None
    for secret in (changes.get("token", influx.token), _url_password(changes.get("url", influx.url))):
        if secret:
            add_secret(secret)
    if not changes:
        return cfg
    for key, name in used.items():
        if key == "url":
            check_url(changes["url"], f"${name}")
        elif key != "token":
            check_text(changes[key], f"${name}", name)
    if changes.get("url") and not influx.enabled:
        changes["enabled"] = True
        for key in ("org", "bucket"):
            if not changes.get(key) and not getattr(influx, key):
                names = " or ".join(f"${n}" for n in _ENV_NAMES[key])
                raise ConfigError(
                    f"${used['url']} is set, so the Influx export is on: it also needs {names} "
                    f"(or influx.{key} in the config file)"
                )
    cfg = replace(cfg, influx=replace(influx, **changes))
    try:
        validate(cfg)
    except ConfigError as exc:
        names = ", ".join(f"${n}" for n in used.values())
        raise ConfigError(redact(f"{exc} (with {names} from the environment)")) from None
    return cfg


def _url_password(url: str) -> str:
    """The password in a URL's userinfo, '' when none (registered as a secret)."""
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


def parse_targets_arg(text: str, where: str = "--targets") -> tuple[TargetConfig, ...]:
    """`--targets a,b,c` -> target configs (validated)."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ConfigError(f"{where}: expected a comma-separated list of addresses, got {text!r}")
    for item in items:
        check_address(item, where, item)
    return tuple(TargetConfig(address=a) for a in items)


def parse_listen(text: str, label: str = "--prometheus") -> tuple[str, int]:
    """'127.0.0.1:9469', '[::1]:9469', 'localhost:9469' or a bare port (loopback) -> (host, port).

    `label` names the value in errors: "--prometheus" or "FILE: 'prometheus.listen'".
    """
    value = text.strip()
    expected = "expected host:port, [IPv6]:port or a port"
    if re.fullmatch(r"[0-9]+", value):
        host, port_text = "127.0.0.1", value
    else:
        match = re.fullmatch(r"\[([^\]]+)\]:([0-9]+)|([^:\[\]]+):([0-9]+)", value)
        if not match:
            raise ConfigError(f"{label} = {text!r}: {expected}")
        if match.group(1):
            host, port_text = match.group(1), match.group(2)
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise ConfigError(f"{label} = {text!r}: {host!r} is not an IPv6 address") from None
        else:
            host, port_text = match.group(3), match.group(4)
            try:
                check_address(host, "", "")
            except ConfigError:
                raise ConfigError(f"{label} = {text!r}: {host!r} is not an IP address or hostname") from None
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ConfigError(f"{label} = {text!r}: the port must be 1..65535")
    return host, port


def parse_duration(text: str, where: str = "--duration") -> float:
    """'30s', '5m', '2h', '1d', '1.5' (seconds) -> seconds."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h|d|w)?\s*", text)
    if not match:
        raise ConfigError(f"{where}: expected a duration like 30s, 5m, 2h or 7d, got {text!r}")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2) or "s"]
    seconds = float(match.group(1)) * scale
    if not math.isfinite(seconds) or seconds > 100 * 365 * 86400:  # 400 nines would be inf
        raise ConfigError(f"{where}: expected a duration of at most 100 years, got {text[:40]!r}")
    return seconds
