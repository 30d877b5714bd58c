"""File formats: the real seed exports, qostui's own CSV/JSON round trips, and one-line errors."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import pytest

from qostui.commands.record import record_to_json
from qostui.errors import QostuiError
from qostui.interop import (
    STEP_EPOCH,
    format_time,
    parse_time,
    read_file,
    read_records,
    write_csv,
    write_jsonl,
)
from qostui.records import BandwidthSample, Event, Forecast, PingRound, ProbeState

SEED_TARGETS = {"8.8.8.8", "1.1.1.1", "150.171.27.11"}


def _flux_rows(path: Path) -> list[dict[str, str]]:
    """A deliberately naive reader of the seed files, independent of interop's parser."""
    out = []
    header: list[str] | None = None
    for row in csv.reader(path.read_text().splitlines()):
        if not row or row[0].startswith("#"):
            header = None
            continue
        if header is None:
            header = row
            continue
        out.append(dict(zip(header, row, strict=True)))
    return out


# --- the seed InfluxDB exports --------------------------------------------------------------------


def test_seed_nov_pivots_per_time_and_target(shared_data: Path) -> None:
    path = shared_data / "seed_influx_export_nov.csv"
    result = read_file(path)
    assert result.format == "influx-csv" and result.skipped == {}
    pings = [r for r in result.records if isinstance(r, PingRound)]
    samples = [r for r in result.records if isinstance(r, BandwidthSample)]
    assert Counter(r.target for r in pings) == {"1.1.1.1": 13, "8.8.8.8": 13, "150.171.27.11": 12}
    rows = _flux_rows(path)
    latency = {
        (parse_time(r["_time"]), r["target"]): float(r["_value"]) for r in rows if r["_field"] == "latency_ms"
    }
    loss = {
        (parse_time(r["_time"]), r["target"]): float(r["_value"])
        for r in rows
        if r["_field"] == "packet_loss_percent"
    }
    for r in pings:
        assert r.rtt_avg_ms == latency[(r.ts, r.target)]
        assert r.loss_pct == loss[(r.ts, r.target)]
        assert (r.probe, r.state, r.address, r.sent, r.received) == ("import", ProbeState.OK, r.target, 0, 0)
        assert r.rtt_min_ms is None and r.jitter_ms is None and r.rtts_ms == ()
    # November: each time carries one target's bandwidth reading -> one sample per time, unchanged
    bw_rows = [r for r in rows if r["_field"] == "bandwidth_mbps"]
    assert len(samples) == len(bw_rows) == len({r["_time"] for r in bw_rows}) == 38
    by_ts = {s.ts: s for s in samples}
    for r in bw_rows:
        s = by_ts[parse_time(r["_time"])]
        assert s.rx_mbps == float(r["_value"]) and s.tx_mbps == 0.0 and s.interface == "imported"
    assert {s.interval_s for s in samples} == {40.0}  # median spacing of the merged series
    assert [r.ts for r in result.records] == sorted(r.ts for r in result.records)


def test_seed_oct_averages_simultaneous_bandwidth_readings(shared_data: Path) -> None:
    records = read_records(shared_data / "seed_influx_export_oct.csv")
    pings = [r for r in records if isinstance(r, PingRound)]
    samples = [r for r in records if isinstance(r, BandwidthSample)]
    assert {r.target for r in pings} == SEED_TARGETS and len(pings) == 24
    assert len(samples) == 8  # three targets' readings per time -> one sample per time
    first = samples[0]
    assert first.ts == parse_time("2025-10-17T22:16:00Z")
    assert first.rx_mbps == pytest.approx(
        (0.07415008544921875 + 0.00856781005859375 + 0.28141021728515625) / 3
    )
    assert first.interval_s == 240.0


