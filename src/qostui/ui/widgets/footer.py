"""Textual's Footer without two per-key costs (measured with Textual 8.2).

1. The stock Footer rebuilds all its key widgets on every focus change (the screen's
   `bindings_updated_signal`), even when moving between panels shows exactly the same keys: about
   a dozen widgets removed, created, styled and laid out on every j/k press.
2. Each rebuild leaks the old key widgets: `FooterKey.data_bind(compact=Footer.compact)` leaves a
   watcher on the Footer that is only pruned when `compact` changes, which never happens
   (Textualize/textual#6666). In the monitor that was ~14 widgets (~3 000 objects) per key press,
   kept forever, so every full garbage-collector pass walked a heap that grew with each key and
   stalled the event loop for longer and longer (30 ms -> 160 ms within 100 presses).

This footer recomposes only when the keys it would show differ, and drops the watchers of removed
key widgets after each rebuild.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer


class KeysFooter(Footer):
    _composed: tuple[Any, ...] | None = None  # what the current key widgets show

    def _signature(self, screen: Screen[Any]) -> tuple[Any, ...]:
        shown = tuple(
            (key, binding, enabled, tooltip)
            for key, (_node, binding, enabled, tooltip) in screen.active_bindings.items()
            if binding.show or key == self.app.COMMAND_PALETTE_BINDING
        )
        return (shown, self.show_command_palette, self.compact)

    def compose(self) -> ComposeResult:
        self._composed = self._signature(self.screen) if self._bindings_ready else None
        yield from super().compose()

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if (
            self._composed is not None
            and self.is_attached
            and screen is self.screen
            and self._signature(screen) == self._composed
        ):
            return  # same keys: nothing to rebuild
        super().bindings_changed(screen)

    async def recompose(self) -> None:
        await super().recompose()
        self._drop_dead_watchers()

    def _drop_dead_watchers(self) -> None:
        """Remove watchers that belong to widgets no longer in the DOM (see the module doc, 2)."""
        watchers: dict[str, list[tuple[Any, Any]]] = getattr(self, "__watchers", {})
        for entries in watchers.values():
            alive = [(node, cb) for node, cb in entries if not _gone(node)]
            if len(alive) != len(entries):
                entries[:] = alive


def _gone(node: Any) -> bool:
    return isinstance(node, Widget) and (node._closing or node._closed)
