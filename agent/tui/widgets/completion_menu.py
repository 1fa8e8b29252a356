"""The list of completions shown above the input box; the input box drives it."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from agent.tui.completion import Completion


class CompletionMenu(OptionList, can_focus=False):
    def __init__(self) -> None:
        super().__init__(id="completions")
        self.completion: Completion | None = None
        self.display = False

    def show(self, completion: Completion | None) -> None:
        self.completion = completion
        self.clear_options()
        if completion is None:
            self.display = False
            return
        self.add_options(
            Option(Text.assemble(value.strip(), ("  " + help if help else "", "dim")), id=str(i))
            for i, (value, help) in enumerate(completion.options)
        )
        self.highlighted = 0
        self.display = True

    def move(self, step: int) -> None:
        if self.option_count:
            self.highlighted = ((self.highlighted or 0) + step) % self.option_count

    def chosen(self) -> str | None:
        if self.completion is None or self.highlighted is None:
            return None
        return self.completion.options[self.highlighted][0]
