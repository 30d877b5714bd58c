"""The bus: per-subscriber queues, drop-oldest when full, ordered shutdown."""

from __future__ import annotations

import threading
import time

from qostui.bus import Bus
from qostui.records import Event


def event(i: int, kind: str = "x") -> Event:
    return Event(float(i), kind, "t", "warn", str(i))


def test_every_subscriber_gets_every_record_in_order() -> None:
    bus = Bus()
    got: dict[str, list[float]] = {"a": [], "b": []}
    bus.subscribe("a", lambda batch: got["a"].extend(r.ts for r in batch))
    bus.subscribe("b", lambda batch: got["b"].extend(r.ts for r in batch), batch_wait_s=0.05)
    for i in range(500):
        bus.publish(event(i))
    bus.close()
    assert got["a"] == got["b"] == [float(i) for i in range(500)]


def test_slow_subscriber_never_blocks_publishing_and_drops_oldest() -> None:
    bus = Bus()
    release = threading.Event()
    seen: list[float] = []

    def slow(batch: list) -> None:
        release.wait(60)
        seen.extend(r.ts for r in batch)

    sub = bus.subscribe("slow", slow, max_queue=10, max_batch=1)
    started = time.monotonic()
    for i in range(1000):
        bus.publish(event(i))
    # publishing did not wait for the slow handler (held up to 60 s): generous for a busy machine
    assert time.monotonic() - started < 30.0
    release.set()
    bus.close()
    assert sub.dropped >= 900
    assert seen[-1] == 999.0  # the newest survive


def test_broken_subscriber_does_not_stop_others() -> None:
    bus = Bus()
    good: list[float] = []

    def broken(batch: list) -> None:
        raise RuntimeError("boom")

    bad = bus.subscribe("broken", broken)
    bus.subscribe("good", lambda batch: good.extend(r.ts for r in batch))
    for i in range(10):
        bus.publish(event(i))
    bus.close()
    assert len(good) == 10 and bad.errors >= 1


def test_records_published_back_while_closing_still_arrive() -> None:
    bus = Bus()
    stored: list[str] = []
    bus.subscribe("store", lambda batch: stored.extend(r.kind for r in batch))

    def alerts(batch: list) -> None:
        time.sleep(0.05)  # still working when close() starts
        bus.publish([event(int(r.ts), "alert") for r in batch if r.kind == "x"])

    bus.subscribe("alerts", alerts, feeds_back=True)
    bus.publish(event(1))
    bus.close()
    assert stored.count("alert") == 1 and stored.count("x") == 1