def test_annotated_csv_blocks_and_qostui_measurements(tmp_path: Path) -> None:
    text = (
        "#group,false,false,true,true,false,false,true,true,true,true\n"
        "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string,string,string\n"
        "#default,_result,,,,,,,,,\n"
        ",result,table,_start,_stop,_time,_value,_field,_measurement,host,target\n"
        ",,0,2025-01-01T00:00:00Z,2025-01-02T00:00:00Z,2025-01-01T00:00:05.123456789Z,12.5,rtt_avg_ms,qos_ping,h1,gw\n"
        ",,0,2025-01-01T00:00:00Z,2025-01-02T00:00:00Z,2025-01-01T00:00:05.123456789Z,25,loss_pct,qos_ping,h1,gw\n"
        ",,0,2025-01-01T00:00:00Z,2025-01-02T00:00:00Z,2025-01-01T00:00:05.123456789Z,4,sent,qos_ping,h1,gw\n"
        ",,1,2025-01-01T00:00:00Z,2025-01-02T00:00:00Z,2025-01-01T00:00:05Z,1,whatever,cpu,h1,gw\n"
        "\n"
        "#datatype,string,long,dateTime:RFC3339,string,string,string,string\n"
        ",result,table,_time,_value,_field,_measurement,target\n"
        ",,5,2025-01-01T00:00:07Z,no_route,state,qos_ping,far\n"
        ',,5,2025-01-01T00:00:07Z,"unreachable, sorry",error,qos_ping,far\n'
        ",,6,2025-01-01T00:00:08Z,crit,level,qos_event,far\n"
        ",,6,2025-01-01T00:00:08Z,loss 100%,message,qos_event,far\n"
        "\n"
        "#datatype,string,long,dateTime:RFC3339,double,string,string,string\n"
        ",result,table,_time,_value,_field,_measurement,interface\n"
        ",,2,2025-01-01T00:00:10+01:00,30.5,rx_mbps,qos_bandwidth,eth0\n"
        ",,3,2025-01-01T00:00:10+01:00,2.5,tx_mbps,qos_bandwidth,eth0\n"
        "\n"
        "#datatype,string,long,dateTime:RFC3339,double,string,string,string,long\n"
        ",result,table,_time,_value,_field,_measurement,model,step\n"
        ",,4,2025-01-01T01:00:00Z,42.0,predicted_mbps,qos_forecast,lstm-a,2\n"
        ",,4,2025-01-01T01:00:00Z,1735689000,made_at,qos_forecast,lstm-a,2\n"
    )
    path = tmp_path / "mixed.csv"
    path.write_text(text)
    result = read_file(path)
    assert result.skipped == {"measurement 'cpu'": 1}
    ping = next(r for r in result.records if isinstance(r, PingRound))
    assert ping.target == "gw" and ping.rtt_avg_ms == 12.5 and ping.loss_pct == 25.0 and ping.sent == 4
    assert ping.ts == pytest.approx(1735689605.123456789, abs=1e-6)
    far = next(r for r in result.records if isinstance(r, PingRound) and r.target == "far")
    assert (far.state, far.error, far.address, far.rtt_avg_ms) == (
        ProbeState.NO_ROUTE,
        "unreachable, sorry",
        "",
        None,
    )
    event = next(r for r in result.records if isinstance(r, Event))
    assert event == Event(1735689608.0, "", "far", "crit", "loss 100%")
    sample = next(r for r in result.records if isinstance(r, BandwidthSample))
    assert (sample.ts, sample.interface, sample.rx_mbps, sample.tx_mbps) == (
        1735689600 + 10 - 3600,
        "eth0",
        30.5,
        2.5,
    )
    fc = next(r for r in result.records if isinstance(r, Forecast))
    assert (fc.ts, fc.made_at, fc.step, fc.model, fc.predicted_mbps) == (
        1735693200.0,
        1735689000.0,
        2,
        "lstm-a",
        42.0,
    )


# --- plain CSV ------------------------------------------------------------------------------------


def test_seed_step_csv(shared_data: Path) -> None:
    path = shared_data / "seed_bandwidth_5min.csv"
    result = read_file(path)
    lines = path.read_text().splitlines()[1:]
    empty = [ln for ln in lines if ln.split(",")[1].strip() == ""]
    assert result.format == "step-csv"
    assert len(result.records) == len(lines) - len(empty) == 1660
    assert result.skipped == {"missing readings": len(empty)}
    first = result.records[0]
    assert isinstance(first, BandwidthSample)
    assert (first.ts, first.rx_mbps, first.interval_s) == (STEP_EPOCH, 9.45, 300.0)
    step37 = [r for r in result.records if r.ts == STEP_EPOCH + 37 * 300]
    assert step37 == []  # line 39 is "37," -> a missing reading, not zero
    fast = read_records(path, step_s=60.0)
    assert fast[-1].ts == STEP_EPOCH + int(lines[-1].split(",")[0]) * 60.0


