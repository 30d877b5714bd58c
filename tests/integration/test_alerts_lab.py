"""Alerts end to end on a real lossy link: `qostui record` probes a lab host whose loss is switched
0% -> 30% -> 0% (nftables drops echo requests in the host's namespace). The loss alert must be
raised once and cleared once, each only after `hysteresis_rounds` consecutive rounds on the new
side; the events are printed by the recorder, stored, and written to the server as qos_event.

Loss per round is binomial: with 10 probes at 30% loss a round shows 0 lost with p = 0.03, so
three clean rounds in a row (a false clear) have p = 2.4e-5; the crit threshold (80%) is out of
reach at 30% (p = 1.6e-3 per round, three in a row ~ 4e-9).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import PATIENCE_S, need_root
from integration.vm import VictoriaMetrics, recorder, write_config
from qostui.exporters.line_protocol import ts_us
from qostui.store import Store

pytestmark = [pytest.mark.lab, pytest.mark.server]

ROUNDS = 3  # hysteresis_rounds
WARN_PCT = 5.0


def events_in(path: Path) -> list[dict]:
    """Event records from the recorder's --json output."""
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            data = json.loads(line)
            if data.get("type") == "Event":
                out.append(data)
    return out


def wait_for(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + max(timeout_s, PATIENCE_S)  # generous: returns once it holds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_loss_alert_fires_and_clears_with_hysteresis(victoria: VictoriaMetrics, tmp_path: Path) -> None:
    need_root()
    from lab.netlab import Lab

    host_tag = f"lab-{uuid.uuid4().hex[:6]}"
    db = tmp_path / "a.db"
    config = write_config(
        tmp_path / "c.toml",
        victoria.url,
        host_tag=host_tag,
        extra=(
            '[probe]\nmethod = "icmp"\ncount = 10\nspacing_ms = 10\ntimeout_ms = 250\n'
            f"[thresholds]\nloss_warn_pct = {WARN_PCT}\nloss_crit_pct = 80.0\nhysteresis_rounds = {ROUNDS}\n"
            # latency/jitter/MOS out of reach: only loss is under test. MOS bottoms out at 1.0 (a burst
            # of lost probes gets there), and a level is "<= warn", so only 0 can never fire.
            "rtt_warn_ms = 5000.0\nrtt_crit_ms = 9000.0\njitter_warn_ms = 5000.0\njitter_crit_ms = 9000.0\n"
            "mos_warn = 0.0\nmos_crit = 0.0\n"
        ),
    )
    out = tmp_path / "out.jsonl"
    with Lab() as lab:
        host = lab.add_host("loss", loss_pct=0)
        args = [
            "--config",
            str(config),
            "--targets",
            host.address,
            "--interval",
            "0.5",
            "--db",
            str(db),
            "--json",
        ]
        with recorder(args, stdout_path=out, stderr_path=tmp_path / "err.txt") as proc:
            assert wait_for(lambda: out.read_text().count('"PingRound"') >= 4, 20)
            assert events_in(out) == []  # a clean link raises nothing
            host.set_loss(30)
            switched_on = time.time()
            assert wait_for(lambda: len(events_in(out)) >= 1, 30), out.read_text()[-2000:]
            host.set_loss(0)
            switched_off = time.time()
            assert wait_for(lambda: len(events_in(out)) >= 2, 30), out.read_text()[-2000:]
            time.sleep(2.0)  # a few more clean rounds: nothing else may happen
            proc.terminate()
            assert proc.wait(PATIENCE_S) == 0, (tmp_path / "err.txt").read_text()

    printed = events_in(out)
    assert [(e["kind"], e["level"], e["target"]) for e in printed] == [
        ("loss", "warn", host.address),
        ("loss", "ok", host.address),
    ], printed
    raise_ts, clear_ts = printed[0]["ts"], printed[1]["ts"]
    assert switched_on < raise_ts < switched_off < clear_ts

    with Store(db) as store:
        rounds = store.ping_rounds(target=host.address)
        stored = store.events()
    assert [(e.kind, e.level, e.ts) for e in stored] == [("loss", "warn", raise_ts), ("loss", "ok", clear_ts)]
    # Hysteresis, checked against what was measured: the raise comes exactly on the ROUNDS-th
    # consecutive lossy round, the clear on the ROUNDS-th consecutive clean one.
    by_ts = {r.ts: i for i, r in enumerate(rounds)}
    i_raise, i_clear = by_ts[raise_ts], by_ts[clear_ts]
    assert all(r.loss_pct >= WARN_PCT for r in rounds[i_raise - ROUNDS + 1 : i_raise + 1])
    assert rounds[i_raise - ROUNDS].loss_pct < WARN_PCT
    assert all(r.loss_pct < WARN_PCT for r in rounds[i_clear - ROUNDS + 1 : i_clear + 1])
    assert rounds[i_clear - ROUNDS].loss_pct >= WARN_PCT
    assert all(r.loss_pct == 0 for r in rounds if r.ts < switched_on - 1)  # the clean start was clean

    # ... and the server got them as qos_event (severity 1 then 0), tagged with host, kind, target
    match = f'qos_event_severity{{host="{host_tag}"}}'
    assert victoria.wait_for_count(match, 2) == 2
    got = victoria.samples(match)
    assert len(got) == 1, got
    ((_, labels), values) = next(iter(got.items()))
    assert dict(labels) == {"host": host_tag, "kind": "loss", "target": host.address}
    assert values == [(ts_us(raise_ts) // 1000, 1.0), (ts_us(clear_ts) // 1000, 0.0)]
