"""Surviving broken servers end to end: text protocol when `tools` is refused, a stream cut inside
a call, and a model that keeps making invalid calls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.config import Config, Mode
from agent.core.build import Role, open_session
from agent.core.session import Session
from agent.events import Event, StreamRestarted, ToolFinished, Warning
from agent.interfaces import Answer
from tests.conftest import make_repo, run_heron
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call, tool_reply


def runtime(server: FakeOpenAIServer, repo: Path, events: list[Event], **config: object) -> Session:
    options: dict[str, object] = {"max_retries": 0, **config}
    cfg = Config(base_url=server.base_url, approval="full-auto", **options)  # type: ignore[arg-type]
    return open_session(cfg, repo, events.append, Role(default_mode=Mode.FULL_AUTO, answer=Answer.NO))


@pytest.mark.parametrize("kind", ["llama-server", "vllm", "ollama", "lmstudio"])
def test_a_server_that_rejects_tools_gets_the_text_protocol(tmp_path, fake_servers, kind):
    server = fake_servers(kind=kind, rejects_tools=True)
    repo = tmp_path / "r"
    make_repo(repo, {"a.txt": "hello\n"})
    server.script(
        Reply(text='Reading.\n<tool_call>\n{"name": "read_file", "arguments": {"path": "a.txt"}}\n</tool_call>'),
        Reply(text="<tool_call>\n<function=finish>\n<parameter=summary>\nread it\n</parameter>\n</function>\n</tool_call>"),
    )
    events: list[Event] = []
    rt = runtime(server, repo, events)
    outcome = rt.turn("read a.txt")
    rt.close()
    assert (outcome.status, outcome.summary) == ("finished", "read it")
    assert [e.output for e in events if isinstance(e, ToolFinished)][0].endswith("hello")
    warnings = [e.message for e in events if isinstance(e, Warning)]
    assert any("does not take tools" in w for w in warnings)
    rejected, first, second = server.chat_requests
    assert rejected["tools"] and "tools" not in first and "tools" not in second
    system = first["messages"][0]["content"]
    assert system.startswith("You are heron") and '"name": "read_file"' in system and "<tool_call>" in system
    # History in the text protocol: the call as text, the result as a user turn; still a prefix.
    assert second["messages"][: len(first["messages"])] == first["messages"]
    assistant, result = second["messages"][-2:]
    assert assistant["role"] == "assistant" and "tool_calls" not in assistant
    assert '<tool_call>\n{"name": "read_file", "arguments": {"path": "a.txt"}}\n</tool_call>' in assistant["content"]
    assert result["role"] == "user" and result["content"].startswith("<tool_response>\n")


def test_a_stream_cut_inside_a_written_call_is_retried_not_half_run(tmp_path, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.txt": "x\n"})
    xml = ("<tool_call>\n<function=write_file>\n<parameter=path>\nout.txt\n</parameter>\n"
           "<parameter=content>\nall of it\n</parameter>\n</function>\n</tool_call>")
    fake_server.script(Reply(text=xml, cut_after_chunks=12), Reply(text=xml), Reply(text="done"))
    events: list[Event] = []
    rt = runtime(fake_server, repo, events, max_retries=1)
    rt.turn("write it")
    rt.close()
    assert sum(isinstance(e, StreamRestarted) for e in events) == 1
    assert (repo / "out.txt").read_text() == "all of it"


def test_a_stream_cut_inside_a_call_with_no_retries_left_runs_nothing(tmp_path, home, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.txt": "x\n"})
    fake_server.script(Reply(text="<tool_call>\n<function=shell>\n<parameter=command>\ntouch made\n</parameter>\n"
                                  "</function>\n</tool_call>", cut_after_chunks=9))
    result = run_heron(["fix", "make a file", "--repo", str(repo), "--base-url", fake_server.base_url, "--yes"], home)
    assert result.returncode == 3, result.stderr
    assert "broke off the answer" in result.stderr and "Traceback" not in result.stderr
    assert not (repo / "made").exists()


def test_repeated_invalid_calls_stop_the_run_with_a_reason(tmp_path, home, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.txt": "x\n"})
    fake_server.script(
        tool_reply(call("paint", colour="red")),
        tool_reply(call("read_file", limit=3)),
        Reply(text='<tool_call>{"name": "read_file", "arguments": {"path": 7}}</tool_call>'),
        tool_reply(call("paint", colour="blue")),
    )
    result = run_heron(["fix", "do it", "--repo", str(repo), "--base-url", fake_server.base_url, "--json"], home)
    assert result.returncode == 1, result.stderr
    done = json.loads(result.stdout.splitlines()[-1])
    assert done["status"] == "not_fixed"
    assert done["summary"].startswith("stopped: the model made 4 invalid tool calls in a row (the last: unknown tool 'paint'")


def test_a_valid_call_resets_the_count(tmp_path, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.txt": "x\n"})
    bad = tool_reply(call("paint", colour="red"))
    fake_server.script(bad, bad, bad, tool_reply(call("read_file", path="a.txt")), bad, bad, bad, Reply(text="ok"))
    rt = runtime(fake_server, repo, [])
    assert rt.turn("go").status == "answered"
    rt.close()
