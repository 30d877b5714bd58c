"""`m`: the live path view of the selected target (mtr style): hop table, verdict, route history.

History comes from the store (the path rounds and `route` events `qostui record` stored with
[path] enabled); while the monitor is live a thread worker also traces the target round after
round (path.probes_per_hop probes per hop each) and adds every round as it completes. Route
changes seen by that worker (RouteTracker, the same rule as the recorder's) or arriving from the
recorder's path rounds on the bus join the history. Esc goes back.

A QostuiScreen (ui/screens/base.py): the app sends it every record batch and its header; while
another screen covers it, batches only update its data and `catch_up` draws them when it is shown.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from qostui.charts import clock_stamp
from qostui.records import Event, PathHop, Record
from qostui.ui.keys import bindings_for
from qostui.ui.screens.base import QostuiScreen, one_line
from qostui.ui.screens.forecast import open_store
from qostui.ui.widgets.footer import KeysFooter
from qostui.ui.widgets.header import HeaderBar
from qostui.ui.widgets.path_table import PathTable

if TYPE_CHECKING:
    from qostui.store import Store
    from qostui.ui.app import QostuiApp
    from qostui.ui.model import Changes

KEEP_ROUNDS = 60  # rounds kept for the sparklines
KEEP_ROUTES = 20


def group_rounds(hops: Sequence[PathHop]) -> list[list[PathHop]]:
    """Stored hop rows -> rounds (same ts), oldest first, each ordered by hop."""
    by_ts: dict[float, list[PathHop]] = {}
    for h in hops:
        by_ts.setdefault(h.ts, []).append(h)
    return [sorted(by_ts[ts], key=lambda h: h.hop) for ts in sorted(by_ts)]


def path_screen(app: QostuiApp) -> PathScreen:
    """The view for the monitor's selected target (else the first configured one)."""
    from qostui.ui.screens.monitor import MonitorScreen

    target = ""
    for screen in reversed(app.screen_stack):
        if isinstance(screen, MonitorScreen):
            target = screen.selected_key or ""
            break
    labels = [t.label for t in app.config.targets]
    if target not in labels:
        target = labels[0]
    return PathScreen(target)


