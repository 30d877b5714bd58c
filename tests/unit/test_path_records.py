"""Route-change hysteresis, the qos_path_hop line and the [path] config checks."""

from __future__ import annotations

import pytest

from qostui.alerts import RouteTracker
from qostui.config import ConfigError, parse_config
from qostui.exporters.line_protocol import encode
from qostui.records import PathHop

A = ("10.0.1.2", "10.0.2.2", "10.0.3.2", "10.0.4.2")
B = ("10.0.1.2", "10.0.5.2", "10.0.3.2", "10.0.4.2")


def test_route_event_only_after_hysteresis_rounds_of_the_new_path() -> None:
    tracker = RouteTracker(hysteresis_rounds=2)
    assert tracker.observe("t", A, 1.0) is None  # the first path is not a change
    assert tracker.observe("t", B, 2.0) is None  # one round of B
    assert tracker.observe("t", A, 3.0) is None  # back: B's count resets
    assert tracker.observe("t", B, 4.0) is None
    event = tracker.observe("t", B, 5.0)
    assert event is not None and (event.kind, event.level, event.target, event.ts) == ("route", "warn", "t", 5.0)
    assert " > ".join(A) in event.message and " > ".join(B) in event.message
    assert tracker.observe("t", B, 6.0) is None  # B is now the path


def test_a_hop_that_skips_its_replies_is_not_a_route_change() -> None:
    tracker = RouteTracker(hysteresis_rounds=1)
    tracker.observe("t", A, 1.0)
    assert tracker.observe("t", ("*", *A[1:]), 2.0) is None
    assert tracker.observe("t", A[:3], 3.0) is not None  # a shorter path is a change


def test_path_hop_line() -> None:
    hop = PathHop(1.5, "lab dst", "10.0.4.2", 2, "10.0.2.2", ("10.0.2.2",), 10, 8, 20.0, 0.1, 0.2, 0.05, 0.4,
                  0.1, 0.02, False, "loss from hop 2")
    line = encode(hop, "h1")
    assert line == (
        r"qos_path_hop,host=h1,target=lab\ dst,hop=2,address=10.0.2.2 loss_pct=20.0,sent=10i,received=8i,"
        "rtt_last_ms=0.1,rtt_avg_ms=0.2,rtt_best_ms=0.05,rtt_worst_ms=0.4,rtt_stdev_ms=0.1,jitter_ms=0.02,"
        'reached=false,verdict="loss from hop 2" 1500000'
    )
    silent = PathHop(1.5, "t", "10.0.4.2", 3, "", (), 10, 0, 100.0)
    assert encode(silent, "h1") == "qos_path_hop,host=h1,target=t,hop=3 loss_pct=100.0,sent=10i,received=0i,reached=false 1500000"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"max_ttl": 0}, "'path.max_ttl' must be 1..64"),
        ({"interval_s": float("nan")}, "'path.interval_s' must be between"),
        ({"protocol": "sctp"}, "'path.protocol' must be 'icmp', 'udp' or 'tcp', got 'sctp'"),
        ({"hysteresis_rounds": "2"}, "'path.hysteresis_rounds' must be a whole number"),
    ],
)
def test_bad_path_config_is_one_clear_line(table: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_config({"path": table}, "c.toml")


def test_path_defaults() -> None:
    pc = parse_config({}, "c.toml").path
    assert (pc.enabled, pc.interval_s, pc.max_ttl, pc.protocol) == (False, 60.0, 30, "icmp")
