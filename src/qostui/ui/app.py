"""The Textual monitor: wires the pipeline's records into the model and the screens.

Data flow: probes (threads) -> bus -> `_on_bus` (bus thread) -> one `RecordsReady` message per
burst -> `apply()` on the event loop -> model update -> each affected panel refreshed once.
Probing never runs on the event loop; store reads for charts happen in worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from importlib import import_module
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen

from qostui.charts import set_clock
from qostui.config import Config
from qostui.records import BandwidthSample, Event, PingRound, Record
from qostui.ui.chart import SCALES, WINDOW_NAMES, WINDOWS_S
from qostui.ui.keys import bindings_for
from qostui.ui.model import Changes, MonitorModel
from qostui.ui.screens.base import QostuiScreen
from qostui.ui.screens.detail import DetailScreen
from qostui.ui.screens.help import HelpScreen
from qostui.ui.screens.monitor import MonitorScreen
from qostui.ui.widgets.header import HeaderBar

if TYPE_CHECKING:
    from qostui.pipeline import Pipeline
    from qostui.store import Store

log = logging.getLogger(__name__)


class RecordsReady(Message):
    """Records are waiting in the app's inbox (posted at most once until drained)."""


class WarmedUp(Message):
    """The start-up warm-up imports are done (posted from the worker)."""


