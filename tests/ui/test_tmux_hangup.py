"""Issue 10, finding 4: closing the terminal (tmux kill-session: the SIGHUP of a dropped SSH session)
ends the monitor within seconds, after flushing every round it recorded into the store."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

from conftest import PATIENCE_S, need_tool, stored_rows, wait_until
from qostui.store import Store
from ui.helpers import kill_tmux_server


def test_tmux_kill_session_ends_the_monitor_and_keeps_every_round(tmp_path: Path) -> None:
    tmux = need_tool("tmux")
    socket = f"qostui-hup-test-{os.getpid()}"
    db = tmp_path / "hup.db"
    status = tmp_path / "status.txt"
    config = tmp_path / "qostui.toml"
    # A flush interval far longer than the run: whatever is in the store afterwards was written by
    # the flush on SIGHUP, not by the periodic writes.
    config.write_text("[store]\nflush_interval_s = 600\n\n[bandwidth]\nenabled = false\n")
    # The pane's shell is the session leader and dies of the hang-up like a login shell; the
    # terminal's foreground process group then gets SIGHUP. A small parent in that group ignores
    # it (after starting qostui with the default disposition) only to report qostui's exit status.
    qostui_cmd = [sys.executable, "-m", "qostui", "--config", str(config), "--targets", "127.0.0.1",
                  "--db", str(db), "--interval", "0.5"]
    reporter = tmp_path / "report_status.py"
    reporter.write_text(
        "import signal, subprocess, sys\n"
        f"proc = subprocess.Popen({qostui_cmd!r})\n"
        "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
        f"open({str(status)!r}, 'w').write(f'exit={{proc.wait()}}\\n')\n"
    )
    cmd = (
        f"env XDG_CONFIG_HOME={tmp_path / 'cfg'} XDG_DATA_HOME={tmp_path / 'data'} TERM=xterm-256color "
        f"{sys.executable} {reporter}; true"  # "; true": the shell must not exec into the reporter
    )

    def tm(*args: str, check: bool = True) -> str:
        return subprocess.run([tmux, "-L", socket, *args], capture_output=True, text=True, timeout=30,
                              check=check).stdout

    tm("new-session", "-d", "-x", "80", "-y", "24", "-s", "hup", cmd)
    try:
        shell = psutil.Process(int(tm("list-panes", "-t", "hup", "-F", "#{pane_pid}").strip()))
        started = shell.children(recursive=True)
        wait_until(lambda: " UP " in tm("capture-pane", "-p", "-t", "hup", check=False), "the monitor's first round")
        wait_until(lambda: len(shell.children(recursive=True)) >= 2, "the qostui process")
        started = shell.children(recursive=True)
        qostui = next(p for p in shell.children(recursive=True) if "qostui" in p.cmdline())
        time.sleep(3)  # at least a few more rounds (0.5 s apart), all still only in memory
        assert stored_rows(db) == 0  # nothing flushed yet, else the test would prove nothing
        killed_at = time.time()
        tm("kill-session", "-t", "hup")
        gone_after = time.monotonic()
        qostui.wait(timeout=PATIENCE_S)  # generous bound; the acceptance figure is checked below
        gone_s = time.monotonic() - gone_after
        wait_until(lambda: status.exists() and status.read_text().strip() != "", "the exit status")
    finally:
        kill_tmux_server(tmux, socket)
        # after kill-session the server no longer lists them: end what this test started, whatever
        for proc in started:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
    assert status.read_text().strip() == "exit=129"
    print(f"monitor gone {gone_s:.2f}s after kill-session")  # the acceptance figure (pytest -s shows it)
    assert gone_s < 5.0, f"the monitor took {gone_s:.1f}s to end after kill-session"
    with Store(db) as store:
        rounds = store.ping_rounds()
    assert len(rounds) >= 4, len(rounds)  # the 3 s before the kill, 0.5 s apart (fewer when very busy)
    # every round recorded until the kill is there: the newest is from the last seconds before it
    assert rounds[-1].ts > killed_at - 5.0, (rounds[-1].ts, killed_at)
    gaps = [b.ts - a.ts for a, b in zip(rounds, rounds[1:], strict=False)]
    assert max(gaps) < 5.0, gaps  # no stretch of rounds is missing
