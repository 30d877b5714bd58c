"""`qostui report --out DIR` end to end (subprocess): five PNGs that are not blank and a report.md.

Stores: generated data (bandwidth with a daily cycle, pings of three targets) and the seed
bandwidth CSV from ../shared (no pings: plots 4-5 must say "no latency data"). One test trains a
real model for a few epochs first, so plots 1-3 show the model and its loss history.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qostui.store import Store
from unit.test_report import fill_generated as fill_store_generated

PLOTS = ("actual_vs_predicted", "loss_history", "error_distribution", "correlation", "multi_target")
DAY, STEP, T0 = 86400.0, 300.0, 1_750_032_000.0
TARGETS = ("10.231.1.2", "10.231.2.2", "127.0.0.1")


def fill_generated(path: Path, days: float = 3.0) -> None:
    """Bandwidth with a daily cycle plus noise; three targets' pings following the same cycle."""
    store = Store(path)
    try:
        fill_store_generated(store, days=days, targets=TARGETS, seed=7)
    finally:
        store.close()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Never the user's home: config and data directories in tmp."""
    e = dict(os.environ)
    e["XDG_CONFIG_HOME"] = str(tmp_path / "xdg-config")
    e["XDG_DATA_HOME"] = str(tmp_path / "xdg-data")
    e.pop("QOSTUI_CONFIG", None)
    e["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return e


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "qostui.toml"
    path.write_text(f'[forecast]\nmodel_dir = "{tmp_path / "models"}"\nepochs = 4\npatience = 2\n', encoding="utf-8")
    return path


def qostui(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qostui", *args], capture_output=True, text=True, timeout=timeout, env=env)


def check_outputs(out: Path) -> str:
    """All five PNGs at full size and not blank; report.md links each and holds the metrics table."""
    import matplotlib.image as mpimg

    for stem in PLOTS:
        path = out / f"{stem}.png"
        assert path.is_file(), f"{path} missing"
        img = mpimg.imread(path)
        assert img.shape[0] >= 600 and img.shape[1] >= 1000, (stem, img.shape)
        rgb = img[..., :3].reshape(-1, 3)
        assert float(rgb.var()) > 0.0005, f"{stem} looks blank"
        assert len(np.unique(rgb[:: max(1, len(rgb) // 50000)], axis=0)) > 10, f"{stem} has almost one colour"
    text = (out / "report.md").read_text(encoding="utf-8")
    for stem in PLOTS:
        assert f"]({stem}.png)" in text, f"report.md does not link {stem}.png"
    assert "| method | kind | MAE | RMSE | R² | sMAPE % | skill |" in text
    assert "### Per horizon step" in text
    return text


def test_report_on_generated_store_without_model(tmp_path: Path, env: dict[str, str], config_file: Path) -> None:
    pytest.importorskip("matplotlib")
    db = tmp_path / "gen.db"
    fill_generated(db)
    out = tmp_path / "r"
    proc = qostui(env, "report", "--config", str(config_file), "--db", str(db), "--out", str(out), "--text")
    assert proc.returncode == 0, proc.stderr
    assert "report.md" in proc.stdout
    # --text: the same five charts as the TUI shows them (plotext), no colour codes when piped
    assert "Actual vs predicted" in proc.stdout and "Feature correlation" in proc.stdout
    assert "RTT and loss per target" in proc.stdout and "\x1b[" not in proc.stdout
    text = check_outputs(out)
    assert "No trained model" in text
    for name in ("persistence", "seasonal_naive"):
        assert f"| {name}" in text
    assert "no latency data" not in text
    assert not (Path(env["XDG_DATA_HOME"]) / "qostui").exists()  # nothing written outside tmp paths given


def _seed_store(shared: Path, db: Path) -> None:
    from qostui.interop import read_records

    store = Store(db)
    try:
        store.write(read_records(shared / "seed_bandwidth_5min.csv", step_s=STEP))
    finally:
        store.close()


def test_report_on_seed_bandwidth_store(shared_data: Path, tmp_path: Path, env: dict[str, str], config_file: Path) -> None:
    pytest.importorskip("matplotlib")
    db = tmp_path / "seed.db"
    _seed_store(shared_data, db)
    out = tmp_path / "r"
    proc = qostui(env, "report", "--config", str(config_file), "--db", str(db), "--out", str(out), "--since", "30d")
    assert proc.returncode == 0, proc.stderr
    text = check_outputs(out)
    assert text.count("no latency data") >= 2  # correlation and multi-target say so
    assert "No trained model" in text and "ewm_log" in text
    assert "no latency data" in proc.stderr

    # The same file through --from (a throw-away store): same table.
    out2 = tmp_path / "r2"
    proc = qostui(env, "report", "--config", str(config_file), "--db", str(tmp_path / "unused.db"),
                  "--from", str(shared_data / "seed_bandwidth_5min.csv"), "--out", str(out2))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text2 = check_outputs(out2)
    table = [ln for ln in text.splitlines() if ln.startswith("| ")]
    assert table == [ln for ln in text2.splitlines() if ln.startswith("| ")]
    assert not (tmp_path / "unused.db").exists()


@pytest.mark.slow
def test_report_with_trained_model(tmp_path: Path, env: dict[str, str], config_file: Path) -> None:
    pytest.importorskip("matplotlib")
    pytest.importorskip("keras")
    db = tmp_path / "gen.db"
    fill_generated(db)
    train = qostui(env, "train", "--config", str(config_file), "--db", str(db), "--epochs", "3", timeout=900)
    assert train.returncode == 0, train.stderr
    out = tmp_path / "r"
    proc = qostui(env, "report", "--config", str(config_file), "--db", str(db), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    text = check_outputs(out)
    assert "Model `lstm-" in text and "| **lstm** | model |" in text
    assert "No trained model" not in text
    # The report's table is `qostui evaluate`'s: same model, same data, same MAE.
    ev = qostui(env, "evaluate", "--config", str(config_file), "--db", str(db), "--json")
    assert ev.returncode == 0, ev.stderr
    doc = json.loads(ev.stdout)
    mae = next(m for m in doc["methods"] if m["name"] == "lstm")["overall"]["mae"]
    row = next(ln for ln in text.splitlines() if ln.startswith("| **lstm**"))
    assert float(row.split("|")[3]) == pytest.approx(mae, abs=0.006)


def test_report_errors_are_one_line(tmp_path: Path, env: dict[str, str], config_file: Path) -> None:
    missing = qostui(env, "report", "--config", str(config_file), "--db", str(tmp_path / "none.db"), "--out", str(tmp_path / "r"))
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0 and "no store yet" in missing.stderr
    assert not (tmp_path / "none.db").exists()
    no_out = qostui(env, "report", "--config", str(config_file), "--db", str(tmp_path / "none.db"))
    assert no_out.returncode == 2 and "--out" in no_out.stderr
    bad_since = qostui(env, "report", "--config", str(config_file), "--out", str(tmp_path / "r"), "--since", "soon")
    assert bad_since.returncode == 2 and "--since" in bad_since.stderr and "Traceback" not in bad_since.stderr
    empty = tmp_path / "empty.db"
    Store(empty).close()
    proc = qostui(env, "report", "--config", str(config_file), "--db", str(empty), "--out", str(tmp_path / "r"))
    assert proc.returncode == 1 and "no bandwidth or ping data" in proc.stderr


def test_report_without_matplotlib_says_how_to_install(tmp_path: Path, env: dict[str, str], config_file: Path) -> None:
    db = tmp_path / "gen.db"
    fill_generated(db, days=0.5)
    out = tmp_path / "r"
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"  # makes `import matplotlib` fail like an absent package
        "from qostui.cli import main\n"
        f"sys.exit(main(['report', '--config', {str(config_file)!r}, '--db', {str(db)!r}, '--out', {str(out)!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 1
    assert "pip install 'qostui[report]'" in proc.stderr and proc.stderr.strip().count("\n") == 0
    assert not out.exists()
    # --out naming a file
    f = tmp_path / "a-file"
    f.write_text("x", encoding="utf-8")
    proc = qostui(env, "report", "--config", str(config_file), "--db", str(db), "--out", str(f))
    assert proc.returncode == 1 and "not a directory" in proc.stderr
