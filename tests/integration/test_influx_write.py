"""Write path: store -> InfluxWriter (influxdb-client v2 write API) -> victoria-metrics -> export API.

Values and tags are compared exactly. The test values have at most 10 significant digits because
victoria-metrics keeps 12; the outage tests compare real measurements to 12 digits.
"""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path

import pytest

from integration.vm import StubServer, VictoriaMetrics
from qostui.config import InfluxConfig
from qostui.exporters.influx import InfluxWriter
from qostui.exporters.line_protocol import MEASUREMENTS, SEVERITY, ts_us
from qostui.records import BandwidthSample, Event, Forecast, PingRound, ProbeState, Record
from qostui.store import Store

pytestmark = pytest.mark.server

STRING_FIELDS = {"state", "error", "level", "message", "version"}  # victoria-metrics keeps these as 0


def influx_config(url: str, host: str, **changes: object) -> InfluxConfig:
    values: dict[str, object] = dict(
        enabled=True, url=url, org="qostui-org", bucket="qostui-bucket", token="s3cr3t-t0ken", host_tag=host,
        flush_interval_ms=50, timeout_ms=2000,
    )  # fmt: skip
    values.update(changes)
    return InfluxConfig(**values)  # type: ignore[arg-type]


def sample_records(t0: float) -> list[Record]:
    ok = dict(state=ProbeState.OK, sent=10, received=9, loss_pct=10.0)
    return [
        PingRound(t0, "gw", "10.0.0.1", "icmp", rtt_min_ms=1.25, rtt_avg_ms=2.5, rtt_max_ms=4.75, rtt_mdev_ms=0.5,
                  rtt_p50_ms=2.25, rtt_p95_ms=4.5, jitter_ms=0.625, mos=4.375, **ok),  # type: ignore[arg-type]
        PingRound(t0 + 0.001, "web server, a=b\\", "192.0.2.7", "tcp", rtt_min_ms=10.0, rtt_avg_ms=12.125,
                  rtt_max_ms=15.0, rtt_mdev_ms=1.5, rtt_p50_ms=12.0, rtt_p95_ms=14.75, jitter_ms=1.25, mos=4.25,
                  **ok),  # type: ignore[arg-type]
        PingRound(t0 + 1, "gw", "10.0.0.1", "icmp", ProbeState.OK, 10, 0, 100.0),
        PingRound(t0 + 1, "nowhere.invalid", "", "icmp", ProbeState.UNRESOLVED, 0, 0, 100.0, error="no such host"),
        BandwidthSample(t0, "eth0", 93.25, 4.5, 5.0),
        BandwidthSample(t0 + 5, "wlan 0", 0.0, 0.125, 5.0),
        Forecast(made_at=t0, ts=t0 + 300, step=1, model="lstm-1", predicted_mbps=88.5),
        Forecast(made_at=t0, ts=t0 + 600, step=2, model="lstm-1", predicted_mbps=91.75),
        Forecast(made_at=t0, ts=t0 + 900, step=3, model="lstm-1", predicted_mbps=90.5, predicted_lo_mbps=71.25,
                 predicted_hi_mbps=108.125, predicted_lo95_mbps=60.0625, predicted_hi95_mbps=121.5),
        Forecast(made_at=t0, ts=t0 + 1200, step=4, model="lstm-1", predicted_mbps=89.0, predicted_lo_mbps=70.0,
                 predicted_hi_mbps=110.0),  # an 80% interval only: the 95% fields are left out
        Event(t0 + 2, "loss", "gw", "warn", 'loss 10.0% to gw (>= 1.0% for 3 rounds) "quoted"'),
        Event(t0 + 9, "loss", "gw", "ok", "loss back to normal"),
    ]  # fmt: skip


MEASUREMENT_OF = {
    PingRound: "qos_ping",
    BandwidthSample: "qos_bandwidth",
    Forecast: "qos_forecast",
    Event: "qos_event",
}


