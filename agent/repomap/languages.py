"""Which tree-sitter grammar reads which file, and one cached parser per language."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from tree_sitter import Language, Parser
from tree_sitter_language_pack import get_language, get_parser

# File endings of the languages heron understands, mapped to tree-sitter-language-pack names.
EXTENSIONS: dict[str, str] = {
    ".py": "python", ".pyi": "python",
    ".js": "javascript", ".jsx": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".go": "go", ".rs": "rust", ".java": "java",
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp",
    ".cs": "csharp", ".rb": "ruby", ".php": "php",
    ".kt": "kotlin", ".kts": "kotlin", ".swift": "swift", ".scala": "scala", ".sc": "scala",
    ".sh": "bash", ".bash": "bash", ".lua": "lua",
}


def language_of(path: str | Path) -> str | None:
    return EXTENSIONS.get(Path(path).suffix.lower())


@lru_cache(maxsize=None)
def parser(language: str) -> Parser:
    return get_parser(language)  # type: ignore[arg-type]


@lru_cache(maxsize=None)
def grammar(language: str) -> Language:
    return get_language(language)  # type: ignore[arg-type]
