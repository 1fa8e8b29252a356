"""A title line and a body shown only while open: the shape of tool panels and reasoning.

One widget, not a Collapsible's four, because the transcript keeps dozens mounted and Textual lays
out every widget on each change; the body is rendered only while open. A click opens or closes it
without taking the focus from the input box; Tab reaches it and Enter does the same from the keys.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Group, RenderableType
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget


class Fold(Widget, can_focus=True):
    FOCUS_ON_CLICK = False
    BINDINGS = [Binding("enter", "toggle", "open or close", show=False)]
    expanded = reactive(False, layout=True)
    title = reactive("", layout=True)

    class Toggled(Message):
        def __init__(self, fold: Fold) -> None:
            super().__init__()
            self.fold = fold

    def __init__(self, title: str, body: Callable[[], RenderableType], expanded: bool = False,
                 classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.body = body
        self.set_reactive(Fold.title, title)
        self.set_reactive(Fold.expanded, expanded)

    def render(self) -> RenderableType:
        head = Text.assemble((self.marker(), "dim"), (self.title, "bold"))
        shown = self.body() if self.expanded else self.glance()
        return head if shown is None else Group(head, shown)

    def marker(self) -> str:
        return "▼ " if self.expanded else "▶ "

    def glance(self) -> RenderableType | None:
        """What shows under the title while closed: nothing, unless a kind of fold says otherwise."""
        return None

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.toggle()

    def action_toggle(self) -> None:
        self.toggle()

    def toggle(self) -> None:
        self.expanded = not self.expanded
        self.post_message(self.Toggled(self))