def test_time_csv_rfc3339_epoch_and_ping_columns(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "timestamp,bandwidth_mbps,latency_ms,loss_pct,target\n"
        "2025-01-01T00:00:00Z,10.5,20,0,gw\n"
        "1735689660,,25.5,50,gw\n"
        "2025-01-01 00:02:00,12,,,gw\n"
    )
    records = read_records(path)
    bws = [r for r in records if isinstance(r, BandwidthSample)]
    pings = [r for r in records if isinstance(r, PingRound)]
    assert [(b.ts, b.rx_mbps) for b in bws] == [(1735689600.0, 10.5), (1735689720.0, 12.0)]
    assert {b.interval_s for b in bws} == {60.0}
    assert [(p.ts, p.target, p.rtt_avg_ms, p.loss_pct) for p in pings] == [
        (1735689600.0, "gw", 20.0, 0.0),
        (1735689660.0, "gw", 25.5, 50.0),
    ]


def test_parse_and_format_time() -> None:
    assert parse_time("2025-11-12T22:22:20.5198164Z") == pytest.approx(1762986140.5198164, abs=1e-6)
    assert parse_time("2025-01-01T01:00:00+01:00") == 1735689600.0
    assert parse_time("2025-01-01T00:00:00-0030") == 1735691400.0
    assert parse_time("2025-01-01") == 1735689600.0
    assert parse_time("1735689600") == parse_time("1735689600000") == parse_time("1735689600000000000")
    with pytest.raises(ValueError):
        parse_time("yesterday")
    assert format_time(1735689600.0) == "2025-01-01T00:00:00Z"
    assert format_time(1735689600.25) == "2025-01-01T00:00:00.250000Z"
    assert parse_time(format_time(1762986140.519816)) == pytest.approx(1762986140.519816, abs=1e-6)


# --- qostui's own formats round-trip --------------------------------------------------------------

ALL_KINDS = [
    PingRound(
        1762986140.5198164, "gw, the router", "10.0.0.1", "icmp", ProbeState.OK, 4, 3, 25.0,
        1.0, 2.123456789012345, 3.0, 0.5, 2.0, 2.9, 0.3, 4.39, (1.0, None, 2.5, 2.87), "",
    ),
    PingRound(1762986141.0, "nowhere.example", "", "tcp", ProbeState.UNRESOLVED, 0, 0, 0.0, error='said "no"'),
    PingRound(1762986142.0, "x", "10.231.0.9", "icmp", ProbeState.NO_ROUTE, 3, 0, 100.0, rtts_ms=(None,)),
    BandwidthSample(1762986140.0, "eth0", 12.345678901234567, 0.001, 1.0),
    Forecast(1762986000.0, 1762986300.0, 1, "lstm-1", 33.3),
    # with both intervals (full-precision floats), and with the 80% one only: None must stay None
    Forecast(1762986000.0, 1762986600.0, 2, "lstm-1", 34.1, 20.123456789012345, 48.7, 11.0, 0.1 + 0.2),
    Forecast(1762986000.0, 1762986900.0, 3, "lstm-1", 35.0, predicted_lo_mbps=21.5, predicted_hi_mbps=49.25),
    Event(1762986140.0, "latency", "gw", "warn", "rtt 120 ms, over 100\nsecond line; ünïcode"),
]  # fmt: skip


def test_csv_round_trip_every_kind(tmp_path: Path) -> None:
    buf = io.StringIO()
    assert write_csv(buf, ALL_KINDS, ["ping", "bandwidth", "forecast", "event"]) == len(ALL_KINDS)
    path = tmp_path / "export.csv"
    path.write_text(buf.getvalue())
    result = read_file(path)
    assert result.format == "qostui-csv"
    assert result.records == ALL_KINDS


def test_csv_single_kind_has_only_its_columns(tmp_path: Path) -> None:
    buf = io.StringIO()
    write_csv(buf, [r for r in ALL_KINDS if isinstance(r, BandwidthSample)], ["bandwidth"])
    header = buf.getvalue().splitlines()[0]
    assert header == "type,time,ts,interface,rx_mbps,tx_mbps,interval_s"
    path = tmp_path / "bw.csv"
    path.write_text(buf.getvalue())
    assert read_records(path) == [ALL_KINDS[3]]


def test_jsonl_round_trip_and_recorder_json(tmp_path: Path) -> None:
    buf = io.StringIO()
    write_jsonl(buf, ALL_KINDS)
    path = tmp_path / "x.jsonl"
    path.write_text(buf.getvalue())
    assert read_records(path) == ALL_KINDS
    # what `qostui record --json` prints is importable too
    path.write_text("\n".join(record_to_json(r) for r in ALL_KINDS) + "\n")
    assert read_records(path) == ALL_KINDS
    assert json.loads(buf.getvalue().splitlines()[0])["type"] == "PingRound"