def expected_samples(
    records: list[Record], host: str
) -> dict[tuple[str, frozenset], list[tuple[int, float]]]:
    """What victoria-metrics must hold: metric `measurement_field`, labels = tags, ms timestamps."""
    out: dict[tuple[str, frozenset], list[tuple[int, float]]] = {}
    for r in records:
        measurement = MEASUREMENT_OF[type(r)]
        tag_keys, field_keys = MEASUREMENTS[measurement]
        tags = {"host": host}
        for key in tag_keys[1:]:
            value = str(getattr(r, key))
            if value:
                tags[key] = value
        fields: dict[str, float] = {}
        for key in field_keys:
            if key == "severity":
                fields[key] = SEVERITY[r.level]  # type: ignore[union-attr]
                continue
            value = getattr(r, key.replace("message", "message"), None)
            if value is None or value == "":
                continue
            if key == "loss_pct" and r.state is not ProbeState.OK:  # type: ignore[union-attr]
                continue  # nothing was sent: no loss to report
            fields[key] = 0.0 if key in STRING_FIELDS else float(value)
        ts_ms = ts_us(r.ts) // 1000  # victoria-metrics truncates to milliseconds
        for key, value in fields.items():
            out.setdefault((f"{measurement}_{key}", frozenset(tags.items())), []).append((ts_ms, value))
    for values in out.values():
        values.sort()
    return out


