"""`t`: train the bandwidth forecasting model without leaving the monitor.

The form picks the latency/loss target, the feature set, epochs and patience (config defaults).
Start runs `qostui.forecast.training.train` in a thread worker, the same entry point as
`qostui train`; every training event is posted to this screen as a message (non-blocking, so the
training thread never waits for the UI), and the screen draws the live loss chart, the progress
bar with epoch n/N and ETA, the best epoch and the early-stop countdown, and at the end the
evaluation table (model vs baselines per horizon step) and what forecasts will use.
`c` sets the cancel Event; Keras stops at the next batch and the worker ends.

The screen is installed once per app (see `training_screen`), so leaving it with Esc keeps a
running training going and the header shows its progress; `t` brings the same screen back.
"""

from __future__ import annotations

import contextlib
import gc
import math
import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, ContentSwitcher, Input, Label, ProgressBar, Select, Static

from qostui.config import Config
from qostui.errors import QostuiError
from qostui.forecast.events import (
    EpochEnded,
    TrainingCancelled,
    TrainingFailed,
    TrainingFinished,
    TrainingStage,
    TrainingStarted,
)
from qostui.forecast.tf_preload import import_keras_beside_ui, keras_loaded, lower_thread_priority
from qostui.ui.keys import bindings_for
from qostui.ui.screens.base import QostuiScreen, one_line
from qostui.ui.widgets.footer import KeysFooter
from qostui.ui.widgets.header import HeaderBar
from qostui.ui.widgets.plot_view import PlotView

if TYPE_CHECKING:
    from qostui.ui.app import QostuiApp

SCREEN_NAME = "qostui-training"
FEATURE_CHOICES: tuple[tuple[str, str], ...] = (
    ("auto: bandwidth, latency, loss, time", "auto"),
    ("bandwidth + time of day", "time"),
    ("bandwidth only", "bandwidth"),
)
MAX_EPOCHS = 100_000


class TrainingEventMessage(Message):
    """One training event, posted from the worker thread (Message posting is thread-safe)."""

    def __init__(self, event: Any, run: int) -> None:
        super().__init__()
        self.event = event
        self.run = run


def training_screen(app: QostuiApp) -> TrainingScreen:
    """The app's one training screen (installed, so a running training survives leaving it)."""
    if not app.is_screen_installed(SCREEN_NAME):
        app.install_screen(TrainingScreen(), SCREEN_NAME)
    screen = app.get_screen(SCREEN_NAME)
    assert isinstance(screen, TrainingScreen)
    return screen