def test_forecast_bounds_columns_and_json_nulls(tmp_path: Path) -> None:
    forecasts = [r for r in ALL_KINDS if isinstance(r, Forecast)]
    buf = io.StringIO()
    write_csv(buf, forecasts, ["forecast"])
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert list(rows[0])[-4:] == ["predicted_lo_mbps", "predicted_hi_mbps", "predicted_lo95_mbps", "predicted_hi95_mbps"]
    assert [r["predicted_hi95_mbps"] for r in rows] == ["", repr(0.1 + 0.2), ""]  # empty cell = no bound
    buf = io.StringIO()
    write_jsonl(buf, forecasts)
    objs = [json.loads(ln) for ln in buf.getvalue().splitlines()]
    assert [o["predicted_lo_mbps"] for o in objs] == [None, 20.123456789012345, 21.5]
    assert objs[2]["predicted_lo95_mbps"] is None
    # a hand-written file may leave the bound columns out altogether: no interval, not an error
    path = tmp_path / "old.csv"
    path.write_text("type,ts,made_at,step,model,predicted_mbps\nforecast,1762986300,1762986000,1,m,33.3\n")
    assert read_records(path) == [Forecast(1762986000.0, 1762986300.0, 1, "m", 33.3)]


# --- errors: one line naming file, line, expectation ----------------------------------------------


@pytest.mark.parametrize(
    ("content", "line", "expected"),
    [
        ("hello world\nfoo\n", 1, "expected InfluxDB annotated CSV"),
        ("step,bandwidth_mbps\n0,1.5\n1,fast\n", 3, "expected a number in 'bandwidth_mbps', got 'fast'"),
        ("step,bandwidth_mbps\n0,1.5\nx,2\n", 3, "expected a whole step number"),
        ("time,bandwidth_mbps\n2025-01-01T00:00:00Z,1\nsoon,2\n", 3, "an RFC 3339 time or epoch seconds"),
        ("time,bandwidth_mbps\n2025-01-01T00:00:00Z,1,9\n", 2, "expected 2 columns like the header"),
        ("type,ts,target\nping,1.0,a\n", 2, "expected a value for 'address'"),
        ("type,ts\nbogus,1.0\n", 2, "expected type one of ping, bandwidth, forecast, event"),
        ('{"type": "PingRound", "ts": 1}\n{oops\n', 1, "expected a value for"),
        (
            '{"type": "BandwidthSample", "ts": 1, "interface": "e", "rx_mbps": 1, "tx_mbps": 0, "interval_s": 1}\n{oops\n',
            2,
            "a JSON object",
        ),
        (
            "#datatype,string,long,dateTime:RFC3339,double,string,string,string\n"
            ",result,table,_time,_value,_field,_measurement,target\n"
            ",,0,2025-01-01T00:00:00Z,12,latency_ms,network_metrics,a\n"
            ",,0,2025-01-01T00:00:10Z,twelve,latency_ms,network_metrics,a\n",
            4,
            "expected a number in 'latency_ms', got 'twelve'",
        ),
        (
            "#datatype,string,long,dateTime:RFC3339,double,string,string,string\n"
            ",result,table,_time,_value,_field,_measurement,target\n"
            ",,0,not-a-time,12,latency_ms,network_metrics,a\n",
            3,
            "expected an RFC 3339 time in _time",
        ),
        ("#group,false\n,result,table,_value\n", 2, "expected an annotated-CSV header with _time"),
    ],
)
def test_garbled_input_is_one_clear_line(tmp_path: Path, content: str, line: int, expected: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(QostuiError) as info:
        read_records(path)
    message = str(info.value)
    assert message.startswith(f"{path}: line {line}: "), message
    assert expected in message
    assert "\n" not in message


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(QostuiError, match="file not found"):
        read_records(tmp_path / "missing.csv")
    binary = tmp_path / "blob.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(QostuiError, match="not UTF-8 text"):
        read_records(binary)
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n")
    with pytest.raises(QostuiError, match="empty file"):
        read_records(empty)
    only_unknown = tmp_path / "cpu.csv"
    only_unknown.write_text(
        ",result,table,_time,_value,_field,_measurement\n,,0,2025-01-01T00:00:00Z,1,usage,cpu\n"
    )
    with pytest.raises(QostuiError, match="no known measurement \\(found cpu\\)"):
        read_records(only_unknown)
