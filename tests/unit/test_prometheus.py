"""The Prometheus exporter served over real HTTP on loopback, read back with prometheus_client's
parser (and linted by `promtool check metrics`); the CLI's --prometheus and [prometheus] listen."""

from __future__ import annotations

import math
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import need_tool
from qostui.config import ConfigError, load_config, parse_listen
from qostui.exporters.prometheus import RTT_BUCKETS_S, PrometheusExporter
from qostui.records import Event, Forecast, PathHop, PingRound, ProbeState
from unit.prometheus_helpers import NOW, every_kind_of_record, running_exporter, samples, scrape, value


def test_every_record_kind_is_exported_in_base_units() -> None:
    with running_exporter(every_kind_of_record(), influx_backlog=lambda: 42.0) as exporter:
        text, content_type = scrape(exporter)
    assert content_type.startswith("text/plain; version=0.0.4")
    found = samples(text)
    lan = {"host": "rec-1", "target": "lan", "address": "10.0.0.1", "probe": "icmp"}
    assert value(found, "qostui_probes_sent_total", **lan) == 5
    assert value(found, "qostui_probes_received_total", **lan) == 4
    assert value(found, "qostui_rtt_seconds_count", **lan) == 4
    assert value(found, "qostui_rtt_seconds_sum", **lan) == pytest.approx(0.002)
    assert value(found, "qostui_probe_loss_ratio", **lan) == pytest.approx(0.2)
    assert value(found, "qostui_probe_jitter_seconds", **lan) == pytest.approx(0.0001)
    assert value(found, "qostui_probe_mos", **lan) == pytest.approx(4.4)
    assert value(found, "qostui_probe_state", **lan, state="ok") == 1
    assert value(found, "qostui_probe_state", **lan, state="no_route") == 0
    # interface: 8 Mbps for 5 s = 5e6 bytes; rates in bytes per second
    eth = {"host": "rec-1", "interface": "eth0"}
    assert value(found, "qostui_interface_receive_bytes_total", **eth) == pytest.approx(5e6)
    assert value(found, "qostui_interface_transmit_bytes_total", **eth) == pytest.approx(625e3)
    assert value(found, "qostui_interface_receive_bytes_per_second", **eth) == pytest.approx(1e6)
    assert value(found, "qostui_interface_transmit_bytes_per_second", **eth) == pytest.approx(125e3)
    step = {"host": "rec-1", "model": "lstm-1", "step": "1"}
    assert value(found, "qostui_forecast_bandwidth_bytes_per_second", **step) == pytest.approx(1.25e6)
    assert value(found, "qostui_forecast_bandwidth_lower_bytes_per_second", **step, coverage="0.8") == pytest.approx(1e6)
    assert value(found, "qostui_forecast_bandwidth_upper_bytes_per_second", **step, coverage="0.95") == pytest.approx(1.75e6)
    assert value(found, "qostui_forecast_target_timestamp_seconds", **step) == NOW + 300
    assert value(found, "qostui_alert_level", host="rec-1", kind="loss", target="lan") == 1
    assert value(found, "qostui_influx_backlog_points", host="rec-1") == 42
    assert value(found, "qostui_last_probe_timestamp_seconds", host="rec-1") == NOW
    assert value(found, "qostui_build_info", host="rec-1") == 1
    assert not any(name.endswith("_created") for name, _ in found)


def test_histogram_buckets_are_cumulative_and_inclusive() -> None:
    edge_ms = RTT_BUCKETS_S[30] * 1000  # a reply exactly on a bound counts in that bucket (le = <=)
    r = PingRound(NOW, "t", "10.0.0.9", "icmp", ProbeState.OK, 4, 4, 0.0, rtts_ms=(edge_ms, edge_ms * 1.01, 0.001, 60_000.0))
    with running_exporter([r]) as exporter:
        found = samples(scrape(exporter)[0])
    buckets = sorted(
        (float(dict(lab)["le"]), v) for (name, lab), v in found.items() if name == "qostui_rtt_seconds_bucket"
    )
    assert len(buckets) == len(RTT_BUCKETS_S) + 1 and buckets[-1] == (math.inf, 4)
    counts = [v for _, v in buckets]
    assert counts == sorted(counts)  # cumulative
    assert buckets[0][1] == 1  # 1 us: below the first bound
    assert buckets[30][1] == 2 and buckets[31][1] == 3  # the edge reply, then the one 1% above it
    assert buckets[-2][1] == 3  # 60 s is only in +Inf


def test_buckets_are_fine_at_lan_and_wan_scales() -> None:
    assert RTT_BUCKETS_S[0] <= 60e-6 and RTT_BUCKETS_S[-1] >= 10
    ratios = [b / a for a, b in zip(RTT_BUCKETS_S[:-1], RTT_BUCKETS_S[1:], strict=True)]
    assert max(ratios) < 1.2  # smokeping_prober's buckets double
    # at least four buckets between 12.8 and 25.6 ms (the example)
    assert sum(12.8e-3 < b <= 25.6e-3 for b in RTT_BUCKETS_S) >= 4


