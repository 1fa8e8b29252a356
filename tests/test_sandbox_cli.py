"""The sandbox setting as a user meets it through `heron fix`: the real CLI as a subprocess."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import make_repo, run_heron
from tests.fakes.openai_server import FakeOpenAIServer, call, tool_reply


def test_require_without_bubblewrap_runs_under_landlock_and_says_so(tmp_path: Path, home: Path,
                                                                     fake_server: FakeOpenAIServer) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, {"a.txt": "a\n"})
    path = tmp_path / "bin-without-bwrap"
    path.mkdir()
    for command in ("git", "bash", "setsid", "cat"):  # what heron and this script need, no bwrap
        (path / command).symlink_to(shutil.which(command))
    fake_server.script(tool_reply(call("shell", command="cat /etc/shadow; echo hi > a.txt; cat a.txt")),
                       tool_reply(call("finish", summary="done")))
    result = run_heron(["fix", "x", "--repo", str(repo), "--base-url", fake_server.base_url,
                        "--sandbox", "require", "--yes", "--json"], home, PATH=str(path))
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    warnings = [e["message"] for e in events if e["type"] == "warning"]
    assert any(w.startswith("bubblewrap (bwrap) is not installed, so the shell runs under Landlock") for w in warnings)
    ran = next(e for e in events if e["type"] == "tool_finished" and e["name"] == "shell")
    assert "/etc/shadow: Permission denied" in ran["output"] and ran["output"].endswith("hi")


def test_without_a_sandbox_a_warning_is_loud_and_every_command_asks(tmp_path: Path, home: Path,
                                                                     fake_server: FakeOpenAIServer) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, {"a.txt": "a\n"})
    fake_server.script(tool_reply(call("shell", command="echo hi > b.txt")),
                       tool_reply(call("finish", summary="tried")))
    result = run_heron(["fix", "x", "--repo", str(repo), "--base-url", fake_server.base_url,
                        "--sandbox", "off", "--json"], home)
    events = [json.loads(line) for line in result.stdout.splitlines()]
    warnings = [e["message"] for e in events if e["type"] == "warning"]
    assert warnings and "WITHOUT a sandbox" in warnings[0]
    refused = next(e for e in events if e["type"] == "tool_finished" and e["name"] == "shell")
    assert refused["is_error"] and "did not approve" in refused["output"]
    assert not (repo / "b.txt").exists()
