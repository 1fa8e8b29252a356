"""heron against a real llama-server with real weights (Qwen2.5-Coder-0.5B, CPU).

The model is weak: it repeats calls and rarely solves anything. These tests check the protocol and
heron's behaviour — calls parsed, tools run, streams assembled, runs ending cleanly — not the task.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import make_repo, run_heron

pytestmark = pytest.mark.real_server

ISSUE = "Read the file notes.txt with the read_file tool, then call finish with a one-line summary."


def events_of(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_fix_with_native_streamed_tool_calls(tmp_path, home, qwen_tools_server):
    repo = tmp_path / "tiny"
    make_repo(repo, {"notes.txt": "remember the milk\n"})
    result = run_heron(["fix", ISSUE, "--repo", str(repo), "--base-url", qwen_tools_server.base_url,
                        "--max-steps", "3", "--json", "--yes"], home, timeout=600)
    assert result.returncode in (0, 1), result.stderr
    events = events_of(result.stdout)
    turns = [e for e in events if e["type"] == "assistant_turn"]
    assert turns and turns[0]["tool_calls"], "the server returned native tool calls"
    started = [e for e in events if e["type"] == "tool_started"]
    assert started and started[0]["name"] in {"todo", "read_file", "finish", "shell"}
    assert any(e["type"] == "text_delta" or e["type"] == "tool_finished" for e in events)
    usage = [e for e in events if e["type"] == "usage"]
    assert usage and usage[0]["prompt_tokens"] > 0
    assert events[-1]["type"] == "done"
