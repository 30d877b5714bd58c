"""Every key of the monitor in one table: bindings, the help screen and the palette read it.

A later screen (training `t`, forecast `f`) adds its row here with the action
"app.open_view('<name>')" and registers its factory in `QostuiApp.VIEWS` (see app.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    keys: str  # Textual key names, comma-separated
    shown: str  # how the help screen writes them
    action: str
    description: str
    where: str  # "everywhere" | "monitor" | "detail"
    footer: bool = False  # shown in the footer (space is short at 80 columns)
    short: str = ""  # the footer's one-word label

    @property
    def label(self) -> str:
        return self.short or self.description


KEYS: tuple[Key, ...] = (
    Key("up,k", "↑ / k", "focus_up", "select the panel above", "monitor"),
    Key("down,j", "↓ / j", "focus_down", "select the panel below", "monitor"),
    Key("left,h", "← / h", "focus_previous_panel", "previous panel (wide layouts)", "monitor"),
    Key("right,l", "→ / l", "focus_next_panel", "next panel (wide layouts)", "monitor"),
    Key("enter", "Enter", "open_detail", "open the detail chart of the selected panel", "monitor", footer=True, short="detail"),
    Key("v", "v", "toggle_compact", "panels / compact view (one line per target)", "monitor"),
    Key("o", "o", "sort_next", "compact view: sort by the next column", "monitor"),
    Key("O", "O", "sort_reverse", "compact view: reverse the sort order", "monitor"),
    Key("escape", "Esc", "back", "back to the monitor", "detail", footer=True, short="back"),
    Key("d", "d", "app.toggle_smoke", "detail chart: RTT smoke (every probe's RTT per round) / min-avg-max", "detail"),
    Key("p", "p", "app.toggle_pause", "pause / resume probing and recording", "everywhere", footer=True, short="pause"),
    Key("r", "r", "app.reset_stats", "reset min/avg/max, loss and byte totals", "everywhere", footer=True, short="reset"),
    Key("s", "s", "app.cycle_scale", "chart y scale: auto / from zero / log", "everywhere", footer=True, short="scale"),
    Key("w", "w", "app.cycle_window", "chart time window: 5 min / 1 h / 24 h", "everywhere", footer=True, short="window"),
    Key("question_mark", "?", "app.help", "this help", "everywhere", footer=True, short="help"),
    Key("ctrl+p", "Ctrl+P", "app.command_palette", "command palette (same actions, themes)", "everywhere"),
    Key("q", "q", "app.quit", "quit (the store is flushed first)", "everywhere", footer=True, short="quit"),
    Key("t", "t", "app.open_view('training')", "training screen: train the forecast model", "everywhere"),
    Key("f", "f", "app.open_view('forecast')", "forecast view: next steps and baselines", "everywhere"),
    Key("g", "g", "app.open_view('plots')", "analytic plots of the report, one at a time", "everywhere"),
    Key("m", "m", "app.open_view('path')", "path view: hop by hop to the selected target (mtr style)", "everywhere"),
    Key("enter", "Enter", "start", "start training (Tab moves between fields)", "training", footer=True, short="start"),
    Key("c", "c", "cancel", "cancel the running training (nothing saved)", "training", footer=True, short="cancel"),
    Key("e", "e", "toggle_evaluation", "loss chart / evaluation table (model vs baselines)", "training", footer=True, short="eval"),
    Key("F", "F", "reforecast", "forecast again now and store it", "forecast", footer=True, short="re-forecast"),
    Key("b", "b", "toggle_baselines", "show / hide the baselines' forecasts", "forecast", footer=True, short="baselines"),
    Key("right,n", "→ / n", "next_plot", "next analytic plot", "plots", footer=True, short="next"),
    Key("left,N", "← / N", "previous_plot", "previous analytic plot", "plots", footer=True, short="prev"),
    Key("escape", "Esc", "back", "back to the previous screen", "views", footer=True, short="back"),
)


def bindings_for(*places: str, app_level: bool = False) -> list[Binding]:
    """Textual bindings for the keys shown in `places` ("monitor", "views", ...).

    app_level: the app's own bindings, whose actions drop the "app." prefix (the palette key is
    Textual's own and stays out).
    """
    return [
        Binding(k.keys, k.action.removeprefix("app.") if app_level else k.action, k.label,
                show=k.footer, key_display=k.shown)
        for k in KEYS
        if k.where in places and not (app_level and k.action == "app.command_palette")
    ]
