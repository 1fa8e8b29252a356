"""The context: append-only requests, long outputs by handle, compaction, the meter.

A scripted server at the HTTP boundary, real tools in a temporary repository, the real loop.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.config import Config, Mode, load_config
from agent.context.history import DEFAULT_WINDOW, Budget, answer_tokens
from agent.context.transcript import Transcript, restore
from agent.core.build import Role, open_session
from agent.core.session import Compact, Pin, Session
from agent.errors import ContextOverflow, UsageError
from agent.events import CommandDone, Compacted, ContextMeter, Event, TextDelta
from agent.interfaces import Answer
from prompts import render
from tests.conftest import make_repo
from tests.fakes.openai_server import Call, FakeOpenAIServer, Reply, call, tool_reply
from tools.output_store import OutputStore
from tools.registry import DEFAULT_TOOLS

INSTRUCTIONS = "Run tests with `make check`.\nNever edit generated/ by hand.\n"
OVERFLOW = (400, "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens.")


def open_rt(server: FakeOpenAIServer, repo: Path, events: list[Event], session: Transcript | None = None,
            emit=None, **config: object) -> Session:
    cfg = Config(base_url=server.base_url, max_retries=0, approval="full-auto", **config)  # type: ignore[arg-type]
    return open_session(cfg, repo, emit or events.append, Role(default_mode=Mode.FULL_AUTO, answer=Answer.NO),
                        transcript=session)


def compact(rt: Session, events: list[Event]) -> Compacted | None:
    """/compact, applied as the core's thread would: here, the test's own."""
    rt.send(Compact())
    rt.apply_pending()
    assert isinstance(events[-1], CommandDone)
    return next((e for e in events if isinstance(e, Compacted) and e.reason == "requested"), None)


def big_file(n: int) -> str:
    return "".join(f"def function_{n}_{i}(value):\n    return value * {i} + {n}\n" for i in range(150))


def serialized(request: dict) -> str:
    return json.dumps(request["messages"], ensure_ascii=False)


def test_each_request_is_a_byte_prefix_of_the_next(tmp_path, fake_server):
    """A long session with reasoning, tool calls, tool errors, a long output, an interrupt and a
    repo-map refresh at a user turn: every request extends the one before, byte for byte."""
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "x = 1\n", "AGENTS.md": INSTRUCTIONS})
    fake_server.script(
        # user turn 1
        Reply(reasoning="plan first", tool_calls=[call("todo", items=[{"text": "look", "status": "in_progress"}])]),
        tool_reply(call("read_file", path="a.py"), call("read_file", path="missing.py")),
        tool_reply(call("shell", id="call_long", command="seq 1 20000")),
        tool_reply(call("read_output", handle="call_long", offset=9000, limit=5)),
        tool_reply(Call("edit_file", '{"path": "a.py",')),
        Reply(reasoning="enough", text="Looked around."),
        # user turn 2: interrupted while the answer streams
        Reply(text="!" * 400, chunk_delay=0.01),
        # user turn 3: the repo map has changed
        tool_reply(call("edit_file", path="a.py", old="x = 1", new="x = 2")),
        tool_reply(call("shell", command="false")),
        tool_reply(call("finish", summary="done")),
    )
    events: list[Event] = []

    def emit(event: Event) -> None:  # the user presses Esc as the second answer streams
        events.append(event)
        if isinstance(event, TextDelta) and "!" in event.text:
            rt.interrupt()

    rt = open_rt(fake_server, repo, events, emit=emit, map_tokens=500)
    assert rt.turn("look at a.py").status == "answered"
    assert rt.turn("now change it").status == "interrupted"
    (repo / "added.py").write_text("def newly_added():\n    return 1\n")  # the user adds a file
    assert rt.turn("go on, change x to 2").status == "finished"
    rt.close()

    requests = fake_server.chat_requests
    assert len(requests) == 10
    for n, (before, after) in enumerate(zip(requests, requests[1:])):
        assert json.dumps(after["tools"]) == json.dumps(before["tools"])
        assert serialized(after).startswith(serialized(before)[:-1]), f"request {n + 2} rewrote history"
    last = requests[-1]["messages"]
    users = [m["content"] for m in last if m["role"] == "user"]
    assert users[0].startswith(render("instructions", file="AGENTS.md", text=INSTRUCTIONS.strip()))
    assert "<repo-map>" in users[0] and "newly_added" not in users[0]
    assert "<repo-map>" in users[2] and "newly_added" in users[2]  # refreshed: the tree changed
    assert users[1] == "now change it"
    assert last[2]["reasoning_content"] == "plan first"
    # The long output was shortened in the prompt, and read_output showed its middle.
    long = next(m["content"] for m in last if m.get("tool_call_id") == "call_long")
    assert long.startswith("1\n2\n") and long.endswith("19999\n20000")
    assert 'read_output(handle="call_long"' in long and "\n10000\n" not in long
    middle = [m["content"] for m in last if m["role"] == "tool"][4]
    assert middle.splitlines() == [f"{n}\t{n}" for n in range(9000, 9005)] + ["... 10996 more lines; read on with offset=9005"]
    # The meter followed every finished turn.
    meters = [e for e in events if isinstance(e, ContextMeter)]
    assert len(meters) == 9 and meters[-1].context_window == DEFAULT_WINDOW
    assert meters[-1].used_tokens > meters[0].used_tokens


def test_tool_schemas_are_the_same_bytes_in_every_session(tmp_path, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "x = 1\n"})
    fake_server.script(Reply(text="one"), Reply(text="two"))
    for _ in range(2):
        rt = open_rt(fake_server, repo, [])
        rt.turn("hi")
        rt.close()
    first, second = fake_server.chat_requests
    assert json.dumps(first["tools"]) == json.dumps(second["tools"])
    assert [t["function"]["name"] for t in first["tools"]] == [t.name for t in DEFAULT_TOOLS]


def test_read_output_reports_unknown_handles_and_offsets(tmp_path, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "x = 1\n"})
    fake_server.script(
        tool_reply(call("shell", id="call_big", command="seq 1 5000")),
        tool_reply(call("read_output", handle="nope")),
        tool_reply(call("read_output", handle="call_big", offset=6000)),
        Reply(text="ok"),
    )
    rt = open_rt(fake_server, repo, [])
    rt.turn("go")
    rt.close()
    answers = [m["content"] for m in rt.messages if m["role"] == "tool"]
    assert answers[1] == "no shortened output has the handle 'nope' (handles: call_big)"
    assert answers[2] == "the output has 5000 lines; offset 6000 is past the end"


def compaction_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "r"
    make_repo(repo, {"AGENTS.md": INSTRUCTIONS, **{f"m{n}.py": big_file(n) for n in range(6)}})
    return repo


# The map's budget is pinned: these tests count on where the threshold falls, not on how fully
# the map fills a quarter of the window.
SMALL_WINDOW = {"context_window": 12_000, "max_output_tokens": 1_000, "map_tokens": 2_000}


def test_compaction_at_the_threshold_keeps_instructions_pins_and_plan_verbatim(tmp_path, fake_server):
    repo = compaction_repo(tmp_path)
    fake_server.script(
        tool_reply(call("todo", items=[{"text": "read the modules", "status": "in_progress"},
                                       {"text": "write the report"}])),
        tool_reply(call("read_file", path="m0.py")),
        tool_reply(call("read_file", path="m1.py")),  # its answer passes the threshold
        Reply(text="## Task\nRead the modules.\n## Plan and state\nm0 read."),  # the summary
        tool_reply(call("finish", summary="read them")),
    )
    events: list[Event] = []
    rt = open_rt(fake_server, repo, events, **SMALL_WINDOW)
    rt.send(Pin("The API key lives in VAULT_PATH, never in the repo."))
    assert rt.turn("read every module and report").status == "finished"
    rt.close()

    requests = fake_server.chat_requests
    assert [m["content"] for m in requests[3]["messages"][-1:]] == [render("compact")]
    # The summary request is the older history itself, so a prefix-caching server reuses it.
    assert serialized(requests[3]).startswith(serialized(requests[2])[:-1])
    [compacted] = [e for e in events if isinstance(e, Compacted)]
    assert compacted.reason == "threshold" and compacted.tokens_freed > 0
    threshold = Budget(12_000, answer_tokens(1_000, 12_000)).threshold
    assert compacted.tokens_after < threshold < compacted.tokens_before
    after = requests[4]["messages"]
    summary = after[1]["content"]
    assert after[0] == requests[0]["messages"][0]
    assert INSTRUCTIONS.strip() in summary  # verbatim
    assert "- The API key lives in VAULT_PATH, never in the repo." in summary
    assert "[~] read the modules\n[ ] write the report" in summary
    assert "Read: m0.py\n" in summary
    assert "read every module and report" in summary  # the latest request, verbatim
    assert "m0 read." in summary
    # The latest turn is kept as it was: the call and the file it read.
    assert len(after) == 4 and '"m1.py"' in after[2]["tool_calls"][0]["function"]["arguments"]
    assert "def function_1_149" in after[3]["content"]
    # The pin reached the model at the first turn too.
    assert "The API key lives in VAULT_PATH" in requests[0]["messages"][1]["content"]


def test_requested_compaction_lists_files_changed(tmp_path, fake_server):
    repo = compaction_repo(tmp_path)
    fake_server.script(
        tool_reply(call("read_file", path="m0.py")),
        tool_reply(call("write_file", path="notes.txt", content="n\n")),
        Reply(text="Done."),
        Reply(text="## Task\nNotes."),
    )
    events: list[Event] = []
    rt = open_rt(fake_server, repo, events)
    rt.turn("write notes")
    event = compact(rt, events)
    rt.close()
    assert event is not None and event.reason == "requested" and events[-3] == event
    assert isinstance(events[-2], ContextMeter) and events[-2].used_tokens == event.tokens_after
    summary = rt.messages[1]["content"]
    assert "Changed: notes.txt" in summary and "Read: m0.py" in summary
    assert rt.messages[2] == {"role": "assistant", "content": "Done."}
    assert "# The user's latest request (verbatim)\nwrite notes\n" in summary


def test_nothing_to_compact_is_not_a_model_call(tmp_path, fake_server):
    repo = compaction_repo(tmp_path)
    events: list[Event] = []
    rt = open_rt(fake_server, repo, events)
    assert compact(rt, events) is None
    assert events[-1] == CommandDone("compact", "Nothing to compact yet: the conversation has no older turns.")
    rt.close()


def test_a_context_overflow_compacts_and_retries(tmp_path, fake_server):
    repo = compaction_repo(tmp_path)
    fake_server.script(
        tool_reply(call("read_file", path="m0.py")),
        tool_reply(call("read_file", path="m1.py")),
        Reply(error=OVERFLOW),
        Reply(text="## Task\nRead m0 and m1."),
        tool_reply(call("finish", summary="ok")),
    )
    events: list[Event] = []
    rt = open_rt(fake_server, repo, events)
    assert rt.turn("read").status == "finished"
    rt.close()
    [compacted] = [e for e in events if isinstance(e, Compacted)]
    assert compacted.reason == "overflow"
    retry = fake_server.chat_requests[-1]["messages"]
    assert "Read m0 and m1." in retry[1]["content"] and len(retry) < len(fake_server.chat_requests[2]["messages"])


def test_an_overflow_with_nothing_to_compact_is_raised(tmp_path, fake_server):
    repo = compaction_repo(tmp_path)
    fake_server.script(Reply(error=OVERFLOW))
    rt = open_rt(fake_server, repo, [])
    with pytest.raises(ContextOverflow):
        rt.turn("hi")
    rt.close()


def test_budget_leaves_room_for_the_answer():
    budget = Budget(window=100_000, reserved_output=10_000, compact_at=0.85, margin=2_000)
    assert budget.limit == 88_000 and budget.threshold == 85_000
    assert Budget(window=100_000, reserved_output=20_000, margin=2_000).threshold == 78_000


def test_a_small_window_keeps_room_for_the_prompt():
    """A 4,096-token llama-server and the 16,384-token answer default: the answer gets a quarter
    of the window and the margin shrinks, so a prompt still fits and nothing compacts at once."""
    reserved = answer_tokens(16_384, 4_096)
    assert reserved == 1_024 and answer_tokens(16_384, 262_144) == 16_384 and answer_tokens(500, None) == 500
    assert Budget(window=4_096, reserved_output=reserved).limit == 4_096 - 1_024 - 256


def test_a_session_restores_the_history_exactly(tmp_path, fake_server):
    repo = compaction_repo(tmp_path)
    fake_server.script(
        tool_reply(call("todo", items=[{"text": "read", "status": "in_progress"}])),
        tool_reply(call("shell", id="call_seq", command="seq 1 9000")),
        Reply(text="read it"),
        Reply(text="## Task\nseq."),
        Reply(text="nothing more"),
    )
    session = Transcript.create(repo, "task", root=tmp_path / "sessions")
    events: list[Event] = []
    rt = open_rt(fake_server, repo, events, session=session)
    rt.send(Pin("pinned fact"))
    rt.turn("run seq")
    compact(rt, events)
    rt.turn("and now?")
    rt.send(Pin("pinned later"))
    rt.apply_pending()
    rt.close()
    session.close()
    restored = restore(session.path)
    assert restored.messages == rt.messages
    assert restored.outputs["call_seq"] == "\n".join(str(n) for n in range(1, 9001))
    assert restored.pinned == ["pinned fact", "pinned later"] and restored.pending_pins == ["pinned later"]
    assert restored.plan == [{"text": "read", "status": "in_progress"}]
    assert restored.latest_request == "and now?"


def test_compact_at_is_a_share_of_the_window(tmp_path):
    (tmp_path / "heron.toml").write_text("compact_at = 0.7\n")
    assert load_config(tmp_path, env={}).compact_at == 0.7
    (tmp_path / "heron.toml").write_text("compact_at = 85\n")
    with pytest.raises(UsageError, match="'compact_at' = 85.0: expected a share of the window"):
        load_config(tmp_path, env={})


def test_few_very_long_lines_are_clipped_and_readable_whole():
    store = OutputStore()
    text = "\n".join(c * 20_000 for c in "ab")
    shown = store.shown("h1", text)
    assert len(shown) < 3_000 and store.outputs["h1"] == text
    assert 'read_output(handle="h1", offset=1)' in shown and "(19000 more characters)" in shown
    assert store.shown("h2", "short") == "short" and "h2" not in store.outputs
