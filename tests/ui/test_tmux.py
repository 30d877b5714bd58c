"""The installed command in a real terminal (tmux, 80x24): three panels with live numbers, footer keys."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from conftest import PATIENCE_S, need_tool, stored_rows, wait_until
from qostui.store import Store
from ui.helpers import kill_tmux_server


def test_tmux_80x24_three_live_panels(tmp_path: Path) -> None:
    tmux = need_tool("tmux")
    socket = f"qostui-ui-test-{os.getpid()}"  # a private tmux server: never touches anyone else's
    db = tmp_path / "tmux.db"
    env_cmd = (
        f"env XDG_CONFIG_HOME={tmp_path / 'cfg'} XDG_DATA_HOME={tmp_path / 'data'} TERM=xterm-256color "
        f"{sys.executable} -m qostui --targets 127.0.0.1,127.0.0.2,::1 --db {db} --interval 1"
        f"; echo exit=$? > {tmp_path / 'status.txt'}"
    )  # Textual draws on stderr, so it must stay the terminal: only the exit status goes to a file

    def tm(*args: str, check: bool = True) -> str:
        return subprocess.run([tmux, "-L", socket, *args], capture_output=True, text=True, timeout=60,
                              check=check).stdout

    def three_live_panels() -> bool:
        text = tm("capture-pane", "-p", "-t", "qostui")
        return len(re.findall(r"rtt (\d+\.\d+) ms\s+min/avg/max \d", text)) == 3 and text.count(" UP ") == 3

    tm("new-session", "-d", "-x", "80", "-y", "24", "-s", "qostui", env_cmd)
    try:
        # a few rounds in the store (written every second) before quitting, however long that takes
        wait_until(lambda: stored_rows(db) >= 9, "three rounds of three targets in the store")
        wait_until(three_live_panels, "three live panels")
        screen = tm("capture-pane", "-p", "-t", "qostui")
        lines = screen.splitlines()
        assert len(lines) <= 24 and all(len(line) <= 80 for line in lines), screen
        for target in ("127.0.0.1", "127.0.0.2", "::1"):
            assert f"─ {target} ─" in screen or f"═ {target} ═" in screen, screen
        live = re.findall(r"rtt (\d+\.\d+) ms\s+min/avg/max \d", screen)
        assert len(live) == 3, screen
        assert screen.count(" UP ") == 3, screen
        assert "REC" in screen and "every 1s" in screen, screen
        for key in ("q quit", "? help", "p pause", "Enter detail"):
            assert key in screen, screen
        # q quits cleanly and the store holds what was shown
        tm("send-keys", "-t", "qostui", "q")
        deadline = time.monotonic() + PATIENCE_S
        while time.monotonic() < deadline and "qostui" in tm("list-sessions", check=False):
            time.sleep(0.2)
        assert "qostui" not in tm("list-sessions", check=False)
    finally:
        kill_tmux_server(tmux, socket)
    assert (tmp_path / "status.txt").read_text().strip() == "exit=0"
    with Store(db) as store:
        assert len(store.ping_rounds()) >= 9


def test_tmux_sigterm_and_sighup_quit_cleanly(tmp_path: Path) -> None:
    """A dropped SSH session (SIGHUP) or a service stop (SIGTERM) flushes the store like `q` does;
    SIGHUP exits with status 129 (128 + the signal), as a shell reports a hang-up."""
    import psutil

    tmux = need_tool("tmux")
    # One tmux server per signal: the first server exits when its session ends, and a new session
    # started on its socket meanwhile races that exit ("server exited unexpectedly").
    sockets = {sig: f"qostui-ui-sig-{os.getpid()}-{sig}" for sig in ("TERM", "HUP")}
    socket = ""

    def tm(*args: str, check: bool = True) -> str:
        return subprocess.run([tmux, "-L", socket, *args], capture_output=True, text=True, timeout=60,
                              check=check).stdout

    try:
        for sig in ("TERM", "HUP"):
            socket = sockets[sig]
            db = tmp_path / f"{sig}.db"
            status = tmp_path / f"{sig}.status"
            cmd = (
                f"env -u COLORTERM XDG_CONFIG_HOME={tmp_path / 'cfg'} XDG_DATA_HOME={tmp_path / 'data'} TERM=xterm "
                f"{sys.executable} -m qostui --targets 127.0.0.1 --db {db} --interval 0.5; echo exit=$? > {status}"
            )
            tm("new-session", "-d", "-x", "80", "-y", "24", "-s", sig, cmd)
            shell = psutil.Process(int(tm("list-panes", "-t", sig, "-F", "#{pane_pid}").strip()))
            deadline = time.monotonic() + PATIENCE_S
            while "UP" not in tm("capture-pane", "-p", "-t", sig) and time.monotonic() < deadline:
                time.sleep(0.2)
            # TERM=xterm without COLORTERM: a 16-colour terminal gets 16-colour codes only
            coloured = tm("capture-pane", "-e", "-p", "-t", sig)
            assert "UP" in coloured and "\x1b[" in coloured
            assert "38;2;" not in coloured and "38;5;" not in coloured and "48;2;" not in coloured
            (qostui,) = shell.children()
            qostui.send_signal(getattr(__import__("signal"), f"SIG{sig}"))
            qostui.wait(timeout=PATIENCE_S)
            deadline = time.monotonic() + PATIENCE_S
            while not (status.exists() and status.read_text().strip()) and time.monotonic() < deadline:
                time.sleep(0.1)  # the shell creates the file before it writes the line
            assert status.read_text().strip() == ("exit=129" if sig == "HUP" else "exit=0"), sig
            with Store(db) as store:
                assert len(store.ping_rounds()) >= 1, sig
    finally:
        for name in sockets.values():
            kill_tmux_server(tmux, name)
