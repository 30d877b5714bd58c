"""Hostile input to import/export (issue 10, findings 6, 7, 8 and parts of 9): impossible readings are
rejected per reason with line numbers, conflicts are conflicts, no traceback for huge fields or
times, export writes standard JSON, and messages name the real problem. Real files, a real store."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_harness import isolate_env, run_cli

from conftest import need_tool
from qostui.interop import format_time, read_file
from qostui.probes.netio import BandwidthMeter
from qostui.records import BandwidthSample
from qostui.store import Store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_env(monkeypatch, tmp_path)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


IMPOSSIBLE_CSV = """time,bandwidth_mbps,latency_ms,loss_pct
2025-01-01T00:00:00Z,inf,1,0
2025-01-01T00:05:00Z,-5,1,0
2025-01-01T00:10:00Z,5,1,1000
2025-01-01T00:15:00Z,5,-1,0
2025-01-01T00:20:00Z,5,inf,-5
2025-01-01T00:25:00Z,5,1,0
2025-01-01T00:30:00Z,6,2,0
"""


def test_impossible_readings_are_rejected_per_reason_with_lines(tmp_path: Path) -> None:
    result = read_file(write(tmp_path, "a.csv", IMPOSSIBLE_CSV))
    assert result.rejected == {
        "rx_mbps not between 0 and 1e+07 Mbps": [2, 3],
        "loss_pct not between 0 and 100": [4, 6],
        "rtt_avg_ms not between 0 and 3.6e+06 ms": [5],
    }
    samples = [r for r in result.records if isinstance(r, BandwidthSample)]
    assert [s.rx_mbps for s in samples] == [5.0, 6.0]
    db = tmp_path / "s.db"
    code, out, _ = run_cli("import", str(tmp_path / "a.csv"), "--db", str(db))
    assert code == 0
    assert "rejected 2 row(s): rx_mbps not between 0 and 1e+07 Mbps (line 2, 3)" in out
    assert "rejected 5 impossible reading(s); they were not stored" in out
    with Store(db) as store:
        assert all(0 <= s.rx_mbps < 1e7 for s in store.bandwidth())
        assert all(0 <= r.loss_pct <= 100 and (r.rtt_avg_ms or 0) >= 0 for r in store.ping_rounds())


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("step.csv", "step,bandwidth_mbps\n0,1\n1,-5\n2,inf\n"),
        ("q.csv", "type,ts,interface,rx_mbps,tx_mbps,interval_s\nbandwidth,1735689600,e,inf,0,1\nbandwidth,1735689601,e,1,0,1\n"),
        ("j.jsonl", '{"type":"bandwidth","ts":1735689600,"interface":"e","rx_mbps":Infinity,"tx_mbps":0,"interval_s":1}\n'
         '{"type":"bandwidth","ts":1735689601,"interface":"e","rx_mbps":1,"tx_mbps":0,"interval_s":1}\n'),
        ("i.csv", "#datatype,string,long,dateTime:RFC3339,double,string,string,string\n"
         ",result,table,_time,_value,_field,_measurement,target\n"
         ",,0,2025-11-01T00:00:00Z,inf,bandwidth_mbps,network_metrics,8.8.8.8\n"
         ",,0,2025-11-01T00:00:00Z,10,bandwidth_mbps,network_metrics,1.1.1.1\n"
         ",,0,2025-11-01T00:00:00Z,1000,packet_loss_percent,network_metrics,1.1.1.1\n"
         ",,0,2025-11-01T00:01:00Z,12,bandwidth_mbps,network_metrics,1.1.1.1\n"),
    ],
)  # fmt: skip
def test_every_importer_rejects_inf_and_negative(tmp_path: Path, name: str, text: str) -> None:
    result = read_file(write(tmp_path, name, text))
    assert result.rejected_rows >= 1, result
    for r in result.records:
        if isinstance(r, BandwidthSample):
            assert 0 <= r.rx_mbps < 1e7  # inf is not averaged into the other targets' readings
    if name == "i.csv":
        assert sorted(r.rx_mbps for r in result.records if isinstance(r, BandwidthSample)) == [10.0, 12.0]


def test_one_inf_in_300_rows_does_not_break_train_data(tmp_path: Path) -> None:
    rows = [f"{i},{10 + i % 7}" for i in range(300)]
    rows[150] = "150,inf"
    result = read_file(write(tmp_path, "s.csv", "step,bandwidth_mbps\n" + "\n".join(rows) + "\n"))
    assert len(result.records) == 299 and result.rejected == {"rx_mbps not between 0 and 1e+07 Mbps": [152]}
    # what `train --from FILE` reads: finite values, the rejected step is a gap (NaN), never inf
    import numpy as np

    from qostui.config import ForecastConfig
    from qostui.forecast.source import series_from_file

    series = series_from_file(tmp_path / "s.csv", ForecastConfig())
    assert not np.isinf(series.bandwidth_mbps).any() and int(np.isnan(series.bandwidth_mbps).sum()) == 1


def test_nan_row_into_empty_store_is_rejected_not_already_stored(tmp_path: Path) -> None:
    path = write(
        tmp_path, "n.jsonl", '{"type":"bandwidth","ts":1735689600,"interface":"x","rx_mbps":NaN,"tx_mbps":0,"interval_s":1}\n'
    )
    db = tmp_path / "e.db"
    code, out, err = run_cli("import", str(path), "--db", str(db))
    assert code == 1 and out == "" and "already stored" not in err
    assert err.count("\n") == 1 and "every row rejected" in err and "(line 1)" in err, err
    assert not db.exists()  # a rejected file touches no store


def test_conflicts_are_reported_and_replace_takes_the_new_values(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    first = write(tmp_path, "a.csv", "time,bandwidth_mbps\n2025-01-01T00:00:00Z,5\n2025-01-01T00:05:00Z,6\n")
    second = write(tmp_path, "b.csv", "time,bandwidth_mbps\n2025-01-01T00:00:00Z,50\n2025-01-01T00:05:00Z,6\n")
    assert run_cli("import", str(first), "--db", str(db))[0] == 0
    code, out, _ = run_cli("import", str(first), "--db", str(db))
    assert code == 0 and "0 new (2 already stored)" in out and "differ" not in out
    code, out, _ = run_cli("import", str(second), "--db", str(db))
    assert code == 0 and "0 new (1 already stored; 1 differ from the stored values: kept the stored ones)" in out
    assert "run again with --replace" in out
    with Store(db) as store:
        assert [s.rx_mbps for s in store.bandwidth()] == [5.0, 6.0]
        old_max = store.max_rowid("bandwidth")
    code, out, _ = run_cli("import", str(second), "--db", str(db), "--replace")
    assert code == 0 and "1 replaced" in out
    with Store(db) as store:
        assert [s.rx_mbps for s in store.bandwidth()] == [50.0, 6.0]
        assert store.max_rowid("bandwidth") > old_max  # a new rowid: exporters send the new value


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("big.csv", "time,bandwidth_mbps\n2025-01-01T00:00:00Z," + "9" * 200_000 + "\n", "line 2: not readable as CSV"),
        ("big2.csv", "time,interface,bandwidth_mbps\n2025-01-01T00:00:00Z,\"" + "x" * 200_000 + "\",1\n", "not readable as CSV"),
        ("t1.csv", "time,bandwidth_mbps\n1e400,5\n", "every row rejected"),
        ("t2.csv", "time,bandwidth_mbps\n1e26,5\n", "every row rejected"),
        ("t3.csv", "time,bandwidth_mbps\n0001-01-01T00:00:00+14:00,5\n", "every row rejected"),
        ("t4.csv", "time,bandwidth_mbps\n9999-12-31T23:59:59-14:00,5\n", "every row rejected"),
        ("t5.csv", "time,bandwidth_mbps\n2025-13-01T00:00:00Z,5\n", "line 2: expected an RFC 3339 time"),
        ("j1.jsonl", '{"type":"bandwidth","ts":1e400,"interface":"x","rx_mbps":1,"tx_mbps":0,"interval_s":1}\n', "every row rejected"),
        ("j2.jsonl", '{"type":"bandwidth","ts":' + "9" * 5000 + ',"interface":"x","rx_mbps":1,"tx_mbps":0,"interval_s":1}\n', "line 1: expected a JSON object"),
        ("j3.jsonl", '{"type":"ping","ts":1,"target":"t","address":"","probe":"icmp","state":"ok","sent":1e400,"received":0,"loss_pct":0}\n', "line 1: expected a number in 'sent'"),
        ("j4.jsonl", '{"type":"bandwidth","ts":1735689600,"interface":"' + "e" * 5000 + '","rx_mbps":1,"tx_mbps":0,"interval_s":1}\n', "'interface' longer than 256 characters"),
    ],
)  # fmt: skip
def test_hostile_cells_are_one_line_never_a_traceback(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = write(tmp_path, name, text)
    db = tmp_path / "s.db"
    code, out, err = run_cli("import", str(path), "--db", str(db))
    assert code == 1 and out == "", (out, err)
    assert err.count("\n") == 1 and expected in err and len(err) < 600, err
    assert not db.exists()


def test_a_huge_name_is_neither_stored_nor_echoed(tmp_path: Path) -> None:
    name = "n" * 50_000
    lines = [
        json.dumps({"type": "bandwidth", "ts": 1735689600 + i, "interface": iface, "rx_mbps": 1, "tx_mbps": 0, "interval_s": 1})
        for i, iface in enumerate([name, "eth0"])
    ]
    path = write(tmp_path, "x.jsonl", "\n".join(lines) + "\n")
    db = tmp_path / "s.db"
    code, out, err = run_cli("import", str(path), "--db", str(db))
    assert code == 0 and name[:300] not in out + err
    assert "rejected 1 row(s): 'interface' longer than 256 characters (line 1)" in out
    with Store(db) as store:
        assert store.interfaces() == ["eth0"]


def test_format_time_never_raises() -> None:
    for ts in (1e400, -1e400, 1e26, -62135596800.0 - 50400, float("nan")):
        assert isinstance(format_time(ts), str)


def test_export_writes_standard_json_even_for_an_old_store_with_inf(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Store(db) as store:  # what main's import used to store
        store.insert([BandwidthSample(1735689600.0, "e", float("inf"), 0.0, 1.0)])
    code, out, _ = run_cli("export", "--db", str(db), "--format", "json")
    assert code == 0 and "Infinity" not in out and "NaN" not in out
    assert json.loads(out.splitlines()[0], parse_constant=lambda c: pytest.fail(f"non-standard {c}"))["rx_mbps"] is None
    code, out, _ = run_cli("export", "--db", str(db))
    assert code == 0 and "inf" not in out.splitlines()[1]


def test_export_until_before_since_is_an_error(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Store(db) as store:
        store.insert([BandwidthSample(1735689600.0, "e", 1.0, 0.0, 1.0)])
    code, out, err = run_cli("export", "--db", str(db), "--since", "2025-01-02", "--until", "2025-01-01")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "--until" in err and "--since" in err, err


def test_missing_interface_is_named_with_the_existing_ones(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="qostui.probes.netio"):
        BandwidthMeter(("nosuch0",))
    (line,) = [r.getMessage() for r in caplog.records]
    assert "nosuch0" in line and "existing:" in line and "lo" in line, line
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="qostui.probes.netio"):
        BandwidthMeter(("lo",))
    assert caplog.records == []


def test_read_only_store_says_read_only(tmp_path: Path) -> None:
    db = tmp_path / "ro" / "s.db"
    db.parent.mkdir()
    with Store(db) as store:
        store.insert([BandwidthSample(1735689600.0, "e", 1.0, 0.0, 1.0)])
    args = [sys.executable, "-m", "qostui", "export", "--db", str(db)]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    if os.geteuid() == 0:
        # root writes through permission bits: make the folder a read-only mount in a private namespace
        unshare = need_tool("unshare")
        folder = str(db.parent)
        script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
        args = [unshare, "-m", "sh", "-c", script, "sh", folder, *args]
    else:
        db.chmod(0o444)
        db.parent.chmod(0o555)
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    finally:
        db.parent.chmod(0o755)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and "the store is read-only" in done.stderr, done.stderr


def test_store_import_records_tells_new_same_and_conflicting_rows(tmp_path: Path) -> None:
    from qostui.records import Forecast

    with Store(tmp_path / "s.db") as store:
        old = [BandwidthSample(1.0e9, "e", 1.0, 0.0, 1.0), Forecast(1.0e9, 1.0e9 + 300, 1, "m", 5.0)]
        assert store.insert(old) == {"ping": 0, "bandwidth": 1, "forecast": 1, "event": 0, "path": 0}  # API unchanged
        new = [BandwidthSample(1.0e9, "e", 2.0, 0.0, 1.0), Forecast(1.0e9, 1.0e9 + 300, 1, "m", 5.0),
               BandwidthSample(1.0e9 + 1, "e", 3.0, 0.0, 1.0)]  # fmt: skip
        counts = store.import_records(new)
        assert (counts.get("bandwidth", "added"), counts.get("bandwidth", "conflicts")) == (1, 1)
        assert counts.get("forecast", "same") == 1 and counts.total("replaced") == 0
        assert [s.rx_mbps for s in store.bandwidth()] == [1.0, 3.0]
        counts = store.import_records(new, replace=True)
        assert counts.get("bandwidth", "replaced") == 1 and counts.get("bandwidth", "same") == 1
        assert [s.rx_mbps for s in store.bandwidth()] == [2.0, 3.0]


def test_a_duration_of_400_digits_is_one_line(tmp_path: Path) -> None:
    code, out, err = run_cli("record", "--targets", "127.0.0.1", "--duration", "9" * 400, "--db", str(tmp_path / "x.db"))
    assert code == 2 and err.count("\n") == 1 and "--duration" in err, err
