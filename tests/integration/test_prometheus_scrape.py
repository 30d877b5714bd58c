"""A real Prometheus (Debian's /usr/bin/prometheus, on loopback, temporary data dir, 1 s scrapes)
scrapes `qostui record --prometheus` probing two lab hosts: one answering after 20 ms, one dropping
20% of echo requests. Read back through Prometheus's HTTP API:

- histogram_quantile(0.5) of qostui_rtt_seconds is within 2 ms of the set delay (the 2^(1/4) buckets
  put any RTT from 18.6 to 22.1 ms at 20.3 ms);
- the lost share on the loss host is within its binomial interval for the probes sent. The test uses
  a 99.9% interval (z = 3.29) rather than 95%: a 95% interval would fail one CI run in twenty when
  nothing is wrong;
- rate(qostui_probes_sent_total) equals the probes per second the recorder sends (count / interval)
  within 5%.
"""

from __future__ import annotations

import json
import math
import signal
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import need_root, need_tool
from integration.vm import free_port, recorder, start_server, stop_process, wait_http_ok

pytestmark = [pytest.mark.lab, pytest.mark.server, pytest.mark.slow]

DELAY_MS = 20.0
LOSS_PCT = 20.0
COUNT = 5  # probes per round
INTERVAL_S = 0.5
PROBES_PER_S = COUNT / INTERVAL_S
WINDOW = "60s"  # rate()/histogram window; the test waits until the series are older than it


class Prometheus:
    """One prometheus process on 127.0.0.1 scraping `targets` every second."""

    def __init__(self, binary: str, workdir: Path, targets: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = workdir / "prometheus.yml"
        self.config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: qostui\n    static_configs:\n"
            f"      - targets: {json.dumps(targets)}\n"
        )
        self.log_path = workdir / "prometheus.log"
        self.proc = start_server(
            [binary, f"--config.file={self.config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1d",
             "--log.level=warn"],
            self.log_path,
        )  # fmt: skip

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        wait_http_ok(self.proc, f"{self.url}/-/ready", "prometheus", self.log_path, timeout_s)

    def query(self, promql: str) -> list[tuple[dict[str, str], float]]:
        """An instant query at now: [(labels, value), ...]."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=30) as resp:
            answer = json.loads(resp.read())
        assert answer["status"] == "success", answer
        return [(r["metric"], float(r["value"][1])) for r in answer["data"]["result"]]

    def one(self, promql: str) -> float:
        result = self.query(promql)
        assert len(result) == 1, f"{promql}: {result}"
        return result[0][1]

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGTERM, 20)


@pytest.fixture
def prometheus_binary() -> str:
    return need_tool("prometheus")


@pytest.fixture
def lab_hosts(lab) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    delay = lab.add_host("delay", delay_ms=DELAY_MS)
    loss = lab.add_host("loss", loss_pct=LOSS_PCT)
    yield delay.address, loss.address


def wait_for(predicate, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(1.0)
    raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")


def test_prometheus_scrapes_rtt_loss_and_probe_rate(
    prometheus_binary: str, lab_hosts: tuple[str, str], tmp_path: Path
) -> None:
    need_root()
    delay_host, loss_host = lab_hosts
    port = free_port()
    config = tmp_path / "c.toml"
    config.write_text(f'[probe]\nmethod = "icmp"\ncount = {COUNT}\nspacing_ms = 20.0\ntimeout_ms = 300.0\n')
    args = ["--config", str(config), "--targets", f"{delay_host},{loss_host}", "--interval", str(INTERVAL_S),
            "--db", str(tmp_path / "q.db"), "--prometheus", f"127.0.0.1:{port}"]  # fmt: skip
    prom = Prometheus(prometheus_binary, tmp_path, [f"127.0.0.1:{port}"])
    try:
        with recorder(args, stderr_path=tmp_path / "rec.err", stdout_path=tmp_path / "rec.out") as proc:
            prom.wait_ready()

            def enough_scrapes() -> bool:
                assert proc.poll() is None, f"recorder exited: {(tmp_path / 'rec.err').read_text()}"
                # A series younger than the window would make rate() extrapolate over less than it.
                counts = prom.query("count_over_time(qostui_probes_sent_total[90s])")
                return len(counts) == 2 and min(v for _, v in counts) >= 70

            wait_for(enough_scrapes, 300, "70 scrapes of both targets (the series older than the 60 s window)")
            assert prom.one('up{job="qostui"}') == 1
            median_s = prom.one(
                f'histogram_quantile(0.5, sum by (le) (rate(qostui_rtt_seconds_bucket{{target="{delay_host}"}}[{WINDOW}])))'
            )
            sent = prom.one(f'qostui_probes_sent_total{{target="{loss_host}"}}')
            received = prom.one(f'qostui_probes_received_total{{target="{loss_host}"}}')
            rates = {
                labels["target"]: v for labels, v in prom.query(f"rate(qostui_probes_sent_total[{WINDOW}])")
            }
            loss_gauge = prom.query(f'avg_over_time(qostui_probe_loss_ratio{{target="{loss_host}"}}[{WINDOW}])')
            scrape_s = prom.one(f'max_over_time(scrape_duration_seconds{{job="qostui"}}[{WINDOW}])')
    finally:
        prom.stop()
    err = (tmp_path / "rec.err").read_text()
    assert f"Prometheus metrics at http://127.0.0.1:{port}/metrics" in err

    assert abs(median_s * 1000 - DELAY_MS) <= 2.0, f"median RTT {median_s * 1000:.2f} ms vs delay {DELAY_MS} ms"

    p = LOSS_PCT / 100
    lost = 1 - received / sent
    half = 3.29 * math.sqrt(p * (1 - p) / sent) + 0.5 / sent  # 99.9% normal interval, continuity-corrected
    assert sent >= 300
    assert abs(lost - p) <= half, f"lost {lost:.3f} of {sent:.0f} probes; expected {p} +- {half:.3f}"
    assert loss_gauge and abs(loss_gauge[0][1] - p) <= 0.15  # the last-round gauge averages near it too

    assert set(rates) == {delay_host, loss_host}
    for target, rate in rates.items():
        assert abs(rate / PROBES_PER_S - 1) <= 0.05, f"{target}: {rate:.2f} probes/s vs {PROBES_PER_S:g}"
    print(
        f"\nprometheus: median RTT {median_s * 1000:.2f} ms (delay {DELAY_MS:g}); loss {lost:.3f} of {sent:.0f} "
        f"(+-{half:.3f}); sent rate {', '.join(f'{r:.2f}' for r in rates.values())}/s (expected {PROBES_PER_S:g}); "
        f"max scrape {scrape_s * 1000:.1f} ms"
    )
