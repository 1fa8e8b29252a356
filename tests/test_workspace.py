"""The file tools keep to the same workspace and protected paths as the sandboxed shell, and every
tool output passes the redactor before the model sees it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agent.core.dispatch import Dispatcher, deny_all
from agent.core.events import Event, ToolFinished
from agent.core.policy import Policy
from agent.model.client import ToolCall
from agent.sandbox.bubblewrap import Sandbox
from agent.secrets import Redactor
from tests.conftest import make_repo
from tools.base import ToolContext, ToolError
from tools.files import EditFileArgs, ReadFileArgs, WriteFileArgs, edit_file, read_file, write_file
from tools.shell import shell


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


def test_secrets_are_redacted_from_every_tool_output(sandbox: Sandbox) -> None:
    ws = sandbox.workspace
    (ws / ".env").write_text("DEBUG=true\nexport DB_PASSWORD='hunter2hunter2'\n")
    (ws / "settings.py").write_text("KEY = 'sk-live-0123456789'\n")
    (ws / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA\n-----END OPENSSH PRIVATE KEY-----\n")
    ctx = ToolContext(ws, state={"sandbox": sandbox})
    events: list[Event] = []
    dispatcher = Dispatcher((shell, read_file), Policy(mode="full-auto"), deny_all, ctx,
                            redact=Redactor.from_env(ws, {"OPENAI_API_KEY": "sk-live-0123456789"}))
    try:
        out = dispatcher.call(ToolCall("1", "shell", json.dumps({"command": "cat .env settings.py id_rsa"})),
                              events.append).output
        read = dispatcher.call(ToolCall("2", "read_file", json.dumps({"path": ".env"})), events.append).output
    finally:
        ctx.close()
    for text in (out, read, *(e.output for e in events if isinstance(e, ToolFinished))):
        assert "hunter2" not in text and "sk-live" not in text and "b3BlbnNzaA" not in text
    assert "DEBUG=true" in out and "DB_PASSWORD='[redacted]'" in out and "KEY = '[redacted]'" in out
