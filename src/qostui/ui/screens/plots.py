"""`g`: the five analytic plots of `qostui report`, one at a time in the terminal (plotext).

The data comes from `qostui.report.data.plot_data` in a thread worker (scoring the model on the
test part can take seconds); plots 1-3 share one evaluation. Drawing uses
`qostui.report.terminal.render` on the UI thread, so the terminal view and the PNG of
`qostui report` show the very same numbers. `n` / `→` next plot, `N` / `←` previous.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import Static

from qostui.errors import QostuiError
from qostui.ui.keys import bindings_for
from qostui.ui.screens.base import QostuiScreen, one_line
from qostui.ui.screens.forecast import open_store
from qostui.ui.widgets.footer import KeysFooter
from qostui.ui.widgets.header import HeaderBar
from qostui.ui.widgets.plot_view import PlotView

if TYPE_CHECKING:
    from qostui.store import Store

EVALUATED = ("actual_vs_predicted", "loss_history", "error_distribution")


def plot_ids() -> tuple[tuple[str, str], ...]:
    from qostui.report.data import PLOTS

    return PLOTS


class PlotsScreen(QostuiScreen):
    CSS_PATH = "plots.tcss"
    BINDINGS = bindings_for("plots", "views")
    view_name = "plots"

    def __init__(self, *, store: Store | None = None, index: int = 0) -> None:
        super().__init__(id="plots")
        self._store = store
        self.plots = plot_ids()
        self.index = index % len(self.plots)
        self.data: dict[str, Any] = {}  # plot id -> plot data (computed once per visit)
        self.errors: dict[str, str] = {}
        self._evaluation: Any = None
        self.loads = 0

    @property
    def current(self) -> str:
        return self.plots[self.index][0]

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        yield Static(id="plots-title")
        yield PlotView(id="plots-chart")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.show_current()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_next_plot(self) -> None:
        self.index = (self.index + 1) % len(self.plots)
        self.show_current()

    def action_previous_plot(self) -> None:
        self.index = (self.index - 1) % len(self.plots)
        self.show_current()

    def system_commands(self) -> Any:
        from textual.app import SystemCommand

        for i, (_stem, name) in enumerate(self.plots):
            yield SystemCommand(f"Plot: {name}", f"analytic plot {i + 1} of {len(self.plots)}", self._goto(i))

    def _goto(self, i: int) -> Callable[[], None]:
        def go() -> None:
            self.index = i
            self.show_current()

        return go

    def show_current(self) -> None:
        stem, name = self.plots[self.index]
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(f"{self.index + 1}/{len(self.plots)} ", style="bold")
        title.append(name, style="bold")
        title.append("   n / → next   N / ← previous   Esc back", style="dim")
        self.query_one("#plots-title", Static).update(title)
        chart = self.query_one("#plots-chart", PlotView)
        if stem in self.data:
            chart.show(self.data[stem])
        elif stem in self.errors:
            chart.show_message(self.errors[stem])
        else:
            chart.show_message(f"computing {name.lower()}… (scoring the model can take a few seconds)")
            self._load(stem)

    @work(thread=True, exclusive=True, group="plots", exit_on_error=False)
    def _load(self, stem: str) -> None:
        from qostui.report.data import evaluation_data, plot_data

        try:
            with open_store(self.app, self._store) as store:
                if store is None:
                    raise QostuiError(
                        f"{self.app.config.store.resolved_path()}: no store yet; record or `qostui import FILE` first"
                    )
                evaluation = None
                if stem in EVALUATED:
                    if self._evaluation is None:
                        self._evaluation = evaluation_data(store, self.app.config)
                    evaluation = self._evaluation
                data = plot_data(stem, store, self.app.config, evaluation=evaluation)
        except Exception as exc:  # one line on screen, never a traceback
            self.app.call_from_thread(self._loaded, stem, None, one_line(exc))
        else:
            self.app.call_from_thread(self._loaded, stem, data, "")

    def _loaded(self, stem: str, data: Any, error: str) -> None:
        self.loads += 1
        if data is not None:
            self.data[stem] = data
        else:
            self.errors[stem] = f"cannot compute this plot: {error}"
        if stem == self.current:
            self.show_current()
