"""Every text the model reads lives here as a file; `render` fills in its variables."""

from __future__ import annotations

import string
from importlib import resources

from agent.errors import HeronError


def render(name: str, **values: object) -> str:
    """Fill `prompts/<name>.md`; a missing variable is a bug, so it fails loudly."""
    text = resources.files(__name__).joinpath(f"{name}.md").read_text(encoding="utf-8")
    try:
        return string.Template(text).substitute(values)
    except KeyError as e:
        raise HeronError(f"prompt '{name}' needs a value for {e.args[0]}") from None
