"""File formats in and out: what `qostui import` reads and `qostui export` writes.

Read (detected from the content, not the file name):
  influx-csv   InfluxDB 2.x annotated CSV (`#group`/`#datatype`/`#default` rows, one or more blocks
               separated by blank lines). Measurement `network_metrics` (the original tool: tag
               `target`, fields latency_ms, packet_loss_percent, bandwidth_mbps) and qostui's own
               qos_ping / qos_bandwidth / qos_forecast / qos_event (DESIGN.md).
  qostui-csv   qostui's own export: a `type` column (ping|bandwidth|forecast|event) plus the record
               fields; round-trips exactly (`ts` is written with full float precision). A forecast's
               interval bounds (predicted_lo/hi_mbps: 80%, predicted_lo95/hi95_mbps: 95%) are empty
               cells (JSON null) when it has none, and may be left out of a file altogether.
  jsonl        JSON lines as written by `qostui export --format json` and `qostui record --json`.
  step-csv     `step,bandwidth_mbps` without timestamps: ts = 2025-01-01T00:00Z + step * step_s;
               an empty value is a missing reading (no sample).
  time-csv     `time,bandwidth_mbps` (or timestamp/ts/_time; also rx_mbps, tx_mbps, latency_ms,
               rtt_avg_ms, loss_pct, packet_loss_percent, jitter_ms, target, interface columns);
               times in RFC 3339 (naive = UTC) or epoch seconds (ms/us/ns epochs are recognised).

Mapping of the original tool's `network_metrics`: per (time, target), latency_ms and
packet_loss_percent become one PingRound (probe "import", state OK, address = target, sent and
received 0, rtt_avg_ms = latency, other RTT fields None; loss 0 when only latency is present).
bandwidth_mbps is a reading of the one link, not of a target: it becomes a BandwidthSample on
interface "imported" (rx = value, tx = 0). In the October export all three targets carry a
*different* reading at the same time (window means), in November each time has one target's
reading; so readings at the same time are averaged into one sample per time. interval_s is the
median spacing of the resulting samples.

Any problem: QostuiError "FILE: line N: expected ..., got ..." (one line).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from qostui.config import MAX_NAME
from qostui.errors import QostuiError
from qostui.records import BandwidthSample, Event, Forecast, PathHop, PingRound, ProbeState, Record

STEP_EPOCH = 1735689600.0  # 2025-01-01T00:00:00Z: t0 for files that only number their steps
IMPORT_PROBE = "import"
IMPORT_INTERFACE = "imported"

KIND_OF: dict[type, str] = {
    PingRound: "ping",
    BandwidthSample: "bandwidth",
    Forecast: "forecast",
    Event: "event",
    PathHop: "path",
}
CLASS_OF: dict[str, type] = {kind: cls for cls, kind in KIND_OF.items()}
KIND_NAMES: tuple[str, ...] = tuple(CLASS_OF)
# `type` values accepted on input: kind names and class names (record --json writes class names)
_TYPE_ALIASES: dict[str, str] = {
    **{k: k for k in KIND_NAMES},
    **{cls.__name__.lower(): k for cls, k in KIND_OF.items()},
}
FORMAT_NAMES: dict[str, str] = {
    "influx-csv": "InfluxDB annotated CSV",
    "qostui-csv": "qostui CSV",
    "jsonl": "JSON lines",
    "step-csv": "step,bandwidth_mbps CSV",
    "time-csv": "time-series CSV",
}


@dataclass
class ReadResult:
    format: str  # a key of FORMAT_NAMES
    records: list[Record]
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> rows not imported (not errors)
    # impossible readings (inf, negative bandwidth, loss over 100%, ...): reason -> their line numbers
    rejected: dict[str, list[int]] = field(default_factory=dict)

    def reject(self, reason: str, line: int) -> None:
        self.rejected.setdefault(reason, []).append(line)

    @property
    def rejected_rows(self) -> int:
        return sum(len(lines) for lines in self.rejected.values())


# --- what a reading may be -----------------------------------------------------------------------
# A row outside these is an impossible reading: it is rejected (counted per reason), never stored.

# MAX_NAME (config.py): target, address, interface, model, kind, level, probe, state
MAX_TEXT = 4096  # free text: an event's message, a round's error
TIME_MIN, TIME_MAX = 0.0, 253402300799.0  # 1970-01-01 .. 9999-12-31T23:59:59Z: what RFC 3339 can write
MAX_MS = 3_600_000.0  # an hour: no round trip or jitter is longer
MAX_MBPS = 10_000_000.0  # 10 Tbit/s
MAX_COUNT = 1_000_000  # probes per round, forecast steps
_FREE_TEXT = ("message", "error")
_MS_FIELDS = ("rtt_min_ms", "rtt_avg_ms", "rtt_max_ms", "rtt_mdev_ms", "rtt_p50_ms", "rtt_p95_ms", "jitter_ms")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # tab is harmless; newlines would split messages


def _bad_number(value: float | None, lo: float, hi: float) -> bool:
    return value is not None and not (math.isfinite(value) and lo <= value <= hi)


def record_problem(record: Record) -> str | None:
    """Why `record` is an impossible reading (the reason a row is rejected), None when it is fine."""
    for name in _FIELDS[KIND_OF[type(record)]]:
        value = getattr(record, name)
        if isinstance(value, str):
            limit = MAX_TEXT if name in _FREE_TEXT else MAX_NAME
            if len(value) > limit:
                return f"'{name}' longer than {limit} characters"
            if name not in _FREE_TEXT and _CONTROL.search(value):  # a name is printed on one line
                return f"control characters in '{name}'"
    times = (record.made_at, record.ts) if isinstance(record, Forecast) else (record.ts,)
    if any(_bad_number(t, TIME_MIN, TIME_MAX) for t in times):
        return "time outside 1970-01-01 .. 9999-12-31"
    if isinstance(record, PingRound):
        if _bad_number(record.loss_pct, 0.0, 100.0):
            return "loss_pct not between 0 and 100"
        for name in _MS_FIELDS:
            if _bad_number(getattr(record, name), 0.0, MAX_MS):
                return f"{name} not between 0 and {MAX_MS:g} ms"
        if any(_bad_number(v, 0.0, MAX_MS) for v in record.rtts_ms):
            return f"rtts_ms not between 0 and {MAX_MS:g} ms"
        if _bad_number(record.mos, 0.0, 5.0):
            return "mos not between 0 and 5"
        if not (0 <= record.received <= MAX_COUNT and 0 <= record.sent <= MAX_COUNT):
            return f"sent/received not between 0 and {MAX_COUNT}"
    elif isinstance(record, BandwidthSample):
        for name in ("rx_mbps", "tx_mbps"):
            if _bad_number(getattr(record, name), 0.0, MAX_MBPS):
                return f"{name} not between 0 and {MAX_MBPS:g} Mbps"
        if _bad_number(record.interval_s, 0.0, TIME_MAX):
            return "interval_s not a finite number of seconds >= 0"
    elif isinstance(record, Forecast):
        for name in ("predicted_mbps", *_FORECAST_BOUNDS):
            if _bad_number(getattr(record, name), -MAX_MBPS, MAX_MBPS):
                return f"{name} not a finite number of Mbps"
        if not 0 <= record.step <= MAX_COUNT:
            return f"step not between 0 and {MAX_COUNT}"
    return None


def _keep(result: ReadResult, line: int, *records: Record) -> None:
    """Append the records of one row to `result`, or reject the whole row with its first problem."""
    for record in records:
        problem = record_problem(record)
        if problem is not None:
            result.reject(problem, line)
            return
    result.records.extend(records)


# --- time ----------------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*([Zz]|[+-]\d{2}:?\d{2})?"
)
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def parse_time(text: str) -> float:
    """RFC 3339 / ISO 8601 (naive = UTC, any number of fraction digits) or epoch -> epoch seconds.

    Epoch numbers above 1e11 are taken as milliseconds, above 1e14 microseconds, above 1e17
    nanoseconds (Influx's native precision). Raises ValueError.
    """
    s = text.strip()
    if _NUMBER.fullmatch(s):
        value = float(s)
        for limit, scale in ((1e17, 1e-9), (1e14, 1e-6), (1e11, 1e-3)):
            if abs(value) >= limit:
                return value * scale
        return value
    m = _RFC3339.fullmatch(s)
    if not m:
        raise ValueError(s)
    year, month, day, hour, minute, second, frac, tz = m.groups()
    # ValueError for month 13, Feb 30, hour 25, year 0, ...: the caller names the cell
    base = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    offset_s = 0
    if tz and tz not in ("Z", "z"):
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        offset_s = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    try:
        epoch = base.replace(tzinfo=timezone.utc).timestamp() - offset_s
    except (OverflowError, OSError) as exc:
        raise ValueError(s) from exc
    if frac:
        frac = frac[:30]  # beyond any clock's precision; keeps int() and 10**n small
        epoch += int(frac) / 10 ** len(frac)  # exact for the digits given, beyond datetime's microseconds
    return epoch


def format_time(ts: float) -> str:
    """Epoch -> RFC 3339 UTC ('Z'), with microseconds only when there are any."""
    try:
        whole = math.floor(ts)
        micros = round((ts - whole) * 1e6)
        if micros >= 1_000_000:
            whole, micros = whole + 1, 0
        stamp = datetime.fromtimestamp(whole, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    except (OverflowError, OSError, ValueError):  # not a time RFC 3339 can write (imports reject these)
        return repr(float(ts))
    return f"{stamp}.{micros:06d}Z" if micros else f"{stamp}Z"


# --- errors --------------------------------------------------------------------------------------


def _show(value: object, width: int = 60) -> str:
    """A cell or row for an error message: one line, shortened."""
    text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    text = text.replace("\n", " ").replace("\r", " ")
    return repr(text if len(text) <= width else text[: width - 3] + "...")


def _fail(path: Path | str, line: int, expected: str, got: object) -> QostuiError:
    return QostuiError(f"{path}: line {line}: expected {expected}, got {_show(got)}")


# --- record <-> flat dict ------------------------------------------------------------------------

_FIELDS: dict[str, tuple[str, ...]] = {k: tuple(f.name for f in fields(cls)) for k, cls in CLASS_OF.items()}
_PING_OPTIONAL_FLOATS = tuple(f.name for f in fields(PingRound) if f.default is None)
_FORECAST_BOUNDS = tuple(f.name for f in fields(Forecast) if f.default is None)
_PATH_OPTIONAL_FLOATS = tuple(f.name for f in fields(PathHop) if f.default is None)
_OPTIONAL_FLOATS = {*_PING_OPTIONAL_FLOATS, *_FORECAST_BOUNDS, *_PATH_OPTIONAL_FLOATS}
_INTS = {"sent", "received", "step", "hop"}
_STATE_VALUES = {st.value: st for st in ProbeState}
_STRS = {"target", "address", "probe", "error", "interface", "model", "kind", "level", "message", "hop_address",
         "verdict"}
# Fields a row may leave out (everything else is required)
_DEFAULTS: dict[str, dict[str, Any]] = {
    k: {f.name: f.default for f in fields(cls) if f.default is not MISSING} for k, cls in CLASS_OF.items()
}


def format_rtts(rtts: Sequence[float | None]) -> str:
    """'1.25;-;3.5': ';'-separated, '-' for a lost probe (or a non-finite value), '' for none."""
    return ";".join("-" if v is None or not math.isfinite(v) else repr(float(v)) for v in rtts)


def parse_rtts(text: str) -> tuple[float | None, ...]:
    text = text.strip()
    if not text:
        return ()
    return tuple(
        None if part.strip() in ("-", "", "null", "None") else float(part) for part in text.split(";")
    )


def _convert(kind: str, name: str, value: Any) -> Any:
    """One field from text (CSV) or JSON to its record type; raises ValueError/TypeError."""
    if name == "state":
        try:
            return ProbeState(str(value).strip().lower())
        except ValueError:
            raise ValueError(f"one of {', '.join(s.value for s in ProbeState)}") from None
    if name == "rtts_ms":
        if isinstance(value, str):
            return parse_rtts(value)
        if isinstance(value, list):
            return tuple(None if v is None else float(v) for v in value)
        raise TypeError("a list of numbers")
    if name in _STRS:
        return "" if value is None else str(value)
    if name == "addresses":  # a path hop's responders: 'a;b' in CSV, a list in JSON
        if isinstance(value, str):
            return tuple(part for part in value.split(";") if part.strip())
        if isinstance(value, list):
            return tuple(str(v) for v in value)
        raise TypeError("a list of addresses")
    if name == "reached":
        if isinstance(value, bool):
            return value
        if str(value).strip().lower() in ("true", "1", "false", "0", ""):
            return str(value).strip().lower() in ("true", "1")
        raise ValueError("one of true, false")
    if name in _INTS:
        if isinstance(value, str):
            value = value.strip()
            return int(float(value)) if value else 0
        return int(value)
    # floats
    if value is None or (isinstance(value, str) and not value.strip()):
        if name in _OPTIONAL_FLOATS:
            return None
        raise ValueError("a number")
    if isinstance(value, bool):
        raise TypeError("a number")
    if name in ("ts", "made_at") and isinstance(value, str):
        return parse_time(value)  # epoch seconds or RFC 3339
    return float(value)


def record_from_mapping(
    kind: str, data: dict[str, Any], where: Callable[[str, object], QostuiError]
) -> Record:
    """Build a record of `kind` from a flat mapping (CSV row or JSON object)."""
    kwargs: dict[str, Any] = {}
    for name in _FIELDS[kind]:
        if name not in data or (name == "ts" and data.get(name) in ("", None)):
            if name == "ts" and data.get("time") not in (None, ""):
                try:
                    kwargs["ts"] = parse_time(str(data["time"]))
                except (ValueError, OverflowError):
                    raise where("an RFC 3339 time or epoch seconds in 'time'", data["time"]) from None
                continue
            if name in _DEFAULTS[kind]:
                continue
            raise where(f"a value for '{name}' (type {kind})", "nothing")
        try:
            kwargs[name] = _convert(kind, name, data[name])
        except (ValueError, TypeError, OverflowError) as exc:
            expected = str(exc) if str(exc).startswith(("one of", "a ")) else "a number"
            raise where(f"{expected} in '{name}'", data[name]) from None
    return CLASS_OF[kind](**kwargs)


def record_to_mapping(record: Record) -> dict[str, Any]:
    """Flat JSON-ready dict; `type` is the class name, as `qostui record --json` writes."""
    data: dict[str, Any] = {"type": type(record).__name__}
    for name in _FIELDS[KIND_OF[type(record)]]:
        value = getattr(record, name)
        if isinstance(value, ProbeState):
            value = value.value
        elif isinstance(value, tuple):
            value = [_json_number(v) if isinstance(v, float) else v for v in value]
        elif isinstance(value, float):
            value = _json_number(value)
        data[name] = value
    return data


# --- writing -------------------------------------------------------------------------------------


def csv_columns(kinds: Sequence[str]) -> list[str]:
    """`type`, a human `time` (RFC 3339 of ts), then the union of the kinds' fields in order."""
    columns = ["type", "time"]
    for kind in kinds:
        for name in _FIELDS[kind]:
            if name not in columns:
                columns.append(name)
    return columns


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, ProbeState):
        return value.value
    if isinstance(value, float):
        # shortest exact form: round-trips bit for bit; a non-finite value (an old store) is missing
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, tuple):
        return ";".join(value) if value and isinstance(value[0], str) else format_rtts(value)
    return str(value)


