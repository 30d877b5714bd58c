"""`qostui import` / `qostui export` end to end: as subprocesses for the acceptance path, in-process
(cli.main) for the rest. Real files, a real store."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from qostui.cli import main
from qostui.commands.export import parse_when
from qostui.errors import ConfigError
from qostui.interop import read_records
from qostui.records import BandwidthSample, Forecast, PingRound
from qostui.store import Store


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """No user config or data dir leaks in (defaults would point at the real home)."""
    e = dict(os.environ)
    e.pop("QOSTUI_CONFIG", None)
    e["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    e["XDG_DATA_HOME"] = str(tmp_path / "data")
    return e


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key in ("QOSTUI_CONFIG", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        if key in env:
            monkeypatch.setenv(key, env[key])
        else:
            monkeypatch.delenv(key, raising=False)


def qostui(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qostui", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_acceptance_import_seed_then_export_csv(
    shared_data: Path, db_path: Path, env: dict[str, str]
) -> None:
    seed = shared_data / "seed_influx_export_nov.csv"
    done = qostui(env, "import", str(seed), "--db", str(db_path))
    assert done.returncode == 0, done.stderr
    for target, n in (("1.1.1.1", 13), ("8.8.8.8", 13), ("150.171.27.11", 12)):
        assert f"ping      {target}" in done.stdout and f"{n} rounds" in done.stdout
    with Store(db_path) as store:
        assert store.targets() == ["1.1.1.1", "150.171.27.11", "8.8.8.8"]
        assert Counter(r.target for r in store.ping_rounds()) == {
            "1.1.1.1": 13,
            "8.8.8.8": 13,
            "150.171.27.11": 12,
        }
        assert store.counts()["bandwidth"] == 38
        stored = store.ping_rounds() + store.bandwidth()

    out = qostui(env, "export", "--format", "csv", "--db", str(db_path))
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert Counter(r["type"] for r in rows) == {"ping": 38, "bandwidth": 38}
    assert {r["target"] for r in rows if r["type"] == "ping"} == {"1.1.1.1", "8.8.8.8", "150.171.27.11"}
    # the export holds the imported values exactly (the seed's own numbers)
    latency = {(float(r["ts"]), r["target"]): float(r["rtt_avg_ms"]) for r in rows if r["type"] == "ping"}
    assert latency == {(p.ts, p.target): p.rtt_avg_ms for p in stored if isinstance(p, PingRound)}
    seed_records = read_records(seed)
    exported = Path(db_path.parent / "out.csv")
    exported.write_text(out.stdout)
    assert sorted(read_records(exported), key=repr) == sorted(seed_records, key=repr)


def test_import_twice_adds_nothing_and_exports_reimport(
    shared_data: Path, db_path: Path, tmp_path: Path
) -> None:
    files = [str(shared_data / "seed_influx_export_nov.csv"), str(shared_data / "seed_influx_export_oct.csv")]
    assert main(["import", *files, "--db", str(db_path)]) == 0
    with Store(db_path) as s:
        first = s.counts()
    assert first == {"ping": 38 + 24, "bandwidth": 38 + 8, "forecast": 0, "event": 0, "path": 0}
    assert main(["import", files[0], "--db", str(db_path)]) == 0
    with Store(db_path) as s:
        assert s.counts() == first
    # export -> import into a fresh store gives the same records, both formats
    for fmt in ("csv", "json"):
        out = tmp_path / f"all.{fmt}"
        assert main(["export", "--format", fmt, "--out", str(out), "--db", str(db_path)]) == 0
        fresh = tmp_path / f"fresh-{fmt}.db"
        assert main(["import", str(out), "--db", str(fresh)]) == 0
        with Store(db_path) as a, Store(fresh) as b:
            assert b.ping_rounds() == a.ping_rounds() and b.bandwidth() == a.bandwidth()


def test_forecast_bounds_round_trip_through_export_and_import(tmp_path: Path, db_path: Path) -> None:
    """Stored forecasts with and without interval bounds (old rows: NULL) come back identical."""
    made = 1_795_800_000.0
    forecasts = [
        Forecast(made, made + 300.0 * k, k, "lstm-x", 40.0 + k / 3, 30.0 - k / 7, 50.0 + k / 9, 20.0 + k / 11,
                 60.0 + k / 13)
        for k in range(1, 7)
    ] + [
        Forecast(made + 1, made + 1 + 300.0, 1, "baseline:persistence", 41.5),  # no interval: None stays None
        Forecast(made + 2, made + 2 + 300.0, 1, "lstm-x", 42.5, predicted_lo_mbps=39.0, predicted_hi_mbps=46.0),
    ]  # fmt: skip
    with Store(db_path) as s:
        s.write(forecasts)
        stored = s.forecasts()
    assert sorted(stored, key=repr) == sorted(forecasts, key=repr)
    for fmt in ("csv", "json"):
        out = tmp_path / f"fc.{fmt}"
        assert main(["export", "--format", fmt, "--kind", "forecast", "--out", str(out), "--db", str(db_path)]) == 0
        fresh = tmp_path / f"fc-{fmt}.db"
        assert main(["import", str(out), "--db", str(fresh)]) == 0
        with Store(fresh) as b:
            assert b.forecasts() == stored
        assert sum(1 for f in read_records(out) if isinstance(f, Forecast) and f.predicted_lo95_mbps is None) == 2


def test_import_prints_duplicates(
    shared_data: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = str(shared_data / "seed_influx_export_oct.csv")
    main(["import", seed, "--db", str(db_path)])
    capsys.readouterr()
    main(["import", seed, "--db", str(db_path)])
    out = capsys.readouterr().out
    assert "0 new (8 already stored)" in out and "stored 0 new row(s) of 32" in out


def test_export_filters_by_kind_and_time(
    shared_data: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["import", str(shared_data / "seed_influx_export_nov.csv"), "--db", str(db_path)])
    capsys.readouterr()
    args = ["export", "--format", "json", "--kind", "bandwidth", "--db", str(db_path)]
    assert main([*args, "--since", "2025-11-12T23:00:00Z", "--until", "2025-11-12T23:05:00Z"]) == 0
    lines = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert lines and {ln["type"] for ln in lines} == {"BandwidthSample"}
    assert all(1762988400.0 <= ln["ts"] < 1762988700.0 for ln in lines)
    assert main([*args, "--since", "1h"]) == 0  # the seed is a year old: nothing in the last hour
    assert capsys.readouterr().out == ""
    assert main(["export", "--kind", "ping", "--since", "1762988400", "--db", str(db_path)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows and all(r["type"] == "ping" and float(r["ts"]) >= 1762988400 for r in rows)
    assert "interface" not in rows[0]  # a single kind exports only its own columns


def test_step_file_with_step_option(shared_data: Path, db_path: Path) -> None:
    assert (
        main(["import", str(shared_data / "seed_bandwidth_5min.csv"), "--step", "60", "--db", str(db_path)])
        == 0
    )
    with Store(db_path) as s:
        samples = s.bandwidth()
    assert len(samples) == 1660 and samples[1].ts - samples[0].ts == 60.0
    assert all(isinstance(x, BandwidthSample) and x.interval_s == 60.0 for x in samples)


def test_garbled_file_is_one_line_and_stores_nothing(
    tmp_path: Path, db_path: Path, env: dict[str, str]
) -> None:
    good = tmp_path / "good.csv"
    good.write_text("step,bandwidth_mbps\n0,1\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("step,bandwidth_mbps\n0,1\n1,lots\n")
    done = qostui(env, "import", str(good), str(bad), "--db", str(db_path))
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == f"qostui: error: {bad}: line 3: expected a number in 'bandwidth_mbps', got 'lots'"
    )
    assert not db_path.exists()  # every file is checked before anything is written


def test_user_errors_exit_cleanly(tmp_path: Path, db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--db", str(db_path)]) == 1
    assert "no store here" in capsys.readouterr().err
    assert not db_path.exists()  # exporting never creates a store
    Store(db_path).close()
    assert main(["export", "--since", "last tuesday", "--db", str(db_path)]) == 2
    assert "--since: expected an RFC 3339 time" in capsys.readouterr().err
    notdb = tmp_path / "notes.txt"
    notdb.write_text("my notes\n")
    good = tmp_path / "good.csv"
    good.write_text("step,bandwidth_mbps\n0,1\n")
    assert main(["import", str(good), "--db", str(notdb)]) == 1
    assert "not a SQLite database" in capsys.readouterr().err
    assert notdb.read_text() == "my notes\n"
    assert main(["import", str(good), "--step", "0", "--db", str(db_path)]) == 2
    assert main(["export", "--out", str(tmp_path / "no" / "such" / "dir.csv"), "--db", str(db_path)]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_parse_when_forms() -> None:
    now = 1_800_000_000.0
    assert parse_when("2h", "--since", now) == now - 7200
    assert parse_when("7d", "--since", now) == now - 7 * 86400
    assert parse_when("1735689600", "--since", now) == 1735689600.0
    assert parse_when("2025-01-01T00:00:00Z", "--since", now) == 1735689600.0
    with pytest.raises(ConfigError):
        parse_when("2 fortnights", "--since", now)
