"""Property tests (hypothesis) for the config loader and every importer (issue 10).

For any generated input the command ends with exit 0 or a one-line error, never a traceback; a
rejected file leaves the store byte for byte unchanged; an accepted one stores only possible readings.
Most examples run in-process (cli.main with captured output, fast); a few run as subprocesses.
Examples are few and have no deadline so the suite holds on a busy 2-core machine.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cli_harness import isolate_env
from cli_harness import run_cli as run_in_process
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from qostui.interop import csv_columns, record_problem
from qostui.records import BandwidthSample, Event, Forecast, PingRound, ProbeState
from qostui.store import Store

ROOT = Path(__file__).resolve().parents[2]
# QOSTUI_PROPERTY_EXAMPLES=500 for a deeper hunt by hand; the suite's default stays small
EXAMPLES = int(os.environ.get("QOSTUI_PROPERTY_EXAMPLES", "40"))
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_env(monkeypatch, tmp_path)


# --- the harness -------------------------------------------------------------------------------------

SEED_RECORDS = [
    PingRound(1735689600.0, "8.8.8.8", "8.8.8.8", "import", ProbeState.OK, 0, 0, 0.0, rtt_avg_ms=12.5),
    BandwidthSample(1735689600.0, "imported", 42.0, 0.0, 300.0),
    Forecast(1735689600.0, 1735689900.0, 1, "m", 40.0),
    Event(1735689600.0, "latency", "8.8.8.8", "warn", "x"),
]


@contextmanager
def seeded_store() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="qostui-prop-") as folder:
        db = Path(folder) / "s.db"
        with Store(db) as store:
            store.insert(SEED_RECORDS)
        yield db


def store_bytes(db: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")) if p.is_file()}


def run_subprocess(*args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QOSTUI_", "INFLUXDB_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    done = subprocess.run(
        [sys.executable, "-m", "qostui", *args], capture_output=True, text=True, timeout=120, env=env
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr


def assert_clean_end(code: int, err: str) -> None:
    if code == 0:
        return
    assert code in (1, 2), (code, err)
    assert err.count("\n") == 1 and err.startswith("qostui: error: "), err
    assert len(err) < 2000, f"error line of {len(err)} characters"


def check_import(content: str | bytes, suffix: str, runner=run_in_process) -> None:
    with seeded_store() as db:
        path = db.parent / f"in{suffix}"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", errors="surrogatepass")
        before = store_bytes(db)
        code, _, err = runner("import", str(path), "--db", str(db))
        event(f"exit {code}")
        assert_clean_end(code, err)
        if code != 0:
            assert store_bytes(db) == before, "a rejected file changed the store"
            return
        with Store(db) as store:
            for kind in ("ping", "bandwidth", "forecast", "event"):
                for record in store.iter_records(kind):
                    assert record_problem(record) is None, record


# --- generated cells -----------------------------------------------------------------------------------

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["inf", "-inf", "nan", "NaN", "1e400", "-5", "1000", "1e26", "0", "", " ", "1_0", "0x10"]),
)
TIMES = st.one_of(
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.sampled_from([
        "2025-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1e400", "1e26",
        "2025-02-30T00:00:00Z", "2025-01-01T25:00:00Z", "1735689600", "1735689600000", "-1", "",
        "2025-01-01T00:00:00.1234567890123456789012345678901234567890Z", "2025-01-01T00:00:00+99:99",
    ]),
    NUMBERS,
)  # fmt: skip
TEXT = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["8.8.8.8", "eth0", "imported", "lstm", "ok", "warn", "x" * 300, "a\nb", "\x00", '"', ","]),
)
CELL = st.one_of(NUMBERS, TIMES, TEXT)


def csv_text(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


@st.composite
def csv_file(draw: st.DrawFn, header: list[str], cells: dict[str, st.SearchStrategy[str]]) -> str:
    n = draw(st.integers(0, 8))
    rows = [header]
    for _ in range(n):
        row = [draw(cells.get(col, CELL)) for col in header]
        if draw(st.integers(0, 9)) == 0:  # now and then a ragged row
            row = row[: draw(st.integers(0, len(row)))]
        rows.append(row)
    text = csv_text(rows)
    if draw(st.integers(0, 9)) == 0:
        text += draw(st.text(max_size=40))  # trailing garbage
    return text


# --- config loader -------------------------------------------------------------------------------------

SECTION_KEYS = {
    "probe": ["method", "count", "spacing_ms", "timeout_ms", "payload_bytes", "tcp_port", "resolve_retry_s"],
    "store": ["path", "retention_days", "flush_interval_s"],
    "thresholds": ["rtt_warn_ms", "rtt_crit_ms", "loss_warn_pct", "mos_warn", "mos_crit", "hysteresis_rounds"],
    "forecast": ["step_s", "sequence_length", "horizon", "split", "learning_rate", "seed", "epochs", "loss"],
    "influx": ["enabled", "url", "org", "bucket", "token", "batch_size", "timeout_ms", "host_tag"],
    "ui": ["theme", "history_rounds"],
    "bandwidth": ["enabled", "interfaces"],
    "nosuch": ["x"],
}
TOML_SCALAR = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(
        lambda f: "nan" if math.isnan(f) else ("inf" if f == math.inf else "-inf" if f == -math.inf else repr(f))
    ),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(str),
    st.booleans().map(lambda b: str(b).lower()),
    st.text(max_size=30).map(json.dumps),
    st.sampled_from(['"http://[::1"', '"http://u:p@127.0.0.1:8086"', '"::1%lo"', '"http://h:99999"', "[0.5, 0.3, 0.2]"]),
)
TOML_VALUE = st.one_of(TOML_SCALAR, st.lists(TOML_SCALAR, max_size=3).map(lambda v: "[" + ", ".join(v) + "]"))


TARGETS = st.sampled_from(['["127.0.0.1"]', '["::1%lo"]', "[]", '"x"', '[{address="::1", tcp_port=70000}]'])


@st.composite
def toml_file(draw: st.DrawFn) -> str:
    lines = []
    if draw(st.booleans()):
        lines.append(f"interval_s = {draw(TOML_VALUE)}")
    if draw(st.booleans()):
        lines.append("targets = " + draw(TARGETS))
    for section in draw(st.lists(st.sampled_from(sorted(SECTION_KEYS)), max_size=3, unique=True)):
        lines.append(f"[{section}]")
        for key in draw(st.lists(st.sampled_from(SECTION_KEYS[section]), max_size=4, unique=True)):
            lines.append(f"{key} = {draw(TOML_VALUE)}")
    if draw(st.integers(0, 9)) == 0:
        lines.append(draw(st.text(max_size=30)))
    return "\n".join(lines) + "\n"


def check_config(text: str, runner=run_in_process) -> None:
    with seeded_store() as db:
        path = db.parent / "c.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        before = store_bytes(db)
        code, out, err = runner("--config", str(path), "export", "--db", str(db), "--kind", "bandwidth")
        event(f"exit {code}")
        assert_clean_end(code, err)
        if code != 0:
            assert store_bytes(db) == before
        else:
            assert out.startswith("type,time,")


@FAST
@given(toml_file())
def test_config_loader_any_toml(text: str) -> None:
    check_config(text)


@FAST
@given(st.binary(max_size=200))
def test_config_loader_any_bytes(data: bytes) -> None:
    check_config(data.decode("utf-8", "surrogateescape"))


@SLOW
@given(toml_file())
def test_config_loader_subprocess(text: str) -> None:
    check_config(text, run_subprocess)


# --- importers -----------------------------------------------------------------------------------------

INFLUX_FIELDS = st.sampled_from([
    "latency_ms", "packet_loss_percent", "bandwidth_mbps", "rx_mbps", "tx_mbps", "interval_s", "rtt_avg_ms",
    "loss_pct", "sent", "received", "state", "error", "predicted_mbps", "made_at", "level", "message", "mos",
])  # fmt: skip
MEASUREMENTS = st.sampled_from(["network_metrics", "qos_ping", "qos_bandwidth", "qos_forecast", "qos_event", "other"])


@st.composite
def influx_csv(draw: st.DrawFn) -> str:
    header = ["", "result", "table", "_start", "_stop", "_time", "_value", "_field", "_measurement", "target"]
    extra = draw(st.sampled_from([[], ["interface"], ["step", "model"], ["kind"]]))
    header = header + extra
    vtype = draw(st.sampled_from(["double", "string", "long"]))
    types = ["#datatype", "string", "long", "dateTime:RFC3339", "dateTime:RFC3339", "dateTime:RFC3339", vtype]
    types += ["string"] * (len(header) - len(types))
    rows = [types, ["#group"] + ["false"] * (len(header) - 1), header]
    for _ in range(draw(st.integers(0, 8))):
        row = ["", "", "0", "", "", draw(TIMES), draw(NUMBERS if vtype != "string" else CELL), draw(INFLUX_FIELDS),
               draw(MEASUREMENTS)] + [draw(TEXT) for _ in range(len(header) - 9)]  # fmt: skip
        if draw(st.integers(0, 9)) == 0:
            row = row[: draw(st.integers(0, len(row)))]
        rows.append(row)
    return csv_text(rows)


@FAST
@given(influx_csv())
def test_import_influx_annotated_csv(text: str) -> None:
    check_import(text, ".csv")


QOSTUI_HEADER = csv_columns(["ping", "bandwidth", "forecast", "event"])
TYPES = st.sampled_from(["ping", "bandwidth", "forecast", "event", "PingRound", "nope", ""])


@FAST
@given(csv_file(QOSTUI_HEADER, {"type": TYPES, "ts": TIMES, "time": TIMES, "state": st.sampled_from(["ok", "error", "x"])}))
def test_import_qostui_csv(text: str) -> None:
    check_import(text, ".csv")


JSON_SCALAR = st.one_of(
    st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**40), 10**40),
    st.text(max_size=20), st.sampled_from(["x" * 300, "1e400", "2025-01-01T00:00:00Z"]),
)  # fmt: skip
JSON_VALUE = st.recursive(JSON_SCALAR, lambda inner: st.lists(inner, max_size=3), max_leaves=5)
ALL_FIELDS = sorted({name for name in QOSTUI_HEADER if name != "type"} | {"rtts_ms"})


@st.composite
def jsonl_file(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        obj: dict[str, object] = {"type": draw(TYPES)}
        for name in draw(st.lists(st.sampled_from(ALL_FIELDS), max_size=12, unique=True)):
            obj[name] = draw(JSON_VALUE)
        line = json.dumps(obj, allow_nan=True)
        if draw(st.integers(0, 9)) == 0:
            line = line[: draw(st.integers(0, len(line)))]  # a cut line
        lines.append(line)
    return "\n".join(lines) + "\n"


@FAST
@given(jsonl_file())
def test_import_json_lines(text: str) -> None:
    check_import(text, ".jsonl")


@FAST
@given(csv_file(["step", "bandwidth_mbps"], {"step": st.one_of(st.integers(-(10**15), 10**15).map(str), NUMBERS), "bandwidth_mbps": NUMBERS}))
def test_import_step_csv(text: str) -> None:
    check_import(text, ".csv")


TIME_HEADERS = st.sampled_from([
    ["time", "bandwidth_mbps"], ["timestamp", "rx_mbps", "tx_mbps", "interface"],
    ["ts", "latency_ms", "loss_pct", "target"], ["_time", "bandwidth_mbps", "jitter_ms", "packet_loss_percent"],
    ["date", "nothing"],
])  # fmt: skip


@FAST
@given(TIME_HEADERS.flatmap(lambda h: csv_file(h, {h[0]: TIMES})))
def test_import_time_csv(text: str) -> None:
    check_import(text, ".csv")


@FAST
@given(st.binary(max_size=300))
def test_import_any_bytes(data: bytes) -> None:
    check_import(data, ".dat")


@SLOW
@given(st.one_of(influx_csv(), jsonl_file(), csv_file(["step", "bandwidth_mbps"], {"bandwidth_mbps": NUMBERS})))
def test_import_subprocess(text: str) -> None:
    check_import(text, ".csv", run_subprocess)


# --- mostly valid files with a few hostile cells (most examples then reach the store) ------------------

VALID = [
    *SEED_RECORDS,
    PingRound(1735689900.0, "1.1.1.1", "1.1.1.1", "icmp", ProbeState.OK, 4, 3, 25.0, 1.0, 2.0, 3.0, 0.5,
              2.0, 2.9, 0.3, 4.3, (1.0, None, 2.5, 2.9)),
    BandwidthSample(1735689900.0, "eth0", 12.5, 0.25, 1.0),
]  # fmt: skip
HOSTILE = st.one_of(NUMBERS, TIMES, TEXT, st.sampled_from(["", "-5", "inf", "1e400", "x" * 300]))


@st.composite
def mutated_records(draw: st.DrawFn) -> list[dict[str, object]]:
    from qostui.interop import record_to_mapping

    rows = [record_to_mapping(r) for r in draw(st.lists(st.sampled_from(VALID), min_size=1, max_size=6))]
    for _ in range(draw(st.integers(0, 3))):
        row = draw(st.sampled_from(rows))
        key = draw(st.sampled_from(sorted(row)))
        row[key] = draw(st.one_of(HOSTILE, JSON_SCALAR)) if draw(st.booleans()) else draw(HOSTILE)
    return rows


@FAST
@given(mutated_records())
def test_import_mostly_valid_json_lines(rows: list[dict[str, object]]) -> None:
    check_import("\n".join(json.dumps(r, allow_nan=True) for r in rows) + "\n", ".jsonl")


@FAST
@given(mutated_records())
def test_import_mostly_valid_qostui_csv(rows: list[dict[str, object]]) -> None:
    header = QOSTUI_HEADER
    lines = [header]
    for row in rows:
        row = dict(row, type=str(row.get("type", "")).lower().replace("round", "").replace("sample", ""))
        cells = row.get("rtts_ms")
        if isinstance(cells, list):
            row["rtts_ms"] = ";".join("-" if v is None else str(v) for v in cells)
        lines.append(["" if row.get(c) is None else str(row.get(c, "")) for c in header])
    check_import(csv_text(lines), ".csv")


@FAST
@given(st.lists(st.tuples(st.integers(0, 2000), st.one_of(st.floats(0, 1000).map(repr), HOSTILE)), max_size=10))
def test_import_mostly_valid_step_csv(rows: list[tuple[int, str]]) -> None:
    check_import(csv_text([["step", "bandwidth_mbps"], *[[str(a), b] for a, b in rows]]), ".csv")


VALID_TOML = st.sampled_from([
    "interval_s = 2", 'targets = ["127.0.0.1"]', "[probe]\ncount = 3\ntimeout_ms = 500",
    "[store]\nretention_days = 0", "[forecast]\nseed = 7\nstep_s = 60", "[thresholds]\nmos_warn = 4",
    '[influx]\nurl = "http://127.0.0.1:8086"\norg = "o"\nbucket = "b"\nenabled = true',
])  # fmt: skip


@FAST
@given(st.lists(VALID_TOML, max_size=4, unique=True), st.sampled_from(sorted(SECTION_KEYS)), TOML_VALUE)
def test_config_loader_mostly_valid(parts: list[str], section: str, value: str) -> None:
    key = SECTION_KEYS[section][0]
    text = "\n".join(p for p in parts if not p.startswith(f"[{section}]"))
    check_config(f"{text}\n[{section}]\n{key} = {value}\n")
