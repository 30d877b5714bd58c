"""Reading history back (`qostui train --from-influx`): the Flux query sent and the annotated-CSV
answer parsed into records. The server is an HTTP stub that answers /api/v2/query with annotated CSV
(victoria-metrics speaks no Flux); the answers have the shape InfluxDB 2.x gives, and the original
tool's real export from ../shared/data is used as one of them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from integration.vm import StubServer
from qostui.config import Config, ForecastConfig, InfluxConfig
from qostui.errors import QostuiError
from qostui.exporters.influx_query import build_query, query_history
from qostui.interop import format_time
from qostui.records import BandwidthSample, PingRound

T0 = 1_795_800_000.0  # a multiple of 300 s


def config(url: str) -> Config:
    return Config(
        influx=InfluxConfig(
            enabled=True, url=url, org="qostui-org", bucket="qostui", token="tok", host_tag="h1"
        ),
        forecast=ForecastConfig(step_s=300.0),
    )


def annotated_csv(tables: list[tuple[str, dict[str, str], str, list[tuple[float, float]]]]) -> str:
    """InfluxDB-style annotated CSV: one table per (measurement, tags, field), like a Flux answer."""
    blocks = []
    for number, (measurement, tags, field, points) in enumerate(tables):
        tag_names = list(tags)
        header = [
            "",
            "result",
            "table",
            "_start",
            "_stop",
            "_time",
            "_value",
            "_field",
            "_measurement",
            *tag_names,
        ]
        kinds = ["#datatype", "string", "long", "dateTime:RFC3339", "dateTime:RFC3339", "dateTime:RFC3339",
                 "double", "string", "string", *(["string"] * len(tag_names))]  # fmt: skip
        group = [
            "#group",
            "false",
            "false",
            "true",
            "true",
            "false",
            "false",
            "true",
            "true",
            *(["true"] * len(tag_names)),
        ]
        default = ["#default", "_result", *([""] * (len(header) - 2))]
        rows = [",".join(group), ",".join(kinds), ",".join(default), ",".join(header)]
        for ts, value in points:
            rows.append(",".join(["", "", str(number), format_time(T0 - 86400), format_time(T0 + 86400),
                                  format_time(ts), repr(value), field, measurement, *tags.values()]))  # fmt: skip
        blocks.append("\r\n".join(rows))
    return "\r\n\r\n".join(blocks) + "\r\n\r\n"


def test_query_and_parse_own_measurements() -> None:
    ping_tags = {"address": "10.0.0.1", "host": "h1", "probe": "icmp", "target": "gw"}
    answer = annotated_csv([
        ("qos_ping", ping_tags, "rtt_avg_ms", [(T0, 12.5), (T0 + 300, 14.25)]),
        ("qos_ping", ping_tags, "jitter_ms", [(T0, 1.5), (T0 + 300, 2.0)]),
        ("qos_ping", ping_tags, "loss_pct", [(T0, 0.0), (T0 + 300, 10.0)]),
        ("qos_bandwidth", {"host": "h1", "interface": "eth0"}, "rx_mbps", [(T0, 80.5), (T0 + 300, 90.0)]),
        ("qos_bandwidth", {"host": "h1", "interface": "eth0"}, "tx_mbps", [(T0, 4.5), (T0 + 300, 5.0)]),
    ])  # fmt: skip
    with StubServer(204, "") as stub:
        stub.query_csv = answer
        records = query_history(config(stub.url), 7 * 86400)
    pings = sorted((r for r in records if isinstance(r, PingRound)), key=lambda r: r.ts)
    bws = sorted((r for r in records if isinstance(r, BandwidthSample)), key=lambda r: r.ts)
    assert [(r.ts, r.target, r.address, r.rtt_avg_ms, r.jitter_ms, r.loss_pct) for r in pings] == [
        (T0, "gw", "10.0.0.1", 12.5, 1.5, 0.0),
        (T0 + 300, "gw", "10.0.0.1", 14.25, 2.0, 10.0),
    ]
    assert [(r.ts, r.interface, r.rx_mbps, r.tx_mbps) for r in bws] == [
        (T0, "eth0", 80.5, 4.5),
        (T0 + 300, "eth0", 90.0, 5.0),
    ]
    # the request: POST /api/v2/query for our org, a Flux query over the bucket, this host, 7 days, 5-min windows
    (method, path, headers), body = stub.requests[-1], stub.bodies[-1]
    assert method == "POST" and path.startswith("/api/v2/query") and "org=qostui-org" in path
    assert headers["Authorization"] == "Token tok"
    flux = json.loads(body)["query"]
    assert flux == build_query("qostui", "h1", 7 * 86400, 300.0)
    assert 'from(bucket: "qostui")' in flux and "range(start: -604800s)" in flux
    assert (
        'r.host == "h1"' in flux
        and 'aggregateWindow(every: 300s, fn: mean, createEmpty: false, timeSrc: "_start")' in flux
    )


def test_original_tool_export_reads_back(shared_data: Path) -> None:
    """The original tool's measurement (network_metrics) as InfluxDB returns it: the real export file."""
    with StubServer(204, "") as stub:
        stub.query_csv = (shared_data / "seed_influx_export_nov.csv").read_text(encoding="utf-8-sig")
        records = query_history(config(stub.url), 30 * 86400)
    targets = {r.target for r in records if isinstance(r, PingRound)}
    assert targets == {"8.8.8.8", "1.1.1.1", "150.171.27.11"}
    assert sum(isinstance(r, BandwidthSample) for r in records) > 5


def test_series_for_training_from_influx() -> None:
    from qostui.forecast.source import series_from_influx

    answer = annotated_csv([
        ("qos_bandwidth", {"host": "h1", "interface": "eth0"}, "rx_mbps", [(T0 + 300 * i, 10.0 + i) for i in range(12)]),
        ("qos_bandwidth", {"host": "h1", "interface": "eth0"}, "tx_mbps", [(T0 + 300 * i, 1.0) for i in range(12)]),
    ])  # fmt: skip
    with StubServer(204, "") as stub:
        stub.query_csv = answer
        series = series_from_influx(config(stub.url), 86400)
    assert list(series.ts) == [T0 + 300 * i for i in range(12)]
    values = [float(v) for v in series.bandwidth_mbps]
    assert values == [11.0 + i for i in range(12)]  # rx + tx per 5-min step, each in its own bin


@pytest.mark.parametrize(
    ("status", "expected"),
    [(401, "rejected the token (HTTP 401"), (404, "does not know org 'qostui-org' or bucket 'qostui'")],
)
def test_query_errors_are_one_line(status: int, expected: str) -> None:
    with StubServer(status, "nope") as stub, pytest.raises(QostuiError) as info:
        query_history(config(stub.url), 86400)
    message = str(info.value)
    assert expected in message and "\n" not in message and "tok" not in message.replace("token", "")


def test_no_data_and_missing_settings() -> None:
    with StubServer(204, "") as stub:
        stub.query_csv = ""
        with pytest.raises(QostuiError, match="has no qostui data for host 'h1'"):
            query_history(config(stub.url), 86400)
    cfg = config("http://127.0.0.1:1")
    cfg = replace(cfg, influx=replace(cfg.influx, bucket=""))
    with pytest.raises(QostuiError, match=r"--from-influx needs influx\.bucket"):
        query_history(cfg, 86400)
