"""Acceptance (issue 10, finding 10): no output of any command, and nothing in the store (the SQLite
file's bytes, its -wal and -shm), contains a token or URL password given by env, config or token file.

Real servers on loopback: victoria-metrics (takes the writes), the stub (records the request headers,
so the test also proves the secrets were really used), and an unreachable loopback port.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from integration.vm import StubServer, VictoriaMetrics, free_port, qostui_env, write_config
from qostui.store import Store

pytestmark = pytest.mark.server

SECRETS = {
    "env_token": "envTOKEN-7f3a9c51",
    "env_password": "envPASS-e81d20",
    "cfg_token": "cfgTOKEN-44d1b7",
    "cfg_password": "cfgPASS-91b2c4",
    "file_token": "fileTOKEN-2c8e6a",
}


def with_userinfo(url: str, password: str) -> str:
    return url.replace("http://", f"http://alice:{password}@", 1)


def config_with_password(path: Path, url: str, host_tag: str, extra: str) -> Path:
    """A config whose [influx] url carries the config's URL password (`extra`: its token setting)."""
    return write_config(path, with_userinfo(url, SECRETS["cfg_password"]), host_tag=host_tag, extra=extra)


def run(args: list[str], env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = qostui_env()
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "qostui", *args], capture_output=True, text=True, timeout=120, env=env
    )


def record_args(db: Path, config: Path | None = None) -> list[str]:
    args = ["-v", "record", "--targets", "127.0.0.1", "--interval", "0.5", "--duration", "2s", "--db", str(db)]
    return (["--config", str(config)] if config else []) + args


def store_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")) if p.is_file())


def test_no_secret_in_any_output_or_store(tmp_path: Path, victoria: VictoriaMetrics) -> None:
    outputs: list[tuple[str, str]] = []  # (scenario, text)
    dbs: list[Path] = []

    def keep(name: str, proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
        assert "Traceback" not in proc.stderr, proc.stderr
        outputs.append((name, proc.stdout + proc.stderr))
        return proc

    def record(
        name: str, db: Path, config: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`qostui record` into a new store (its bytes are searched at the end); it must exit 0."""
        dbs.append(db)
        proc = keep(name, run(record_args(db, config), env))
        assert proc.returncode == 0, proc.stderr
        return proc

    # 1. config file: token and URL password in the config, stub server that records the headers
    with StubServer(204, "") as stub:
        token = f'token = "{SECRETS["cfg_token"]}"\n'
        cfg = config_with_password(tmp_path / "cfg.toml", stub.url, "secrets-1", token)
        db1 = tmp_path / "one.db"
        record("config, stub", db1, cfg)
    auth = [headers.get("Authorization", "") for _, _, headers in stub.requests]
    assert f"Token {SECRETS['cfg_token']}" in auth, auth  # the secret was really handed to the server
    with Store(db1) as store:
        destination = store.get_meta("influx.destination") or ""
    assert destination.startswith("http://***@127.0.0.1:"), destination

    # 2. token file, URL password in the config, victoria-metrics takes the writes
    token_file = tmp_path / "token"
    token_file.write_text(SECRETS["file_token"] + "\n")
    token = f'token_file = "{token_file}"\n'
    cfg2 = config_with_password(tmp_path / "cfg2.toml", victoria.url, "secrets-2", token)
    db2 = tmp_path / "two.db"
    record("token file, victoria-metrics", db2, cfg2)
    assert victoria.wait_for_count('{host="secrets-2"}', 1) >= 1  # the writes did reach the server

    # 3. environment: token and URL password, an unreachable loopback port (the failing path)
    env = {
        "INFLUXDB_URL": with_userinfo(f"http://127.0.0.1:{free_port()}", SECRETS["env_password"]),
        "INFLUXDB_ORG": "o",
        "INFLUXDB_BUCKET": "b",
        "INFLUXDB_TOKEN": SECRETS["env_token"],
    }
    db3 = tmp_path / "three.db"
    proc = record("env, unreachable", db3, env=env)
    assert "cannot reach http://***@127.0.0.1:" in proc.stderr, proc.stderr

    # 4. error paths naming the URL: a bad URL from env and from the config file, a missing org
    bad_env = dict(env, INFLUXDB_URL=f"http://alice:{SECRETS['env_password']}@[::1")
    proc = keep("bad env URL", run(["export", "--db", str(db3)], bad_env))
    assert proc.returncode == 2 and "$INFLUXDB_URL is not a valid URL" in proc.stderr, proc.stderr
    proc = keep("no org", run(["export", "--db", str(db3)], {"INFLUXDB_URL": env["INFLUXDB_URL"]}))
    assert proc.returncode == 2, proc.stderr
    bad_cfg = write_config(
        tmp_path / "bad.toml", f"http://alice:{SECRETS['cfg_password']}@999.1.1.1:8086", host_tag="x"
    )
    proc = keep("bad config URL", run(["--config", str(bad_cfg), "export", "--db", str(db1)]))
    assert proc.returncode == 2 and "'influx.url'" in proc.stderr, proc.stderr

    # 5. the other commands with every secret configured: export, import, report
    for fmt in ("csv", "json"):
        out = tmp_path / f"out.{fmt}"
        keep(f"export {fmt}", run(["--config", str(cfg), "export", "--db", str(db1), "--format", fmt], env))
        keep(f"export {fmt} --out", run(["export", "--db", str(db3), "--format", fmt, "--out", str(out)], env))
        outputs.append((f"exported file {fmt}", out.read_text()))
        keep(f"import {fmt}", run(["--config", str(cfg2), "import", str(out), "--db", str(db2)], env))
    keep("report", run(["report", "--db", str(db1)], env))

    for name, text in outputs:
        for secret_name, secret in SECRETS.items():
            assert secret not in text, f"{secret_name} appears in the output of {name}: {text[:2000]}"
    for db in dbs:
        data = store_bytes(db)
        assert data.startswith(b"SQLite format 3")
        for secret_name, secret in SECRETS.items():
            assert secret.encode() not in data, f"{secret_name} is in the bytes of {db} (or its -wal/-shm)"
