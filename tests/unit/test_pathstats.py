"""Path statistics and the honest loss verdict on hand-built traces; the Paris-style packet."""

from __future__ import annotations

import socket

import pytest

from qostui.probes.path import PathTrace, Sample, echo_packet
from qostui.probes.pathstats import NOT_FORWARDING, hops_from_trace, loss_from_hop, path_signature


def _trace(losses: list[int], n: int = 100, dest: bool = True) -> PathTrace:
    """A 4-hop trace where hop k loses the first losses[k-1] of n probes."""
    trace = PathTrace("10.0.0.4", socket.AF_INET, 30)
    for ttl, lost in enumerate(losses, start=1):
        for p in range(n):
            got = p >= lost
            trace.add(ttl, Sample(p, f"10.0.0.{ttl}" if got else "", 1.0 + ttl if got else None,
                                  reached=got and dest and ttl == len(losses)))
    trace.dest_hop = len(losses) if dest else None
    return trace


def test_loss_that_continues_to_the_destination_starts_at_its_first_hop() -> None:
    hops = hops_from_trace(_trace([0, 0, 20, 18]), "t", 0.0)
    assert [h.loss_pct for h in hops] == [0.0, 0.0, 20.0, 18.0]
    assert loss_from_hop(hops) == 3
    assert [h.verdict for h in hops] == ["", "", "loss from hop 3", "loss from hop 3"]
    assert hops[-1].reached and not hops[0].reached


def test_a_hop_that_rate_limits_its_replies_is_not_path_loss() -> None:
    hops = hops_from_trace(_trace([90, 0, 0, 0]), "t", 0.0)
    assert loss_from_hop(hops) is None
    assert [h.verdict for h in hops] == [NOT_FORWARDING, "", "", ""]


def test_rate_limited_hop_before_real_loss_and_a_silent_hop() -> None:
    hops = hops_from_trace(_trace([90, 0, 100, 20, 20]), "t", 0.0)
    assert hops[2].received == 0 and hops[2].hop_address == ""  # never answered: no verdict
    assert loss_from_hop(hops) == 4
    assert [h.verdict for h in hops] == [NOT_FORWARDING, "", "", "loss from hop 4", "loss from hop 4"]
    assert path_signature(hops) == ("10.0.0.1", "10.0.0.2", "*", "10.0.0.4", "10.0.0.5")


def test_rtt_figures_match_their_definitions() -> None:
    trace = PathTrace("10.0.0.1", socket.AF_INET, 30)
    for p, rtt in enumerate([1.0, None, 3.0, 2.0]):
        trace.add(1, Sample(p, "10.0.0.1" if rtt else "", rtt, reached=rtt is not None))
    trace.dest_hop = 1
    (hop,) = hops_from_trace(trace, "t", 5.0)
    assert (hop.sent, hop.received, hop.loss_pct) == (4, 3, 25.0)
    assert (hop.rtt_last_ms, hop.rtt_avg_ms, hop.rtt_best_ms, hop.rtt_worst_ms) == (2.0, 2.0, 1.0, 3.0)
    assert hop.rtt_stdev_ms == pytest.approx(1.0)  # sample standard deviation, like mtr
    assert hop.jitter_ms == pytest.approx(1.5)  # |3-1| and |2-3| over the received ones


def test_hops_stop_at_the_last_answering_hop_without_a_destination() -> None:
    trace = _trace([0, 0, 100, 100], n=5, dest=False)
    assert [h.hop for h in hops_from_trace(trace, "t", 0.0)] == [1, 2]


@pytest.mark.parametrize("seq", [0, 1, 0x1234, 0xFFFF])
def test_checksum_and_identifier_stay_constant_across_sequence_numbers(seq: int) -> None:
    pad = bytes(range(50))
    first = echo_packet(8, 0xBEEF, 7, pad, with_checksum=True)
    other = echo_packet(8, 0xBEEF, seq, pad, with_checksum=True)
    assert other[2:4] == first[2:4]  # checksum
    assert other[4:6] == first[4:6] == b"\xbe\xef"  # identifier
    assert other[6:8] == seq.to_bytes(2, "big")
    from qostui.probes.icmp import checksum

    assert checksum(other) == 0  # still a valid checksum