def fmt_s(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def _num(v: Any, digits: int) -> str:
    return f"{v:.{digits}f}" if isinstance(v, (int, float)) and math.isfinite(v) else "-"


def evaluation_table(evaluation: dict[str, Any], width: int = 80) -> Table:
    """Model vs baselines: overall MAE/RMSE/R²/skill and MAE at a few horizon steps (Mbps)."""
    H = int(evaluation.get("horizon", 0) or 0)
    best = str(evaluation.get("best_baseline", ""))
    steps = sorted({1, min(3, H), min(6, H), H} - {0}) if H else []
    if width < 100:  # 80 columns: first and last step only
        steps = sorted({1, H} - {0}) if H else []
    table = Table(box=None, expand=False, header_style="bold", pad_edge=False, padding=(0, 1))
    table.add_column("method", no_wrap=True, max_width=24)
    for name in ("MAE", "RMSE", "R²", "skill"):
        table.add_column(name, justify="right", no_wrap=True)
    for s in steps:
        table.add_column(f"MAE@{s}", justify="right", no_wrap=True)
    for m in evaluation.get("methods", []):
        o = m.get("overall", {})
        name = str(m.get("name", "?"))
        style = "bold cyan" if m.get("kind") == "model" else ""
        label = Text(name + (" *" if name == best else ""), style=style)
        per_step = m.get("per_step", [])
        at = [_num(per_step[s - 1].get("mae"), 2) if s - 1 < len(per_step) else "-" for s in steps]
        skill = m.get("skill")
        skill_text = Text(_num(skill, 3), style="green" if isinstance(skill, (int, float)) and skill > 0 else "")
        table.add_row(label, _num(o.get("mae"), 2), _num(o.get("rmse"), 2), _num(o.get("r2"), 3), skill_text, *at)
    return table


class TrainingScreen(QostuiScreen):
    CSS_PATH = "training.tcss"
    BINDINGS = bindings_for("training", "views")
    view_name = "training"

    def __init__(self) -> None:
        super().__init__(id="training")
        self.state = "idle"  # idle | loading | training | finished | cancelled | failed
        self.history: list[tuple[int, float, float]] = []  # (epoch, loss, val_loss)
        self.started: TrainingStarted | None = None
        self.last_epoch: EpochEnded | None = None
        self.finished: TrainingFinished | None = None
        self.stage = ""
        self.message = ""
        self.events: list[Any] = []  # this run's events, in order (tests read them)
        self.run = 0
        self.previous_model = ""
        self._cancel: threading.Event | None = None

    # --- layout --------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        f = self.app.config.forecast
        yield HeaderBar(id="header")
        with Vertical(id="train-form"):
            with Horizontal(classes="form-row"):
                yield Label("target", classes="form-label")
                yield Select([("mean of all targets", "")], value="", allow_blank=False, compact=True, id="train-target")
                yield Label("features", classes="form-label")
                yield Select(list(FEATURE_CHOICES), value="auto", allow_blank=False, compact=True, id="train-features")
            with Horizontal(classes="form-row"):
                yield Label("epochs", classes="form-label")
                yield Input(str(f.epochs), type="integer", compact=True, id="train-epochs", max_length=6)
                yield Label("patience", classes="form-label")
                yield Input(str(f.patience), type="integer", compact=True, id="train-patience", max_length=6)
                yield Button("Start", compact=True, id="train-start", variant="primary")
                yield Button("Cancel", compact=True, id="train-cancel", disabled=True)
        yield Static(id="train-status")
        yield ProgressBar(total=f.epochs, show_eta=False, id="train-progress")
        yield Static(id="train-tabs")
        with ContentSwitcher(initial="train-chart", id="train-switcher"):
            yield PlotView(id="train-chart", message="the loss per epoch appears here once training starts")
            with VerticalScroll(id="train-eval"):
                yield Static(id="train-table")
        yield Static(id="train-result")
        yield KeysFooter()

    def on_mount(self) -> None:
        self._show_tabs()
        self._show_status()
        self.query_one("#train-start", Button).focus()
        self._load_targets()

    def catch_up(self) -> None:
        self._show_result()

    def on_unmount(self) -> None:
        # App shutting down: stop a running training so no thread outlives the app.
        if self._cancel is not None:
            self._cancel.set()

    @work(thread=True, exclusive=True, group="training-targets", exit_on_error=False)
    def _load_targets(self) -> None:
        store = self.app.store
        targets = store.targets() if store is not None else [t.address for t in self.app.config.targets]
        self.app.call_from_thread(self._set_targets, targets)

    def _set_targets(self, targets: list[str]) -> None:
        select = self.query_one("#train-target", Select)
        wanted = self.app.config.forecast.target
        options = [("mean of all targets", ""), *((t, t) for t in targets)]
        if wanted and wanted not in targets:
            options.append((wanted, wanted))
        select.set_options(options)
        select.value = wanted

    # --- starting and cancelling ---------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.state in ("loading", "training")

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_start(self) -> None:
        self.start()

    def action_toggle_evaluation(self) -> None:
        """`e`: the loss chart or the evaluation table (model vs baselines), in the same place."""
        switcher = self.query_one(ContentSwitcher)
        switcher.current = "train-eval" if switcher.current == "train-chart" else "train-chart"
        self._show_tabs()

    @property
    def tab(self) -> str:
        """"chart" | "evaluation": what the switcher shows."""
        return "evaluation" if self.query_one(ContentSwitcher).current == "train-eval" else "chart"

    def _show_tabs(self) -> None:
        """The tab line: which of chart / evaluation is shown, and the chart's legend."""
        t = Text(no_wrap=True, overflow="ellipsis")
        chart = self.tab == "chart"
        t.append(" loss chart ", style="bold reverse" if chart else "dim")
        t.append(" ")
        has_eval = self.finished is not None and self.state == "finished"
        t.append(" evaluation ", style="bold reverse" if not chart else ("" if has_eval else "dim"))
        t.append(" (e)  ", style="dim")
        if chart:
            t.append("━", style="cyan")
            t.append(" loss  ")
            t.append("━", style="yellow")
            t.append(" val_loss")
            best = self.finished.best_epoch if self.finished else (self.last_epoch.best_epoch if self.last_epoch else 0)
            if best:
                t.append("  ")
                t.append("┆", style="green")
                t.append(f" best {best}")
                if self.finished is not None and self.started is not None and self.finished.epochs_run < self.started.epochs:
                    t.append(f", early stop at {self.finished.epochs_run}")
        self.query_one("#train-tabs", Static).update(t)

    def action_cancel(self) -> None:
        if not self.running or self._cancel is None:
            self.app.notify("no training is running", timeout=1.5)
            return
        self._cancel.set()
        self.stage = "cancelling (stops after the current batch)…"
        self._show_status()

    def system_commands(self) -> Any:
        from textual.app import SystemCommand

        yield SystemCommand("Loss chart / evaluation", "e: switch between the loss chart and the evaluation table",
                            self.action_toggle_evaluation)  # fmt: skip
        if self.running:
            yield SystemCommand("Cancel training", "c: stop after the current batch; nothing is saved", self.action_cancel)
        else:
            yield SystemCommand("Start training", "Enter: train with the settings above", self.action_start)

    @on(Button.Pressed, "#train-start")
    def _start_pressed(self) -> None:
        self.start()

    @on(Button.Pressed, "#train-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.start()

    def form_config(self) -> tuple[Config, str]:
        """The app's config with the form's choices; ConfigError names the field."""
        from qostui.config import ConfigError

        values: dict[str, int] = {}
        for key, lo in (("epochs", 1), ("patience", 1)):
            raw = self.query_one(f"#train-{key}", Input).value.strip()
            try:
                v = int(raw)
            except ValueError:
                raise ConfigError(f"{key}: expected a whole number, got {raw!r}") from None
            if not lo <= v <= MAX_EPOCHS:
                raise ConfigError(f"{key}: expected {lo}..{MAX_EPOCHS}, got {v}")
            values[key] = v
        target = self.query_one("#train-target", Select).value
        features = self.query_one("#train-features", Select).value
        f = self.app.config.forecast
        f = replace(
            f,
            epochs=values["epochs"],
            patience=values["patience"],
            target=str(target) if isinstance(target, str) else "",
            time_features=features != "bandwidth",
        )
        return replace(self.app.config, forecast=f), str(features)

    def start(self, config: Config | None = None, features: str = "auto") -> None:
        """Start a training run (the form's settings unless a config is given)."""
        if self.running:
            self.app.notify("training is already running (c cancels it)", severity="warning", timeout=2)
            return
        if config is None:
            try:
                config, features = self.form_config()
            except QostuiError as exc:
                self.app.notify(str(exc), severity="error")
                return
        from qostui.forecast.model_store import latest_model_id

        self.run += 1
        self.state = "loading"
        self.history = []
        self.events = []
        self.started = self.last_epoch = self.finished = None
        self.stage = "starting"
        self.message = ""
        self.previous_model = latest_model_id(config.forecast.resolved_model_dir()) or ""
        self._cancel = threading.Event()
        bar = self.query_one("#train-progress", ProgressBar)
        bar.update(total=config.forecast.epochs, progress=0)
        self.query_one("#train-chart", PlotView).show_message("waiting for the first epoch…")
        self._set_form_enabled(False)
        self._show_status()
        self._show_result()
        self._train(config, features, self.run, self._cancel)

    def _set_form_enabled(self, enabled: bool) -> None:
        for w in self.query("#train-form Select, #train-form Input"):
            w.disabled = not enabled
        self.query_one("#train-start", Button).disabled = not enabled
        self.query_one("#train-cancel", Button).disabled = enabled
        if not enabled:
            # keys such as `c` must reach the screen, not a text field
            self.query_one("#train-cancel", Button).focus()
        else:
            self.query_one("#train-start", Button).focus()

    # --- the worker ----------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="training", exit_on_error=False)
    def _train(self, config: Config, features: str, run: int, cancel: threading.Event) -> None:
        ended = False

        def emit(event: Any) -> None:
            nonlocal ended
            if isinstance(event, (TrainingFinished, TrainingCancelled, TrainingFailed)):
                ended = True
            self.post_message(TrainingEventMessage(event, run))

        lower_thread_priority()
        try:
            from qostui.forecast.lstm import Cancelled
            from qostui.forecast.source import series_from_config_store, series_from_store
            from qostui.forecast.training import train

            emit(TrainingStage("reading history", "bandwidth, latency and loss from the store"))
            store = self.app.store
            if store is not None:
                series = series_from_store(store, config.forecast)
            else:
                series = series_from_config_store(config)
            if features == "bandwidth" or features == "time":
                series = replace(series, extras={})
            keras = self._keras(emit)
            if cancel.is_set():
                emit(TrainingCancelled(epoch=0, seconds=0.0))
                return
            with contextlib.suppress(Cancelled):  # train() already emitted TrainingCancelled
                train(series, config.forecast, on_event=emit, cancel=cancel, keras=keras)
        except Exception as exc:  # never a traceback on screen: one line, the app keeps running
            if not ended:
                emit(TrainingFailed(one_line(exc)))

    def _keras(self, emit: Any) -> Any:
        """Keras, imported with a status line (the first import takes seconds)."""
        loaded = keras_loaded()
        if loaded is not None:
            return loaded
        emit(TrainingStage("loading TensorFlow", "first use in this session takes a few seconds"))
        # TensorFlow brings ~10^5 long-lived objects. While they are created, automatic collection
        # is off: each full pass over the growing heap (triggered by the import's own allocations)
        # held the GIL for 100-300 ms and froze the UI. Afterwards they are frozen, out of the
        # cyclic GC's reach for good, so later full passes do not walk them either.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            keras = import_keras_beside_ui(headless=self.app.is_headless)
        finally:
            gc.freeze()
            if was_enabled:
                gc.enable()
        return keras

    # --- events --------------------------------------------------------------------------------
    def on_training_event_message(self, message: TrainingEventMessage) -> None:
        if message.run == self.run:
            self.apply_event(message.event)

    def apply_event(self, event: Any) -> None:
        """Update the screen for one training event (tests feed fixed events here)."""
        self.events.append(event)
        if isinstance(event, TrainingStage):
            self.stage = event.stage + (f": {event.detail}" if event.detail else "")
            if self.state == "idle":
                self.state = "loading"
        elif isinstance(event, TrainingStarted):
            self.started = event
            self.state = "training"
            self.stage = ""
            self.query_one("#train-progress", ProgressBar).update(total=event.epochs, progress=0)
            self.query_one("#train-chart", PlotView).show_message(
                f"training on {event.n_train} windows ({event.n_val} validation, {event.n_test} test),"
                f" features {', '.join(event.features)}; the first epoch is running…"
            )
        elif isinstance(event, EpochEnded):
            self.state = "training"
            self.stage = ""
            self.last_epoch = event
            self.history.append((event.epoch, event.loss, event.val_loss))
            self.query_one("#train-progress", ProgressBar).update(total=event.epochs, progress=event.epoch)
            self._draw_chart()
        elif isinstance(event, TrainingFinished):
            self.finished = event
            self.state = "finished"
            self.stage = ""
            bar = self.query_one("#train-progress", ProgressBar)
            bar.update(total=max(event.epochs_run, 1), progress=event.epochs_run)
            self._end_run()
        elif isinstance(event, TrainingCancelled):
            self.state = "cancelled"
            self.message = f"training cancelled after epoch {event.epoch}; nothing saved"
            self._end_run()
        elif isinstance(event, TrainingFailed):
            self.state = "failed"
            self.message = event.message
            self._end_run()
        self._show_status()

    def _end_run(self) -> None:
        self._cancel = None
        if self.is_mounted and not self.is_current:  # trained in the background: say how it ended
            if self.finished is not None and self.state == "finished":
                self.app.notify(f"training done: {self.finished.verdict} (t shows the evaluation)", timeout=6)
            elif self.state == "failed":
                self.app.notify(f"training failed: {self.message}", severity="error", timeout=6)
        self._set_form_enabled(True)
        self._show_result()
        if self.history:
            self._draw_chart()
        self.app.refresh_header()

    def _draw_chart(self) -> None:
        from qostui.report.data import LossHistory

        if not self.history:
            return
        arr = np.asarray([(e, lo, va) for e, lo, va in self.history], dtype=float)
        best = self.finished.best_epoch if self.finished else (self.last_epoch.best_epoch if self.last_epoch else 0)
        n = self.last_epoch.epochs if self.last_epoch else len(arr)
        title = f"loss per epoch ({len(arr)}/{n}; best {best})"
        self.query_one("#train-chart", PlotView).show(LossHistory(title, arr[:, 0], arr[:, 1], arr[:, 2], best))
        self._show_tabs()

    def status_text(self) -> str:
        """Header part while training (also when this screen is not shown)."""
        if self.state == "loading":
            return "training: " + (self.stage.split(":")[0] or "starting")
        if self.state == "training":
            e = self.last_epoch
            return f"training {e.epoch}/{e.epochs}" if e else "training: first epoch"
        return ""

    def _show_status(self) -> None:
        status = self.query_one("#train-status", Static)
        t = Text(no_wrap=False)
        if self.state == "idle":
            t.append("Set the options and press Enter on Start (Tab moves between fields). ", style="dim")
            t.append("Probing continues while training runs.", style="dim")
        elif self.state == "loading":
            t.append("⏳ ", style="yellow")
            t.append(self.stage or "starting…", style="bold yellow")
        elif self.state == "training":
            e = self.last_epoch
            if e is None:
                t.append(self.stage or "first epoch running…", style="bold")
            else:
                t.append(f"epoch {e.epoch}/{e.epochs}", style="bold")
                t.append(f"  loss {e.loss:.4f}  val {e.val_loss:.4f}")
                t.append(f"  best epoch {e.best_epoch}", style="green")
                t.append(f"  early stop in {e.patience_left}", style="yellow" if e.patience_left <= 2 else "")
                t.append(f"  ETA {fmt_s(e.eta_s)}")
                if self.stage:
                    t.append(f"  {self.stage}", style="yellow")
        elif self.state == "finished" and self.finished is not None:
            fin = self.finished
            early = self.started is not None and fin.epochs_run < self.started.epochs
            t.append("done", style="bold green")
            t.append(f": {fin.epochs_run} epochs{' (early stop)' if early else ''}, best {fin.best_epoch},")
            t.append(f" {fmt_s(fin.seconds)}")
        elif self.state == "cancelled":
            t.append(self.message, style="bold yellow")
        elif self.state == "failed":
            t.append("training failed: ", style="bold red")
            t.append(self.message)
        status.update(t)

    def _show_result(self) -> None:
        result = self.query_one("#train-result", Static)
        table = self.query_one("#train-table", Static)
        self._show_tabs()
        fin = self.finished
        if fin is None or self.state != "finished":
            result.update("")
            result.display = False
            table.update(Text("the evaluation (model vs baselines per horizon step) appears when training ends",
                              style="dim"))  # fmt: skip
            return
        result.display = True
        table.update(evaluation_table(fin.evaluation, self.size.width or 80))
        parts: list[Any] = []
        verdict = Text(fin.verdict, style="green" if fin.uses == "lstm" else "yellow")
        parts.append(verdict)
        # not "lstm": the methods chosen per step on validation, e.g. "lstm at steps 1-2, linear at step 3"
        uses = "the new LSTM" if fin.uses == "lstm" else f"{fin.uses} (chosen per step on validation)"
        line = Text()
        saved = fin.model_id if fin.path else "(not saved)"
        line.append(f"saved {saved}", style="bold")
        if fin.path:
            line.append(f" replacing {self.previous_model}" if self.previous_model else " (the first model)")
        line.append(f"; forecasts now use {uses}")
        parts.append(line)
        from rich.console import Group

        result.update(Group(*parts))
