"""grep and find_files: ripgrep and the Python fallback agree; .gitignore honoured; results capped."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.test_file_tools import run
from tools.base import ToolContext, ToolError
from tools.search import (
    MAX_FILES,
    MAX_MATCHES,
    Hit,
    find_files,
    grep,
    python_grep,
    render_hits,
    rg_files,
    rg_grep,
    walk_files,
)

needs_rg = pytest.mark.skipif(
    not shutil.which("rg") and os.environ.get("CI") != "true",
    reason="ripgrep is not installed (under CI it must be, and these tests fail without it)",
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    files = {
        ".gitignore": "build/\n*.log\n!keep.log\n/top.txt\n",
        "src/app.py": "def main():\n    return helper()\n\n\ndef helper():\n    return 42\n",
        "src/util.py": "# helper functions\nVALUE = 42\n",
        "src/sub/.gitignore": "generated.py\n",
        "src/sub/generated.py": "helper = 1\n",
        "src/sub/real.py": "from app import helper\r\nhelper()\r\n",
        "src/build/x.py": "helper\n",
        "build/out.py": "helper\n",
        "debug.log": "helper\n",
        "keep.log": "helper line\n",
        "top.txt": "helper\n",
        "docs/top.txt": "helper at depth\n",
        ".hidden/h.py": "helper\n",
        "notes.md": "Helper in prose. Helpers.\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(text.encode())
    (tmp_path / "blob.bin").write_bytes(b"helper\x00\x01")
    (tmp_path / "latin.txt").write_bytes(b"helper caf\xe9\n")
    return tmp_path


@needs_rg
@pytest.mark.parametrize("pattern,context,flags", [
    ("helper", 0, 0), ("helper", 2, 0), (r"^def \w+\(", 1, 0), ("HELPER", 0, re.IGNORECASE),
    (r"42$", 0, 0), ("absent", 0, 0),
])
@pytest.mark.parametrize("where", [".", "src", "build", "src/app.py"])
def test_ripgrep_and_the_fallback_find_the_same(tree, pattern, context, flags, where):
    target = tree / where
    ours = sorted(python_grep(tree, target, re.compile(pattern, flags), context))
    theirs = sorted(rg_grep(tree, target, pattern, context, bool(flags)))
    assert ours == theirs


@needs_rg
@pytest.mark.parametrize("where", [".", "src", "build", ".hidden"])
def test_ripgrep_and_the_fallback_list_the_same_files(tree, where):
    assert sorted(walk_files(tree, tree / where)) == sorted(rg_files(tree, tree / where))


def test_gitignore_hidden_and_binary_files_are_skipped(tree):
    assert sorted(walk_files(tree, tree)) == [
        "blob.bin", "docs/top.txt", "keep.log", "latin.txt", "notes.md", "src/app.py", "src/sub/real.py", "src/util.py",
    ]
    hits = python_grep(tree, tree, re.compile("helper"), 0)
    assert "blob.bin" not in {h.path for h in hits}
    assert Hit("latin.txt", 1, "helper caf\ufffd", True) in hits


def test_grep_output_with_context_and_glob(tree):
    ctx = ToolContext(workspace=tree)
    out = run(grep, ctx, pattern="return", glob="src/*.py", context=1).output
    assert out == ("src/app.py-1-def main():\nsrc/app.py:2:    return helper()\nsrc/app.py-3-\n--\n"
                   "src/app.py-5-def helper():\nsrc/app.py:6:    return 42")
    assert run(grep, ctx, pattern="(", literal=True, glob="src/sub/*").output == "src/sub/real.py:2:helper()"
    assert run(grep, ctx, pattern="nothing here").output == "No matches."
    with pytest.raises(ToolError, match="bad regular expression 'helper\\('"):
        run(grep, ctx, pattern="helper(")


def test_grep_caps_matches_and_counts_the_rest(tmp_path):
    for k in range(3):
        (tmp_path / f"f{k}.txt").write_text("hit\n" * 60)
    out = run(grep, ToolContext(workspace=tmp_path), pattern="hit").output.splitlines()
    assert len([s for s in out if ":hit" in s]) == MAX_MATCHES
    assert out[-1] == "[80 more matches in 1 more files not shown; narrow the pattern, path or glob]"


def test_render_counts_the_rest_of_a_partly_shown_file():
    hits = [Hit("a", n, "x", True) for n in range(1, MAX_MATCHES + 6)]
    assert render_hits(hits).splitlines()[-1] == "[5 more matches not shown; narrow the pattern, path or glob]"


def test_find_files_globs_and_caps(tree, tmp_path):
    ctx = ToolContext(workspace=tree)
    assert run(find_files, ctx, glob="*.py").output.splitlines() == ["src/app.py", "src/sub/real.py", "src/util.py"]
    assert run(find_files, ctx, glob="src/*.py").output.splitlines() == ["src/app.py", "src/util.py"]
    assert run(find_files, ctx, glob="**/top.txt").output == "docs/top.txt"
    assert run(find_files, ctx, glob="*.rs").output == "No files match *.rs."
    many = tmp_path / "many"
    many.mkdir()
    for k in range(MAX_FILES + 7):
        (many / f"{k:04}.txt").write_text("")
    out = run(find_files, ToolContext(workspace=many), glob="*.txt").output.splitlines()
    assert len(out) == MAX_FILES + 1 and out[-1] == "[7 more files not shown; narrow the glob or path]"


def test_grep_names_secret_files_and_shows_none_of_their_lines(tmp_path):
    (tmp_path / "app.py").write_text("API_URL = 'https://example.com'\n")
    (tmp_path / "server.pem").write_text("API_URL private material\n")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/.env").write_text("API_URL=https://secret.example.com\n")
    (tmp_path / "conf/tls.crt").write_text("API_URL public\n")
    ctx = ToolContext(workspace=tmp_path, secret_files=("*.pem", ".env", "*.crt"))
    out = run(grep, ctx, pattern="API_URL").output
    assert out == ("app.py:1:API_URL = 'https://example.com'\n"
                   "[matches in secret files not shown: conf/tls.crt, server.pem; "
                   "read_file shows such a file with its secrets replaced]")
    named = run(grep, ctx, pattern="API_URL", path="conf/.env").output
    assert "secret.example.com" not in named and "conf/.env" in named
    # By default, .crt files are not secret.
    assert "API_URL public" in run(grep, ToolContext(workspace=tmp_path), pattern="API_URL").output
