"""Prometheus endpoint: records from the bus -> GET /metrics (text exposition format 0.0.4).

Metrics (base units; every series also has `host`, the recorder: influx.host_tag or the hostname):

    per target (labels target, address, probe)
      qostui_probes_sent_total, qostui_probes_received_total       counters
      qostui_rtt_seconds                                            histogram of every reply's RTT
      qostui_probe_loss_ratio, qostui_probe_jitter_seconds,
      qostui_probe_mos                                              gauges: the last round
      qostui_probe_state{state=ok|no_route|unresolved|...}          state set: 1 for the last round's
    qostui_alert_level{kind, target}                                0 ok, 1 warn, 2 crit (Event records)
    qostui_interface_{receive,transmit}_bytes_total{interface}      counters
    qostui_interface_{receive,transmit}_bytes_per_second{interface} gauges: the last interval
    qostui_forecast_bandwidth_bytes_per_second{model, step}         the latest forecast for each step
    qostui_forecast_bandwidth_{lower,upper}_bytes_per_second{model, step, coverage="0.8"|"0.95"}
    qostui_forecast_target_timestamp_seconds{model, step}           the time that forecast is for
    qostui_last_probe_timestamp_seconds, qostui_recorder_start_timestamp_seconds,
    qostui_build_info{version}, qostui_influx_backlog_points (with an Influx writer),
    qostui_exporter_render_seconds                                  time the previous /metrics took

Bandwidth is exported in bytes per second (Prometheus' base unit, as node_exporter does); the
dashboards multiply by 8 for bit/s. The forecast is of rx + tx summed over interfaces, like the model.
Gauges of the last round leave out what that round did not measure: no jitter or MOS without
replies, and no loss ratio for a round that could not be sent (no route, unresolved...), which is
not 0% loss. When a target's address changes, its old series are dropped rather than left stale.

RTT buckets are the boundaries of Prometheus' native histograms at schema 2, 2^(k/4) s (a factor
of 1.19, rounded to 4 digits) from 51 us to 11.3 s: histogram_quantile() places a percentile in a
bucket at most 19% wide at LAN and WAN scales alike (smokeping_prober's buckets double: 100%), and
the layout matches native histograms should they be used later.

Why not prometheus_client's metric classes for everything: its generate_latest() spends ~15 us
per sample, so 1000 targets x 85 samples would take over a second per scrape. The per-target and
per-alert families live in `_TargetTable`: each target keeps its lines' "name{labels} " prefixes as
bytes, renders at a scrape only if it changed since the last one, and most of its histogram lines
are joins of those prefixes (see _Target). The table's whole body is joined once per generation
(a round or an event handled), so a repeated scrape between rounds returns those bytes again. The
handful of per-host families are ordinary prometheus_client metrics in the exporter's own
CollectorRegistry, rendered by generate_latest() at every scrape (they hold live values: the Influx
backlog, the render time).
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import html
import itertools
import math
import socket
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Info, generate_latest
from prometheus_client.utils import floatToGoString

from qostui import __version__
from qostui.config import parse_listen
from qostui.errors import ConfigError
from qostui.levels import Level
from qostui.records import BandwidthSample, Event, Forecast, PathHop, PingRound, ProbeState, Record

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RTT_BUCKETS_S: tuple[float, ...] = tuple(float(f"{2.0 ** (k / 4):.4g}") for k in range(-57, 15))  # 51.3 us .. 11.3 s
_BUCKET_BOUNDS_MS = tuple(b * 1000.0 for b in RTT_BUCKETS_S)
_LE = (*(floatToGoString(b) for b in RTT_BUCKETS_S), "+Inf")
STATES = tuple(s.value for s in ProbeState)
BYTES_PER_MBPS = 1e6 / 8  # 1 Mbps = 1e6 bit/s

# Families rendered by _TargetTable, in output order: (name, type, help).
TARGET_FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("qostui_probes_sent_total", "counter", "Echo requests (or TCP connects) sent to the target."),
    ("qostui_probes_received_total", "counter", "Replies received from the target."),
    ("qostui_rtt_seconds", "histogram", "Round-trip time of every reply."),
    ("qostui_probe_loss_ratio", "gauge", "Share of the last round's probes lost (absent when it could not send)."),
    ("qostui_probe_jitter_seconds", "gauge", "Mean absolute difference of consecutive RTTs in the last round."),
    ("qostui_probe_mos", "gauge", "E-model MOS estimate of the last round (1 worst .. 4.4 best)."),
    ("qostui_probe_state", "gauge", "State of the last round: 1 for the state it had, 0 for the others."),
)
ALERT_FAMILY = ("qostui_alert_level", "gauge", "qostui's alert level per kind and target: 0 ok, 1 warn, 2 crit.")


# Per-target one-line families, in the order _Target.heads keeps their "name{labels} " prefixes.
_SIMPLE_LINES = (
    "qostui_probes_sent_total", "qostui_probes_received_total", "qostui_rtt_seconds_sum",
    "qostui_rtt_seconds_count", "qostui_probe_loss_ratio", "qostui_probe_jitter_seconds", "qostui_probe_mos",
)  # fmt: skip
_NOTHING: tuple[bytes, ...] = ()


def _gauge_line(head: bytes, value: float | None) -> tuple[bytes, ...]:
    return _NOTHING if value is None else (head, repr(value).encode(), b"\n")


def _finite(value: float) -> float | None:
    return value if value - value == 0 else None  # NaN and +-inf are not a measurement


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)


def _header(name: str, kind: str, text: str) -> str:
    return f"# HELP {name} {text}\n# TYPE {name} {kind}\n"


class _Target:
    """Counters, RTT histogram and last-round gauges of one (target, address, probe) series."""

    __slots__ = ("address", "buckets", "cache", "heads", "high", "hist_head", "jitter_s", "labels", "loss_ratio", "low",
                 "mos", "prefixes", "probe", "received", "rtt_count", "rtt_sum_s", "sent", "state",
                 "state_text")  # fmt: skip

    def __init__(self, labels: str, address: str, probe: str) -> None:
        self.labels = labels
        self.address = address
        self.probe = probe
        self.sent = 0
        self.received = 0
        self.buckets = [0] * len(_LE)  # per bucket, not cumulative; the last is +Inf
        self.rtt_sum_s = 0.0
        self.rtt_count = 0
        self.loss_ratio: float | None = None
        self.jitter_s: float | None = None
        self.mos: float | None = None
        self.state = ""
        self.state_text = b""  # the state-set lines, rebuilt only when the state changes
        self.cache: tuple[tuple[bytes, ...], ...] | None = None  # per family, its lines in parts; None: changed
        # Each bucket line up to its count. Buckets below the lowest RTT seen hold 0 for good (rendered
        # once, hist_head); those above the highest hold the total, one bytes.join. Only the few
        # in between are formatted one by one, so a target's 75 lines cost a few joins per scrape.
        self.prefixes = tuple(f'qostui_rtt_seconds_bucket{{{labels},le="{le}"}} '.encode() for le in _LE)
        self.heads = tuple(f"{name}{{{labels}}} ".encode() for name in _SIMPLE_LINES)
        self.low = len(_LE)  # the lowest non-empty bucket (none yet)
        self.high = -1  # the highest non-empty bucket
        self.hist_head = b"0\n".join(self.prefixes) + b"0\n"  # all zero

    def add(self, r: PingRound) -> None:
        self.sent += r.sent
        self.received += r.received
        buckets = self.buckets
        bounds = _BUCKET_BOUNDS_MS
        for rtt in r.rtts_ms:
            if rtt is not None and rtt - rtt == 0 and rtt >= 0:  # finite
                i = bisect.bisect_left(bounds, rtt)  # le is inclusive: the first bound >= rtt
                buckets[i] += 1
                if i < self.low:
                    self.low = i
                    self.hist_head = b"0\n".join(self.prefixes[:i]) + b"0\n" if i else b""
                if i > self.high:
                    self.high = i
                self.rtt_sum_s += rtt / 1000.0
                self.rtt_count += 1
        ok = r.state is ProbeState.OK
        state = r.state.value if isinstance(r.state, ProbeState) else str(r.state)
        if state != self.state:
            self.state = state
            lab = self.labels
            self.state_text = "".join(
                f'qostui_probe_state{{{lab},state="{s}"}} {1 if s == state else 0}\n' for s in STATES
            ).encode()
        self.loss_ratio = _finite(r.loss_pct / 100.0) if ok else None
        self.jitter_s = _finite(r.jitter_ms / 1000.0) if ok and r.jitter_ms is not None else None
        self.mos = _finite(r.mos) if ok and r.mos is not None else None
        self.cache = None

    def render(self) -> tuple[tuple[bytes, ...], ...]:
        if self.cache is not None:
            return self.cache
        low, high, prefixes = self.low, self.high, self.prefixes
        sent, received, rtt_sum, rtt_count, loss, jitter, mos = self.heads
        sum_count = b"%b%s\n%b%d\n" % (rtt_sum, repr(self.rtt_sum_s).encode(), rtt_count, self.rtt_count)
        if high < 0:
            hist: tuple[bytes, ...] = (self.hist_head, sum_count)
        else:  # parts, not one string: the scrape's single join copies them once
            counts = itertools.accumulate(self.buckets[low : high + 1])
            middle = b"".join([b"%b%d\n" % pc for pc in zip(prefixes[low : high + 1], counts, strict=True)])
            total = b"%d\n" % self.rtt_count
            tail = total.join(prefixes[high + 1 :]) if high + 1 < len(prefixes) else b""
            hist = (self.hist_head, middle, tail, total if tail else b"", sum_count)
        self.cache = (
            (b"%b%d\n" % (sent, self.sent),),
            (b"%b%d\n" % (received, self.received),),
            hist,
            _gauge_line(loss, self.loss_ratio),
            _gauge_line(jitter, self.jitter_s),
            _gauge_line(mos, self.mos),
            (self.state_text,),
        )
        return self.cache


class _TargetTable:
    """The families that grow with the number of targets; thread-safe."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._targets: dict[str, _Target] = {}  # by target name
        self._alerts: dict[tuple[str, str], bytes] = {}  # (kind, target) -> rendered line
        self._headers = tuple(_header(*f).encode() for f in TARGET_FAMILIES)
        self._lock = threading.Lock()
        self.last_probe_ts = 0.0
        self._generation = 0  # bumped by every change; the body below is of one generation
        self._body: tuple[int, bytes] = (-1, b"")

    def add_round(self, r: PingRound) -> None:
        with self._lock:
            t = self._targets.get(r.target)
            address = r.address or (t.address if t is not None else "")  # a failed lookup keeps the last address
            if t is None or t.address != address or t.probe != r.probe:
                labels = _labels((("host", self.host), ("target", r.target), ("address", address), ("probe", r.probe)))
                t = self._targets[r.target] = _Target(labels, address, r.probe)
            t.add(r)
            self._generation += 1
            if r.ts > self.last_probe_ts:
                self.last_probe_ts = r.ts

    def add_event(self, e: Event) -> None:
        if e.level not in (Level.OK, Level.WARN, Level.CRIT):
            return  # not an alert level change
        labels = _labels((("host", self.host), ("kind", e.kind), ("target", e.target)))
        with self._lock:
            self._alerts[(e.kind, e.target)] = f"qostui_alert_level{{{labels}}} {Level(e.level).rank}\n".encode()
            self._generation += 1

    def render(self) -> bytes:
        with self._lock:
            generation, body = self._body
            if generation == self._generation:
                return body
            generation = self._generation
            rendered = [t.render() for t in self._targets.values()]
            alerts = list(self._alerts.values())
        parts: list[bytes] = []
        for i, header in enumerate(self._headers):
            parts.append(header)
            for lines in rendered:
                parts.extend(lines[i])
        parts.append(_header(*ALERT_FAMILY).encode())
        parts.extend(alerts)
        body = b"".join(parts)
        # Of `generation`, not the newest: a round handled during the join makes the next scrape render.
        if generation > self._body[0]:
            self._body = (generation, body)
        return body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    exporter: PrometheusExporter


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        cpu_started = time.thread_time()
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            body = self.server.exporter.render()
            content_type = CONTENT_TYPE
            status = 200
        elif path == "/":
            body = b'<html><body><h1>qostui</h1><p><a href="/metrics">/metrics</a></p></body></html>\n'
            content_type, status = "text/html; charset=utf-8", 200
        else:
            body = f"not found: {html.escape(path)}; metrics are at /metrics\n".encode()
            content_type, status = "text/plain; charset=utf-8", 404
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if status == 200 and path == "/metrics":
            self.server.exporter.last_scrape_cpu_s = time.thread_time() - cpu_started

    def log_message(self, format: str, *args: object) -> None:  # no line per scrape on stderr
        pass