class SubscriberDied(Message):
    """A pipeline thread (the store writer, an exporter) died: stop, never go on silently."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


HANGUP_STATUS = 128 + signal.SIGHUP  # what a shell reports for a process ended by SIGHUP
HANGUP_GRACE_S = 10.0  # after flushing, how long a still-open terminal gets to be restored


def _terminal_fds() -> list[int]:
    fds = []
    for stream in (sys.__stderr__, sys.__stdout__, sys.__stdin__):
        with contextlib.suppress(ValueError, OSError):  # closed or detached stream
            if stream is not None and os.isatty(stream.fileno()):
                fds.append(stream.fileno())
    return fds


def _terminal_gone(fds: list[int]) -> bool:
    """True when the terminal behind these descriptors hung up: writing to it fails with EIO
    (isatty() is False by then, so the descriptors are taken while the terminal is there)."""
    for fd in fds:
        try:
            os.write(fd, b"")
        except OSError:
            return True
    return False


# Imported by a worker after the first frame (not before: the first frame must stay fast).
# plotext alone is ~110 ms; the training screen brings numpy; the views are opened by keys.
WARM_IMPORTS = (
    "plotext",
    "qostui.ui.screens.training",
    "qostui.ui.screens.forecast",
    "qostui.ui.screens.plots",
    "qostui.report.terminal",
    "qostui.forecast.model_store",
)


class QostuiApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "qostui"
    BINDINGS = bindings_for("everywhere", app_level=True)
    # shared view state: screens watch these (QostuiScreen.scale_changed / window_changed)
    y_scale: reactive[str] = reactive("auto", init=False)
    window_s: reactive[float] = reactive(WINDOWS_S[0], init=False)
    smoke: reactive[bool] = reactive(False, init=False)  # the detail chart shows RTT smoke (`d`)

    def __init__(
        self,
        config: Config,
        *,
        pipeline: Pipeline | None = None,
        remember_theme: bool = True,
        inbox_max: int = 200_000,
        exit_process_on_hangup: bool = False,
    ) -> None:
        """`pipeline=None` runs without probing or a store: records come only through `apply()`
        (snapshot tests and the benchmark use this). `exit_process_on_hangup` (the real command):
        after SIGHUP and the flush, end the process even if Textual cannot restore a terminal that
        is gone."""
        super().__init__()
        self.config = config
        set_clock(config.ui.timezone)  # one clock for every chart and time label
        self.pipeline = pipeline
        self.model = MonitorModel(config)
        self.remember_theme = remember_theme
        self._screens: list[QostuiScreen] = []  # mounted qostui screens, in mount order
        # Inbox filled by the bus thread; bounded so a stalled UI cannot grow memory without end.
        self._inbox: deque[Record] = deque(maxlen=inbox_max)
        self._inbox_lock = threading.Lock()
        self._posted = False
        self._latest_ts = 0.0
        self._stopped = False
        self._stop_lock = threading.Lock()
        self.exit_process_on_hangup = exit_process_on_hangup
        self.hung_up = False
        self.failure: str | None = None
        self._signalled = threading.Event()
        self._stop_signal: int | None = None
        self._previous_handlers: dict[signal.Signals, Any] = {}
        self.batches_applied = 0  # counters that tests and the benchmark read
        self.records_applied = 0
        self.first_paint_s: float | None = None
        self._frozen = False
        self._t0 = time.perf_counter()
        wanted = config.ui.theme
        self._theme_warning = ""
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            self._theme_warning = f"{config.source}: [ui] theme = {wanted!r} is not a known theme; using {self.theme}"
        self._saved_theme = self.theme

    # --- lifecycle -----------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.push_screen(MonitorScreen())
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        if self._theme_warning:
            self.notify(self._theme_warning, severity="warning")
        if self.pipeline is not None:
            # Bus records gathered for 100 ms arrive as one list: one round = one batch.
            self.pipeline.subscribe("ui", self._on_bus, batch_wait_s=0.1, max_queue=50_000)
            self.pipeline.on_failure(lambda text: self.post_message(SubscriberDied(text)))
            self.pipeline.start()
            self._handle_signals()
        self.set_interval(2.0, self._tick)
        self.call_after_refresh(self._painted)

    def _handle_signals(self) -> None:
        """SIGTERM (a service stop) and SIGHUP (the terminal closed, an SSH session dropped) flush the
        store and close the exporters like `q`; SIGHUP then exits with status 129, SIGTERM with 0.

        Not through the event loop: with the terminal gone, Textual's output thread dies on the first
        write and the loop soon blocks on its full queue, so a loop callback might never run. A plain
        handler runs in the main thread whatever it waits on; it only wakes the thread that stops."""
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            self._previous_handlers[sig] = signal.signal(sig, self._on_stop_signal)
        tty_fds = _terminal_fds()
        threading.Thread(target=self._after_stop_signal, args=(loop, tty_fds), name="qostui-signal", daemon=True).start()

    def _on_stop_signal(self, signum: int, frame: object) -> None:
        if self._stop_signal is None:
            self._stop_signal = signum
        self._signalled.set()

    def _after_stop_signal(self, loop: asyncio.AbstractEventLoop, tty_fds: list[int]) -> None:
        self._signalled.wait()
        if self._stop_signal is None:  # woken by on_unmount: the app ended another way
            return
        status = HANGUP_STATUS if self._stop_signal == signal.SIGHUP else 0
        self.hung_up = self._stop_signal == signal.SIGHUP
        with contextlib.suppress(RuntimeError):  # the loop already ended
            loop.call_soon_threadsafe(lambda: self.refresh_header(self.screen, state="STOPPING"))
        self.stop_pipeline()  # every round recorded so far reaches the store; exporters closed
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(lambda: self.exit(status, return_code=status))
        if not self.exit_process_on_hangup:
            return
        # A terminal that is gone cannot be restored, and Textual would wait on it for ever; one
        # that is still there (a plain `kill`) gets restored, and the process ends long before.
        deadline = time.monotonic() + HANGUP_GRACE_S
        while time.monotonic() < deadline and not _terminal_gone(tty_fds):
            time.sleep(0.1)
        os._exit(status)

    def on_unmount(self) -> None:
        for sig, previous in self._previous_handlers.items():
            with contextlib.suppress(ValueError, TypeError):  # not the main thread; a C-level handler
                signal.signal(sig, previous)
        self._previous_handlers.clear()
        self._signalled.set()  # lets the signal thread end (it does nothing unless signalled)
        if self._frozen:  # several apps in one process (tests): let this one's objects be collected
            gc.unfreeze()

    def _painted(self) -> None:
        if self.first_paint_s is None:
            self.first_paint_s = time.perf_counter() - self._t0
            self._warm_up()

    @work(thread=True, group="warm-up", exit_on_error=False)
    def _warm_up(self) -> None:
        """After the first frame, import in a worker what the views and charts will need, so the
        first chart or `t` does not stop the event loop for 100-300 ms of imports; then freeze."""
        for name in WARM_IMPORTS:
            try:
                import_module(name)
            except Exception:  # the view reports its own import problem when opened
                log.debug("warm-up import of %s failed", name, exc_info=True)
        self.post_message(WarmedUp())

    def on_warmed_up(self, _: WarmedUp) -> None:
        """Move everything alive after start-up (Textual, Rich, the widgets, the warm-up imports:
        ~10^5 objects) out of the cyclic garbage collector's reach: its full passes stop the event
        loop while they walk every tracked object, and now walk only what was created since.
        Collected first, so no start-up garbage is pinned."""
        if self._frozen:
            return
        gc.collect()
        gc.freeze()
        self._frozen = True

    @property
    def store(self) -> Store | None:
        return self.pipeline.store if self.pipeline is not None else None

    @property
    def live(self) -> bool:
        return self.pipeline is not None

    def now(self) -> float:
        """Wall clock when live; the newest record's time otherwise (stable snapshots)."""
        if self.live or not self._latest_ts:
            return time.time()
        return self._latest_ts

    def stop_pipeline(self) -> None:
        """Stop probing and flush the store; safe to call more than once, from any thread (a second
        caller waits until the first has flushed)."""
        if self.pipeline is None:
            return
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
            self.pipeline.stop()

    async def on_subscriber_died(self, message: SubscriberDied) -> None:
        self.failure = message.text
        await self.action_quit(status=1)

    async def action_quit(self, status: int = 0) -> None:
        if self.pipeline is not None and not self._stopped:
            self.refresh_header(self.screen, state="STOPPING")
            await asyncio.to_thread(self.stop_pipeline)
        self.exit(status, return_code=status)

    # --- records in ----------------------------------------------------------------------------
    def _on_bus(self, batch: list[Record]) -> None:
        """Bus thread: queue the records and post one message unless one is already pending."""
        with self._inbox_lock:
            self._inbox.extend(batch)
            if self._posted:
                return
            self._posted = True
        if not self.post_message(RecordsReady()):
            with self._inbox_lock:  # the app is closing; nothing will drain the inbox
                self._posted = False

    def on_records_ready(self, _: RecordsReady) -> None:
        with self._inbox_lock:
            records = list(self._inbox)
            self._inbox.clear()
            self._posted = False
        if records:
            self.apply(records)

    def apply(self, records: Iterable[Record]) -> Changes:
        """The one update path: model first, then every screen that shows the records, once."""
        records = list(records)
        changes = self.model.ingest(records)
        self.batches_applied += 1
        self.records_applied += len(records)
        measured = [r.ts for r in records if isinstance(r, (PingRound, BandwidthSample))]
        if measured:  # forecasts carry future times: they must not move the offline clock
            self._latest_ts = max(self._latest_ts, max(measured))
        for screen in list(self._screens):
            screen.records_arrived(records, changes)
        if changes.events:
            self._notify_events(changes.events)
        return changes

    def _notify_events(self, events: tuple[Event, ...]) -> None:
        """Alerts raised or cleared pop up; a burst (a whole site down) is one summary, not a storm."""
        severity = {"crit": "error", "warn": "warning"}
        if len(events) <= 3:
            for e in events:
                self.notify(f"{e.target}: {e.message}", title=f"{e.kind} {e.level}",
                            severity=severity.get(e.level, "information"), timeout=8)  # type: ignore[arg-type]
            return
        worst = "crit" if any(e.level == "crit" for e in events) else "warn" if any(e.level == "warn" for e in events) else "ok"
        targets = sorted({e.target for e in events})
        shown = ", ".join(targets[:6]) + (f" and {len(targets) - 6} more" if len(targets) > 6 else "")
        self.notify(f"{len(events)} alert changes: {shown}", title=f"alerts ({worst})",
                    severity=severity.get(worst, "information"), timeout=8)  # type: ignore[arg-type]

    # --- the screens (see ui/screens/base.py for the contract) -------------------------------
    def attach_screen(self, screen: QostuiScreen) -> None:
        """A qostui screen was mounted: it gets records and adds to the header from now on."""
        if screen not in self._screens:
            self._screens.append(screen)

    def detach_screen(self, screen: QostuiScreen) -> None:
        if screen in self._screens:
            self._screens.remove(screen)

    def contract(self, screen: Screen[Any] | None = None) -> QostuiScreen | None:
        """The qostui screen behind `screen` (default: the current one); None for Textual's own
        screens (the command palette)."""
        screen = self.screen if screen is None else screen
        return next((s for s in self._screens if s is screen), None)

    @property
    def role(self) -> str:
        current = self.contract()
        return current.role if current is not None else ""

    # --- header --------------------------------------------------------------------------------
    def status_text(self) -> str:
        parts = []
        if self.pipeline is not None:
            parts.append(self.pipeline.status_text())
        for screen in self._screens:
            try:
                parts.append(screen.status_text())
            except Exception:  # a screen's header part must never break the UI
                log.exception("status text of %s failed", screen.header_label)
        return " ".join(p for p in parts if p)

    def recording_state(self) -> str:
        if self.pipeline is None:
            return "OFFLINE"
        if self._stopped:
            return "STOPPED"
        return "PAUSED" if self.pipeline.collector.paused else "REC"

    def refresh_header(self, screen: Screen[Any] | None = None, state: str | None = None) -> None:
        screens = [screen] if screen is not None else list(self.screen_stack)
        store = str(self.pipeline.db_path) if self.pipeline is not None else str(self.config.store.resolved_path())
        for s in screens:
            contract = self.contract(s)
            view = contract.header_label if contract is not None else ""
            for header in s.query(HeaderBar):
                header.show(
                    store=store,
                    interval_s=self.config.interval_s,
                    state=state or self.recording_state(),
                    extra=self.status_text(),
                    view=view,
                )

    def _tick(self) -> None:
        self.refresh_header()

    # --- actions (keys and the command palette) ------------------------------------------------
    def action_toggle_pause(self) -> None:
        if self.pipeline is None:
            self.notify("not probing (offline view)", severity="warning")
            return
        collector = self.pipeline.collector
        if collector.paused:
            collector.resume()
            self.notify("probing resumed")
        else:
            collector.pause()
            self.notify("probing paused: nothing is recorded until p again")
        self.refresh_header()

    def action_reset_stats(self) -> None:
        self.model.reset_stats()
        for screen in list(self._screens):
            screen.stats_reset()
        self.notify("statistics reset")

    def action_cycle_scale(self) -> None:
        self.y_scale = SCALES[(SCALES.index(self.y_scale) + 1) % len(SCALES)]  # screens watch it
        self.notify(f"chart scale: {self.y_scale}", timeout=1.5)

    def action_cycle_window(self) -> None:
        self.window_s = WINDOWS_S[(WINDOWS_S.index(self.window_s) + 1) % len(WINDOWS_S)]  # screens watch it
        self.notify(f"chart window: {WINDOW_NAMES[self.window_s]}", timeout=1.5)

    def action_toggle_smoke(self) -> None:
        self.smoke = not self.smoke  # the detail screen watches it
        self.notify(f"RTT smoke {'on' if self.smoke else 'off'}", timeout=1.5)

    def action_help(self) -> None:
        if self.role != "help":
            self.push_screen(HelpScreen())

    def open_detail(self, kind: str, key: str) -> None:
        if not key:
            self.notify("no bandwidth samples yet", severity="warning")
            return
        if self.role == "detail":
            self.pop_screen()
        self.push_screen(DetailScreen(kind, key))

    # Further full-screen views register here (the training and forecast screens of issue 5):
    #   QostuiApp.VIEWS["training"] = lambda app: TrainingScreen(app)
    #   and a row in ui/keys.py: Key("t", "t", "app.open_view('training')", "...", "everywhere")
    # A view derives from QostuiScreen (ui/screens/base.py): records, header, catch-up, errors.
    VIEWS: ClassVar[dict[str, Callable[[QostuiApp], Screen[Any]]]] = {
        # imported on first use: the views pull in the forecasting and report modules
        "training": lambda app: import_module("qostui.ui.screens.training").training_screen(app),
        "forecast": lambda app: import_module("qostui.ui.screens.forecast").ForecastScreen(),
        "plots": lambda app: import_module("qostui.ui.screens.plots").PlotsScreen(),
        "path": lambda app: import_module("qostui.ui.screens.path").path_screen(app),
    }

    def action_open_view(self, name: str) -> None:
        factory = self.VIEWS.get(name)
        if factory is None:
            self.notify(f"the {name} view is not available in this build", severity="warning")
            return
        if self.role == "help":
            self.pop_screen()
        current = self.contract()
        if current is not None and current.view_name == name:
            return
        if current is not None and current.role == "view":  # one view at a time: `f` on training replaces it
            self.pop_screen()
        self.push_screen(factory(self))

    def action_open_selected(self) -> None:
        current = self.contract()
        if current is not None:
            current.open_selected()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        paused = self.pipeline is not None and self.pipeline.collector.paused
        yield SystemCommand("Resume probing" if paused else "Pause probing", "p: stop/start probes and recording", self.action_toggle_pause)
        yield SystemCommand("Reset statistics", "r: reset min/avg/max, loss and totals", self.action_reset_stats)
        yield SystemCommand("Chart scale", "s: auto / from zero / log", self.action_cycle_scale)
        yield SystemCommand("Chart window", "w: 5 min / 1 h / 24 h", self.action_cycle_window)
        yield SystemCommand("Train the forecasting model", "t: training screen", lambda: self.action_open_view("training"))
        yield SystemCommand("Bandwidth forecast", "f: forecast, baselines, past forecasts", lambda: self.action_open_view("forecast"))
        yield SystemCommand("Analytic plots", "g: the report's five charts", lambda: self.action_open_view("plots"))
        contract = self.contract(screen)
        if contract is not None:
            yield from contract.system_commands()  # the screen's own actions
        yield SystemCommand("Help: all keys", "?: list every key", self.action_help)

    # --- theme ---------------------------------------------------------------------------------
    def _theme_changed(self, theme: Any) -> None:
        name = getattr(theme, "name", str(theme))
        if not self.remember_theme or name == self._saved_theme:
            return
        from qostui.ui.settings import save_theme

        self._saved_theme = name
        path = save_theme(self.config.source, name)
        if path is not None:
            self.notify(f"theme {name} saved to {path}", timeout=2)
