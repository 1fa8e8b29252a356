"""The side panel's list of files the agent changed in this session."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class FilesPanel(Static):
    def __init__(self) -> None:
        super().__init__(id="files")
        self.border_title = "Files touched"
        self.paths: list[str] = []
        self._render_paths()

    def touch(self, path: str) -> None:
        if path and path not in self.paths:
            self.paths.append(path)
            self._render_paths()

    def reset(self) -> None:
        self.paths.clear()
        self._render_paths()

    def _render_paths(self) -> None:
        self.update(Text("\n".join(self.paths)) if self.paths else Text("none yet", style="dim"))
