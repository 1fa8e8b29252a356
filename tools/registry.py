"""The tools heron offers, registered explicitly in one list."""

from __future__ import annotations

from tools.base import Tool
from tools.files import edit_file, read_file, write_file
from tools.plan import finish, todo
from tools.shell import shell
from tools.symbols import symbols

DEFAULT_TOOLS: tuple[Tool, ...] = (todo, read_file, write_file, edit_file, shell, symbols, finish)
