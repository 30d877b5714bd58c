"""Records -> InfluxDB line protocol (one line per record, microsecond timestamps).

Schema (the Grafana dashboard and its test depend on these names):

    qos_ping,host=H,target=T,address=A,probe=icmp rtt_min_ms=..,rtt_avg_ms=..,rtt_max_ms=..,
        rtt_mdev_ms=..,rtt_p50_ms=..,rtt_p95_ms=..,jitter_ms=..,loss_pct=..,sent=5i,received=5i,
        mos=..,state="ok"[,error=".."]
    qos_bandwidth,host=H,interface=eth0 rx_mbps=..,tx_mbps=..,interval_s=..
    qos_forecast,host=H,model=M,step=N predicted_mbps=..,predicted_lo_mbps=..,predicted_hi_mbps=..,
        predicted_lo95_mbps=..,predicted_hi95_mbps=..,made_at=..   (timestamp: the predicted time;
        lo/hi: the 80% interval, lo95/hi95: the 95% one, left out when the forecast has none)
    qos_event,host=H,kind=loss,target=T level="warn",severity=1i,message=".."
    qos_agent,host=H start=1i,version=".."                               (health-check write at start)
    qos_path_hop,host=H,target=T,hop=N,address=A loss_pct=..,sent=10i,received=10i,rtt_last_ms=..,
        rtt_avg_ms=..,rtt_best_ms=..,rtt_worst_ms=..,rtt_stdev_ms=..,jitter_ms=..,reached=false,
        verdict=".."                     (address: the hop's responding address, left out when none)

`state` is a string field rather than a tag so a target's series does not split in two when a
round fails. Fields that are None (no RTT under 100% loss) or not finite are left out, and so is
loss_pct of a round that could not be sent (state other than "ok": no_route, unresolved, ...), which
has no loss to report; a line needs at least one field, and every record type always has one
(sent/received, rx_mbps, ...).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import fields

from qostui.records import BandwidthSample, Event, Forecast, PathHop, PingRound, ProbeState, Record

PRECISION = "us"  # write precision used for every line; matches ts_us() below

_PING_FLOATS = (
    "rtt_min_ms",
    "rtt_avg_ms",
    "rtt_max_ms",
    "rtt_mdev_ms",
    "rtt_p50_ms",
    "rtt_p95_ms",
    "jitter_ms",
    "loss_pct",
)
# a Forecast's optional fields are its interval bounds (80% lo/hi, then 95% lo/hi), as interop reads them
_FORECAST_BOUNDS = tuple(f.name for f in fields(Forecast) if f.default is None)

MEASUREMENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # measurement: (tag keys, field keys) the writer can produce
    "qos_ping": (
        ("host", "target", "address", "probe"),
        (*_PING_FLOATS, "sent", "received", "mos", "state", "error"),
    ),
    "qos_bandwidth": (("host", "interface"), ("rx_mbps", "tx_mbps", "interval_s")),
    "qos_forecast": (("host", "model", "step"), ("predicted_mbps", *_FORECAST_BOUNDS, "made_at")),
    "qos_event": (("host", "kind", "target"), ("level", "severity", "message")),
    "qos_agent": (("host",), ("start", "version")),
    "qos_path_hop": (
        ("host", "target", "hop", "address"),
        ("loss_pct", "sent", "received", "rtt_last_ms", "rtt_avg_ms", "rtt_best_ms", "rtt_worst_ms",
         "rtt_stdev_ms", "jitter_ms", "reached", "verdict"),
    ),
}

SEVERITY = {"ok": 0, "warn": 1, "crit": 2}


# str.translate tables: one C-level pass per value instead of chained replace() calls.
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\ ", "\r": r"\ ", "\\": "\\\\"})
_STRING_ESCAPES = str.maketrans({'"': r"\"", "\\": "\\\\", "\n": " ", "\r": " "})


def escape_tag(value: str) -> str:
    """Escape a tag key, tag value or field key."""
    return value.translate(_KEY_ESCAPES)


def escape_string_field(value: str) -> str:
    """A string field value, quotes included. Newlines become spaces (not valid in a line)."""
    return '"' + value.translate(_STRING_ESCAPES) + '"'


def ts_us(ts: float) -> int:
    """Epoch seconds -> integer microseconds (the write precision)."""
    return round(ts * 1_000_000)


def _float(value: float | None) -> str | None:
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):  # line protocol has no NaN/inf
        return None
    return repr(value)


def _tags(pairs: Iterable[tuple[str, str]]) -> str:
    # Influx rejects empty tag values: an unresolved target has no address, so leave it out.
    return "".join(f",{k}={escape_tag(v)}" for k, v in pairs if v)


_HEAD_CACHE: dict[tuple[str, str, str, str], str] = {}  # escaped "qos_ping,tags" per series


def encode_ping(r: PingRound, host: str) -> str:
    # The hot path of the exporter (13 fields per round): the escaped series head is cached, and
    # `v - v == 0` is the finiteness test (False for NaN and +-inf) without a function call.
    key = (host, r.target, r.address, r.probe)
    head = _HEAD_CACHE.get(key)
    if head is None:
        if len(_HEAD_CACHE) > 10_000:  # targets come and go; keep the cache bounded
            _HEAD_CACHE.clear()
        head = _HEAD_CACHE[key] = "qos_ping" + _tags(
            (("host", host), ("target", r.target), ("address", r.address), ("probe", r.probe))
        )
    values = (
        r.rtt_min_ms, r.rtt_avg_ms, r.rtt_max_ms, r.rtt_mdev_ms, r.rtt_p50_ms, r.rtt_p95_ms, r.jitter_ms,
        r.loss_pct,
    )  # fmt: skip
    mos = r.mos
    if mos is not None and None not in values and r.state is ProbeState.OK and not r.error:
        total = sum(values) + mos
        if total - total == 0:  # all finite: one f-string, the common case (about 2x faster)
            v = values
            return (
                f"{head} rtt_min_ms={v[0]!r},rtt_avg_ms={v[1]!r},rtt_max_ms={v[2]!r},rtt_mdev_ms={v[3]!r},"
                f"rtt_p50_ms={v[4]!r},rtt_p95_ms={v[5]!r},jitter_ms={v[6]!r},loss_pct={v[7]!r},"
                f'sent={int(r.sent)}i,received={int(r.received)}i,mos={mos!r},state="ok" {round(r.ts * 1_000_000)}'
            )
    if r.state is not ProbeState.OK:
        # Nothing was sent, so there is no loss to report: a 0.0 here would read as a healthy link in
        # the Packet loss panel, the loss alert and `train --from-influx` (as RTT is left out too).
        values = values[:-1]
    fields = [
        f"{n}={float(v)!r}" for n, v in zip(_PING_FLOATS, values, strict=False) if v is not None and v - v == 0
    ]
    fields.append(f"sent={int(r.sent)}i,received={int(r.received)}i")
    if mos is not None and mos - mos == 0:
        fields.append(f"mos={float(mos)!r}")
    state = r.state.value if isinstance(r.state, ProbeState) else str(r.state)
    fields.append(f'state="{state}"' if state.isidentifier() else f"state={escape_string_field(state)}")
    if r.error:
        fields.append(f"error={escape_string_field(r.error)}")
    return f"{head} {','.join(fields)} {round(r.ts * 1_000_000)}"


def encode_bandwidth(r: BandwidthSample, host: str) -> str:
    tags = _tags((("host", host), ("interface", r.interface)))
    fields = [
        f"{k}={v}"
        for k, v in (
            ("rx_mbps", _float(r.rx_mbps)),
            ("tx_mbps", _float(r.tx_mbps)),
            ("interval_s", _float(r.interval_s)),
        )
        if v is not None
    ]
    if not fields:
        fields = ["rx_mbps=0.0"]  # unreachable in practice: counters never give NaN; keep the line valid
    return f"qos_bandwidth{tags} {','.join(fields)} {ts_us(r.ts)}"


def encode_forecast(r: Forecast, host: str) -> str:
    tags = _tags((("host", host), ("model", r.model), ("step", str(int(r.step)))))
    fields = [
        f"{k}={v}"
        for k, v in ((k, _float(getattr(r, k))) for k in ("predicted_mbps", *_FORECAST_BOUNDS))
        if v is not None
    ]
    fields.append(f"made_at={_float(r.made_at) or '0.0'}")
    return f"qos_forecast{tags} {','.join(fields)} {ts_us(r.ts)}"


def encode_event(r: Event, host: str) -> str:
    tags = _tags((("host", host), ("kind", r.kind), ("target", r.target)))
    # severity: a number beside the string level, so Grafana can graph and alert on it.
    fields = (
        f"level={escape_string_field(r.level)},severity={SEVERITY.get(r.level, 0)}i,"
        f"message={escape_string_field(r.message)}"
    )
    return f"qos_event{tags} {fields} {ts_us(r.ts)}"


_PATH_FLOATS = ("rtt_last_ms", "rtt_avg_ms", "rtt_best_ms", "rtt_worst_ms", "rtt_stdev_ms", "jitter_ms")


def encode_path_hop(r: PathHop, host: str) -> str:
    tags = _tags((("host", host), ("target", r.target), ("hop", str(int(r.hop))), ("address", r.hop_address)))
    fields = [f"loss_pct={_float(r.loss_pct) or '0.0'}", f"sent={int(r.sent)}i", f"received={int(r.received)}i"]
    for name in _PATH_FLOATS:
        value = _float(getattr(r, name))
        if value is not None:
            fields.append(f"{name}={value}")
    fields.append(f"reached={'true' if r.reached else 'false'}")
    if r.verdict:
        fields.append(f"verdict={escape_string_field(r.verdict)}")
    return f"qos_path_hop{tags} {','.join(fields)} {ts_us(r.ts)}"


def encode_agent_start(host: str, ts: float, version: str) -> str:
    return f"qos_agent{_tags((('host', host),))} start=1i,version={escape_string_field(version)} {ts_us(ts)}"


_ENCODERS = {
    PingRound: encode_ping,
    BandwidthSample: encode_bandwidth,
    Forecast: encode_forecast,
    Event: encode_event,
    PathHop: encode_path_hop,
}


def encode(record: Record, host: str) -> str:
    """One record -> one line (no trailing newline)."""
    try:
        encoder = _ENCODERS[type(record)]
    except KeyError:
        raise TypeError(f"cannot encode {type(record).__name__} as line protocol") from None
    return encoder(record, host)  # type: ignore[operator]


def encode_many(records: Iterable[Record], host: str) -> str:
    return "\n".join(encode(r, host) for r in records)
