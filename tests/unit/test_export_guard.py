"""Finding 1 of issue 10: `export --out` naming the store itself must refuse, not overwrite it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qostui.records import PingRound, ProbeState
from qostui.store import Store


def _store_with_rows(db: Path) -> bytes:
    with Store(db) as store:
        store.write([
            PingRound(ts=1_700_000_000.0 + i, target="127.0.0.1", address="127.0.0.1", probe="icmp",
                      state=ProbeState.OK, sent=1, received=1, loss_pct=0.0, rtt_avg_ms=0.1)
            for i in range(5)
        ])
    return db.read_bytes()


def _export(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(cwd / "cfg"), "XDG_DATA_HOME": str(cwd / "data")}
    return subprocess.run([sys.executable, "-m", "qostui", "export", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("out", ["same", "relative", "symlink", "wal", "shm", "part"])
def test_export_refuses_to_overwrite_the_store(tmp_path: Path, out: str) -> None:
    db = tmp_path / "x.db"
    before = _store_with_rows(db)
    (tmp_path / "sub").mkdir()
    out_arg = {
        "same": str(db),
        "relative": "sub/../x.db",
        "symlink": str(tmp_path / "link.csv"),
        "wal": str(db) + "-wal",
        "shm": "x.db-shm",
        "part": str(tmp_path / "x"),  # "x.part" is not the store; "x.db" via ".part" below is
    }[out]
    if out == "symlink":
        (tmp_path / "link.csv").symlink_to(db)
    if out == "part":  # the temporary "<out>.part" must not be the store either
        db2 = tmp_path / "x.part"
        db.rename(db2)
        db = db2
    proc = _export(tmp_path, "--db", str(db), "--out", out_arg)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "is the store" in lines[0] and "overwrite" in lines[0], lines
    assert db.read_bytes() == before  # untouched
    with Store(db) as store:
        assert store.counts()["ping"] == 5


def test_export_to_another_file_still_works(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    _store_with_rows(db)
    proc = _export(tmp_path, "--db", str(db), "--out", "x.csv")
    assert proc.returncode == 0, proc.stderr
    assert len((tmp_path / "x.csv").read_text().splitlines()) == 6
