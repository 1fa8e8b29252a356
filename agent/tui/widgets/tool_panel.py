"""One panel per tool call (or slash command output): the call on one line, its output or diff below."""

from __future__ import annotations

from rich.syntax import Syntax
from rich.text import Text

from agent.tui.entries import PanelEntry
from agent.tui.widgets.fold import Fold

MAX_BODY_LINES = 400
MARKS = {"running": "…", "ok": "✓", "error": "✗", "denied": "⊘"}


class ToolPanel(Fold):
    def __init__(self, entry: PanelEntry) -> None:
        super().__init__(title_of(entry), lambda: render_body(self.entry), expanded=entry.expanded,
                         classes=entry.status)
        self.entry = entry

    def finish(self, entry: PanelEntry) -> None:
        """The call ended: show its output or diff, opened when worth reading."""
        self.entry = entry
        self.title = title_of(entry)
        self.remove_class(*MARKS)
        self.add_class(entry.status)
        self.expanded = entry.expanded
        self.refresh(layout=True)

    def toggle(self) -> None:
        super().toggle()
        self.entry.expanded = self.expanded


def title_of(entry: PanelEntry) -> str:
    return f"{MARKS[entry.status]} {entry.title}"


def render_body(entry: PanelEntry) -> Syntax | Text:
    lines = entry.body.splitlines()
    body = entry.body
    note = ""
    if len(lines) > MAX_BODY_LINES:
        body = "\n".join(lines[:MAX_BODY_LINES])
        note = f"\n… {len(lines) - MAX_BODY_LINES} more lines"
    if not body:
        return Text("(running)" if entry.status == "running" else "(no output)", style="dim")
    if entry.lexer:
        return Syntax(body + note, entry.lexer, theme="ansi_dark", background_color="default",
                      word_wrap=True)
    return Text(body + note)
