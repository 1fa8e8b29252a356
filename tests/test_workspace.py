"""The file tools keep to the same workspace and protected paths as the sandboxed shell."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import make_repo
from tools.base import ToolContext, ToolError
from tools.files import EditFileArgs, ReadFileArgs, WriteFileArgs, edit_file, read_file, write_file


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    ws = tmp_path / "ws"
    make_repo(ws, {"a.txt": "a\n", ".bashrc": "# rc\n"})
    return ToolContext(ws.resolve())


def test_writes_to_protected_paths_are_refused(ctx: ToolContext) -> None:
    for path in (".git/hooks/pre-commit", ".git/config", ".bashrc", "./.git/hooks/../config"):
        with pytest.raises(ToolError, match="protected"):
            write_file.run(WriteFileArgs(path=path, content="evil"), ctx)
    with pytest.raises(ToolError, match="protected"):
        edit_file.run(EditFileArgs(path=".bashrc", old="# rc", new="evil"), ctx)
    assert read_file.run(ReadFileArgs(path=".git/config"), ctx).output  # reading is fine


def test_a_symlink_cannot_lead_out_or_into_a_protected_path(ctx: ToolContext, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (ctx.workspace / "out").symlink_to(outside)
    (ctx.workspace / "hooks").symlink_to(ctx.workspace / ".git/hooks")
    with pytest.raises(ToolError, match="outside the workspace"):
        write_file.run(WriteFileArgs(path="out/x", content="x"), ctx)
    with pytest.raises(ToolError, match="outside the workspace"):
        read_file.run(ReadFileArgs(path="out/../../outside/x"), ctx)
    with pytest.raises(ToolError, match="protected"):
        write_file.run(WriteFileArgs(path="hooks/pre-commit", content="x"), ctx)
    assert not (outside / "x").exists() and not (ctx.workspace / ".git/hooks/pre-commit").exists()


def test_editing_a_hardlink_never_writes_through_to_the_other_name(ctx: ToolContext, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me\n")
    os.link(outside, ctx.workspace / "linked.txt")
    read_file.run(ReadFileArgs(path="linked.txt"), ctx)
    edit_file.run(EditFileArgs(path="linked.txt", old="keep me", new="changed"), ctx)
    assert outside.read_text() == "keep me\n"
    assert (ctx.workspace / "linked.txt").read_text() == "changed\n"
