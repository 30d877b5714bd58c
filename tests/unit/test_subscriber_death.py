"""Issue 10, finding 3: a subscriber thread that dies stops the run with one line and a non-zero
exit, never silently; "store flushed" only when it is true. Real loopback probing, a real store."""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from qostui.bus import Bus, Subscription
from qostui.config import Config, parse_targets_arg
from qostui.pipeline import Pipeline
from qostui.records import Event
from qostui.store import Store


def event(i: int) -> Event:
    return Event(float(i), "x", "t", "warn", str(i))


def loopback_config(db: Path, **store: float) -> Config:
    base = Config()
    cfg = base.with_overrides(
        targets=parse_targets_arg("127.0.0.1"), interval_s=0.3,
        probe=dataclasses.replace(base.probe, method="icmp", count=1, timeout_ms=200.0),
        bandwidth=dataclasses.replace(base.bandwidth, enabled=False),
        store=dataclasses.replace(base.store, path=str(db)),
    )
    # bypass validation on purpose: the value a validation slip would let through
    return dataclasses.replace(cfg, store=dataclasses.replace(cfg.store, **store))


def test_a_dying_subscriber_thread_is_reported_and_its_records_kept() -> None:
    bus = Bus()
    died: list[Subscription] = []
    dead = threading.Event()
    bus.on_failure(lambda sub: (died.append(sub), dead.set()))
    sub = bus.subscribe("doomed", lambda batch: None, batch_wait_s=math.inf, max_queue=5)
    for i in range(20):
        bus.publish(event(i))
    assert dead.wait(60), "the thread died without a word"
    assert died == [sub] and not sub.alive
    assert sub.failure is not None and "OverflowError" in sub.failure
    bus.close()  # must not hang on the full queue of a dead pump
    kept = sub.leftovers()
    assert [r.ts for r in kept][-5:] == [15.0, 16.0, 17.0, 18.0, 19.0]  # taken and queued, in order


def test_a_handler_raising_systemexit_is_not_silent() -> None:
    bus = Bus()
    dead = threading.Event()
    bus.on_failure(lambda sub: dead.set())

    def handler(batch: list) -> None:
        raise SystemExit(3)  # threading would swallow this without a trace

    sub = bus.subscribe("quitter", handler)
    bus.publish(event(1))
    assert dead.wait(60)
    assert sub.failure == "SystemExit: 3"
    bus.close()


def test_pipeline_store_thread_death_stops_with_status_1_and_salvages(db_path: Path) -> None:
    pipeline = Pipeline(loopback_config(db_path, flush_interval_s=math.inf))
    failed = threading.Event()
    pipeline.on_failure(lambda message: failed.set())
    pipeline.start()
    try:
        assert failed.wait(60), "the store thread died silently"
    finally:
        pipeline.stop()
    message, status = pipeline.stop_summary()
    assert status == 1
    assert message.startswith("error: stopped after ") and "the store thread stopped" in message
    with Store(db_path) as store:  # what the dead thread had taken was written at stop
        assert len({r.ts for r in store.ping_rounds()}) == pipeline.collector.rounds_done >= 1


def test_record_stops_at_once_with_one_line(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from qostui.commands import record

    started = time.monotonic()
    status = record.run(argparse.Namespace(duration="10m", json=False),
                        loopback_config(db_path, flush_interval_s=1e10))
    assert time.monotonic() - started < 300  # it stopped by itself, long before --duration
    err = capsys.readouterr().err
    assert status == 1
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("qostui: error")]
    assert "the store thread stopped" in line


def test_cli_inf_flush_interval_never_claims_flushed_silently(tmp_path: Path) -> None:
    """From the command line: either validation refuses the value or the run stops with one line."""
    (tmp_path / "c.toml").write_text("[store]\nflush_interval_s = inf\n")
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "XDG_DATA_HOME": str(tmp_path / "data")}
    proc = subprocess.run(
        [sys.executable, "-m", "qostui", "record", "--config", str(tmp_path / "c.toml"), "--targets", "127.0.0.1",
         "--interval", "0.3", "--duration", "10m", "--db", str(tmp_path / "x.db")],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert proc.returncode in (1, 2), proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [x for x in proc.stderr.splitlines() if x.startswith("qostui: error")]
    assert len(errors) == 1, proc.stderr
    assert "flush_interval_s" in errors[0] or "the store thread stopped" in errors[0]
