"""Slash commands: the built-in ones, and the user's own from Markdown files in .heron/commands/.

A user command is a file `.heron/commands/NAME.md`; `/NAME words` sends its text to the model with
`$ARGUMENTS` replaced by the words (or the words appended when the file does not use it). An
optional first line `description: …` is shown in the completion list and /help, not sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BUILTIN: dict[str, str] = {
    "help": "the commands and keys",
    "diff": "what changed in the working tree (git diff)",
    "model": "list the server's models, or switch: /model NAME",
    "mode": "show or set the mode: plan, read-only, ask, auto-edit, full-auto",
    "plan": "plan mode: explore read-only, write a plan to review (/plan TASK starts at once)",
    "undo": "put back the files as they were before the last turn (/undo N: the last N turns)",
    "commit": "commit the agent's changes, with a message the model writes (/commit SUMMARY to steer it)",
    "compact": "summarize the older turns now, to free the window",
    "pin": "/pin FACT: keep FACT in front of the model, even after compaction",
    "map": "show the repo map the model gets (/map TASK: ranked for TASK)",
    "mcp": "the MCP servers, their state and their tools",
    "sessions": "list this repository's recorded sessions",
    "resume": "continue a recorded session (/resume ID, or choose from a list)",
    "clear": "start a new conversation (the old one stays in /sessions)",
    "quit": "leave heron",
}

KEYS = """\
Enter send · Ctrl+J / Shift+Enter new line · ↑/↓ history · Tab complete (/command, @path)
Esc interrupt the model or command · Shift+Tab cycle mode · Ctrl+B side panel
PageUp/PageDown scroll · Ctrl+C twice quit"""


@dataclass(frozen=True)
class UserCommand:
    name: str
    description: str
    template: str

    def expand(self, arguments: str) -> str:
        if "$ARGUMENTS" in self.template:
            return self.template.replace("$ARGUMENTS", arguments)
        return f"{self.template}\n\n{arguments}".strip() if arguments else self.template


def user_commands(workspace: Path) -> dict[str, UserCommand]:
    folder = workspace / ".heron" / "commands"
    if not folder.is_dir():
        return {}
    found = {}
    for path in sorted(folder.glob("*.md")):
        name = path.stem
        if name in BUILTIN:
            continue  # a built-in keeps its meaning
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            continue
        first, _, rest = text.partition("\n")
        if first.lower().startswith("description:"):
            description, template = first.split(":", 1)[1].strip(), rest.strip()
        else:
            description, template = first.lstrip("# ").strip()[:80], text
        found[name] = UserCommand(name, description, template)
    return found


def parse(text: str) -> tuple[str, str] | None:
    """("name", "arguments") for a slash command, None for a message to the model."""
    if not text.startswith("/") or text.startswith("//"):
        return None
    name, _, arguments = text[1:].partition(" ")
    return name.strip(), arguments.strip()


def help_text(user: dict[str, UserCommand]) -> str:
    lines = [f"/{name:<9} {help}" for name, help in BUILTIN.items()]
    lines += [f"/{c.name:<9} {c.description} (.heron/commands/{c.name}.md)" for c in user.values()]
    return "\n".join(lines) + "\n\n" + KEYS
