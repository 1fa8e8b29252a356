"""What slash commands may use of the app: a narrow protocol, so they never import the app itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol

from agent.core.session import Command, Session, Transcript
from agent.tui.commands import UserCommand
from agent.tui.entries import Entry


class Host(Protocol):
    workspace: Path
    mode: str
    act_mode: str  # the mode plan mode returns to
    running: bool
    last_summary: str
    user_commands: dict[str, UserCommand]
    session: Session | None  # None until connected
    recording: Transcript | None

    async def send(self, prompt: str, shown: str) -> None: ...

    async def say(self, text: str, level: str = "info") -> None: ...

    async def show(self, entry: Entry) -> None: ...

    def run_command(self, command: Command) -> None: ...

    def set_mode(self, mode: str) -> None: ...

    async def switch_session(self, session_id: str | None) -> None: ...

    def push_screen(self, screen: Any, callback: Callable[[Any], Any] | None = None) -> Any: ...

    def exit(self) -> None: ...
