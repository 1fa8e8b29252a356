"""The approval modal: the command or the diff, answered yes, no (with a reason), or always."""

from __future__ import annotations

import shlex

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from agent.interfaces import Answer, Approval, ApprovalRequest


def suggest_pattern(request: ApprovalRequest) -> str:
    """A rule that would allow calls like this one: the command's program and sub-command, or the path."""
    if request.kind != "shell":
        return request.subject
    try:
        words = shlex.split(request.subject)
    except ValueError:
        return request.subject
    if len(words) <= 2 or any(c in request.subject for c in ";&|<>`$"):
        return request.subject
    return " ".join(shlex.quote(w) for w in words[:2]) + " *"


class ApprovalScreen(ModalScreen[Approval]):
    BINDINGS = [
        Binding("y", "yes", "yes"),
        Binding("n", "no", "no, with a reason"),
        Binding("a", "always", "always"),
        Binding("escape", "interrupt", "stop the run"),
    ]

    def __init__(self, request: ApprovalRequest, preview: str) -> None:
        super().__init__()
        self.request = request
        self.preview = preview

    def compose(self) -> ComposeResult:
        request = self.request
        with Vertical(id="approval"):
            yield Label(f"Allow {request.tool} on {request.subject or '(no subject)'}?", id="question")
            with VerticalScroll(id="preview"):
                lexer = "bash" if request.kind == "shell" else "diff" if self.preview.startswith("---") else "json"
                yield Static(Syntax(self.preview, lexer, theme="ansi_dark", background_color="default",
                                    word_wrap=True))
            yield Input(placeholder="why not? (sent to the model)", id="reason")
            yield Input(value=suggest_pattern(request), id="pattern")
            with Horizontal(id="choices"):
                yield Button("Yes (y)", id="yes", variant="success")
                yield Button("No (n)", id="no", variant="error")
                yield Button("Always (a)", id="always", variant="primary")
            yield Static("y yes · n no (type a reason, Enter) · a always for the pattern above · Esc stop the run",
                         classes="hint")

    def on_mount(self) -> None:
        self.query_one("#reason").display = False
        self.query_one("#pattern").display = False

    def on_button_pressed(self, event: Button.Pressed) -> None:
        {"yes": self.action_yes, "no": self.action_no, "always": self.action_always}[event.button.id or "no"]()

    def action_yes(self) -> None:
        self.dismiss(Approval(Answer.YES))

    def action_no(self) -> None:
        reason = self.query_one("#reason", Input)
        if reason.display:
            self.dismiss(Approval(Answer.NO, reason.value.strip()))
        else:
            reason.display = True
            reason.focus()

    def action_always(self) -> None:
        pattern = self.query_one("#pattern", Input)
        if pattern.display:
            self.dismiss(Approval(Answer.ALWAYS, f"always allowed: {pattern.value}", pattern.value.strip()))
        else:
            pattern.display = True
            pattern.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "reason":
            self.action_no()
        else:
            self.action_always()

    def action_interrupt(self) -> None:
        self.dismiss(Approval(Answer.STOP, "the user stopped the run"))