def test_round_trip_values_and_tags_exact(victoria: VictoriaMetrics, tmp_path: Path) -> None:
    host = f"rt-{uuid.uuid4().hex[:8]}"
    t0 = float(int(time.time()) - 60)
    records = sample_records(t0)
    with Store(tmp_path / "a.db") as store:
        store.write(records)
        writer = InfluxWriter(influx_config(victoria.url, host), store)
        writer.start()
        try:
            assert writer.flush(15), writer.status()
            assert writer.status() == "influx ok"
            assert writer.health is not None and writer.health.ok
        finally:
            writer.close()
    expected = expected_samples(records, host)
    n_expected = sum(len(v) for v in expected.values())
    victoria.wait_for_count(f'{{host="{host}",__name__!~"qos_agent.*"}}', n_expected)
    got = victoria.samples(f'{{host="{host}"}}')
    agent = {k: v for k, v in got.items() if k[0].startswith("qos_agent_")}
    got = {k: v for k, v in got.items() if not k[0].startswith("qos_agent_")}
    assert got == expected
    # the interval bounds of the stored forecasts came back exactly, and only where they exist
    fc_labels = frozenset({("host", host), ("model", "lstm-1"), ("step", "3")})
    assert {
        name: got[(f"qos_forecast_{name}", fc_labels)]
        for name in ("predicted_lo_mbps", "predicted_hi_mbps", "predicted_lo95_mbps", "predicted_hi95_mbps")
    } == {
        "predicted_lo_mbps": [(ts_us(t0 + 900) // 1000, 71.25)],
        "predicted_hi_mbps": [(ts_us(t0 + 900) // 1000, 108.125)],
        "predicted_lo95_mbps": [(ts_us(t0 + 900) // 1000, 60.0625)],
        "predicted_hi95_mbps": [(ts_us(t0 + 900) // 1000, 121.5)],
    }
    step4 = frozenset({("host", host), ("model", "lstm-1"), ("step", "4")})
    assert got[("qos_forecast_predicted_hi_mbps", step4)] == [(ts_us(t0 + 1200) // 1000, 110.0)]
    assert ("qos_forecast_predicted_hi95_mbps", step4) not in got
    step1 = frozenset({("host", host), ("model", "lstm-1"), ("step", "1")})
    assert ("qos_forecast_predicted_mbps", step1) in got and ("qos_forecast_predicted_lo_mbps", step1) not in got
    # the start-up health write: one qos_agent point with start=1
    assert [v for _, v in agent[("qos_agent_start", frozenset({("host", host)}))]] == [1.0]


def test_writer_speaks_the_v2_write_api_and_keeps_the_token_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with StubServer(204, "") as stub, Store(tmp_path / "a.db") as store:
        store.write(sample_records(1_795_800_000.0)[:2])
        cfg = influx_config(stub.url, "h1")
        writer = InfluxWriter(cfg, store)
        writer.start()
        assert writer.flush(10)
        writer.close()
    writes = [(path, headers) for method, path, headers in stub.requests if method == "POST"]
    assert writes, stub.requests
    path, headers = writes[-1]
    assert path.startswith("/api/v2/write?")
    assert "org=qostui-org" in path and "bucket=qostui-bucket" in path and "precision=us" in path
    assert headers.get("Authorization") == "Token s3cr3t-t0ken"
    # the body is the line protocol of both rounds, in order
    body = stub.accepted[-1].decode()
    assert body.startswith("qos_ping,host=h1,target=gw,") and body.count("\n") == 1
    for text in (repr(cfg), repr(writer), writer.status(), caplog.text):
        assert "s3cr3t" not in text


def test_a_point_the_server_rejects_is_skipped_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A malformed-point answer (400) must not block the outbox: split the batch, skip only that line."""

    def decide(body: bytes) -> int:
        return 400 if b"target=poison" in body else 204

    with (
        StubServer(204, "partial write: field type conflict", decide=decide) as stub,
        Store(tmp_path / "a.db") as store,
    ):
        rounds = [
            PingRound(
                1_795_800_000.0 + i,
                "poison" if i == 5 else "gw",
                "10.0.0.1",
                "icmp",
                ProbeState.OK,
                1,
                1,
                0.0,
            )
            for i in range(12)
        ]
        store.write(rounds)
        writer = InfluxWriter(influx_config(stub.url, "h1", batch_size=100), store)
        writer.start()
        assert writer.flush(10)
        writer.close()
    written = [
        line for body in stub.accepted for line in body.decode().splitlines() if line.startswith("qos_ping")
    ]
    assert len(written) == 11 and all("target=gw" in line for line in written)
    stamps = [int(line.rsplit(" ", 1)[1]) for line in written]
    assert stamps == sorted(stamps)  # order kept across the split
    assert writer.rejected_points == 1
    assert "HTTP 400: partial write: field type conflict" in caplog.text


def test_backlog_bound_warns_then_skips_oldest(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Over backlog_max_points: one warning naming the count, then the oldest unsent points are skipped."""
    with StubServer(204, "") as stub, Store(tmp_path / "a.db") as store:
        t0 = 1_795_800_000.0
        store.write(
            [PingRound(t0 + i, "gw", "10.0.0.1", "icmp", ProbeState.OK, 1, 1, 0.0) for i in range(150)]
        )
        writer = InfluxWriter(influx_config(stub.url, "h1", batch_size=10, backlog_max_points=100), store)
        writer.start()
        assert writer.flush(10)
        writer.close()
    assert writer.skipped_points == 50
    assert "exceeds influx.backlog_max_points = 100; skipping the oldest 50" in caplog.text
    written = [
        line for body in stub.accepted for line in body.decode().splitlines() if line.startswith("qos_ping")
    ]
    stamps = [int(line.rsplit(" ", 1)[1]) for line in written]
    assert stamps == [ts_us(t0 + i) for i in range(50, 150)]  # the newest 100, in order, each once


def test_cursors_survive_restart_and_follow_the_destination(tmp_path: Path) -> None:
    """Same server after a restart: only new rows are sent. Another server: the whole history."""
    rounds = [
        PingRound(1_795_800_000.0 + i, "gw", "10.0.0.1", "icmp", ProbeState.OK, 1, 1, 0.0) for i in range(10)
    ]

    def run_writer(store: Store, url: str) -> None:
        writer = InfluxWriter(influx_config(url, "h1"), store)
        writer.start()
        assert writer.flush(10)
        writer.close()

    def pings(stub: StubServer) -> list[str]:
        return [
            line
            for body in stub.accepted
            for line in body.decode().splitlines()
            if line.startswith("qos_ping")
        ]

    with StubServer(204, "") as first, StubServer(204, "") as second:
        with Store(tmp_path / "a.db") as store:
            store.write(rounds[:6])
            run_writer(store, first.url)
        with Store(tmp_path / "a.db") as store:  # a restart: a new Store and a new writer
            store.write(rounds[6:])
            run_writer(store, first.url)
            assert store.get_meta("influx.cursor.ping") == str(store.max_rowid("ping"))
        with Store(tmp_path / "a.db") as store:
            run_writer(store, second.url)
    assert [int(line.rsplit(" ", 1)[1]) for line in pings(first)] == [
        ts_us(r.ts) for r in rounds
    ]  # each once
    assert len(pings(second)) == 10  # a new destination gets everything stored
