"""The input box: multi-line entry, history, completion of `/` commands and `@` paths, long pastes.

Enter sends; Ctrl+J, Shift+Enter or Alt+Enter (or a trailing backslash) starts a new line. Up on
the first line and Down on the last walk the history. A paste of many lines is shown as one
placeholder line and sent whole.
"""

from __future__ import annotations

import re

from textual import events
from textual.widgets import TextArea

from agent.tui.completion import Completer
from agent.tui.messages import Submitted
from agent.tui.widgets.completion_menu import CompletionMenu

PASTE_LINES = 8
PASTE_CHARS = 800
PLACEHOLDER = re.compile(r"\[pasted text #(\d+): \d+ lines\]")
NEWLINE_KEYS = ("ctrl+j", "shift+enter", "alt+enter")


class PromptInput(TextArea):
    def __init__(self, completer: Completer, menu: CompletionMenu) -> None:
        super().__init__(id="prompt", soft_wrap=True, tab_behavior="focus", show_line_numbers=False,
                         compact=True, highlight_cursor_line=False,
                         placeholder="Ask heron… (/ commands, @ files, Enter send, Ctrl+J new line)")
        self.completer = completer
        self.menu = menu
        self.sent: list[str] = []
        self._history_at: int | None = None
        self._draft = ""
        self.pastes: dict[int, str] = {}

    async def _on_key(self, event: events.Key) -> None:
        handled = self._handle(event.key)
        if handled:
            event.stop()
            event.prevent_default()
            return
        await super()._on_key(event)

    def _handle(self, key: str) -> bool:
        if self.menu.display:
            if key in ("up", "down"):
                self.menu.move(-1 if key == "up" else 1)
                return True
            if key == "tab" or (key == "enter" and not self._completion_typed()):
                self._accept_completion()
                return True
            if key == "escape":
                self.menu.show(None)
                return True
        if key in NEWLINE_KEYS:
            self.insert("\n")
            return True
        if key == "enter":
            row, col = self.cursor_location
            if col and self.document.get_line(row)[col - 1] == "\\":
                self.replace("\n", (row, col - 1), (row, col))
            else:
                self.submit()
            return True
        if key == "up" and self.cursor_location[0] == 0 and self.sent:
            self._walk_history(-1)
            return True
        if key == "down" and self.cursor_location[0] == self.document.line_count - 1 \
                and self._history_at is not None:
            self._walk_history(1)
            return True
        return False

    def submit(self) -> None:
        shown = self.text.strip()
        if not shown:
            return
        if not self.sent or self.sent[-1] != shown:
            self.sent.append(shown)
        self._history_at = None
        text = PLACEHOLDER.sub(lambda m: self.pastes.get(int(m.group(1)), m.group(0)), shown)
        self.pastes.clear()
        self.clear()
        self.post_message(Submitted(text))

    def keep(self, text: str) -> None:
        """Put back a message that was not sent, before anything typed since."""
        typed = self.text
        self.load_text(text + ("\n" + typed if typed.strip() else ""))
        self.move_cursor(self.document.end)

    def _walk_history(self, step: int) -> None:
        if self._history_at is None:
            self._draft = self.text
            at = len(self.sent) - 1
        else:
            at = self._history_at + step
        if at >= len(self.sent):
            self._history_at = None
            self.load_text(self._draft)
        else:
            self._history_at = max(0, at)
            self.load_text(self.sent[self._history_at])
        self.move_cursor(self.document.end)

    async def _on_paste(self, event: events.Paste) -> None:
        lines = event.text.count("\n") + 1
        if lines <= PASTE_LINES and len(event.text) <= PASTE_CHARS:
            await super()._on_paste(event)
            return
        event.stop()
        event.prevent_default()
        number = len(self.pastes) + 1
        self.pastes[number] = event.text
        self.insert(f"[pasted text #{number}: {lines} lines]")

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        row, col = self.cursor_location
        before = self.document.get_line(row)[:col]
        if row > 0 and before.startswith("/"):
            before = ""  # a command is only ever the first line
        self.menu.show(self.completer.complete(before))

    def _completion_typed(self) -> bool:
        """The highlighted option is exactly what was typed: Enter sends rather than completes."""
        value, completion = self.menu.chosen(), self.menu.completion
        if value is None or completion is None:
            return False
        row, col = self.cursor_location
        return self.document.get_line(row)[col - completion.replace:col] == value.strip()

    def _accept_completion(self) -> None:
        value, completion = self.menu.chosen(), self.menu.completion
        self.menu.show(None)
        if value is None or completion is None:
            return
        row, col = self.cursor_location
        self.replace(value, (row, col - completion.replace), (row, col))
