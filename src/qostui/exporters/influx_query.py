"""Reading history back from InfluxDB 2.x with Flux (`qostui train --from-influx --range 7d`).

The query asks only for what training uses (bandwidth rx/tx, and latency, jitter and loss of each
target), already averaged into windows of `forecast.step_s` on the server, so a week of 5-second
rounds comes back as a few thousand rows instead of millions. Windows are stamped with their start
(timeSrc "_start"), which is how the store bins a series, so resampling the result again in the
store keeps every value in its bin.

Both qostui's own measurements (this host's tag) and the original tool's `network_metrics` are
read. The annotated-CSV answer is parsed by `qostui.interop` (the same parser `qostui import`
uses for exported files), so there is one parser for both.
"""

from __future__ import annotations

import socket

from qostui.config import Config, InfluxConfig
from qostui.errors import QostuiError
from qostui.records import Record
from qostui.redact import redact_url

_FIELDS = {
    "qos_bandwidth": ("rx_mbps", "tx_mbps"),
    "qos_ping": ("rtt_avg_ms", "jitter_ms", "loss_pct"),
    "network_metrics": ("latency_ms", "packet_loss_percent", "bandwidth_mbps"),  # the original tool
}


def _flux_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${") + '"'


def build_query(bucket: str, host: str, range_s: float, step_s: float) -> str:
    """The Flux query for `range_s` seconds of history of `host`, averaged per `step_s` window."""
    if not range_s > 0:
        raise QostuiError(f"--range must be a positive duration, got {range_s:g}s")
    wanted = " or ".join(
        f"(r._measurement == {_flux_string(m)} and ("
        + " or ".join(f"r._field == {_flux_string(f)}" for f in fields)
        + "))"
        for m, fields in _FIELDS.items()
    )
    every_s = max(1, round(step_s))
    return (
        f"from(bucket: {_flux_string(bucket)})\n"
        f"  |> range(start: -{max(1, round(range_s))}s)\n"
        f"  |> filter(fn: (r) => {wanted})\n"
        f'  |> filter(fn: (r) => r._measurement == "network_metrics" or r.host == {_flux_string(host)})\n'
        f'  |> aggregateWindow(every: {every_s}s, fn: mean, createEmpty: false, timeSrc: "_start")\n'
    )


def parse_annotated_csv(text: str, source: str) -> list[Record]:
    """Flux annotated CSV -> records, with qostui.interop's parser (it pivots fields into records)."""
    from qostui import interop

    if not text.strip():
        return []
    return list(interop.parse_influx_csv(text, source).records)


def query_history(config: Config, range_s: float, *, host: str | None = None) -> list[Record]:
    """History of `host` (default: this recorder's host tag) over the last `range_s` seconds."""
    influx = config.influx
    _check_configured(influx, config.source)
    host = host or influx.host_tag or socket.gethostname()
    query = build_query(influx.bucket, host, range_s, config.forecast.step_s)
    text = _run_query(influx, query)
    source = f"{redact_url(influx.url)} bucket {influx.bucket}"
    records = parse_annotated_csv(text, source)
    if not records:
        raise QostuiError(
            f"influx: {source} has no qostui data for host {host!r} in the last {range_s / 86400:g} day(s) "
            "(set influx.host_tag to read another recorder's data)"
        )
    return records


def _check_configured(influx: InfluxConfig, where: str) -> None:
    missing = [key for key in ("url", "org", "bucket") if not getattr(influx, key)]
    if missing:
        raise QostuiError(
            f"{where}: --from-influx needs influx.{', influx.'.join(missing)} "
            "(or $INFLUXDB_URL / $INFLUXDB_ORG / $INFLUXDB_BUCKET)"
        )


def _run_query(influx: InfluxConfig, query: str) -> str:
    from influxdb_client import InfluxDBClient

    from qostui.exporters.influx import classify

    client = InfluxDBClient(
        url=influx.url,
        token=influx.token or None,
        org=influx.org,
        timeout=max(influx.timeout_ms, 30_000),
        retries=False,
    )
    try:
        response = client.query_api().query_raw(query, org=influx.org)
        data = response.data if hasattr(response, "data") else response.read()
        return data.decode("utf-8") if isinstance(data, bytes) else str(data)
    except Exception as exc:  # one line for the user; the token is never part of it
        raise QostuiError(f"influx: {classify(exc, influx).text}") from None
    finally:
        client.close()