class PathScreen(QostuiScreen):
    CSS_PATH = "path.tcss"
    BINDINGS = bindings_for("views")
    view_name = "path"

    def __init__(self, target: str, *, store: Store | None = None, live: bool | None = None) -> None:
        super().__init__(id="path")
        self.target = target
        self._store = store
        self._live = live
        self.rounds: deque[list[PathHop]] = deque(maxlen=KEEP_ROUNDS)
        self.routes: deque[Event] = deque(maxlen=KEEP_ROUTES)
        self.error = ""
        self.loads = 0  # store loads finished (tests wait on it)
        self.live_rounds = 0
        self._stop = threading.Event()
        self._names: dict[str, str] = {}

    @property
    def header_label(self) -> str:
        return f"path {self.target}"

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        yield Static(id="path-title")
        with VerticalScroll(id="path-scroll"):
            yield PathTable(id="path-table")
        yield Static(id="path-routes")
        yield KeysFooter()

    def on_mount(self) -> None:
        self._show()
        self._load()

    def on_unmount(self) -> None:
        self._stop.set()

    def action_back(self) -> None:
        self.app.pop_screen()

    # --- data ----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="path-load", exit_on_error=False)
    def _load(self) -> None:
        hops: list[PathHop] = []
        routes: list[Event] = []
        try:
            with open_store(self.app, self._store) as store:
                if store is not None:
                    hops = store.path_hops(target=self.target, limit=KEEP_ROUNDS * 64)
                    routes = [e for e in store.events() if e.kind == "route" and e.target == self.target]
        except Exception as exc:  # one line on screen, never a traceback
            self.app.call_from_thread(self._loaded, [], [], f"cannot read the store: {one_line(exc)}")
            return
        self.app.call_from_thread(self._loaded, group_rounds(hops)[-KEEP_ROUNDS:], routes[-KEEP_ROUTES:], "")

    def _loaded(self, rounds: list[list[PathHop]], routes: list[Event], error: str) -> None:
        self.loads += 1
        self.error = error
        self.rounds.extendleft(reversed(rounds))
        self.routes.extendleft(reversed(routes))
        self._show()
        live = self.app.live if self._live is None else self._live
        if live:
            self._trace_live()

    @work(thread=True, exclusive=True, group="path-live", exit_on_error=False)
    def _trace_live(self) -> None:
        from qostui.alerts import RouteTracker
        from qostui.probes.icmp import IcmpPermissionError
        from qostui.probes.path import path_engine
        from qostui.probes.pathstats import hops_from_trace, path_signature
        from qostui.probes.resolve import Resolver, reverse_name

        cfg = self.app.config
        pc = cfg.path
        address = next((t.address for t in cfg.targets if t.label == self.target), self.target)
        res = Resolver(cfg.probe.resolve_retry_s).resolve(address)
        if not res.ok:
            self.app.call_from_thread(self._failed, res.error)
            return
        tracker = RouteTracker(pc.hysteresis_rounds)
        for old in self.rounds:  # continue from the stored path, not from nothing
            tracker.observe(self.target, path_signature(old), old[0].ts if old else 0.0)
        engine = path_engine(pc.protocol)
        try:
            while not self._stop.is_set():
                ts = time.time()
                trace = engine.trace(res.address, res.family, passes=pc.probes_per_hop, gap_ms=pc.spacing_ms,
                                     timeout_ms=pc.timeout_ms, max_ttl=pc.max_ttl, should_stop=self._stop.is_set)
                hops = hops_from_trace(trace, self.target, ts)
                if self._stop.is_set():
                    return
                names = {h.hop_address: reverse_name(h.hop_address) for h in hops} if pc.resolve_names else {}
                event = tracker.observe(self.target, path_signature(hops), ts) if hops else None
                self.app.call_from_thread(self._live_round, hops, event, names)
        except IcmpPermissionError as exc:
            self.app.call_from_thread(self._failed, exc.help)
        except OSError as exc:
            self.app.call_from_thread(self._failed, f"cannot trace {address}: {exc.strerror or exc}")
        finally:
            engine.close()

    def _live_round(self, hops: list[PathHop], event: Event | None, names: dict[str, str]) -> None:
        self.live_rounds += 1
        self._names.update(names)
        if hops:
            self.rounds.append(hops)
        if event is not None and (self.app.pipeline is None or self.app.pipeline.path is None):
            self.routes.append(event)  # the recorder's own path rounds report theirs on the bus
        self._show()

    def _failed(self, message: str) -> None:
        self.error = message
        self._show()

    def records_arrived(self, records: list[Record], changes: Changes) -> None:
        """Route events (and, when nothing traces here, hop rows) from the recorder's path rounds."""
        fresh = [r for r in records if isinstance(r, PathHop) and r.target == self.target]
        routes = [r for r in records if isinstance(r, Event) and r.kind == "route" and r.target == self.target]
        self.routes.extend(routes)
        if fresh and not self.live_rounds:
            self.rounds.extend(group_rounds(fresh))
        if (fresh or routes) and self.is_current:  # covered: catch_up draws it when shown again
            self._show()

    def catch_up(self) -> None:
        self._show()

    # --- drawing -------------------------------------------------------------------------------
    def _show(self) -> None:
        from qostui.commands.path import path_verdict

        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(f"path to {self.target}", style="bold")
        latest = self.rounds[-1] if self.rounds else []
        if latest:
            verdict = path_verdict(latest)
            title.append("  ")
            title.append(verdict, style="green" if verdict == "no path loss" else "bold red")
            if not latest[-1].reached:
                title.append("  destination not reached", style="bold red")
            title.append(f"   {len(latest)} hops, {len(self.rounds)} round(s), "
                         f"{latest[0].sent} probes/hop", style="dim")
        table = self.query_one("#path-table", PathTable)
        if self.error and not latest:
            table.show_message(self.error)
        else:
            table.show(list(self.rounds), self._names)
        if self.error and latest:
            title.append(f"  {self.error}", style="bold red")
        self.query_one("#path-title", Static).update(title)
        routes = Text(no_wrap=False)
        routes.append("route history", style="bold")
        if not self.routes:
            routes.append("  no route change recorded", style="dim")
        for e in reversed(self.routes):
            routes.append(f"\n{clock_stamp(e.ts, '%Y-%m-%d %H:%M:%S')} ", style="dim")
            routes.append(e.message)
        self.query_one("#path-routes", Static).update(routes)
