"""Line protocol encoding: exact lines, escaping, omitted fields, and the schema table staying true."""

from __future__ import annotations

import math
import re

import pytest

from qostui.exporters.line_protocol import (
    MEASUREMENTS,
    encode,
    encode_agent_start,
    encode_many,
    escape_tag,
    ts_us,
)
from qostui.records import BandwidthSample, Event, Forecast, PingRound, ProbeState

TS = 1_795_800_000.25


def ping(**changes: object) -> PingRound:
    base: dict[str, object] = dict(
        ts=TS, target="gw", address="10.0.0.1", probe="icmp", state=ProbeState.OK, sent=5, received=4,
        loss_pct=20.0, rtt_min_ms=1.5, rtt_avg_ms=2.25, rtt_max_ms=3.0, rtt_mdev_ms=0.5, rtt_p50_ms=2.0,
        rtt_p95_ms=2.9, jitter_ms=0.75, mos=4.38, rtts_ms=(1.5, None, 2.0, 3.0, 2.5),
    )  # fmt: skip
    base.update(changes)
    return PingRound(**base)  # type: ignore[arg-type]


def test_ping_line_exact() -> None:
    assert encode(ping(), "h1") == (
        "qos_ping,host=h1,target=gw,address=10.0.0.1,probe=icmp "
        "rtt_min_ms=1.5,rtt_avg_ms=2.25,rtt_max_ms=3.0,rtt_mdev_ms=0.5,rtt_p50_ms=2.0,rtt_p95_ms=2.9,"
        'jitter_ms=0.75,loss_pct=20.0,sent=5i,received=4i,mos=4.38,state="ok" 1795800000250000'
    )


def test_total_loss_omits_rtt_fields_and_keeps_counts() -> None:
    line = encode(
        ping(received=0, loss_pct=100.0, rtt_min_ms=None, rtt_avg_ms=None, rtt_max_ms=None, rtt_mdev_ms=None,
             rtt_p50_ms=None, rtt_p95_ms=None, jitter_ms=None, mos=None),
        "h1",
    )  # fmt: skip
    assert (
        line
        == 'qos_ping,host=h1,target=gw,address=10.0.0.1,probe=icmp loss_pct=100.0,sent=5i,received=0i,state="ok" 1795800000250000'
    )


def test_failed_round_state_error_and_empty_address() -> None:
    line = encode(
        ping(address="", state=ProbeState.UNRESOLVED, sent=0, received=0, loss_pct=100.0, rtt_min_ms=None,
             rtt_avg_ms=None, rtt_max_ms=None, rtt_mdev_ms=None, rtt_p50_ms=None, rtt_p95_ms=None,
             jitter_ms=None, mos=None, error='no such host "gw"\nretry'),
        "h1",
    )  # fmt: skip
    # an empty tag value is invalid line protocol: the tag is left out
    assert ",address=" not in line
    assert 'state="unresolved"' in line
    assert r'error="no such host \"gw\" retry"' in line
    assert "\n" not in line


def test_nan_and_inf_are_left_out() -> None:
    line = encode(ping(jitter_ms=math.nan, rtt_max_ms=math.inf), "h")
    assert "jitter_ms" not in line and "rtt_max_ms" not in line and "rtt_avg_ms=2.25" in line


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", "plain"),
        ("a b", r"a\ b"),
        ("a,b", r"a\,b"),
        ("k=v", r"k\=v"),
        ("back\\slash", "back\\\\slash"),
        ("end\\", "end\\\\"),  # a trailing backslash must not escape the separator after it
        ("two\nlines", r"two\ lines"),
    ],
)
def test_tag_escaping(raw: str, escaped: str) -> None:
    assert escape_tag(raw) == escaped


def test_target_with_special_characters_stays_one_tag() -> None:
    line = encode(ping(target="my host,a=b\\"), "web 1")
    head = line.split(" rtt_min_ms")[0]
    assert head == r"qos_ping,host=web\ 1,target=my\ host\,a\=b\\,address=10.0.0.1,probe=icmp"


def test_bandwidth_forecast_event_lines() -> None:
    assert encode(BandwidthSample(TS, "eth0", 12.5, 0.75, 5.0), "h") == (
        "qos_bandwidth,host=h,interface=eth0 rx_mbps=12.5,tx_mbps=0.75,interval_s=5.0 1795800000250000"
    )
    assert encode(
        Forecast(made_at=TS - 300, ts=TS, step=1, model="lstm-20261127", predicted_mbps=42.5), "h"
    ) == (
        "qos_forecast,host=h,model=lstm-20261127,step=1 predicted_mbps=42.5,made_at=1795799700.25 1795800000250000"
    )
    assert encode(Event(TS, "loss", "gw", "crit", 'loss 30% "bad"'), "h") == (
        'qos_event,host=h,kind=loss,target=gw level="crit",severity=2i,message="loss 30% \\"bad\\"" 1795800000250000'
    )