def write_csv(out: TextIO, records: Iterable[Record], kinds: Sequence[str]) -> int:
    """qostui CSV (readable by read_records); returns rows written."""
    columns = csv_columns(kinds)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    index = {name: i for i, name in enumerate(columns)}
    n = 0
    for record in records:
        kind = KIND_OF[type(record)]
        row = [""] * len(columns)
        row[0] = kind
        row[1] = format_time(record.ts)
        for name in _FIELDS[kind]:
            row[index[name]] = _csv_cell(getattr(record, name))
        writer.writerow(row)
        n += 1
    return n


def _json_number(value: float | None) -> float | None:
    """Standard JSON has no Infinity or NaN: a non-finite value (only an old store has any) is null."""
    return value if value is None or math.isfinite(value) else None


def write_jsonl(out: TextIO, records: Iterable[Record]) -> int:
    n = 0
    for record in records:
        out.write(json.dumps(record_to_mapping(record), separators=(",", ":"), allow_nan=False) + "\n")
        n += 1
    return n


# --- reading -------------------------------------------------------------------------------------

_TIME_COLUMNS = ("time", "timestamp", "ts", "_time", "datetime", "date")


def read_records(path: Path | str, *, step_s: float = 300.0, column: str | None = None) -> list[Record]:
    """Every record in a file of any supported format (see module docstring)."""
    return read_file(path, step_s=step_s, column=column).records


