"""InfluxDB 2.x writer whose outbox is the SQLite store: nothing is lost while the server is away.

Every record is already durably in the store, under a rowid that is never reused. The writer keeps
one cursor per record kind in the store's meta table (`influx.cursor.<kind>`), reads the rows after
the cursors, encodes them as line protocol and posts them with influxdb-client's *synchronous*
write API. A cursor moves only after the server acknowledged the batch (2xx), so:

- a dead server, a restart of qostui or of the server: the unsent rows are simply still after the
  cursor and are replayed in order (per kind, merged by time) once the server answers again;
- influxdb-client's own batching is not used, because it drops a batch once its retries run out;
  we retry forever with exponential backoff (0.5 s doubling, capped at 30 s);
- the backlog (rows after the cursors) is bounded by `influx.backlog_max_points`: a warning at 80%,
  then another naming exactly what is skipped before the oldest unsent rows are passed over.
  Skipped rows stay in the local store; only their export is given up.

Points are keyed by (measurement, tags, timestamp), so a batch replayed after a crash between the
server's answer and the cursor update overwrites itself in InfluxDB instead of duplicating.

Timing: new rows are looked for every `flush_interval_ms` (a full batch of new records published on
the bus wakes the writer at once). While a backlog drains, one batch is on the wire while the next is
read and encoded. A malformed point (HTTP 400) is isolated by splitting the batch and skipped alone.
At start a health check (GET /ping, then a one-line write of `qos_agent`) logs one clear line for an
unreachable server, a rejected token (401/403) or an unknown org/bucket (404); failures after that
log one line per kind of problem, not one per retry. Recording never waits for the server.

The token is only handed to the client library; it never appears in logs, errors or repr.
"""

from __future__ import annotations

import heapq
import json
import logging
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from qostui.config import InfluxConfig
from qostui.exporters.line_protocol import PRECISION, encode, encode_agent_start
from qostui.records import Forecast, Record
from qostui.redact import install_log_redaction, redact_url

log = logging.getLogger(__name__)

KINDS = ("ping", "bandwidth", "forecast", "event", "path")
CURSOR_KEY = "influx.cursor.{kind}"
DESTINATION_KEY = "influx.destination"
BACKOFF_START_S = 0.5
BACKOFF_CAP_S = 30.0
WARN_FRACTION = 0.8  # warn when the backlog reaches this share of backlog_max_points
DRAIN_TIMEOUT_S = 10.0
READ_CHUNK = 1000  # rows per store read while assembling a batch  # at close: keep sending while the server answers, at most this long


class OutboxStore(Protocol):
    """What the writer needs from the store (qostui.store.Store provides it)."""

    def read_after(self, kind: str, after_rowid: int, limit: int) -> list[tuple[int, Record]]: ...
    def max_rowid(self, kind: str) -> int: ...
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...


# --- errors and health ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Why the server did not take a write, classified for one clear line."""

    kind: str  # unreachable | unauthorized | not_found | rejected | too_large | server | store
    status: int  # HTTP status, 0 without an answer
    text: str  # one line, no token, no traceback

    @property
    def retry_later(self) -> bool:
        return self.kind not in ("rejected", "too_large")


