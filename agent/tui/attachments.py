"""Images the user attaches to a message: `@shot.png`, or the path of an image file pasted (or
dropped) into the input box. The words go to the model as typed; the images go with them.

An `@` mention of an image is a request: if the file cannot be read as an image the message is not
sent. A bare path is attached only when it is an absolute path (`/…`, `~/…`, `file://…`, as
terminals paste them) of an image file that exists, so prose that names `/static/logo.png` is
left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from agent.images import Picture, is_image_path, load_picture

# A word of the message: a quoted path (as terminals paste one with spaces), or a run of
# non-space characters in which `\ ` is an escaped space.
WORD = re.compile(r"""'([^'\n]+)'|"([^"\n]+)"|((?:\\ |\S)+)""")
TRAILING = ".,;:!?)]}'\""


@dataclass(frozen=True)
class Attachment:
    name: str  # as the user wrote it
    picture: Picture

    @property
    def label(self) -> str:
        return f"{self.name} ({self.picture.width}×{self.picture.height})"


def image_paths(text: str, workspace: Path) -> dict[str, Path]:
    """The image files the message attaches, by the name the user wrote, in order."""
    found: dict[str, Path] = {}
    for match in WORD.finditer(text):
        word = next(group for group in match.groups() if group is not None)
        mentioned = word.startswith("@")
        name = word.removeprefix("@").replace("\\ ", " ").rstrip(TRAILING)
        if name.startswith("file://"):
            name = unquote(urlparse(name).path)
        if not name or not is_image_path(name):
            continue
        path = Path(name).expanduser()
        if mentioned:
            found.setdefault(name, workspace / path)  # an absolute path stays itself
        elif path.is_absolute() and _is_file(path):
            found.setdefault(name, path)
    return found


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system is not a file
        return False


def attach(text: str, workspace: Path) -> list[Attachment]:
    """Each image the message attaches, loaded and downscaled; ImageError names one that is not."""
    return [Attachment(name, load_picture(path)) for name, path in image_paths(text, workspace).items()]
