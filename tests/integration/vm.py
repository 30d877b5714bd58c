"""Helpers for tests against a real local time-series server (fixtures: conftest.py).

`victoria` starts Debian's victoria-metrics on 127.0.0.1 (free port, temporary data dir): it takes
InfluxDB v2 line protocol on /api/v2/write and gives samples back through /api/v1/export, where a
line's `measurement,field` becomes the metric `measurement_field` and its tags become labels.
String fields are kept as 0 there, and values keep 12 significant digits.

`start_server`, `wait_http_ok` and `stop_process` start, wait for and stop any such server process
(victoria-metrics here, Debian's prometheus in test_prometheus_scrape.py, the recorder below).

`stub_server` is a tiny http.server that answers every write with a fixed status (401, 404, ...):
victoria-metrics has no auth, so the health-check tests for bad tokens and buckets need it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

VM_BINARY = "victoria-metrics"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """`argv` in a session of its own (a Ctrl-C to pytest does not reach it), output appended to
    `log_path` (a restarted server keeps one log)."""
    with log_path.open("ab") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _log_tail(log_path: Path) -> str:
    try:
        return log_path.read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"


def wait_http_ok(
    proc: subprocess.Popen[bytes], url: str, what: str, log_path: Path, timeout_s: float
) -> None:
    """Poll `url` until it answers 200; RuntimeError with the log's end if `proc` exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}); {log_path}: {_log_tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {timeout_s:g}s; {log_path}: {_log_tail(log_path)}")


def stop_process(proc: subprocess.Popen[bytes], sig: int, timeout_s: float) -> None:
    """Send `sig` (the program's clean stop) and wait; SIGKILL if it hangs."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class VictoriaMetrics:
    """One victoria-metrics process; stop() and start() again keep the port and the data dir."""

    def __init__(self, binary: str, data_dir: Path, port: int | None = None) -> None:
        self.binary = binary
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"vm-{self.port}.log"

    def start(self, timeout_s: float = 120.0) -> None:
        assert self.proc is None, "already running"
        self.proc = start_server(
            [
                self.binary,
                f"-storageDataPath={self.data_dir}",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                "-retentionPeriod=100y",
                "-loggerLevel=ERROR",
                "-search.latencyOffset=0s",
            ],
            self.log_path,
        )
        try:
            wait_http_ok(self.proc, f"{self.url}/health", "victoria-metrics", self.log_path, timeout_s)
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        """Graceful stop (SIGINT flushes to disk), SIGKILL if it hangs."""
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_process(proc, signal.SIGINT, 15)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # --- reading back --------------------------------------------------------------------------
    def force_flush(self) -> None:
        with urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=5) as resp:
            resp.read()

    def export(self, match: str) -> list[dict[str, Any]]:
        """Raw samples of every series matching a selector, e.g. '{host="h1"}'."""
        self.force_flush()
        # export's default range ends now; forecasts are stamped with the (future) predicted time
        params = {"match[]": match, "start": "0", "end": str(int(time.time()) + 366 * 86400)}
        data = urllib.parse.urlencode(params).encode()
        with urllib.request.urlopen(f"{self.url}/api/v1/export", data=data, timeout=30) as resp:
            body = resp.read().decode()
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    def samples(self, match: str) -> dict[tuple[str, frozenset[tuple[str, str]]], list[tuple[int, float]]]:
        """(metric name, labels without __name__) -> [(ts_ms, value), ...] sorted by time."""
        out: dict[tuple[str, frozenset[tuple[str, str]]], list[tuple[int, float]]] = {}
        for series in self.export(match):
            labels = dict(series["metric"])
            name = labels.pop("__name__")
            key = (name, frozenset(labels.items()))
            out.setdefault(key, []).extend(zip(series["timestamps"], series["values"], strict=True))
        for values in out.values():
            values.sort()
        return out

    def wait_for_count(self, match: str, count: int, timeout_s: float = 120.0) -> int:
        """Poll (victoria-metrics buffers new samples ~1 s) until `count` samples match; -> last count."""
        deadline = time.monotonic() + timeout_s
        seen = -1
        while time.monotonic() < deadline:
            seen = sum(len(s["values"]) for s in self.export(match))
            if seen >= count:
                return seen
            time.sleep(0.3)
        return seen


class StubServer:
    """Answers /ping with 204 and every other request with `status` and an InfluxDB-style body."""

    def __init__(self, status: int, message: str, decide: Callable[[bytes], int] | None = None) -> None:
        self.status = status
        self.message = message
        self.decide = decide  # body -> status, for tests that reject only some batches
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.accepted: list[bytes] = []  # bodies answered 204
        self.query_csv: str | None = None  # when set: /api/v2/query answers 200 with this annotated CSV
        self.bodies: list[bytes] = []  # every request body, in order
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else b""
                stub.requests.append((self.command, self.path, dict(self.headers.items())))
                stub.bodies.append(data)
                if stub.query_csv is not None and self.path.startswith("/api/v2/query"):
                    answer = stub.query_csv.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/csv; charset=utf-8")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    return
                status = 204 if self.path.startswith("/ping") else stub.status
                if stub.decide is not None and not self.path.startswith("/ping"):
                    status = stub.decide(data)
                if status == 204:
                    stub.accepted.append(data)
                    self.send_response(204)
                    self.end_headers()
                    return
                body = json.dumps({"code": "error", "message": stub.message}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def __enter__(self) -> StubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def write_config(path: Path, url: str, *, host_tag: str, extra: str = "") -> Path:
    """A config file whose [influx] section points at `url` (short intervals for tests)."""
    path.write_text(
        "[influx]\n"
        "enabled = true\n"
        f'url = "{url}"\n'
        'org = "qostui-org"\n'
        'bucket = "qostui-bucket"\n'
        f'host_tag = "{host_tag}"\n'
        "flush_interval_ms = 200\n"
        "timeout_ms = 2000\n" + extra,
        encoding="utf-8",
    )
    return path


def qostui_env() -> dict[str, str]:
    """Environment for a `qostui` subprocess: no user config, no Influx variables leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFLUXDB_", "QOSTUI_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextlib.contextmanager
def recorder(args: list[str], *, stderr_path: Path, stdout_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m qostui record ...` as a subprocess; SIGTERM (clean stop) at exit, SIGKILL if stuck."""
    with stderr_path.open("wb") as err, stdout_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qostui", "record", *args],
            stdout=out,
            stderr=err,
            env=qostui_env(),
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            stop_process(proc, signal.SIGTERM, 30)