def test_forecast_interval_fields_in_order_and_left_out_when_none() -> None:
    full = Forecast(made_at=TS - 300, ts=TS, step=2, model="m", predicted_mbps=42.5, predicted_lo_mbps=30.25,
                    predicted_hi_mbps=55.0, predicted_lo95_mbps=21.5, predicted_hi95_mbps=70.125)  # fmt: skip
    assert encode(full, "h") == (
        "qos_forecast,host=h,model=m,step=2 predicted_mbps=42.5,predicted_lo_mbps=30.25,predicted_hi_mbps=55.0,"
        "predicted_lo95_mbps=21.5,predicted_hi95_mbps=70.125,made_at=1795799700.25 1795800000250000"
    )
    # only the 80% pair (no 95% calibration), and a non-finite bound: each missing field is left out
    partial = Forecast(TS - 300, TS, 1, "m", 42.5, predicted_lo_mbps=math.nan, predicted_hi_mbps=55.0)
    line = encode(partial, "h")
    assert " predicted_mbps=42.5,predicted_hi_mbps=55.0,made_at=" in line
    assert "lo_mbps" not in line and "lo95" not in line and "hi95" not in line


def test_agent_start_line() -> None:
    assert (
        encode_agent_start("h", TS, "0.1.0") == 'qos_agent,host=h start=1i,version="0.1.0" 1795800000250000'
    )


def test_timestamps_are_microseconds_and_round_correctly() -> None:
    assert ts_us(1.0000005) == 1_000_001
    assert ts_us(1_795_800_000.123456) == 1_795_800_000_123_456


def test_encode_many_and_unknown_type() -> None:
    text = encode_many([ping(), BandwidthSample(TS, "eth0", 1.0, 2.0, 1.0)], "h")
    assert text.count("\n") == 1
    with pytest.raises(TypeError):
        encode("not a record", "h")  # type: ignore[arg-type]


_KEY = re.compile(r"(?<!\\),([^=,]+)=")


def _parse(line: str) -> tuple[str, set[str], set[str]]:
    """measurement, tag keys, field keys of a line (enough for the schema check)."""
    parts = re.split(r"(?<!\\) ", line)
    head, fields = parts[0], parts[1]
    measurement = re.split(r"(?<!\\),", head)[0]
    tags = {m.group(1) for m in _KEY.finditer(head)}
    field_keys = {m.split("=")[0] for m in re.split(r"(?<!\\),(?=[a-z0-9_]+=)", fields)}
    return measurement, tags, field_keys


def test_schema_table_lists_every_tag_and_field_produced() -> None:
    # The Grafana dashboard test trusts MEASUREMENTS; make sure encode() never goes beyond it.
    samples = [
        ping(error="boom"),
        BandwidthSample(TS, "eth0", 1.0, 2.0, 1.0),
        Forecast(TS, TS + 300, 3, "m", 10.0, 8.0, 12.0, 6.0, 14.0),
        Event(TS, "latency", "gw", "warn", "x"),
    ]
    seen: dict[str, tuple[set[str], set[str]]] = {}
    for record in samples:
        measurement, tags, fields = _parse(encode(record, "h"))
        allowed_tags, allowed_fields = MEASUREMENTS[measurement]
        assert tags <= set(allowed_tags), (measurement, tags)
        assert fields <= set(allowed_fields), (measurement, fields)
        seen[measurement] = (tags, fields)
    # and the ping and forecast lines use every field the table promises
    assert seen["qos_ping"][0] == set(MEASUREMENTS["qos_ping"][0])
    assert seen["qos_ping"][1] == set(MEASUREMENTS["qos_ping"][1])
    assert seen["qos_forecast"][1] == set(MEASUREMENTS["qos_forecast"][1])


@pytest.mark.parametrize("state", [s for s in ProbeState if s is not ProbeState.OK])
def test_a_round_that_could_not_be_sent_has_no_loss_field(state: ProbeState) -> None:
    """No probe left (no_route, unresolved, ...): writing loss_pct=0.0 would show 0% loss for an
    unreachable target, keep the packet-loss alert quiet and feed zeros to train --from-influx."""
    from qostui.probes.stats import failed_round

    r = failed_round(ts=TS, target="gw", address="", probe="icmp", state=state, error="no route to host")
    line = encode(r, "h1")
    assert "loss_pct" not in line and "rtt_" not in line and "mos=" not in line
    assert line == (
        f'qos_ping,host=h1,target=gw,probe=icmp sent=0i,received=0i,state="{state.value}",'
        f'error="no route to host" 1795800000250000'
    )
    # an OK round with every probe lost still reports its 100% loss
    lost = ping(received=0, loss_pct=100.0, rtt_avg_ms=None, mos=None)
    assert "loss_pct=100.0" in encode(lost, "h1")