class PrometheusExporter:
    """Bus subscriber keeping the metrics, and the HTTP server serving them.

    `handle` is the bus handler (it runs on the subscription's own thread); `start` binds and
    serves on a thread of its own; `render` is what GET /metrics returns.
    """

    def __init__(
        self,
        listen: str,
        *,
        host: str,
        influx_backlog: Callable[[], float] | None = None,
        version: str = "",
        bind: tuple[str, int] | None = None,
    ) -> None:
        """`listen` is validated config ("host:port"); `bind` overrides it, port 0 picking a free
        port (tests and bench/)."""
        self.listen = listen
        self.bind_host, self.bind_port = bind if bind is not None else parse_listen(listen)
        if bind is not None:
            self.listen = f"[{bind[0]}]:{bind[1]}" if ":" in bind[0] else f"{bind[0]}:{bind[1]}"
        self.host = host
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.table = _TargetTable(host)
        # _created samples would double every counter's series for a value nobody graphs.
        prometheus_client.disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        h = ("host",)
        Info("qostui_build", "qostui version of this recorder.", h, registry=r).labels(host).info(
            {"version": version or __version__}
        )
        Gauge("qostui_recorder_start_timestamp_seconds", "When this recorder started (Unix time).", h,
              registry=r).labels(host).set(time.time())  # fmt: skip
        Gauge("qostui_last_probe_timestamp_seconds", "Time of the newest probe round (Unix time).", h,
              registry=r).labels(host).set_function(lambda: self.table.last_probe_ts)  # fmt: skip
        self._render_s = 0.0
        self.last_scrape_cpu_s = 0.0  # CPU time of the last GET /metrics: render and send (bench/)
        Gauge("qostui_exporter_render_seconds", "Time the previous GET /metrics took to render.", h,
              registry=r).labels(host).set_function(lambda: self._render_s)  # fmt: skip
        if influx_backlog is not None:
            Gauge("qostui_influx_backlog_points", "Points recorded but not yet written to InfluxDB.", h,
                  registry=r).labels(host).set_function(influx_backlog)  # fmt: skip
        hi = ("host", "interface")
        self._rx_total = Counter("qostui_interface_receive_bytes", "Bytes received on the interface.", hi, registry=r)
        self._tx_total = Counter("qostui_interface_transmit_bytes", "Bytes sent on the interface.", hi, registry=r)
        self._rx_rate = Gauge("qostui_interface_receive_bytes_per_second",
                              "Receive rate over the last bandwidth interval.", hi, registry=r)  # fmt: skip
        self._tx_rate = Gauge("qostui_interface_transmit_bytes_per_second",
                              "Transmit rate over the last bandwidth interval.", hi, registry=r)  # fmt: skip
        fl = ("host", "model", "step")
        self._predicted = Gauge("qostui_forecast_bandwidth_bytes_per_second",
                                "Latest forecast of rx+tx bandwidth, per step ahead.", fl, registry=r)  # fmt: skip
        self._lower = Gauge("qostui_forecast_bandwidth_lower_bytes_per_second",
                            "Lower bound of the forecast's prediction interval (coverage 0.8 or 0.95).",
                            (*fl, "coverage"), registry=r)  # fmt: skip
        self._upper = Gauge("qostui_forecast_bandwidth_upper_bytes_per_second",
                            "Upper bound of the forecast's prediction interval (coverage 0.8 or 0.95).",
                            (*fl, "coverage"), registry=r)  # fmt: skip
        self._forecast_for = Gauge("qostui_forecast_target_timestamp_seconds",
                                   "The time (Unix) the latest forecast of this step is for.", fl, registry=r)  # fmt: skip
        self._forecast_model: dict[int, str] = {}  # step -> model of the series exported for it
        ph = ("host", "target", "hop", "address")
        self._hop_loss = Gauge("qostui_path_hop_loss_ratio",
                               "Share of the last path round's probes with this TTL that got no reply.", ph, registry=r)  # fmt: skip
        self._hop_rtt = Gauge("qostui_path_hop_rtt_seconds",
                              "Mean RTT of the hop's replies in the last path round.", ph, registry=r)  # fmt: skip
        self._path_hops = Gauge("qostui_path_hops", "Hops of the last path round to the target.",
                                ("host", "target"), registry=r)  # fmt: skip
        self._path: dict[str, dict[int, tuple[str, float]]] = {}  # target -> hop -> (address, round ts)
        self._lock = threading.Lock()  # bandwidth and forecast updates (the table has its own)

    # --- the bus side ---------------------------------------------------------------------------
    def handle(self, batch: list[Record]) -> None:
        table = self.table
        for record in batch:
            if isinstance(record, PingRound):
                table.add_round(record)
            elif isinstance(record, BandwidthSample):
                self._bandwidth(record)
            elif isinstance(record, Forecast):
                self._forecast(record)
            elif isinstance(record, Event):
                table.add_event(record)
            elif isinstance(record, PathHop):
                self._path_hop(record)

    def _bandwidth(self, s: BandwidthSample) -> None:
        rx = s.rx_mbps * BYTES_PER_MBPS
        tx = s.tx_mbps * BYTES_PER_MBPS
        if not (math.isfinite(rx) and math.isfinite(tx)) or rx < 0 or tx < 0:
            return
        with self._lock:
            self._rx_rate.labels(self.host, s.interface).set(rx)
            self._tx_rate.labels(self.host, s.interface).set(tx)
            if s.interval_s > 0 and math.isfinite(s.interval_s):
                self._rx_total.labels(self.host, s.interface).inc(rx * s.interval_s)
                self._tx_total.labels(self.host, s.interface).inc(tx * s.interval_s)

    def _forecast(self, f: Forecast) -> None:
        step = int(f.step)
        key = (self.host, f.model, str(step))
        with self._lock:
            old = self._forecast_model.get(step)
            if old is not None and old != f.model:  # a new model: its predecessor's series end here
                self._remove_forecast((self.host, old, str(step)))
            self._forecast_model[step] = f.model
            if not math.isfinite(f.predicted_mbps):
                self._remove_forecast(key)
                return
            self._predicted.labels(*key).set(f.predicted_mbps * BYTES_PER_MBPS)
            self._forecast_for.labels(*key).set(f.ts)
            for coverage, lo, hi in (
                ("0.8", f.predicted_lo_mbps, f.predicted_hi_mbps),
                ("0.95", f.predicted_lo95_mbps, f.predicted_hi95_mbps),
            ):
                for gauge, value in ((self._lower, lo), (self._upper, hi)):
                    if value is None or not math.isfinite(value):
                        _remove(gauge, (*key, coverage))  # no calibrated interval for this forecast
                    else:
                        gauge.labels(*key, coverage).set(value * BYTES_PER_MBPS)

    def _path_hop(self, h: PathHop) -> None:
        """Gauges of the newest path round only: a hop of an older round (or at an address that no
        longer answers at that TTL) loses its series, so a route change leaves no stale hops."""
        address = h.hop_address or "*"
        with self._lock:
            hops = self._path.setdefault(h.target, {})
            if hops and h.ts > max(ts for _, ts in hops.values()):  # a new round: the old one ends
                for hop, (old, _) in list(hops.items()):
                    self._remove_hop(h.target, hop, old)
                hops.clear()
            elif h.ts < max((ts for _, ts in hops.values()), default=h.ts):
                return  # a late record of an older round
            previous = hops.get(h.hop)
            if previous is not None and previous[0] != address:
                self._remove_hop(h.target, h.hop, previous[0])
            hops[h.hop] = (address, h.ts)
            key = (self.host, h.target, str(h.hop), address)
            if h.sent > 0 and math.isfinite(h.loss_pct):
                self._hop_loss.labels(*key).set(h.loss_pct / 100.0)
            if h.rtt_avg_ms is not None and math.isfinite(h.rtt_avg_ms):
                self._hop_rtt.labels(*key).set(h.rtt_avg_ms / 1000.0)
            else:
                _remove(self._hop_rtt, key)
            self._path_hops.labels(self.host, h.target).set(max(hops))

    def _remove_hop(self, target: str, hop: int, address: str) -> None:
        key = (self.host, target, str(hop), address)
        _remove(self._hop_loss, key)
        _remove(self._hop_rtt, key)

    def _remove_forecast(self, key: tuple[str, str, str]) -> None:
        _remove(self._predicted, key)
        _remove(self._forecast_for, key)
        for coverage in ("0.8", "0.95"):
            _remove(self._lower, (*key, coverage))
            _remove(self._upper, (*key, coverage))

    # --- the scrape side ------------------------------------------------------------------------
    def render(self) -> bytes:
        started = time.perf_counter()
        body = generate_latest(self.registry) + self.table.render()
        self._render_s = time.perf_counter() - started
        return body

    def start(self) -> None:
        """Bind and serve. A port in use (or an address not on this machine) is one ConfigError line."""
        family = socket.AF_INET6 if ":" in self.bind_host else socket.AF_INET
        if self.bind_host not in ("", "0.0.0.0") and ":" not in self.bind_host:
            try:  # a hostname ("localhost"): bind where it resolves first
                family = socket.getaddrinfo(self.bind_host, self.bind_port, type=socket.SOCK_STREAM)[0][0]
            except OSError as exc:
                raise ConfigError(f"prometheus: cannot listen on {self.listen} (cannot resolve {self.bind_host!r}: {exc})") from None
        server_cls = type("_BoundServer", (_Server,), {"address_family": family})
        try:
            server = server_cls((self.bind_host, self.bind_port), _Handler)
        except OSError as exc:
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise ConfigError(f"prometheus: cannot listen on {self.listen} ({reason})") from None
        server.exporter = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.5}, name="prometheus-http", daemon=True
        )
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually bound (port 0 in the constructor picks a free one)."""
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}/metrics" if ":" in host else f"http://{host}:{port}/metrics"

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(5)


def _remove(gauge: Gauge, labels: tuple[str, ...]) -> None:
    with contextlib.suppress(KeyError):  # never set: nothing to remove
        gauge.remove(*labels)

