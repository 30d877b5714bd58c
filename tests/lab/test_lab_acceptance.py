"""Issue 2 acceptance on a real (namespaced) network: RTT, loss, bandwidth and no-route.

Each test builds its own lab hosts (the `lab` fixture tears them down, also on failure) and
compares qostui's figures with what the lab was set to and with independent tools (iputils
ping, iperf3, nftables counters).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import need_tool
from lab.netlab import Lab, mean_rtt_ms, ping_rtts_ms, qostui_rounds
from qostui.probes.netio import BandwidthMeter
from qostui.records import BandwidthSample, ProbeState

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_delay_50ms_matches_setting_and_iputils_ping(lab: Lab) -> None:
    need_tool("ping")
    host = lab.add_host("delay", delay_ms=50)
    rounds = qostui_rounds(host.address, rounds=3, count=10, spacing_ms=100)
    mean_ms, sent, received = mean_rtt_ms(rounds)
    median_ms = statistics.median(x for batch in rounds for x in batch[0].rtts_ms if x is not None)
    ping_replies_ms, ping_loss_pct = ping_rtts_ms(host.address, count=10, interval_s=0.2)
    ping_ms = statistics.median(ping_replies_ms)
    print(f"delay 50 ms: qostui mean {mean_ms:.3f} ms, median {median_ms:.3f} ms over {received} probes, "
          f"iputils ping median {ping_ms:.3f} ms")
    assert (sent, received) == (30, 30)
    assert all(batch[0].state is ProbeState.OK for batch in rounds)
    assert ping_loss_pct == 0.0
    # Medians: one late wake-up on a busy machine moves a mean of 30 by a millisecond, not a median.
    assert abs(median_ms - 50.0) <= 1.0, f"qostui median RTT {median_ms:.3f} ms, set 50 ms"
    assert abs(median_ms - ping_ms) <= 1.0, f"qostui {median_ms:.3f} ms vs ping {ping_ms:.3f} ms"
    # The round's own average agrees with the per-probe RTTs it carries.
    for batch in rounds:
        r = batch[0]
        assert r.rtt_avg_ms == pytest.approx(statistics.fmean(x for x in r.rtts_ms if x is not None))


def test_jitter_is_measured(lab: Lab) -> None:
    """Uniform +/-10 ms around 50 ms: RTTs spread over 40..60 and RFC 3550-style jitter ~6.7 ms."""
    host = lab.add_host("jitter", delay_ms=50, jitter_ms=10)
    rounds = qostui_rounds(host.address, rounds=4, count=10, spacing_ms=100)
    rtts = [x for batch in rounds for x in batch[0].rtts_ms if x is not None]
    assert len(rtts) == 40
    # netem never delivers early, so the floor is firm; a busy machine may wake the prober late, so
    # most (not all) replies must sit inside the 60 ms ceiling, and none beyond a runaway bound.
    assert min(rtts) >= 39.5 and max(rtts) <= 60 + 250
    assert sum(x <= 61.5 for x in rtts) >= 0.9 * len(rtts)
    assert max(rtts) - min(rtts) > 8  # spread actually shows
    jitters = [batch[0].jitter_ms for batch in rounds]
    assert all(j is not None for j in jitters)
    # Late wake-ups only add jitter, so the floor is firm and the ceiling is on the median round.
    assert 3.5 < statistics.median(j for j in jitters if j is not None) < 10.5


def test_loss_20pct_over_400_probes(lab: Lab) -> None:
    host = lab.add_host("loss", loss_pct=20)
    rounds = qostui_rounds(host.address, rounds=2, count=200, spacing_ms=10, timeout_ms=1000)
    _, sent, received = mean_rtt_ms(rounds)
    assert sent == 400
    loss_pct = 100 * (sent - received) / sent
    print(f"loss 20%: qostui {loss_pct:.2f}% over {sent} probes, nft dropped {host.dropped_packets()}")
    # Binomial sd at n=400, p=0.2 is 2%: the +/-8% window is four sd wide.
    assert 12.0 <= loss_pct <= 28.0, f"measured loss {loss_pct:.1f}% for 20% set"
    # Every probe nftables dropped is one qostui counted as lost, and no other probe was.
    assert sent - received == host.dropped_packets()
    for batch in rounds:
        r = batch[0]
        assert r.state is ProbeState.OK
        assert r.loss_pct == pytest.approx(100 * (r.sent - r.received) / r.sent)


def test_loss_can_change_at_run_time(lab: Lab) -> None:
    """What the alert tests rely on: a host switched from 0% to 100% loss and back."""
    host = lab.add_host("switch", loss_pct=0)
    (before,) = qostui_rounds(host.address, rounds=1, count=20, spacing_ms=5, timeout_ms=1000)
    host.set_loss(100)
    (during,) = qostui_rounds(host.address, rounds=1, count=20, spacing_ms=5, timeout_ms=1000)
    host.set_loss(30)
    rule = host.exec("nft", "list", "chain", "inet", "qostui_lab", "input")
    host.set_loss(0)
    (after,) = qostui_rounds(host.address, rounds=1, count=20, spacing_ms=5, timeout_ms=1000)
    assert before[0].loss_pct == 0.0
    assert during[0].loss_pct == 100.0 and during[0].state is ProbeState.OK
    assert "mod 100 < 30" in rule and rule.count("drop") == 1
    assert after[0].loss_pct == 0.0


def test_bandwidth_meter_matches_iperf3_on_50mbit_link(lab: Lab) -> None:
    need_tool("iperf3")
    host = lab.add_host("bw", rate_mbit=50)
    meter = BandwidthMeter((host.root_ifname,))
    samples: list[tuple[float, BandwidthSample]] = []
    stop = threading.Event()

    def sample_loop() -> None:
        meter.sample()  # prime
        while not stop.wait(0.25):
            samples.extend((time.monotonic(), s) for s in meter.sample())

    sampler = threading.Thread(target=sample_loop, daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        # -O 1: iperf3 leaves the first second (connection set-up) out of its figures.
        result = host.iperf3_reverse(seconds=5, omit_s=1)
    finally:
        finished = time.monotonic()
        stop.set()
        sampler.join(5)
    iperf_mbps = result["end"]["sum_received"]["bits_per_second"] / 1e6
    # Same window as iperf3's measured part, with 0.5 s margins for start-up and the close.
    window = [s for t, s in samples if started + 1.5 <= t - s.interval_s and t <= finished - 0.5]
    assert len(window) >= 8, f"only {len(window)} meter samples in the window"
    meter_mbps = sum(s.rx_mbps * s.interval_s for s in window) / sum(s.interval_s for s in window)
    print(f"tbf 50 Mbit: meter {meter_mbps:.3f} Mbps ({len(window)} samples), iperf3 receiver {iperf_mbps:.3f} Mbps, "
          f"diff {100 * (meter_mbps - iperf_mbps) / iperf_mbps:+.2f}%")
    assert 40 < iperf_mbps <= 50.5, f"iperf3 {iperf_mbps:.2f} Mbps on a 50 Mbit link"
    assert abs(meter_mbps - iperf_mbps) <= 0.05 * iperf_mbps, f"meter {meter_mbps:.2f} vs iperf3 {iperf_mbps:.2f} Mbps"
    assert all(s.interface == host.root_ifname and s.rx_mbps >= 0 and s.tx_mbps >= 0 for _, s in samples)


def test_unroutable_lab_address_is_no_route(lab: Lab) -> None:
    (batch,) = qostui_rounds(["127.0.0.1", lab.unroutable_address], rounds=1, count=3, spacing_ms=50, timeout_ms=500)
    loopback, unroutable = batch
    assert loopback.state is ProbeState.OK and loopback.loss_pct == 0.0
    assert unroutable.state is ProbeState.NO_ROUTE
    assert unroutable.address == lab.unroutable_address


def test_record_with_unroutable_target_exits_zero(lab: Lab, tmp_path: Path) -> None:
    db = tmp_path / "record.db"
    proc = subprocess.run(
        [sys.executable, "-m", "qostui", "record", "--targets", f"127.0.0.1,{lab.unroutable_address}",
         "--interval", "1", "--duration", "3s", "--db", str(db)],
        capture_output=True, text=True, timeout=300,
        # No user config (targets, Influx) may leak into the run.
        env={**{k: v for k, v in os.environ.items() if not k.startswith(("INFLUXDB_", "QOSTUI_INFLUX"))},
             "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "XDG_DATA_HOME": str(tmp_path / "data"),
             "QOSTUI_CONFIG": ""},
    )
    assert proc.returncode == 0, proc.stderr
    # Status lines name both targets; alert lines (loss alerts) may come in between.
    lines = [line for line in proc.stdout.splitlines() if "127.0.0.1" in line]
    assert len(lines) >= 2, proc.stdout
    assert all(f"{lab.unroutable_address} no route" in line for line in lines), proc.stdout
    assert "Traceback" not in proc.stderr
    from qostui.store import Store

    with Store(db) as store:
        unroutable = store.ping_rounds(target=lab.unroutable_address)
        loopback = store.ping_rounds(target="127.0.0.1")
    assert len(unroutable) >= 2 and all(r.state is ProbeState.NO_ROUTE for r in unroutable)
    assert len(loopback) >= 2 and all(r.state is ProbeState.OK and r.loss_pct == 0.0 for r in loopback)
