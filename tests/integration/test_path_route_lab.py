"""Route change end to end: `qostui record` with [path] enabled traces the lab chain; r1's route to
the destination is switched to the alternate router (ip route replace). One `route` event must
follow within hysteresis_rounds + 1 path rounds: printed by the recorder, stored with the hop
rows, and written to the server (qos_event and qos_path_hop).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from conftest import need_root, need_tool
from integration.test_alerts_lab import wait_for
from integration.vm import VictoriaMetrics, recorder, write_config
from qostui.store import Store

pytestmark = [pytest.mark.lab, pytest.mark.server]

HYSTERESIS = 2


def records_in(path: Path, kind: str) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            data = json.loads(line)
            if data.get("type") == kind:
                out.append(data)
    return out


def path_rounds(path: Path) -> list[float]:
    """Start times of the path rounds printed so far (one hop-1 row each)."""
    return sorted({h["ts"] for h in records_in(path, "PathHop") if h["hop"] == 1})


def test_route_change_raises_one_route_event(victoria: VictoriaMetrics, tmp_path: Path) -> None:
    need_root()
    need_tool("nft")
    from lab.netlab import Lab

    host_tag = f"path-{uuid.uuid4().hex[:6]}"
    db = tmp_path / "p.db"
    config = write_config(
        tmp_path / "c.toml", victoria.url, host_tag=host_tag,
        extra=('[probe]\nmethod = "icmp"\ncount = 3\nspacing_ms = 10\ntimeout_ms = 300\n'
               "[path]\nenabled = true\ninterval_s = 1.0\nprobes_per_hop = 5\nspacing_ms = 20.0\n"
               f"timeout_ms = 500.0\nmax_ttl = 8\nhysteresis_rounds = {HYSTERESIS}\n"),
    )
    out = tmp_path / "out.jsonl"
    with Lab() as lab:
        chain = lab.add_chain(alternate=True)
        old, new = chain.hop_addresses(4), chain.hop_addresses(4, alternate=True)
        dest = chain.address
        args = ["--config", str(config), "--targets", dest, "--interval", "1", "--db", str(db), "--json"]
        with recorder(args, stdout_path=out, stderr_path=tmp_path / "err.txt") as proc:
            assert wait_for(lambda: len(path_rounds(out)) >= 3, 60), (tmp_path / "err.txt").read_text()
            assert records_in(out, "Event") == []  # a steady path raises nothing
            chain.use_alternate()
            switched = time.time()
            assert wait_for(lambda: records_in(out, "Event"), 60), out.read_text()[-3000:]
            wait_for(lambda: len([t for t in path_rounds(out) if t > switched]) >= HYSTERESIS + 3, 60)
            proc.terminate()
            assert proc.wait(30) == 0, (tmp_path / "err.txt").read_text()

    events = records_in(out, "Event")
    assert [(e["kind"], e["level"], e["target"]) for e in events] == [("route", "warn", dest)], events
    event = events[0]
    assert " > ".join(old) in event["message"] and " > ".join(new) in event["message"]
    after = [t for t in path_rounds(out) if switched < t <= event["ts"]]
    assert 1 <= len(after) <= HYSTERESIS + 1, (after, event["ts"], switched)

    with Store(db) as store:
        stored = store.events()
        hops = store.path_hops(target=dest)
    assert [(e.kind, e.ts, e.message) for e in stored] == [("route", event["ts"], event["message"])]
    first = [h for h in hops if h.ts == min(h.ts for h in hops)]
    last = [h for h in hops if h.ts == max(h.ts for h in hops)]
    assert [h.hop_address for h in first] == old and [h.hop_address for h in last] == new
    assert last[-1].reached and all(h.sent == 5 for h in last)

    assert victoria.wait_for_count(f'qos_event_severity{{host="{host_tag}",kind="route"}}', 1) == 1
    assert victoria.wait_for_count(f'qos_path_hop_loss_pct{{host="{host_tag}"}}', len(hops)) == len(hops)
    series = victoria.samples(f'qos_path_hop_rtt_avg_ms{{host="{host_tag}",hop="2"}}')
    addresses = {dict(labels)["address"] for (_name, labels) in series}
    assert addresses == {old[1], new[1]}
    assert all(dict(labels)["target"] == dest for (_name, labels) in series)
