"""The store writer behind the bus (issue 10, finding 2): failed writes are queued, bounded, retried,
counted per probing round, and reported in one warning at a time (at most one a minute)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from qostui.records import Event, PingRound, ProbeState
from qostui.store import Store
from qostui.store.writer import StoreWriter


def round_(ts: float, target: str = "a") -> PingRound:
    return PingRound(ts=ts, target=target, address="127.0.0.1", probe="icmp", state=ProbeState.OK,
                     sent=1, received=1, loss_pct=0.0, rtt_avg_ms=0.1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failed_writes_are_kept_and_reach_the_store_when_it_works_again(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    store = Store(db_path)
    writer = StoreWriter(store, clock=clock)
    writer.write([round_(1.0, "a"), round_(1.0, "b")])  # one round of two targets
    assert writer.flush() and writer.unwritten_rounds() == 0
    store.close()  # every write now fails, as on a full disk
    caplog.set_level(logging.WARNING)
    for i in range(2, 12):
        writer.write([round_(float(i), "a"), round_(float(i), "b")])
        clock.now += 5.0  # 50 s of failing writes: still one warning
    assert len(caplog.records) == 1
    assert "cannot write to the store" in caplog.records[0].getMessage()
    assert writer.unwritten_rounds() == 10 and writer.pending_records == 20
    assert "10 round(s) not written" in writer.status()
    clock.now += 60.0
    writer.write([round_(12.0)])
    assert len(caplog.records) == 2 and "still cannot write" in caplog.records[1].getMessage()
    assert not writer.flush()
    writer.store = Store(db_path)  # space again
    writer.write([Event(13.0, "latency", "a", "warn", "m")])
    assert "writing works again; 11 queued round(s) stored" in caplog.records[-1].getMessage()
    assert writer.flush() and writer.unwritten_rounds() == 0 and writer.status() == ""
    assert len({r.ts for r in writer.store.ping_rounds()}) == 12
    writer.store.close()


def test_the_queue_is_bounded_and_what_it_drops_is_counted(db_path: Path) -> None:
    store = Store(db_path)
    store.close()
    writer = StoreWriter(store, max_pending=10)
    for i in range(20):
        writer.write([round_(float(i), "a"), round_(float(i), "b")])
    assert writer.pending_records <= 10
    assert writer.dropped_records == 40 - writer.pending_records
    assert writer.unwritten_rounds() == 20  # dropped or queued: every round is counted once
    writer.store = Store(db_path)
    assert not writer.flush()  # the queued ones are written, the dropped ones are lost for good
    assert writer.unwritten_rounds() == 20 - len({r.ts for r in writer.store.ping_rounds()})
    writer.store.close()
