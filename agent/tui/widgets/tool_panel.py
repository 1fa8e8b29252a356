"""One panel per tool call (or slash command output): the call on one line, its output or diff below.

A finished panel shows its output at a glance, as Claude Code and Codex do: a short output whole,
a long one as its first lines and a "+N lines" fold that opens on a click or Enter.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.syntax import Syntax
from rich.text import Text

from agent.tui.entries import PanelEntry
from agent.tui.widgets.fold import Fold

MAX_BODY_LINES = 400
# An output of up to GLANCE_LINES lines shows whole; a longer one its first HEAD_LINES.
GLANCE_LINES = 6
HEAD_LINES = 4
MARKS = {"running": "…", "ok": "✓", "error": "✗", "denied": "⊘"}
INDENT = 2  # the output lines up under the call, past the fold's marker


class ToolPanel(Fold):
    def __init__(self, entry: PanelEntry) -> None:
        super().__init__(title_of(entry), lambda: indented(render_body(self.entry)), expanded=entry.expanded,
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

    def glance(self) -> RenderableType | None:
        return None if self.entry.status == "running" else indented(render_glance(self.entry))

    def marker(self) -> str:
        return "• " if self.shows_all() else super().marker()

    def shows_all(self) -> bool:
        """The glance is the whole output: there is nothing to open."""
        return self.entry.status != "running" and fits(self.entry.body, self.content_size.width - INDENT)

    def toggle(self) -> None:
        if self.shows_all():
            return
        super().toggle()
        self.entry.expanded = self.expanded


def title_of(entry: PanelEntry) -> str:
    return f"{MARKS[entry.status]} {entry.title}"


def fits(body: str, width: int) -> bool:
    """Whether the output shows whole at a glance: few lines, none cut at the panel's width."""
    lines = body.splitlines()
    return len(lines) <= GLANCE_LINES and all(cell_len(line) <= width for line in lines)


def render_glance(entry: PanelEntry) -> RenderableType:
    """The output's first lines, one screen line each, and how many more the fold holds."""
    lines = entry.body.splitlines()
    if not lines:
        return render_body(entry)
    head = lines if len(lines) <= GLANCE_LINES else lines[:HEAD_LINES]
    shown = styled("\n".join(head), entry.lexer, wrap=False)
    if len(head) == len(lines):
        return shown
    return Group(shown, Text(f"… +{len(lines) - len(head)} lines", style="dim"))


def render_body(entry: PanelEntry) -> RenderableType:
    lines = entry.body.splitlines()
    body = entry.body
    note = ""
    if len(lines) > MAX_BODY_LINES:
        body = "\n".join(lines[:MAX_BODY_LINES])
        note = f"\n… {len(lines) - MAX_BODY_LINES} more lines"
    if not body:
        return Text("(running)" if entry.status == "running" else "(no output)", style="dim")
    return styled(body + note, entry.lexer, wrap=True)


def indented(renderable: RenderableType) -> Padding:
    return Padding(renderable, (0, 0, 0, INDENT))


def styled(text: str, lexer: str | None, wrap: bool) -> Syntax | Text:
    """The text highlighted by its lexer, wrapped at the panel's width or cut with an ellipsis."""
    if lexer:
        return Syntax(text, lexer, theme="ansi_dark", background_color="default", word_wrap=wrap)
    return Text(text) if wrap else Text(text, no_wrap=True, overflow="ellipsis")
