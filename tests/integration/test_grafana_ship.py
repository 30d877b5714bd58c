"""The wheel carries grafana/ and prometheus/ (setup.py copies them to qostui/assets/), and
`qostui grafana --out DIR [--datasource influx|prometheus]` writes a provisioning folder ready to
mount, from a source checkout and from the built wheel alike."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIPPED = [p for name in ("grafana", "prometheus") if (REPO / name).is_dir()
           for p in sorted((REPO / name).rglob("*")) if p.is_file() and "__pycache__" not in p.parts]  # fmt: skip


def qostui(
    *args: str, pythonpath: Path = REPO / "src", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run(
        [sys.executable, "-m", "qostui", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


def _has(datasource: str) -> bool:
    from qostui.asset_files import provisioning

    files = provisioning(REPO, datasource)
    return bool(files.datasources and files.dashboards)


def _check_written(out: Path, datasource: str, root: Path = REPO) -> None:
    from qostui.asset_files import provisioning

    files = provisioning(root, datasource)
    expected = {out / "provisioning" / "datasources" / p.name: p for p in files.datasources}
    expected |= {out / "provisioning" / "dashboards" / p.name: p for p in files.providers}
    expected |= {out / "provisioning" / "alerting" / p.name: p for p in files.alerting}
    expected |= {out / "dashboards" / p.name: p for p in files.dashboards}
    written = {p for p in out.rglob("*") if p.is_file()}
    assert written == set(expected)
    for dst, src in expected.items():
        assert dst.read_bytes() == src.read_bytes(), dst
    # the provider loads the dashboards from where the mount hint puts DIR/dashboards
    providers = "\n".join(p.read_text() for p in (out / "provisioning" / "dashboards").glob("*.yaml"))
    assert "path: /var/lib/grafana/dashboards/qostui" in providers


def test_grafana_influx_writes_a_mountable_folder(tmp_path: Path) -> None:
    out = tmp_path / "grafana-out"
    proc = qostui("grafana", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    _check_written(out, "influx")
    names = {p.name for p in out.rglob("*") if p.is_file()}
    assert {"influxdb.yaml", "qostui.yaml", "qostui-alerts.yaml", "qostui.json"} <= names
    assert "/etc/grafana/provisioning" in proc.stderr and proc.stderr.count("\n") == 1
    assert len(proc.stdout.splitlines()) == len(names)  # every written file is listed
    # the written folder is itself a valid provisioning tree (same checks as grafana/)
    yaml = pytest.importorskip("yaml")
    sys.path.insert(0, str(REPO / "tests"))
    from grafana_check import provisioning as check

    for p in (out / "provisioning" / "datasources").glob("*.yaml"):
        assert check.datasources(p, yaml.safe_load(p.read_text())) == []
    # a second run refuses to overwrite, --force does
    again = qostui("grafana", "--out", str(out))
    assert again.returncode == 2 and "already exists (use --force" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert qostui("grafana", "--out", str(out), "--force").returncode == 0


def test_grafana_prometheus(tmp_path: Path) -> None:
    """Full check once the Prometheus dashboard and datasource are in grafana/ (branch p-prom);
    until then a one-line error that names what is shipped."""
    out = tmp_path / "prom"
    proc = qostui("grafana", "--out", str(out), "--datasource", "prometheus")
    if _has("prometheus"):
        assert proc.returncode == 0, proc.stderr
        _check_written(out, "prometheus")
        assert not list((out / "dashboards").glob("qostui.json"))  # not the Flux dashboard
    else:
        assert proc.returncode == 1
        assert proc.stderr.strip() == (
            "qostui: error: grafana: no prometheus datasource or dashboard file is shipped "
            "(datasources with files: influx)"
        )
        assert not out.exists()


@pytest.mark.parametrize(
    ("make", "complaint"),
    [
        (lambda tmp: (tmp / "file").write_text("x") and tmp / "file", "exists and is not a folder"),
        (lambda tmp: tmp / "file2" / "sub", "cannot write"),
    ],
)
def test_bad_out_dir_is_one_line(tmp_path: Path, make, complaint: str) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "file2").write_text("a file where a folder should be")
    target = make(tmp_path)
    proc = qostui("grafana", "--out", str(target))
    assert proc.returncode == 2
    assert complaint in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_the_wheel_carries_the_files_and_its_command_uses_them(tmp_path: Path) -> None:
    # build from a copy, so setuptools' build/ and egg-info stay out of the checkout
    tree = tmp_path / "tree"
    for name in ("src", "grafana", "prometheus", "pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif src.exists():
            shutil.copy2(src, tree / name)
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(tree), "-w", str(wheels)],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("qostui-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for src in SHIPPED:
            inside = "qostui/assets/" + src.relative_to(REPO).as_posix()
            assert inside in names, inside
            assert zf.read(inside) == src.read_bytes(), inside
        assert not [n for n in names if n.startswith(("grafana/", "prometheus/"))]  # only inside the package
        zf.extractall(tmp_path / "site")
    # the installed layout: qostui imported from the wheel's files finds its assets beside itself
    out = tmp_path / "from-wheel"
    proc = qostui("grafana", "--out", str(out), pythonpath=tmp_path / "site", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    _check_written(out, "influx", root=tmp_path / "site" / "qostui" / "assets")