def read_file(path: Path | str, *, step_s: float = 300.0, column: str | None = None) -> ReadResult:
    """Like read_records, also saying which format was detected and what was skipped.

    `column`: read a `time,<column>` CSV whose numeric column is the series to forecast (any
    traffic series, e.g. the wc98 files' `requests`); it is stored as the bandwidth series.
    """
    path = Path(path)
    if not step_s > 0 or not math.isfinite(step_s):
        raise QostuiError(f"--step must be a positive number of seconds, got {step_s!r}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise QostuiError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise QostuiError(f"{path}: is a directory, expected a CSV or JSON lines file") from None
    except UnicodeDecodeError as exc:
        raise QostuiError(f"{path}: not UTF-8 text (byte {exc.start}); expected CSV or JSON lines") from None
    except OSError as exc:
        raise QostuiError(f"{path}: cannot read ({exc.strerror})") from None
    lines = text.splitlines()
    first_no, first = next(((i + 1, ln) for i, ln in enumerate(lines) if ln.strip()), (0, ""))
    if not first:
        raise QostuiError(f"{path}: empty file; expected InfluxDB annotated CSV, CSV or JSON lines")
    try:
        return _dispatch(path, lines, first_no, first, step_s, column)
    except _CsvError as exc:
        raise QostuiError(f"{path}: line {exc.line}: not readable as CSV ({exc})") from None


def _dispatch(
    path: Path, lines: list[str], first_no: int, first: str, step_s: float, column: str | None = None
) -> ReadResult:
    head = first.lstrip()
    if head.startswith("#"):
        return _read_influx(path, lines)
    if head.startswith("{"):
        return _read_jsonl(path, lines)
    header = [c.strip().lower() for c in next(_numbered([first]))[1]]
    if column is not None:
        return _read_column_csv(path, lines, header, first_no, column)
    if {"_time", "_value", "_field", "_measurement"} <= set(header):
        return _read_influx(path, lines)
    if "type" in header and ("ts" in header or "time" in header):
        return _read_qostui_csv(path, lines)
    if "step" in header and "bandwidth_mbps" in header:
        return _read_step_csv(path, lines, header, first_no, step_s)
    if any(c in header for c in _TIME_COLUMNS):
        return _read_time_csv(path, lines, header, first_no)
    raise _fail(
        path,
        first_no,
        "InfluxDB annotated CSV, JSON lines or a CSV header with a 'type', 'step' or 'time' column",
        first,
    )


class _CsvError(Exception):
    """A CSV row the csv module cannot read (a field over its size limit, a stray NUL)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line


def _numbered(lines: list[str], start: int = 0) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO("\n".join(lines[start:]) + "\n"))
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _CsvError(start + reader.line_num, str(exc)) from None
        yield start + reader.line_num, row


def _read_qostui_csv(path: Path, lines: list[str]) -> ReadResult:
    result = ReadResult("qostui-csv", [])
    header: list[str] | None = None
    for line_no, row in _numbered(lines):
        if not row or not any(c.strip() for c in row):
            continue
        if header is None:
            header = [c.strip().lower() for c in row]
            continue
        if len(row) != len(header):
            raise _fail(path, line_no, f"{len(header)} columns like the header", row)
        data = dict(zip(header, row, strict=True))
        type_name = data.get("type", "").strip().lower()
        kind = _TYPE_ALIASES.get(type_name)
        if kind is None:
            raise _fail(path, line_no, f"type one of {', '.join(KIND_NAMES)}", data.get("type", ""))
        record = record_from_mapping(kind, data, lambda exp, got, n=line_no: _fail(path, n, exp, got))
        _keep(result, line_no, record)
    return result


def _read_jsonl(path: Path, lines: list[str]) -> ReadResult:
    result = ReadResult("jsonl", [])
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        line_no = i + 1
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _fail(path, line_no, f"a JSON object ({exc.msg})", line) from None
        except (ValueError, RecursionError):  # an integer of thousands of digits, nesting too deep
            raise _fail(path, line_no, "a JSON object of ordinary numbers", line) from None
        if not isinstance(data, dict):
            raise _fail(path, line_no, "a JSON object", line)
        kind = _TYPE_ALIASES.get(str(data.get("type", "")).lower())
        if kind is None:
            raise _fail(path, line_no, f'"type" one of {", ".join(KIND_NAMES)}', data.get("type", ""))
        record = record_from_mapping(kind, data, lambda exp, got, n=line_no: _fail(path, n, exp, got))
        _keep(result, line_no, record)
    return result


def _float_cell(path: Path, line_no: int, name: str, text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise _fail(path, line_no, f"a number in '{name}'", text) from None
    return None if math.isnan(value) else value


def _read_step_csv(
    path: Path, lines: list[str], header: list[str], header_no: int, step_s: float
) -> ReadResult:
    i_step, i_bw = header.index("step"), header.index("bandwidth_mbps")
    result = ReadResult("step-csv", [])
    missing = 0
    for line_no, row in _numbered(lines, header_no):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) < max(i_step, i_bw) + 1:
            # a trailing empty cell may be dropped by editors: treat a short row as a missing reading
            if len(row) == i_bw and i_bw > i_step:
                row = [*row, ""]
            else:
                raise _fail(path, line_no, "step,bandwidth_mbps", row)
        try:
            step = int(row[i_step].strip())
            if abs(step) > 10**12:
                raise ValueError(step)
        except ValueError:
            raise _fail(path, line_no, "a whole step number (at most 12 digits)", row[i_step]) from None
        value = _float_cell(path, line_no, "bandwidth_mbps", row[i_bw])
        if value is None:
            missing += 1
            continue
        _keep(result, line_no, BandwidthSample(STEP_EPOCH + step * step_s, IMPORT_INTERFACE, value, 0.0, step_s))
    if missing:
        result.skipped["missing readings"] = missing
    return result


_PING_ALIASES = {
    "latency_ms": "rtt_avg_ms",
    "rtt_avg_ms": "rtt_avg_ms",
    "rtt_ms": "rtt_avg_ms",
    "loss_pct": "loss_pct",
    "packet_loss_percent": "loss_pct",
    "jitter_ms": "jitter_ms",
}


def _timed_rows(
    path: Path, lines: list[str], header: list[str], header_no: int, i_time: int
) -> Iterator[tuple[int, list[str], float]]:
    """The data rows below a time-column header: (line number, cells, epoch seconds).

    Blank rows are passed over; a row of another width or with an unreadable time is a _fail.
    """
    for line_no, row in _numbered(lines, header_no):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise _fail(path, line_no, f"{len(header)} columns like the header", row)
        try:
            ts = parse_time(row[i_time])
        except (ValueError, OverflowError):
            raise _fail(path, line_no, f"an RFC 3339 time or epoch seconds in '{header[i_time]}'", row[i_time]) from None
        yield line_no, row, ts


def _read_time_csv(path: Path, lines: list[str], header: list[str], header_no: int) -> ReadResult:
    i_time = next(header.index(c) for c in _TIME_COLUMNS if c in header)
    bw_cols = [c for c in ("bandwidth_mbps", "rx_mbps", "tx_mbps") if c in header]
    ping_cols = [c for c in _PING_ALIASES if c in header]
    if not bw_cols and not ping_cols:
        raise _fail(
            path,
            header_no,
            "a value column (bandwidth_mbps, rx_mbps, tx_mbps, latency_ms, rtt_avg_ms, loss_pct, jitter_ms)",
            ",".join(header),
        )
    i_target = header.index("target") if "target" in header else None
    i_iface = header.index("interface") if "interface" in header else None
    parsed: list[tuple[int, float, str, str, dict[str, float | None]]] = []
    for line_no, row, ts in _timed_rows(path, lines, header, header_no, i_time):
        values = {c: _float_cell(path, line_no, c, row[header.index(c)]) for c in bw_cols + ping_cols}
        target = row[i_target].strip() if i_target is not None else ""
        iface = row[i_iface].strip() if i_iface is not None else ""
        parsed.append((line_no, ts, target or IMPORT_PROBE, iface or IMPORT_INTERFACE, values))
    result = ReadResult("time-csv", [])
    # impossible times are rejected first, so they do not distort the spacing of the good rows
    good = [p for p in parsed if not _bad_number(p[1], TIME_MIN, TIME_MAX)]
    spacing = _spacing([p[1] for p in good])
    for line_no, ts, target, iface, values in parsed:
        row_records: list[Record] = []
        if bw_cols:
            rx = values.get("rx_mbps")
            rx = values.get("bandwidth_mbps") if rx is None else rx
            tx = values.get("tx_mbps")
            if rx is not None or tx is not None:
                row_records.append(BandwidthSample(ts, iface, rx or 0.0, tx or 0.0, spacing))
        if ping_cols:
            ping = {_PING_ALIASES[c]: values[c] for c in ping_cols if values[c] is not None}
            if ping:
                row_records.append(_import_round(ts, target, ping))
        _keep(result, line_no, *row_records)
    return result


def _read_column_csv(path: Path, lines: list[str], header: list[str], header_no: int, column: str) -> ReadResult:
    """`time,<column>`: one numeric column as the series (BandwidthSample rx, interface "imported")."""
    name = column.strip().lower()
    i_time = next((header.index(c) for c in _TIME_COLUMNS if c in header), None)
    if i_time is None:
        raise _fail(path, header_no, f"a CSV header with a time column ({', '.join(_TIME_COLUMNS)}) for --column", ",".join(header))
    if not name or name not in header or header.index(name) == i_time:
        others = [c for i, c in enumerate(header) if i != i_time]
        raise QostuiError(
            f"{path}: --column {column!r}: no such column (columns besides '{header[i_time]}': {', '.join(others) or 'none'})"
        )
    i_val = header.index(name)
    parsed: list[tuple[int, float, float]] = []
    missing = 0
    for line_no, row, ts in _timed_rows(path, lines, header, header_no, i_time):
        value = _float_cell(path, line_no, name, row[i_val])
        if value is None:
            missing += 1
            continue
        parsed.append((line_no, ts, value))
    result = ReadResult("time-csv", [], {"missing readings": missing} if missing else {})
    spacing = _spacing(t for _, t, _ in parsed)
    for line_no, ts, value in parsed:
        # The column is any traffic series (requests, bytes, ...), not Mbps: no Mbps ceiling, but it
        # must be a finite count >= 0; the time is checked by the one rule of every importer.
        sample = BandwidthSample(ts, IMPORT_INTERFACE, value, 0.0, spacing)
        problem = None if math.isfinite(value) and value >= 0 else f"'{name}' not a finite number >= 0"
        problem = problem or record_problem(replace(sample, rx_mbps=0.0))
        if problem is None:
            result.records.append(sample)
        else:
            result.reject(problem, line_no)
    if not result.records and not result.rejected:
        raise QostuiError(f"{path}: --column {column!r}: no numeric values found")
    return result


def infer_step_s(path: Path | str, column: str | None = None) -> float:
    """The median spacing of a file's readings (seconds); 0 when it cannot be told."""
    records = read_records(path, column=column)
    return _spacing(r.ts for r in records)


def _import_round(ts: float, target: str, values: dict[str, Any]) -> PingRound:
    """A PingRound from whatever an import knows; unknown statistics stay None."""
    loss = values.get("loss_pct")
    state = _STATE_VALUES.get(str(values.get("state") or "ok").lower(), ProbeState.ERROR)
    address = values.get("address", target)
    return PingRound(
        ts=ts,
        target=target,
        address=str(address or ""),
        probe=str(values.get("probe") or IMPORT_PROBE),
        state=state,
        sent=int(values.get("sent") or 0),
        received=int(values.get("received") or 0),
        loss_pct=0.0 if loss is None else float(loss),
        **{k: values.get(k) for k in _PING_OPTIONAL_FLOATS},
        error=str(values.get("error") or ""),
    )


def _spacing(times: Iterable[float]) -> float:
    """Median positive spacing of distinct times; 0 when it cannot be told."""
    ts = sorted(set(times))
    gaps = [b - a for a, b in zip(ts, ts[1:], strict=False) if b > a]
    return float(statistics.median(gaps)) if gaps else 0.0


# --- InfluxDB annotated CSV ----------------------------------------------------------------------

_INFLUX_SKIP = {"", "result", "table", "_start", "_stop", "_time", "_value", "_field", "_measurement"}
_NUMERIC_TYPES = ("double", "long", "unsignedlong")
_STRING_FIELDS = ("level", "message", "state", "error", "version")  # string fields of qos_* measurements


@dataclass
class _Point:
    line: int
    fields: dict[str, str] = field(default_factory=dict)


def parse_influx_csv(text: str, source: str) -> ReadResult:
    """Flux annotated CSV text (a file or a query answer) -> records; `source` names it in errors."""
    return _read_influx(Path(source), text.splitlines())


def _read_influx(path: Path, lines: list[str]) -> ReadResult:
    # (measurement, ts, sorted tags) -> fields; pivoting is needed because Flux writes one field per row
    points: dict[tuple[str, float, tuple[tuple[str, str], ...]], _Point] = {}
    header: list[str] | None = None
    datatypes: list[str] = []
    for line_no, row in _numbered(lines):
        if not row or not any(c.strip() for c in row):
            header, datatypes = None, []  # a blank line ends a block; the next has its own header
            continue
        if row[0].startswith("#"):
            if row[0] == "#datatype":
                datatypes = [c.strip().lower() for c in row]
            header = None
            continue
        if header is None:
            header = [c.strip() for c in row]
            missing = [c for c in ("_time", "_value", "_field", "_measurement") if c not in header]
            if missing:
                raise _fail(path, line_no, f"an annotated-CSV header with {', '.join(missing)}", row)
            continue
        if row == header:
            continue  # some tools repeat the header per table
        if len(row) != len(header):
            raise _fail(path, line_no, f"{len(header)} columns like the header", row)
        data = dict(zip(header, row, strict=True))
        try:
            ts = parse_time(data["_time"])
        except ValueError:
            raise _fail(path, line_no, "an RFC 3339 time in _time", data["_time"]) from None
        tags = tuple(
            sorted((k, v) for k, v in data.items() if k not in _INFLUX_SKIP and not k.startswith("_"))
        )
        key = (data["_measurement"], ts, tags)
        point = points.get(key)
        if point is None:
            point = points[key] = _Point(line_no)
        value = data["_value"]
        vtype = datatypes[header.index("_value")] if len(datatypes) == len(header) else ""
        if vtype.startswith(_NUMERIC_TYPES) or (not vtype and data["_field"] not in _STRING_FIELDS):
            _float_cell(path, line_no, data["_field"], value)  # validate now, with the right line number
        point.fields[data["_field"]] = value
    if header is None and not points:
        raise QostuiError(f"{path}: expected an annotated-CSV header row after the # annotations, found none")
    return _influx_records(path, points)


def _num(fields_: dict[str, str], name: str) -> float | None:
    text = fields_.get(name, "").strip()
    if not text:
        return None
    value = float(text)
    return None if math.isnan(value) else value


def _influx_point(
    result: ReadResult,
    link_readings: dict[float, list[float]],
    qos_bandwidth: list[tuple[int, float, str, float, float, float | None]],
    measurement: str,
    ts: float,
    tags: dict[str, str],
    point: _Point,
    path: Path,
) -> None:
    """One pivoted point -> records (kept or rejected in `result`); bandwidth is collected for later."""
    f = point.fields
    skipped = result.skipped
    if measurement == "network_metrics":
        latency, loss = _num(f, "latency_ms"), _num(f, "packet_loss_percent")
        target = tags.get("target", "")
        if latency is not None or loss is not None:
            if not target:
                raise _fail(path, point.line, "a 'target' tag on network_metrics", "no target column")
            _keep(result, point.line, _import_round(ts, target, {"rtt_avg_ms": latency, "loss_pct": loss}))
        bw = _num(f, "bandwidth_mbps")
        if bw is not None:
            # each reading is checked alone: an impossible one must not poison the average at its time
            problem = record_problem(BandwidthSample(ts, IMPORT_INTERFACE, bw, 0.0, 0.0))
            if problem is not None:
                result.reject(problem.replace("rx_mbps", "bandwidth_mbps"), point.line)
            else:
                link_readings.setdefault(ts, []).append(bw)
    elif measurement == "qos_ping":
        values: dict[str, Any] = {
            k: _num(f, k) for k in (*_PING_OPTIONAL_FLOATS, "loss_pct", "sent", "received")
        }
        values.update(
            address=tags.get("address", ""),
            probe=tags.get("probe", ""),
            state=f.get("state"),
            error=f.get("error"),
        )
        _keep(result, point.line, _import_round(ts, tags.get("target", ""), values))
    elif measurement == "qos_bandwidth":
        rx, tx = _num(f, "rx_mbps") or 0.0, _num(f, "tx_mbps") or 0.0
        qos_bandwidth.append(
            (point.line, ts, tags.get("interface", IMPORT_INTERFACE), rx, tx, _num(f, "interval_s"))
        )
    elif measurement == "qos_forecast":
        predicted = _num(f, "predicted_mbps")
        if predicted is None:
            skipped["qos_forecast without predicted_mbps"] = skipped.get("qos_forecast without predicted_mbps", 0) + 1
            return
        made_at = _num(f, "made_at")
        step_text = tags.get("step", "") or f.get("step", "")
        try:
            step = int(float(step_text)) if step_text else 1
        except (ValueError, OverflowError):
            raise _fail(path, point.line, "a whole number in the 'step' tag", step_text) from None
        forecast = Forecast(
            ts if made_at is None else made_at, ts, step, tags.get("model", ""), predicted,
            *(_num(f, k) for k in _FORECAST_BOUNDS),
        )  # fmt: skip
        _keep(result, point.line, forecast)
    elif measurement == "qos_event":
        event = Event(ts, tags.get("kind", ""), tags.get("target", ""), f.get("level", ""), f.get("message", ""))
        _keep(result, point.line, event)
    else:
        reason = f"measurement {measurement[:60]!r}"
        skipped[reason] = skipped.get(reason, 0) + 1


def _influx_records(
    path: Path, points: dict[tuple[str, float, tuple[tuple[str, str], ...]], _Point]
) -> ReadResult:
    result = ReadResult("influx-csv", [])
    link_readings: dict[float, list[float]] = {}  # network_metrics bandwidth: ts -> readings
    qos_bandwidth: list[tuple[int, float, str, float, float, float | None]] = []
    for (measurement, ts, tag_items), point in points.items():
        try:
            _influx_point(result, link_readings, qos_bandwidth, measurement, ts, dict(tag_items), point, path)
        except (ValueError, OverflowError):  # a string field where a number belongs, a huge count
            raise _fail(path, point.line, f"numbers in the fields of {measurement}", point.fields) from None
    records = result.records
    if link_readings:
        spacing = _spacing(link_readings)
        for ts in sorted(link_readings):
            readings = link_readings[ts]
            records.append(BandwidthSample(ts, IMPORT_INTERFACE, sum(readings) / len(readings), 0.0, spacing))
    if qos_bandwidth:
        spacing = _spacing(t for _, t, *_ in qos_bandwidth)
        for line, ts, iface, rx, tx, interval in qos_bandwidth:
            _keep(result, line, BandwidthSample(ts, iface, rx, tx, spacing if interval is None else interval))
    if not records and not result.rejected and points:
        found = sorted({m[:60] for m, _, _ in points})[:10]
        raise QostuiError(
            f"{path}: no known measurement (found {', '.join(found)}); expected network_metrics or qos_*"
        )
    records.sort(key=lambda r: (r.ts, KIND_OF[type(r)]))
    return result
