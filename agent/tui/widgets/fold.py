"""A title line and a body shown only while open: the shape of tool panels and reasoning.

One widget, not a Collapsible's four, because the transcript keeps dozens mounted and Textual lays
out every widget on each change; the body is rendered only while open.
"""

from __future__ import annotations

from typing import Callable

from rich.console import Group, RenderableType
from rich.text import Text
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget


class Fold(Widget):
    expanded = reactive(False, layout=True)
    title = reactive("", layout=True)

    class Toggled(Message):
        def __init__(self, fold: "Fold") -> None:
            super().__init__()
            self.fold = fold

    def __init__(self, title: str, body: Callable[[], RenderableType], expanded: bool = False,
                 classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.body = body
        self.set_reactive(Fold.title, title)
        self.set_reactive(Fold.expanded, expanded)

    def render(self) -> RenderableType:
        head = Text.assemble(("▼ " if self.expanded else "▶ ", "dim"), (self.title, "bold"))
        return Group(head, self.body()) if self.expanded else head

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.toggle()

    def toggle(self) -> None:
        self.expanded = not self.expanded
        self.post_message(self.Toggled(self))
