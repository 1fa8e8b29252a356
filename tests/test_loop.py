"""The loop and its dispatcher: a scripted model, real tools in a temporary repository."""

from __future__ import annotations

from pathlib import Path

from agent.config import Config, Mode
from agent.core.build import Role, open_session
from agent.core.session import AnswerApproval, Session
from agent.events import ApprovalNeeded, ApprovalRequested, Event, ToolFinished, ToolStarted
from agent.interfaces import Answer
from tests.conftest import make_repo
from tests.fakes.openai_server import Call, FakeOpenAIServer, Reply, call, tool_reply


def runtime(server: FakeOpenAIServer, repo: Path, events: list[Event], mode: str = "full-auto",
            answer: Answer | None = Answer.NO, emit=None, **config: object) -> Session:
    cfg = Config(base_url=server.base_url, max_retries=0, approval=mode, **config)  # type: ignore[arg-type]
    return open_session(cfg, repo, emit or events.append, Role(default_mode=Mode(mode), answer=answer))


def tool_messages(server: FakeOpenAIServer) -> list[str]:
    return [m["content"] for m in server.chat_requests[-1]["messages"] if m["role"] == "tool"]


def test_tool_errors_go_back_to_the_model(tmp_path, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.txt": "hello\n"})
    fake_server.script(
        tool_reply(call("paint", colour="red")),
        tool_reply(Call("read_file", '{"path": "a.txt",')),
        tool_reply(call("read_file", limit=3)),
        tool_reply(call("read_file", path="../../etc/passwd")),
        tool_reply(call("edit_file", path="a.txt", old="hello", new="x")),
        tool_reply(call("read_file", path="a.txt")),
        tool_reply(call("edit_file", path="a.txt", old="absent", new="x")),
        Reply(text="I give up."),
    )
    events: list[Event] = []
    rt = runtime(fake_server, repo, events)
    outcome = rt.turn("do it")
    rt.close()
    assert outcome.status == "answered" and outcome.summary == "I give up."
    errors = tool_messages(fake_server)
    assert errors[0].startswith("unknown tool 'paint'; the tools are: todo, read_file")
    assert "must be a JSON object" in errors[1]
    assert "bad arguments for read_file: path: Field required" in errors[2]
    assert "outside the workspace" in errors[3]
    assert "refused: you have not read a.txt in this session" in errors[4]
    assert errors[6].startswith("a.txt: old text not found")
    finished = [e.is_error for e in events if isinstance(e, ToolFinished)]
    assert finished == [True, True, True, True, True, False, True]


def test_step_limit_ends_the_run(tmp_path, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.txt": "x\n"})
    fake_server.script(*[tool_reply(call("read_file", path="a.txt")) for _ in range(3)])
    rt = runtime(fake_server, repo, [], max_steps=3)
    outcome = rt.turn("loop forever")
    rt.close()
    assert outcome.status == "step_limit"


def test_every_call_of_a_turn_is_answered_even_after_finish(tmp_path, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.txt": "x\n"})
    fake_server.script(tool_reply(call("finish", summary="done"), call("read_file", path="a.txt")))
    rt = runtime(fake_server, repo, [])
    assert rt.turn("go").status == "finished"
    ids = [c["id"] for c in rt.messages[-3]["tool_calls"]]
    answers = [m["tool_call_id"] for m in rt.messages if m["role"] == "tool"]
    assert answers == ids
    rt.close()


def test_policy_asks_and_a_refusal_reaches_the_model(tmp_path, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.txt": "x\n"})
    fake_server.script(
        tool_reply(call("shell", command="touch made-by-shell")),
        tool_reply(call("write_file", path="b.txt", content="new\n")),
        tool_reply(call("shell", command="git push origin main")),
        Reply(text="ok"),
    )
    asked = []
    events: list[Event] = []

    def emit(event: Event) -> None:  # the user answers each approval through the session
        events.append(event)
        if isinstance(event, ApprovalNeeded):
            request = event.request
            asked.append(request)
            answer = (AnswerApproval(request.call_id, Answer.NO, "not now") if request.kind == "shell"
                      else AnswerApproval(request.call_id, Answer.YES))
            rt.send(answer)

    rt = runtime(fake_server, repo, events, mode="ask", answer=None, emit=emit)
    rt.turn("go")
    rt.close()
    outputs = tool_messages(fake_server)
    assert outputs[0] == "the user did not approve this shell call: not now"
    assert not (repo / "made-by-shell").exists()
    assert (repo / "b.txt").read_text() == "new\n"
    assert "refused: git push origin main (matches the deny rule 'git push*')" in outputs[2]
    assert [r.subject for r in asked] == ["touch made-by-shell", "b.txt"]
    assert [e.approved for e in events if isinstance(e, ApprovalRequested)] == [False, True]


def test_read_only_mode_refuses_edits(tmp_path, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.txt": "x\n"})
    fake_server.script(tool_reply(call("write_file", path="a.txt", content="y\n")), Reply(text="ok"))
    rt = runtime(fake_server, repo, [], mode="read-only")
    rt.turn("go")
    rt.close()
    assert "read-only mode refuses edit tools" in tool_messages(fake_server)[0]
    assert (repo / "a.txt").read_text() == "x\n"


def test_each_request_extends_the_previous_one(tmp_path, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.txt": "x\n"})
    fake_server.script(
        Reply(reasoning="look first", tool_calls=[call("read_file", path="a.txt")]),
        tool_reply(call("shell", command="echo hi")),
        tool_reply(call("finish", summary="done")),
    )
    rt = runtime(fake_server, repo, [])
    rt.turn("go")
    rt.close()
    requests = fake_server.chat_requests
    for before, after in zip(requests, requests[1:]):
        assert after["tools"] == before["tools"]
        assert after["messages"][: len(before["messages"])] == before["messages"]
    assert requests[1]["messages"][2]["reasoning_content"] == "look first"


def test_finish_gets_its_tool_finished_event_like_every_call(tmp_path, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.txt": "x\n"})
    fake_server.script(tool_reply(call("read_file", path="a.txt"), call("finish", summary="done")))
    events: list[Event] = []
    rt = runtime(fake_server, repo, events)
    outcome = rt.turn("read and finish")
    rt.close()
    assert outcome.status == "finished" and outcome.summary == "done"
    started = [e.call_id for e in events if isinstance(e, ToolStarted)]
    finished = [(e.call_id, e.name, e.output) for e in events if isinstance(e, ToolFinished)]
    assert [c for c, _, _ in finished] == started
    assert finished[-1][1:] == ("finish", "Task marked as finished.")
