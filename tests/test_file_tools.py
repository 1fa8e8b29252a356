"""read_file, write_file, edit_file on real files: read stamps, bytes kept, diffs, syntax warnings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tools.base import Tool, ToolContext, ToolError, ToolResult
from tools.files import edit_file, read_file, write_file


def run(tool: Tool, ctx: ToolContext, **args: Any) -> ToolResult:
    return tool.run(tool.args_model(**args), ctx)


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(workspace=tmp_path)


def put(ctx: ToolContext, name: str, data: bytes) -> Path:
    path = ctx.workspace / name
    path.write_bytes(data)
    return path


def test_editing_an_unread_file_is_refused(ctx):
    path = put(ctx, "a.py", b"x = 1\n")
    with pytest.raises(ToolError, match="you have not read a.py in this session; read it with read_file"):
        run(edit_file, ctx, path="a.py", old="x = 1", new="x = 2")
    with pytest.raises(ToolError, match="you have not read a.py"):
        run(write_file, ctx, path="a.py", content="y = 1\n")
    assert path.read_bytes() == b"x = 1\n"


def test_a_file_changed_on_disk_since_it_was_read_is_refused(ctx):
    path = put(ctx, "a.py", b"x = 1\n")
    run(read_file, ctx, path="a.py")
    path.write_bytes(b"x = 1\ny = 2\n")
    with pytest.raises(ToolError, match="a.py changed on disk since you read it; read it again"):
        run(edit_file, ctx, path="a.py", old="x = 1", new="x = 3")
    run(read_file, ctx, path="a.py")
    run(edit_file, ctx, path="a.py", old="x = 1", new="x = 3")
    # heron's own edit keeps the stamp current: a second edit needs no new read.
    run(edit_file, ctx, path="a.py", old="y = 2", new="y = 4")
    assert path.read_bytes() == b"x = 3\ny = 4\n"


def test_writing_a_new_file_needs_no_read(ctx):
    result = run(write_file, ctx, path="pkg/new.py", content="def f():\n    return 1\n")
    assert result.output.startswith("Created pkg/new.py (2 lines).")
    assert "+def f():" in result.data["diff"]
    assert (ctx.workspace / "pkg/new.py").read_text() == "def f():\n    return 1\n"


def test_every_edit_returns_its_unified_diff(ctx):
    put(ctx, "a.py", b"def f():\n    return 1\n")
    run(read_file, ctx, path="a.py")
    result = run(edit_file, ctx, path="a.py", old="return 1", new="return 2")
    diff = result.data["diff"]
    assert diff.startswith("--- a/a.py\n+++ b/a.py\n")
    assert "-    return 1\n+    return 2\n" in diff
    assert diff in result.output and result.output.startswith("Edited a.py at line 2.")


def test_a_tolerant_match_says_which_rule_matched(ctx):
    put(ctx, "a.py", b"class A:\n    def f(self):\n        return 1\n")
    run(read_file, ctx, path="a.py")
    result = run(edit_file, ctx, path="a.py", old="def f(self):\n    return 1", new="def f(self):\n    return 2")
    assert "by the indentation rule" in result.output
    assert (ctx.workspace / "a.py").read_text() == "class A:\n    def f(self):\n        return 2\n"


def test_ambiguous_old_is_refused_with_line_numbers(ctx):
    path = put(ctx, "a.py", b"x = 1\ny = 2\nx = 1\n")
    run(read_file, ctx, path="a.py")
    with pytest.raises(ToolError, match=r"a.py: old text matches 2 places \(lines 1, 3\)"):
        run(edit_file, ctx, path="a.py", old="x = 1", new="x = 9")
    assert path.read_bytes() == b"x = 1\ny = 2\nx = 1\n"
    run(edit_file, ctx, path="a.py", old="x = 1", new="x = 9", replace_all=True)
    assert path.read_bytes() == b"x = 9\ny = 2\nx = 9\n"


def test_crlf_endings_are_kept(ctx):
    path = put(ctx, "a.py", b"def f():\r\n    return 1\r\n\r\nprint(f())\r\n")
    shown = run(read_file, ctx, path="a.py").output
    assert "\r" not in shown
    run(edit_file, ctx, path="a.py", old="def f():\n    return 1\n", new="def f():\n    x = 2\n    return x\n")
    assert path.read_bytes() == b"def f():\r\n    x = 2\r\n    return x\r\n\r\nprint(f())\r\n"
    run(write_file, ctx, path="a.py", content="a = 1\nb = 2\n")
    assert path.read_bytes() == b"a = 1\r\nb = 2\r\n"


def test_a_utf8_bom_is_kept(ctx):
    path = put(ctx, "a.py", b"\xef\xbb\xbfname = 'caf\xc3\xa9'\n")
    assert run(read_file, ctx, path="a.py").output == "1\tname = 'café'"
    run(edit_file, ctx, path="a.py", old="café", new="thé")
    assert path.read_bytes() == b"\xef\xbb\xbfname = 'th\xc3\xa9'\n"


def test_a_utf16_file_with_bom_is_kept(ctx):
    path = put(ctx, "a.txt", "\ufeffhello\nworld\n".encode("utf-16-le"))
    run(read_file, ctx, path="a.txt")
    run(edit_file, ctx, path="a.txt", old="world", new="there")
    assert path.read_bytes() == "\ufeffhello\nthere\n".encode("utf-16-le")


def test_no_final_newline_stays_so(ctx):
    path = put(ctx, "a.txt", b"one\ntwo")
    run(read_file, ctx, path="a.txt")
    run(edit_file, ctx, path="a.txt", old="one", new="uno")
    assert path.read_bytes() == b"uno\ntwo"
    run(edit_file, ctx, path="a.txt", old="two", new="dos\n")
    assert path.read_bytes() == b"uno\ndos"
    run(write_file, ctx, path="a.txt", content="tres\n")
    assert path.read_bytes() == b"tres"


def test_a_final_newline_stays_too(ctx):
    path = put(ctx, "a.txt", b"one\ntwo\n")
    run(read_file, ctx, path="a.txt")
    run(write_file, ctx, path="a.txt", content="three")
    assert path.read_bytes() == b"three\n"


def test_non_utf8_bytes_survive_an_edit_elsewhere(ctx):
    # Mostly UTF-8 with one stray Latin-1 byte: that byte is kept exactly.
    data = "# caf\u00e9\n".encode() + b"label = 'na\xefve'\nx = 1\n"
    path = put(ctx, "a.py", data)
    shown = run(read_file, ctx, path="a.py").output
    assert "na\ufffdve" in shown and "café" in shown
    result = run(edit_file, ctx, path="a.py", old="x = 1", new="x = 2")
    assert path.read_bytes() == data.replace(b"x = 1", b"x = 2")
    assert "\udcef" not in result.output
    # A line holding the undecodable byte can be edited from what read_file showed.
    run(edit_file, ctx, path="a.py", old="label = 'na\ufffdve'", new="label = 'naive'")
    assert b"label = 'naive'\n" in path.read_bytes()


def test_a_latin1_file_is_read_and_written_as_latin1(ctx):
    path = put(ctx, "a.txt", b"caf\xe9 cr\xe8me\nend\n")
    assert run(read_file, ctx, path="a.txt").output == "1\tcafé crème\n2\tend"
    run(edit_file, ctx, path="a.txt", old="end", new="fin é")
    assert path.read_bytes() == b"caf\xe9 cr\xe8me\nfin \xe9\n"
    with pytest.raises(ToolError, match="latin-1, which cannot hold '→'"):
        run(edit_file, ctx, path="a.txt", old="fin", new="→")
    assert path.read_bytes() == b"caf\xe9 cr\xe8me\nfin \xe9\n"


def test_binary_files_are_refused(ctx):
    put(ctx, "a.bin", b"\x00\x01\x02")
    with pytest.raises(ToolError, match="a.bin is a binary file"):
        run(read_file, ctx, path="a.bin")


def test_syntax_errors_the_edit_introduced_are_reported_with_lines(ctx):
    put(ctx, "a.py", b"def f(x):\n    return x\n\n\ndef g(:\n    pass\n")
    run(read_file, ctx, path="a.py")
    result = run(edit_file, ctx, path="a.py", old="def f(x):", new="def f(x:")
    assert "Warning: this edit introduced syntax errors: line 1:" in result.output
    assert len(result.data["syntax_errors"]) == 1  # g's older error is not blamed on this edit
    clean = run(edit_file, ctx, path="a.py", old="def f(x:", new="def f(x):")
    assert "syntax errors" not in clean.output and "syntax_errors" not in clean.data


def test_files_of_unknown_languages_get_no_syntax_check(ctx):
    put(ctx, "notes.txt", b"(unbalanced\n")
    run(read_file, ctx, path="notes.txt")
    result = run(edit_file, ctx, path="notes.txt", old="(unbalanced", new="((still")
    assert "syntax" not in result.output