def _server_message(body: Any) -> str:
    """The `message` of an InfluxDB JSON error body, shortened; '' when there is none."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body.strip():
        return ""
    try:
        data = json.loads(body)
        message = str(data.get("message") or data.get("error") or "") if isinstance(data, dict) else ""
    except ValueError:
        message = body
    message = " ".join(message.split())
    return message[:200]


def classify(exc: BaseException, config: InfluxConfig) -> Problem:
    """An exception from a write (or /ping) -> Problem with a user-facing line."""
    url = redact_url(config.url)
    status = getattr(exc, "status", None)
    if status is None and isinstance(exc, urllib.error.HTTPError):
        status = exc.code
    if isinstance(status, int) and status > 0:
        body = getattr(exc, "body", None)
        if body is None and isinstance(exc, urllib.error.HTTPError):
            try:
                body = exc.read()
            except OSError:
                body = None
        detail = _server_message(body)
        detail = f": {detail}" if detail else ""
        if status in (401, 403):
            return Problem(
                "unauthorized",
                status,
                f"{url} rejected the token (HTTP {status}{detail}); set $INFLUXDB_TOKEN or influx.token_file "
                f"to a token that may write to bucket '{config.bucket}'",
            )
        if status == 404:
            return Problem(
                "not_found",
                status,
                f"{url} does not know org '{config.org}' or bucket '{config.bucket}' (HTTP 404{detail}); "
                "check influx.org and influx.bucket",
            )
        if status == 413:
            return Problem(
                "too_large", status, f"{url} refused a batch as too large (HTTP 413); lower influx.batch_size"
            )
        if status in (400, 422):
            return Problem("rejected", status, f"{url} rejected points (HTTP {status}{detail})")
        return Problem("server", status, f"{url} answered HTTP {status}{detail}")
    reason = _connection_reason(exc)
    return Problem("unreachable", 0, f"cannot reach {url} ({reason})")


def _connection_reason(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", "") or exc)
    lowered = text.lower()
    for needle, short in (
        ("connection refused", "connection refused"),
        ("timed out", "timed out"),
        ("timeout", "timed out"),
        ("name or service not known", "unknown host name"),
        ("failed to resolve", "unknown host name"),
        ("no route to host", "no route to host"),
        ("network is unreachable", "network unreachable"),
        ("connection reset", "connection reset"),
        ("remote end closed", "connection closed by the server"),
        ("certificate", "TLS certificate problem"),
    ):
        if needle in lowered:
            return short
    return type(exc).__name__


@dataclass(frozen=True)
class Health:
    ok: bool
    problem: Problem | None = None

    @property
    def line(self) -> str:
        return "influx: ok" if self.problem is None else f"influx: {self.problem.text}"


def _without_userinfo(url: str) -> tuple[str, dict[str, str]]:
    """urllib does not take credentials from the URL: move them to a Basic auth header."""
    import base64
    from urllib.parse import unquote, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return url, {}
    if "@" not in parts.netloc:
        return url, {}
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    return urlunsplit(parts._replace(netloc=hostport)), {"Authorization": f"Basic {token}"}


def ping(config: InfluxConfig, timeout_s: float) -> Problem | None:
    """GET /ping: is there an InfluxDB-compatible server at the URL at all?"""
    url, headers = _without_userinfo(config.url.rstrip("/") + "/ping")
    try:
        request = urllib.request.Request(url, method="GET", headers=headers)
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            resp.read(1024)
        return None
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return Problem(
                "not_found", 404, f"{redact_url(config.url)} has no /ping (HTTP 404): is this an InfluxDB 2.x URL?"
            )
        if exc.code in (401, 403):  # /ping is open on InfluxDB; some proxies guard it: the write will tell
            return None
        return classify(exc, config)
    except (OSError, ValueError) as exc:  # URLError, socket.timeout, bad URL
        return classify(exc, config)


# --- the writer -----------------------------------------------------------------------------------


class Transport(Protocol):
    def write(self, body: str) -> None: ...
    def close(self) -> None: ...


class ClientTransport:
    """influxdb-client's synchronous v2 write API: one HTTP request per call, no retries of its own."""

    def __init__(self, config: InfluxConfig) -> None:
        from influxdb_client import InfluxDBClient, WritePrecision
        from influxdb_client.client.write_api import SYNCHRONOUS

        self._config = config
        self._precision = {"ns": WritePrecision.NS, "us": WritePrecision.US, "ms": WritePrecision.MS}[
            PRECISION
        ]
        self._client = InfluxDBClient(
            url=config.url,
            token=config.token or None,
            org=config.org,
            timeout=config.timeout_ms,
            retries=False,
        )
        self._api = self._client.write_api(write_options=SYNCHRONOUS)

    def write(self, body: str) -> None:
        self._api.write(
            bucket=self._config.bucket, org=self._config.org, record=body, write_precision=self._precision
        )

    def close(self) -> None:
        try:
            self._api.close()
        finally:
            self._client.close()

    def __repr__(self) -> str:  # never show the token
        return f"ClientTransport({redact_url(self._config.url)!r})"


def _order_key(record: Record) -> float:
    # Forecasts carry the predicted time in ts; the time they were made orders them with the rest.
    return record.made_at if isinstance(record, Forecast) else record.ts