def test_a_round_that_could_not_be_sent_has_no_loss_ratio_and_keeps_the_address() -> None:
    ok = PingRound(NOW, "t", "10.0.0.5", "icmp", ProbeState.OK, 5, 5, 0.0, jitter_ms=0.2, mos=4.4, rtts_ms=(1.0,) * 5)
    failed = PingRound(NOW + 5, "t", "", "icmp", ProbeState.NO_ROUTE, 0, 0, 0.0, error="no route")
    with running_exporter([ok, failed]) as exporter:
        found = samples(scrape(exporter)[0])
    labels = {"target": "t", "address": "10.0.0.5"}
    assert value(found, "qostui_probe_state", **labels, state="no_route") == 1
    assert value(found, "qostui_probe_state", **labels, state="ok") == 0
    assert value(found, "qostui_probe_loss_ratio", target="t") is None  # not 0% loss: no probe went out
    assert value(found, "qostui_probe_jitter_seconds", target="t") is None
    assert value(found, "qostui_probes_sent_total", **labels) == 5  # the counters carry on


def test_a_new_address_replaces_the_old_series() -> None:
    first = PingRound(NOW, "name.example", "10.0.0.5", "icmp", ProbeState.OK, 5, 5, 0.0, rtts_ms=(1.0,) * 5)
    moved = PingRound(NOW + 5, "name.example", "10.0.0.6", "icmp", ProbeState.OK, 5, 5, 0.0, rtts_ms=(1.0,) * 5)
    with running_exporter([first, moved]) as exporter:
        found = samples(scrape(exporter)[0])
    assert value(found, "qostui_probes_sent_total", target="name.example", address="10.0.0.6") == 5
    assert value(found, "qostui_probes_sent_total", address="10.0.0.5") is None


def test_forecast_of_a_new_model_and_missing_bounds_replace_old_series() -> None:
    old = Forecast(NOW, NOW + 300, 1, "old", 10.0, 8.0, 12.0, 6.0, 14.0)
    new = Forecast(NOW + 300, NOW + 600, 1, "new", 20.0)  # no calibrated interval
    with running_exporter([old, new]) as exporter:
        found = samples(scrape(exporter)[0])
    assert value(found, "qostui_forecast_bandwidth_bytes_per_second", model="new") == pytest.approx(2.5e6)
    assert value(found, "qostui_forecast_bandwidth_bytes_per_second", model="old") is None
    assert value(found, "qostui_forecast_bandwidth_lower_bytes_per_second", coverage="0.8") is None


def test_path_hops_of_the_newest_round_only() -> None:
    def hop(ts: float, n: int, address: str, loss_pct: float = 0.0, rtt: float | None = 1.5) -> PathHop:
        received = round(10 * (1 - loss_pct / 100))
        return PathHop(ts, "dst", "10.231.9.2", n, address, (address,) if address else (), 10, received,
                       loss_pct, rtt, rtt, rtt, rtt, 0.0 if rtt else None, 0.0 if rtt else None)  # fmt: skip

    first = [hop(NOW, 1, "10.231.1.1"), hop(NOW, 2, "10.231.2.1", 20.0, 2.5), hop(NOW, 3, "10.231.3.1")]
    moved = [hop(NOW + 60, 1, "10.231.1.1"), hop(NOW + 60, 2, "", 100.0, None)]  # shorter, hop 2 silent
    with running_exporter(first) as exporter:
        found = samples(scrape(exporter)[0])
        assert value(found, "qostui_path_hop_loss_ratio", target="dst", hop="2", address="10.231.2.1") == pytest.approx(0.2)
        assert value(found, "qostui_path_hop_rtt_seconds", hop="2") == pytest.approx(0.0025)
        assert value(found, "qostui_path_hops", target="dst") == 3
        exporter.handle(moved)
        found = samples(scrape(exporter)[0])
    assert value(found, "qostui_path_hop_loss_ratio", hop="2", address="10.231.2.1") is None
    assert value(found, "qostui_path_hop_loss_ratio", hop="2", address="*") == 1.0
    assert value(found, "qostui_path_hop_rtt_seconds", hop="2") is None
    assert value(found, "qostui_path_hop_loss_ratio", hop="3") is None
    assert value(found, "qostui_path_hops", target="dst") == 2


def test_alert_levels_follow_events_and_odd_label_values_are_escaped() -> None:
    target = 'we"ird\\name\nx'
    events = [Event(NOW, "latency", target, "crit", "m"), Event(NOW + 1, "latency", target, "ok", "m")]
    with running_exporter(events) as exporter:
        found = samples(scrape(exporter)[0])
    assert value(found, "qostui_alert_level", kind="latency", target=target) == 0


def test_promtool_lints_the_exposition() -> None:
    promtool = need_tool("promtool")
    with running_exporter(every_kind_of_record()) as exporter:
        text = scrape(exporter)[0]
    proc = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_other_paths_and_cached_scrapes() -> None:
    with running_exporter(every_kind_of_record()) as exporter:
        first = scrape(exporter)[0]
        second = scrape(exporter)[0]
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(exporter.url.replace("/metrics", "/nope"), timeout=10)
        assert err.value.code == 404
    strip = [line for line in first.splitlines() if "render_seconds" not in line]
    assert strip == [line for line in second.splitlines() if "render_seconds" not in line]


