"""AlertEngine: thresholds with hysteresis, and its wiring into the pipeline (events reach the store)."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import wait_until
from qostui.alerts import AlertEngine
from qostui.config import Config, StoreConfig, TargetConfig, ThresholdConfig
from qostui.records import BandwidthSample, Event, Forecast, PingRound, ProbeState

T = ThresholdConfig(
    rtt_warn_ms=100, rtt_crit_ms=300, jitter_warn_ms=30, jitter_crit_ms=100, loss_warn_pct=1, loss_crit_pct=20,
    mos_warn=3.6, mos_crit=3.1, bandwidth_below_forecast_pct=50, hysteresis_rounds=3,
)  # fmt: skip


def rnd(i: int, loss: float = 0.0, rtt: float | None = 10.0, target: str = "gw", **kw: object) -> PingRound:
    values: dict[str, object] = dict(
        ts=1000.0 + i, target=target, address="10.0.0.1", probe="icmp", state=ProbeState.OK, sent=10,
        received=round(10 * (1 - loss / 100)), loss_pct=loss, rtt_avg_ms=rtt, jitter_ms=1.0 if rtt else None,
        mos=4.4 if rtt else None,
    )  # fmt: skip
    values.update(kw)
    return PingRound(**values)  # type: ignore[arg-type]


def feed(engine: AlertEngine, rounds: list[PingRound]) -> list[tuple[int, str, str]]:
    """-> (round index, kind, level) of each event, in order."""
    out = []
    for i, r in enumerate(rounds):
        out += [(i, e.kind, e.level) for e in engine.feed([r])]
    return out


def test_raise_needs_n_consecutive_rounds_and_clear_needs_n_good_ones() -> None:
    engine = AlertEngine(T)
    losses = [0, 0, 10, 10, 10, 10, 0, 0, 0, 0]
    events = feed(engine, [rnd(i, loss) for i, loss in enumerate(losses)])
    assert events == [(4, "loss", "warn"), (8, "loss", "ok")]


def test_single_spikes_and_flapping_never_alert() -> None:
    engine = AlertEngine(T)
    losses = [0, 50, 0, 50, 50, 0, 50, 0, 50, 50, 0, 0]
    assert feed(engine, [rnd(i, loss) for i, loss in enumerate(losses)]) == []


def test_flapping_while_raised_does_not_clear() -> None:
    engine = AlertEngine(T)
    losses = [10, 10, 10, 0, 10, 0, 0, 10, 0, 0, 0]
    assert feed(engine, [rnd(i, loss) for i, loss in enumerate(losses)]) == [
        (2, "loss", "warn"),
        (10, "loss", "ok"),
    ]


def test_warn_then_crit_then_back_down() -> None:
    engine = AlertEngine(T)
    losses = [5, 5, 5, 30, 30, 30, 5, 5, 5, 0, 0, 0]
    events = feed(engine, [rnd(i, loss) for i, loss in enumerate(losses)])
    assert events == [(2, "loss", "warn"), (5, "loss", "crit"), (8, "loss", "warn"), (11, "loss", "ok")]


def test_mixed_warn_and_crit_rounds_raise_warn_first() -> None:
    # crit, warn, crit: three rounds at or above warn, but not three at crit
    engine = AlertEngine(T)
    assert feed(engine, [rnd(i, loss) for i, loss in enumerate([30, 5, 30])]) == [(2, "loss", "warn")]


def test_latency_jitter_mos_each_alert_separately_per_target() -> None:
    engine = AlertEngine(T)
    rounds = []
    for i in range(3):
        rounds.append(rnd(i, rtt=150.0, target="a"))
        rounds.append(rnd(i, rtt=10.0, target="b", jitter_ms=150.0, mos=2.5))
    events = feed(engine, rounds)
    got = {(kind, level) for _, kind, level in events}
    assert got == {("latency", "warn"), ("jitter", "crit"), ("mos", "crit")}
    assert engine.levels() == {("latency", "a"): "warn", ("jitter", "b"): "crit", ("mos", "b"): "crit"}


def test_no_rtt_keeps_latency_alarm_and_failed_probe_counts_as_loss() -> None:
    engine = AlertEngine(T)
    rounds = [rnd(i, rtt=400.0) for i in range(3)]  # latency crit
    rounds += [rnd(3 + i, loss=100.0, rtt=None) for i in range(3)]  # all lost: no RTT, loss crit
    rounds += [rnd(6 + i, state=ProbeState.NO_ROUTE, loss_pct=100.0, rtt_avg_ms=None) for i in range(2)]
    events = feed(engine, rounds)
    assert (2, "latency", "crit") in events and (5, "loss", "crit") in events
    assert not any(kind == "latency" and level == "ok" for _, kind, level in events)  # no data != recovered
    assert engine.levels()[("loss", "gw")] == "crit"


def test_event_message_names_value_threshold_and_target() -> None:
    engine = AlertEngine(T)
    events: list[Event] = []
    for i in range(3):
        events += engine.feed([rnd(i, loss=30.0)])
    (event,) = [e for e in events if e.kind == "loss"]
    assert event.level == "crit" and event.target == "gw" and event.ts == 1002.0
    assert "loss 30.0%" in event.message and ">= 20.0%" in event.message and "gw" in event.message


def test_bandwidth_below_forecast() -> None:
    engine = AlertEngine(T, forecast_tolerance_s=150)
    engine.feed(
        [
            Forecast(made_at=0.0, ts=1000.0 + 300 * k, step=k + 1, model="m", predicted_mbps=100.0)
            for k in range(3)
        ]
    )
    events = []
    for i in range(8):
        rx = 30.0 if i < 4 else 95.0  # 70% (rx + tx 30 of 100) below forecast, then fine
        events += [(i, e.level) for e in engine.feed([BandwidthSample(1000.0 + i * 5, "eth0", rx, 0.0, 5.0)])]
    assert events == [(2, "warn"), (6, "ok")]
    # far from any forecast: no comparison, no alert
    assert engine.feed([BandwidthSample(1e6 + i, "eth0", 0.0, 0.0, 5.0) for i in range(5)]) == []


def test_hysteresis_one_round_reacts_immediately() -> None:
    engine = AlertEngine(ThresholdConfig(hysteresis_rounds=1))
    assert feed(engine, [rnd(0, 50), rnd(1, 0)]) == [(0, "loss", "crit"), (1, "loss", "ok")]


class ScriptedProber:
    """Stands in for the ICMP prober: plays a fixed list of losses, one round per call."""

    def __init__(self, losses: list[float]) -> None:
        self.losses = list(losses)
        self.calls = 0

    def run_round(self) -> list[PingRound]:
        loss = self.losses[min(self.calls, len(self.losses) - 1)]
        self.calls += 1
        return [rnd(0, loss, ts=time.time(), target="127.0.0.1")]

    def close(self) -> None:
        pass


def test_pipeline_publishes_events_to_the_store(tmp_path: Path) -> None:
    from qostui.pipeline import Pipeline

    cfg = Config(
        interval_s=0.05,
        targets=(TargetConfig("127.0.0.1"),),
        store=StoreConfig(path=str(tmp_path / "a.db"), flush_interval_s=0.05),
        thresholds=ThresholdConfig(hysteresis_rounds=2),
    )
    prober = ScriptedProber([0, 50, 50, 50, 0, 0, 0, 0, 0, 0])
    pipeline = Pipeline(cfg, prober=prober, meter=None)
    seen: list[Event] = []
    pipeline.subscribe("test", lambda batch: seen.extend(r for r in batch if isinstance(r, Event)))
    pipeline.start()
    wait_until(lambda: len(seen) >= 2, "the raised and the cleared alert")
    pipeline.stop()  # delivers everything still queued, the alerts' own records included
    assert [(e.kind, e.level) for e in seen] == [("loss", "crit"), ("loss", "ok")]
    from qostui.store import Store

    with Store(tmp_path / "a.db") as store:
        stored = store.events()
    assert [(e.kind, e.level, e.target) for e in stored] == [
        ("loss", "crit", "127.0.0.1"),
        ("loss", "ok", "127.0.0.1"),
    ]


def test_recorder_prints_an_event_as_one_alert_line() -> None:
    from qostui.commands.record import format_event

    line = format_event(
        Event(time.mktime((2026, 11, 27, 14, 2, 31, 0, 0, -1)), "loss", "gw", "warn", "loss 30.0% to gw")
    )
    assert line == "14:02:31 ALERT WARN loss gw: loss 30.0% to gw"


def test_no_route_is_a_reachability_alert_not_loss() -> None:
    from qostui.alerts import AlertEngine
    from qostui.config import ThresholdConfig
    from qostui.records import PingRound, ProbeState

    engine = AlertEngine(ThresholdConfig(hysteresis_rounds=2))
    down = [PingRound(float(i), "10.231.255.1", "10.231.255.1", "icmp", ProbeState.NO_ROUTE, 0, 0, 0.0) for i in range(3)]
    events = engine.feed(down)
    assert [(e.kind, e.level) for e in events] == [("reachability", "crit")]
    assert "no route" in events[0].message
    up = [PingRound(10.0 + i, "10.231.255.1", "10.231.255.1", "icmp", ProbeState.OK, 5, 5, 0.0, rtt_avg_ms=1.0) for i in range(2)]
    assert [(e.kind, e.level) for e in engine.feed(up)] == [("reachability", "ok")]