class InfluxWriter:
    """Background thread draining the store to InfluxDB. See the module docstring."""

    def __init__(
        self,
        config: InfluxConfig,
        store: OutboxStore,
        *,
        host: str = "",
        version: str = "",
        transport_factory: Callable[[InfluxConfig], Transport] = ClientTransport,
        health_check: bool = True,
    ) -> None:
        install_log_redaction()  # the URL and token pass through here: every log line is redacted
        self.config = config
        self.store = store
        self.host = host or config.host_tag or socket.gethostname()
        self.version = version or _qostui_version()
        self._transport_factory = transport_factory
        self._do_health_check = health_check
        self._transport: Transport | None = None
        self.batch_size = max(1, int(config.batch_size))
        self.flush_interval_s = max(0.01, config.flush_interval_ms / 1000)
        self.backlog_max = max(self.batch_size, int(config.backlog_max_points))
        # State shared with status()/flush() callers; guarded by _cond.
        self._cond = threading.Condition()
        self._stop = False
        self._new_records = 0
        self._thread: threading.Thread | None = None
        self.health: Health | None = None
        self.state = "starting"  # starting | ok | retrying
        self.problem: Problem | None = None
        self.backlog = 0
        self.sent_points = 0
        self.write_requests = 0
        self.failures = 0
        self.skipped_points = 0
        self.rejected_points = 0
        self._failures_in_row = 0
        self._logged_problem: str | None = None
        self._warned_fill = False
        self._cursors: dict[str, int] = {}
        self._drain_deadline = 0.0
        self._agent_line: str | None = None
        self._pool: ThreadPoolExecutor | None = None  # one thread posting while the next batch is encoded

    def __repr__(self) -> str:
        return f"InfluxWriter(url={redact_url(self.config.url)!r}, bucket={self.config.bucket!r}, state={self.state!r})"

    # --- public ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="influx-writer", daemon=True)
        self._thread.start()

    def notify(self, batch: Sequence[Record]) -> None:
        """Bus handler: new records exist. A full batch's worth wakes the writer before its flush tick."""
        with self._cond:
            self._new_records += len(batch)
            if self._new_records >= self.batch_size:
                self._cond.notify_all()

    def status(self) -> str:
        """'influx ok' | 'influx backlog N' | 'influx retrying (...)' for status lines."""
        with self._cond:
            state, backlog, problem = self.state, self.backlog, self.problem
        if state == "retrying":
            why = {
                "unreachable": "unreachable",
                "unauthorized": f"HTTP {problem.status} bad token" if problem else "bad token",
                "not_found": "HTTP 404 org/bucket",
                "server": f"HTTP {problem.status}" if problem else "server error",
                "store": "store busy",
            }.get(problem.kind if problem else "", "error")
            return f"influx retrying ({why}, backlog {backlog})"
        if state == "starting":
            return "influx starting"
        if backlog >= self.batch_size:
            return f"influx backlog {backlog}"
        return "influx ok"

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything stored so far is acknowledged (tests, bench). True when caught up."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            target = {k: self.store.max_rowid(k) for k in KINDS}
            self._new_records = self.batch_size  # wake the loop now
            self._cond.notify_all()
            while time.monotonic() < deadline:
                if self._cursors and all(self._cursors.get(k, 0) >= v for k, v in target.items()):
                    return True
                self._cond.wait(min(0.05, max(0.0, deadline - time.monotonic())))
                self._cond.notify_all()
        return False

    def close(self, drain_timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Stop; before that, send what is pending while the server answers (bounded in time)."""
        with self._cond:
            self._stop = True
            self._drain_deadline = time.monotonic() + drain_timeout_s
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(drain_timeout_s + self.config.timeout_ms / 1000 + 5)
            if self._thread.is_alive():
                log.warning("influx: writer did not stop in time; unsent points stay queued in the store")
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._transport is not None:
            try:
                self._transport.close()
            except Exception:  # closing a dead connection pool must not break shutdown
                log.debug("influx: closing the client failed", exc_info=True)

    # --- thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._load_cursors()
            self._transport = self._transport_factory(self.config)
            if self._do_health_check:
                self._check_health()
                if self.state == "retrying":  # the check just failed: back off before the first batch
                    self._backoff(BACKOFF_START_S)
            self._loop()
        except Exception as exc:  # the writer must never take the recorder down; one line, no traceback
            log.warning("influx: export stopped (%s); unsent points stay in the store for the next run", exc)
            log.debug("influx: writer failure", exc_info=True)

    def _loop(self) -> None:
        while True:
            with self._cond:
                stopping = self._stop
            if stopping:
                self._drain()
                return
            try:
                done, more = self._send_batch()
            except _Failed as failed:
                self._on_failure(failed.problem)
                delay = min(BACKOFF_CAP_S, BACKOFF_START_S * 2 ** min(self._failures_in_row - 1, 16))
                delay *= random.uniform(0.8, 1.0)  # many recorders must not retry in lockstep
                self._backoff(delay)
                continue
            if done:  # only a write the server took says it is fine again
                self._on_success()
            if more:
                continue
            with self._cond:
                if not self._stop and self._new_records < self.batch_size:
                    self._cond.wait(self.flush_interval_s)
                self._new_records = 0

    def _backoff(self, delay_s: float) -> None:
        """Wait before the next attempt; close() or a full batch of new records cuts it short."""
        deadline = time.monotonic() + delay_s
        with self._cond:
            while not self._stop and self._new_records < self.batch_size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            self._new_records = 0

    def _drain(self) -> None:
        """Final sends at close: while the server takes batches, until caught up or out of time."""
        deadline = self._drain_deadline
        while time.monotonic() < deadline:
            try:
                done, more = self._send_batch()
            except _Failed as failed:
                self._on_failure(failed.problem)
                log.warning(
                    "influx: stopping with %d point(s) not yet sent; they stay in the store and are sent next time",
                    self.backlog,
                )
                return
            if done:
                self._on_success()
            if not more:
                return
        if self.backlog:
            log.warning(
                "influx: stopping with %d point(s) not yet sent; they are sent next time", self.backlog
            )

    # --- cursors -----------------------------------------------------------------------------
    def _destination(self) -> str:
        # stored in the meta table and logged: never with the URL's userinfo
        return f"{redact_url(self.config.url.rstrip('/'))} org={self.config.org} bucket={self.config.bucket}"

    def _load_cursors(self) -> None:
        dest = self._destination()
        known = self.store.get_meta(DESTINATION_KEY)
        cursors = {}
        for kind in KINDS:
            raw = self.store.get_meta(CURSOR_KEY.format(kind=kind))
            try:
                cursors[kind] = int(raw) if raw is not None else 0
            except ValueError:
                log.warning("influx: ignoring a damaged cursor %r for %s; resending those rows", raw, kind)
                cursors[kind] = 0
        if known is not None and known != dest:
            # Another server or bucket: what the old one got says nothing about the new one.
            log.warning(
                "influx: destination changed (was %s); sending the whole stored history to %s", known, dest
            )
            cursors = dict.fromkeys(KINDS, 0)
        if known != dest:
            self.store.set_meta(DESTINATION_KEY, dest)
            for kind, value in cursors.items():
                self.store.set_meta(CURSOR_KEY.format(kind=kind), str(value))
        with self._cond:
            self._cursors = cursors
        backlog = sum(self._refresh_backlog().values())
        if known is None and backlog:
            # First export from this store: what was recorded before is sent too (bounded by the backlog limit).
            log.info(
                "influx: first export to %s; sending the %d point(s) already in the store", dest, backlog
            )

    def _save_cursors(self, new: dict[str, int]) -> None:
        for kind, value in new.items():
            if value > self._cursors.get(kind, 0):
                self.store.set_meta(CURSOR_KEY.format(kind=kind), str(value))
        with self._cond:
            self._cursors.update({k: max(v, self._cursors.get(k, 0)) for k, v in new.items()})
            self._cond.notify_all()

    def _refresh_backlog(self) -> dict[str, int]:
        pending = {k: max(0, self.store.max_rowid(k) - self._cursors.get(k, 0)) for k in KINDS}
        with self._cond:
            self.backlog = sum(pending.values())
        return pending

    def _enforce_backlog_bound(self) -> None:
        pending = self._refresh_backlog()
        total = sum(pending.values())
        if total >= WARN_FRACTION * self.backlog_max and not self._warned_fill and total <= self.backlog_max:
            self._warned_fill = True
            log.warning(
                "influx: backlog is %d points, %d%% of influx.backlog_max_points = %d; beyond that the oldest "
                "unsent points are skipped (they stay in the local store)",
                total,
                round(100 * total / self.backlog_max),
                self.backlog_max,
            )
        if total <= self.backlog_max:
            if total < WARN_FRACTION * self.backlog_max / 2:
                self._warned_fill = False  # warn again if it fills up again later
            return
        excess = total - self.backlog_max
        # Spread the skip over kinds in proportion to their backlog; the oldest rows go first.
        skip = {k: (excess * n + total - 1) // total for k, n in pending.items()}
        new = {k: self._cursors.get(k, 0) + s for k, s in skip.items() if s}
        log.warning(
            "influx: backlog of %d points exceeds influx.backlog_max_points = %d; skipping the oldest %d "
            "unsent point(s) (%s); they stay in the local store but will not be exported",
            total,
            self.backlog_max,
            sum(skip.values()),
            ", ".join(f"{k} {s}" for k, s in skip.items() if s),
        )
        self.skipped_points += sum(skip.values())
        self._save_cursors(new)
        self._refresh_backlog()

    # --- sending -----------------------------------------------------------------------------
    def _read_batch(self, cursors: dict[str, int]) -> list[tuple[str, int, Record]]:
        """Up to batch_size rows after `cursors` over all kinds, merged by time (per kind in rowid order)."""
        streams = []
        for kind in KINDS:
            rows = self._read_kind(kind, cursors.get(kind, 0), self.batch_size)
            if rows:
                streams.append([(_order_key(rec), kind, rowid, rec) for rowid, rec in rows])
        merged = streams[0] if len(streams) == 1 else list(heapq.merge(*streams, key=lambda item: item[0]))
        return [(kind, rowid, rec) for _, kind, rowid, rec in merged[: self.batch_size]]

    def _read_kind(self, kind: str, after: int, limit: int) -> list[tuple[int, Record]]:
        # In chunks: each read holds the store's lock, and a recording round may be waiting for it.
        out: list[tuple[int, Record]] = []
        while len(out) < limit:
            want = min(READ_CHUNK, limit - len(out))
            chunk = self.store.read_after(kind, after, want)
            out.extend(chunk)
            if len(chunk) < want:
                break
            after = chunk[-1][0]
        return out

    def _prepare(self, cursors: dict[str, int]) -> _Batch:
        """Read and encode the next batch after `cursors`."""
        try:
            rows = self._read_batch(cursors)
        except Exception as exc:  # store locked or closing: try again later, never lose the thread
            raise _Failed(Problem("store", 0, f"cannot read the local store ({exc})")) from None
        lines: list[str] = []
        ends: list[int] = []  # ends[i]: how many rows are done once line i is done
        for i, (kind, rowid, record) in enumerate(rows):
            try:
                lines.append(encode(record, self.host))
                ends.append(i + 1)
            except Exception as exc:  # cannot happen for store records; never block the outbox on it
                log.warning("influx: cannot encode %s row %d (%s); skipped", kind, rowid, exc)
                self.rejected_points += 1
                if ends:
                    ends[-1] = i + 1
        return _Batch(rows, lines, ends, more=len(rows) >= self.batch_size)

    def _commit(self, batch: _Batch, done_lines: int) -> int:
        """Move the cursors past the rows whose lines the server took; -> rows done."""
        # with no line written, rows are done only when none of them had a line (all unencodable)
        done_rows = batch.ends[done_lines - 1] if done_lines else (0 if batch.lines else len(batch.rows))
        new: dict[str, int] = {}
        for kind, rowid, _ in batch.rows[:done_rows]:
            new[kind] = rowid
        if new:
            self._save_cursors(new)
        return done_rows

    def _post(self, lines: list[str]) -> None:
        assert self._transport is not None
        self._transport.write("\n".join(lines))

    def _send_batch(self, max_batches: int = 20) -> tuple[int, bool]:
        """Send pending rows, up to `max_batches` batches. -> (rows done, more pending).

        Pipelined: while one batch is on the wire (its own thread; the HTTP wait releases the GIL),
        the next one is read and encoded after the in-flight batch's rows. Cursors still move only
        after each batch's acknowledgement, in order; a failure discards the batch read ahead.
        """
        try:
            self._enforce_backlog_bound()
        except Exception as exc:
            raise _Failed(Problem("store", 0, f"cannot read the local store ({exc})")) from None
        wrote = 0
        if self._agent_line is not None:
            # The start-up point did not get through: it goes first, on its own, once the server answers.
            self._write_lines([self._agent_line])
            self._agent_line = None
            wrote = 1
        batch = self._prepare(dict(self._cursors))
        if not batch.rows:
            return wrote, False
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="influx-post")
        rows_done = 0
        for n in range(max_batches):
            future = self._pool.submit(self._post, batch.lines) if batch.lines else None
            ahead: _Batch | None = None
            if batch.more and n + 1 < max_batches:
                ahead_cursors = dict(self._cursors)
                ahead_cursors.update({kind: rowid for kind, rowid, _ in batch.rows})
                try:
                    ahead = self._prepare(ahead_cursors)
                except _Failed:
                    ahead = None  # read again after this batch, synchronously
            if future is None:
                done_lines = 0
            else:
                try:
                    future.result()
                    done_lines = len(batch.lines)
                    with self._cond:
                        self.write_requests += 1
                        self.sent_points += done_lines
                except Exception as exc:
                    problem = classify(exc, self.config)
                    with self._cond:
                        self.write_requests += 1
                    if problem.retry_later:
                        raise _Failed(problem) from None
                    done_lines = self._write_lines(batch.lines)  # split to find the bad line(s)
            rows_done += self._commit(batch, done_lines)
            if ahead is None:
                break
            batch = ahead
            if not batch.rows:
                break
        self._refresh_backlog()
        return rows_done, batch.more

    def _write_lines(self, lines: list[str]) -> int:
        """Write lines in order; -> how many leading lines are done (written, or rejected one by one).

        A batch the server refuses as malformed (400/422) or too large (413) is split in halves until
        the bad line is found; that one line is reported and passed over, so one bad point can never
        block the outbox. Any other failure raises _Failed after the lines done so far.
        """
        if not lines:
            return 0
        assert self._transport is not None
        try:
            self._transport.write("\n".join(lines))
            with self._cond:
                self.write_requests += 1
                self.sent_points += len(lines)
            return len(lines)
        except Exception as exc:
            problem = classify(exc, self.config)
        with self._cond:
            self.write_requests += 1
        if problem.retry_later:
            raise _Failed(problem)
        if len(lines) == 1:
            self.rejected_points += 1
            log.warning("influx: %s; point skipped: %.200s", problem.text, lines[0])
            return 1
        half = len(lines) // 2
        done = self._write_lines(lines[:half])  # raises on a transient failure: cursors stay put
        return done + self._write_lines(lines[half:])

    # --- state ---------------------------------------------------------------------------------
    def _check_health(self) -> None:
        """/ping, then a one-line write of qos_agent; one clear line when either fails."""
        problem = ping(self.config, timeout_s=self.config.timeout_ms / 1000)
        agent_line = encode_agent_start(self.host, time.time(), self.version)
        if problem is None:
            assert self._transport is not None
            try:
                self._transport.write(agent_line)
            except Exception as exc:
                problem = classify(exc, self.config)
        if problem is not None:
            self._agent_line = agent_line  # sent before the first batch once the server answers
        self.health = Health(ok=problem is None, problem=problem)
        if problem is None:
            log.info(
                "influx: %s is reachable and takes writes to bucket '%s'",
                redact_url(self.config.url),
                self.config.bucket,
            )
            with self._cond:
                self.state = "ok"
            return
        self._on_failure(problem)

    def _on_failure(self, problem: Problem) -> None:
        self._failures_in_row += 1
        with self._cond:
            self.failures += 1
            self.state = "retrying"
            self.problem = problem
        # One line per distinct problem, not one per retry.
        if self._logged_problem != problem.kind:
            self._logged_problem = problem.kind
            log.warning(
                "influx: %s; recording continues locally and unsent points are replayed later", problem.text
            )

    def _on_success(self) -> None:
        if self._failures_in_row and self._logged_problem is not None:
            log.warning(
                "influx: %s takes writes again; replaying %d queued point(s)",
                redact_url(self.config.url),
                self.backlog,
            )
        self._failures_in_row = 0
        self._logged_problem = None
        with self._cond:
            self.state = "ok"
            self.problem = None


@dataclass
class _Batch:
    rows: list[tuple[str, int, Record]]  # (kind, rowid, record) in send order
    lines: list[str]
    ends: list[int]  # ends[i]: rows done once lines[: i + 1] are done
    more: bool  # a full batch: more rows may be pending


class _Failed(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.text)
        self.problem = problem


def _qostui_version() -> str:
    try:
        from importlib.metadata import version

        return version("qostui")
    except Exception:  # not installed (running from a checkout)
        return "dev"
