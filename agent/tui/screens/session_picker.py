"""Choose a recorded session of this repository to resume (`heron --resume`, `/resume`)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from agent.core.session import SessionInfo


def describe_session(info: SessionInfo) -> str:
    task = info.task.strip().splitlines()[0][:70] if info.task.strip() else "(no task recorded)"
    return f"{info.id}  {info.created[:16].replace('T', ' ')}  {task}"


class SessionPickerScreen(ModalScreen[str | None]):
    """Answers the chosen session's ID, or None (Esc) for a new session."""

    BINDINGS = [Binding("escape", "cancel", "new session")]

    def __init__(self, sessions: list[SessionInfo]) -> None:
        super().__init__()
        self.sessions = sessions

    def compose(self) -> ComposeResult:
        with Vertical(id="session-picker"):
            yield Static("Resume a session · Enter opens it · Esc starts a new one", id="picker-title")
            yield OptionList(*[Option(describe_session(s), id=s.id) for s in self.sessions])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
