"""A real PrometheusExporter on a free loopback port, fed one record of every kind, and its /metrics
parsed with prometheus_client's own text parser (shared by the exporter and the side-file tests)."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client.parser import text_string_to_metric_families

from qostui.exporters.prometheus import PrometheusExporter
from qostui.records import BandwidthSample, Event, Forecast, PingRound, ProbeState, Record

NOW = 1_750_000_000.0


def every_kind_of_record() -> list[Record]:
    return [
        PingRound(NOW, "lan", "10.0.0.1", "icmp", ProbeState.OK, 5, 4, 20.0, rtt_min_ms=0.4, rtt_avg_ms=0.5,
                  rtt_max_ms=0.6, jitter_ms=0.1, mos=4.4, rtts_ms=(0.4, 0.5, None, 0.6, 0.5)),
        PingRound(NOW, "gone", "", "icmp", ProbeState.UNRESOLVED, 0, 0, 0.0, error="name not known"),
        BandwidthSample(NOW, "eth0", rx_mbps=8.0, tx_mbps=1.0, interval_s=5.0),
        Forecast(NOW, NOW + 300, 1, "lstm-1", 10.0, 8.0, 12.0, 6.0, 14.0),
        Event(NOW, "loss", "lan", "warn", "loss 20% to lan"),
    ]  # fmt: skip


@contextmanager
def running_exporter(records: list[Record] | None = None, **kwargs: object) -> Iterator[PrometheusExporter]:
    exporter = PrometheusExporter("", host=str(kwargs.pop("host", "rec-1")), bind=("127.0.0.1", 0), **kwargs)  # type: ignore[arg-type]
    exporter.start()
    try:
        if records:
            exporter.handle(records)
        yield exporter
    finally:
        exporter.close()


def scrape(exporter: PrometheusExporter) -> tuple[str, str]:
    """(body, content type) of one GET /metrics."""
    with urllib.request.urlopen(exporter.url, timeout=30) as resp:
        return resp.read().decode(), resp.headers["Content-Type"]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """(sample name, labels) -> value, through prometheus_client's parser (it rejects bad syntax)."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float | None:
    """The one sample of `name` whose labels include `labels` (None when there is none)."""
    hits = [v for (n, lab), v in found.items() if n == name and set(labels.items()) <= lab]
    assert len(hits) <= 1, f"{name} {labels}: {len(hits)} samples"
    return hits[0] if hits else None


def labels_by_sample_name(text: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for (name, lab), _ in samples(text).items():
        out.setdefault(name, set()).update(k for k, _ in lab)
    for family in text_string_to_metric_families(text):  # families exposed without samples yet
        if family.type == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                out.setdefault(family.name + suffix, set())
        elif family.type == "counter":
            out.setdefault(family.name + "_total", set())
        else:
            out.setdefault(family.name, set())
    return out


def wait_until(predicate, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False
