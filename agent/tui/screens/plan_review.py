"""Reviewing the plan mode's result: edit the plan, comment on it, then approve or send it back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Markdown, Static, TextArea


@dataclass(frozen=True)
class PlanDecision:
    action: Literal["approve", "revise", "cancel"]
    plan: str
    comment: str


def plan_text(items: list[dict[str, str]]) -> str:
    return "\n".join(f"- {item.get('text', '')}" for item in items)


class PlanReviewScreen(ModalScreen[PlanDecision]):
    BINDINGS = [
        Binding("ctrl+s", "approve", "approve and act"),
        Binding("ctrl+r", "revise", "send back with the comment"),
        Binding("escape", "cancel", "keep planning"),
    ]

    def __init__(self, items: list[dict[str, str]], summary: str) -> None:
        super().__init__()
        self.items = items
        self.summary = summary

    def compose(self) -> ComposeResult:
        with Vertical(id="plan-review"):
            yield Label("The plan: edit it, comment, then approve (Ctrl+S) or send it back (Ctrl+R)")
            if self.summary:
                yield Markdown(self.summary, id="plan-summary")
            yield TextArea(plan_text(self.items) or "(the model wrote no todo list)", id="plan-text",
                           soft_wrap=True)
            yield Input(placeholder="comments for the model (optional)", id="comment")
            with Horizontal(id="choices"):
                yield Button("Approve and act", id="approve", variant="success")
                yield Button("Revise", id="revise", variant="primary")
                yield Button("Keep planning", id="cancel")
            yield Static("Ctrl+S approve · Ctrl+R revise with the comment · Esc close", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#plan-text").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self._decide(event.button.id)  # type: ignore[arg-type]

    def action_approve(self) -> None:
        self._decide("approve")

    def action_revise(self) -> None:
        self._decide("revise")

    def action_cancel(self) -> None:
        self._decide("cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._decide("revise" if event.value.strip() else "approve")

    def _decide(self, action: Literal["approve", "revise", "cancel"]) -> None:
        plan = self.query_one("#plan-text", TextArea).text.strip()
        comment = self.query_one("#comment", Input).value.strip()
        self.dismiss(PlanDecision(action, plan, comment))
