"""Loading TensorFlow/Keras beside a live terminal UI: thread priority, library preload, fd 2 relay.

Headless at import time (nothing here imports TensorFlow until asked). Used by the TUI's training
screen; `qostui.forecast.lstm.import_keras` stays the plain entry point for the CLI.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator
from typing import Any

TRAINING_NICE = 10


def lower_thread_priority(nice: int = TRAINING_NICE) -> None:
    """Run this thread, and the threads it starts (TensorFlow's pools inherit it), at a lower
    CPU priority, so the UI thread wins the cores while training (Linux: nice is per thread)."""
    with contextlib.suppress(OSError, AttributeError, ValueError):
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if current < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)


# `qostui.forecast.lstm.import_keras` mutes file descriptor 2 while TensorFlow loads (its native
# libraries log there). The Textual driver writes the screen to fd 2 as well, so muting it would
# freeze the display for seconds. Instead fd 2 goes through a pipe while TensorFlow loads: a relay
# thread forwards everything to the terminal except TensorFlow's native log lines.
NATIVE_LOG = re.compile(
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR\r?\n"
    rb"|[IWEF]\d{4} [\d:. ]+\d+ [\w.]+:\d+\] [^\n]*\n"
)
_IMPORT_LOCK = threading.Lock()


def keras_loaded() -> Any:
    """The Keras module when it is already imported (Keras 3), else None."""
    keras = sys.modules.get("keras")
    return keras if keras is not None and hasattr(keras, "ops") else None


def import_keras_beside_ui(*, headless: bool) -> Any:
    """Keras, imported so that a terminal UI drawing on fd 2 keeps drawing (headless: nothing draws
    on fd 2, so it is simply muted while the libraries load)."""
    from qostui.forecast.lstm import _quiet_fd2, import_keras

    with _IMPORT_LOCK:
        loaded = keras_loaded()
        if loaded is not None:
            return loaded
        if headless or os.environ.get("QOSTUI_KERAS_LOGS") == "1":
            with _quiet_fd2():  # the libraries' initialisers log to fd 2 as they load
                preload_tensorflow_libraries()
            return import_keras()  # nothing draws on fd 2 (tests, benchmarks)
        previous = os.environ.get("QOSTUI_KERAS_LOGS")
        with relay_fd2():
            preload_tensorflow_libraries()  # its native log lines go through the relay's filter
            os.environ["QOSTUI_KERAS_LOGS"] = "1"  # import_keras: do not mute fd 2 (the relay filters it)
            try:
                return import_keras()
            finally:
                if previous is None:
                    os.environ.pop("QOSTUI_KERAS_LOGS", None)
                else:
                    os.environ["QOSTUI_KERAS_LOGS"] = previous


# TensorFlow's two C++ libraries (~850 MB: libtensorflow_framework, libtensorflow_cc), in load order.
TF_LIBRARIES = ("libtensorflow_framework.so.2", "libtensorflow_cc.so.2")


def preload_tensorflow_libraries() -> bool:
    """Load TensorFlow's big C++ libraries before `import tensorflow`, without holding the GIL.

    The import loads them as dependencies of its extension module, and CPython calls dlopen for
    an extension with the GIL held: their relocations and static initialisers (~250-300 ms) then
    freeze every other Python thread, the UI's event loop included. dlopen called through ctypes
    runs with the GIL released; the import afterwards finds the libraries loaded. They are opened
    RTLD_LOCAL, as the import's own dlopen would first load them, so symbol binding is unchanged
    (the import's RTLD_GLOBAL then makes them global as usual). Linux only, TensorFlow backend
    only; any surprise (another layout, a failed dlopen) leaves the work to the normal import.
    QOSTUI_TF_PRELOAD=0 turns it off. True when the libraries were preloaded."""
    if (
        not sys.platform.startswith("linux")
        or "tensorflow" in sys.modules
        or os.environ.get("QOSTUI_TF_PRELOAD") == "0"
        or os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow"
    ):
        return False
    import ctypes
    import importlib.util
    from pathlib import Path

    try:
        spec = importlib.util.find_spec("tensorflow")
        if spec is None or not spec.origin:
            return False
        paths = [Path(spec.origin).parent / name for name in TF_LIBRARIES]
        if not all(p.is_file() for p in paths):
            return False
        dlopen = ctypes.CDLL(None).dlopen
        dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
        dlopen.restype = ctypes.c_void_p
        return all(dlopen(bytes(p), os.RTLD_NOW) for p in paths)  # handles kept open: TF never unloads
    except (OSError, AttributeError, ValueError, ImportError):
        return False


@contextlib.contextmanager
def relay_fd2() -> Iterator[None]:
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    r, w = os.pipe()
    os.dup2(w, 2)
    os.close(w)

    def relay() -> None:
        # Native log lines are single short write() calls (atomic on a pipe), so one read holds
        # whole lines; the screen's escape sequences pass through untouched.
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            data = NATIVE_LOG.sub(b"", chunk)
            with contextlib.suppress(OSError):
                while data:
                    data = data[os.write(saved, data):]

    thread = threading.Thread(target=relay, name="qostui-fd2-relay", daemon=True)
    thread.start()
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the relay reads EOF and ends
        thread.join(timeout=2.0)
        os.close(r)
        os.close(saved)