def test_the_table_body_is_joined_once_per_round() -> None:
    with running_exporter(every_kind_of_record()) as exporter:
        first = exporter.table.render()
        assert exporter.table.render() is first  # nothing handled since: the same bytes again
        exporter.handle([PingRound(NOW + 5, "lan", "10.0.0.1", "icmp", ProbeState.OK, 5, 5, 0.0, rtts_ms=(0.5,) * 5)])
        after_round = exporter.table.render()
        assert after_round is not first
        assert value(samples(scrape(exporter)[0]), "qostui_probes_sent_total", target="lan") == 10
        exporter.handle([Event(NOW + 5, "loss", "lan", "ok", "loss back to 0%")])
        assert value(samples(exporter.render().decode()), "qostui_alert_level", target="lan") == 0


def test_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this kernel")
    exporter = PrometheusExporter("", host="h", bind=("::1", 0))
    try:
        exporter.start()
    except ConfigError as exc:
        pytest.skip(f"::1 not usable here: {exc}")
    try:
        assert exporter.url.startswith("http://[::1]:")
        assert "qostui_build_info" in scrape(exporter)[0]
    finally:
        exporter.close()


def test_port_in_use_is_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        exporter = PrometheusExporter(f"127.0.0.1:{port}", host="h")
        with pytest.raises(ConfigError, match=rf"cannot listen on 127.0.0.1:{port} \(address already in use\)"):
            exporter.start()


def test_record_with_a_busy_port_exits_2_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "qostui", "record", "--targets", "127.0.0.1", "--db", str(tmp_path / "q.db"),
             "--duration", "5s", "--prometheus", f"127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"qostui: error: prometheus: cannot listen on 127.0.0.1:{port} (address already in use)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("9469", ("127.0.0.1", 9469)), ("0.0.0.0:9469", ("0.0.0.0", 9469)), ("[::1]:9", ("::1", 9)),
     ("localhost:9469", ("localhost", 9469))],
)  # fmt: skip
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["::1:9469", "[zz]:1", "host:0", "host:70000", "1.2.3:80", "host", ""])
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^--prometheus = "):
        parse_listen(text)


def test_config_section(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[prometheus]\nlisten = "[::1]:9469"\n')
    assert load_config(str(path)).prometheus.listen == "[::1]:9469"
    path.write_text('[prometheus]\nlisten = "nope"\n')
    with pytest.raises(ConfigError, match=rf"^{path}: 'prometheus.listen' = 'nope': expected host:port"):
        load_config(str(path))
    assert load_config(None).prometheus.listen == ""  # off by default


def test_cli_flag_error_names_the_flag(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "qostui", "record", "--targets", "127.0.0.1", "--db", str(tmp_path / "q.db"),
         "--prometheus", "1.2.3.4.5:80"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip() == "qostui: error: --prometheus = '1.2.3.4.5:80': '1.2.3.4.5' is not an IP address or hostname"


@pytest.mark.parametrize(
    "argv",
    [["--prometheus", "9469"], ["--prometheus", "9469", "record"], ["record", "--prometheus", "9469"],
     ["monitor", "--prometheus", "9469"], ["--record", "--prometheus", "9469"]],
)  # fmt: skip
def test_the_flag_reaches_the_config_wherever_it_is_given(argv: list[str]) -> None:
    from qostui.cli import build_parser, config_from_args

    args = build_parser().parse_args(["--targets", "127.0.0.1", *argv])
    assert config_from_args(args).prometheus.listen == "9469"


def test_the_pipeline_serves_its_rounds_and_stops_serving(tmp_path: Path) -> None:
    from dataclasses import replace

    from qostui.config import Config, PrometheusConfig, parse_targets_arg
    from qostui.pipeline import Pipeline
    from unit.prometheus_helpers import wait_until

    with socket.socket() as probe_port:
        probe_port.bind(("127.0.0.1", 0))
        port = probe_port.getsockname()[1]
    base = Config()
    config = base.with_overrides(
        targets=parse_targets_arg("127.0.0.1"),
        interval_s=0.2,
        probe=replace(base.probe, count=2, spacing_ms=10.0, timeout_ms=100.0),
        store=replace(base.store, path=str(tmp_path / "q.db")),
        prometheus=PrometheusConfig(listen=f"127.0.0.1:{port}"),
    )
    pipeline = Pipeline(config)
    assert pipeline.prometheus is not None
    url = pipeline.prometheus.url
    assert url == f"http://127.0.0.1:{port}/metrics"
    pipeline.start()
    try:

        def sent() -> float:
            with urllib.request.urlopen(url, timeout=10) as resp:
                found = samples(resp.read().decode())
            return value(found, "qostui_probes_sent_total", target="127.0.0.1") or 0.0

        assert wait_until(lambda: sent() >= 4, 60), "two rounds of 2 probes within 60 s"
    finally:
        pipeline.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=5)
