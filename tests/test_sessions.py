"""Durable sessions: JSONL that survives kill -9, resume, `heron sessions`, the TUI's options."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from agent.cli import PICK_SESSION, build_parser, resume_option
from agent.context.transcript import Transcript, latest_session, list_sessions, load_session, restore
from agent.errors import UsageError
from tests.conftest import HERON, heron_env, make_repo, run_heron
from tests.fakes.openai_server import Reply, call, tool_reply
from tests.test_fix_cli import BUGGY, FIXED, TEST_CMD, inventory


def sessions_of(home: Path) -> list[Path]:
    return sorted((home / ".local/share/heron/sessions").glob("*.jsonl"))


def test_kill_9_mid_run_then_resume_continues_the_same_history(tmp_path, home, fake_server):
    repo = inventory(tmp_path)
    fake_server.script(
        tool_reply(call("todo", items=[{"text": "fix low_stock", "status": "in_progress"}])),
        tool_reply(call("read_file", path="inventory/stock.py")),
        Reply(text="still thinking " * 400, chunk_delay=0.05),  # killed while this streams
    )
    proc = subprocess.Popen(
        [str(HERON), "fix", "low stock misses items at the threshold", "--repo", str(repo),
         "--base-url", fake_server.base_url, "--yes", "--test-cmd", TEST_CMD],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=heron_env(home),
    )
    deadline = time.monotonic() + 60
    while len(fake_server.chat_requests) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_request = fake_server.chat_requests[2]

    listed = run_heron(["sessions", "--repo", str(repo)], home)
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    session_id = line.split()[0]
    assert str(repo.resolve()) in line and "low stock misses items" in line

    # A new process cannot know the file is unchanged since the model read it: it reads again.
    fake_server.script(
        tool_reply(call("read_file", path="inventory/stock.py")),
        tool_reply(call("edit_file", path="inventory/stock.py", old=BUGGY, new=FIXED)),
        tool_reply(call("finish", summary="fixed the comparison")),
    )
    resumed = run_heron(["fix", "--resume", session_id, "--base-url", fake_server.base_url,
                         "--yes", "--test-cmd", TEST_CMD], home, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert FIXED in (repo / "inventory/stock.py").read_text()
    first_resumed = fake_server.chat_requests[3]
    before = json.dumps(killed_request["messages"])
    assert json.dumps(first_resumed["messages"]).startswith(before[:-1])
    added = first_resumed["messages"][len(killed_request["messages"]):]
    assert [m["role"] for m in added] == ["user"] and "resumed" in added[0]["content"]
    assert first_resumed["tools"] == killed_request["tools"]
    # One session, continued in place: the resumed run appended to the same file.
    assert [p.stem for p in sessions_of(home)] == [session_id]
    history = load_session(session_id, sessions_of(home)[0].parent)
    assert history[-1] == {"role": "tool", "tool_call_id": history[-2]["tool_calls"][0]["id"],
                           "content": "Task marked as finished."}


def test_a_torn_last_line_is_skipped_and_cut_before_appending(tmp_path):
    root = tmp_path / "sessions"
    session = Transcript.create(tmp_path, "task", root=root)
    session.record({"type": "message", "message": {"role": "system", "content": "s"}})
    session.record({"type": "message", "message": {"role": "user", "content": "u"}})
    session.close()
    with session.path.open("a") as f:
        f.write('{"type": "message", "message": {"role": "assis')
    assert [m["role"] for m in restore(session.path).messages] == ["system", "user"]
    again = Transcript.resume(session.id, root=root)
    again.record({"type": "message", "message": {"role": "assistant", "content": "a"}})
    again.close()
    assert [m["role"] for m in restore(session.path).messages] == ["system", "user", "assistant"]


def test_a_damaged_middle_line_is_a_clear_error(tmp_path):
    root = tmp_path / "sessions"
    session = Transcript.create(tmp_path, "task", root=root)
    session.close()
    with session.path.open("a") as f:
        f.write("not json\n{}\n")
    with pytest.raises(UsageError, match="line 2 is not valid JSON"):
        restore(session.path)


def test_events_after_the_front_end_closed_the_session_are_dropped(tmp_path):
    # The core's thread is a daemon that may still end its turn after the app closed the file.
    session = Transcript.create(tmp_path, "task", root=tmp_path / "sessions")
    session.record({"type": "message", "message": {"role": "user", "content": "hi"}})
    session.close()
    before = session.path.read_text()
    session.record({"type": "message", "message": {"role": "assistant", "content": "late"}})
    assert session.path.read_text() == before


def test_resume_of_an_unknown_session_exits_2(tmp_path, home):
    result = run_heron(["fix", "--resume", "nope"], home, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "heron: no session 'nope'; `heron sessions` lists them"


def test_an_overflow_that_cannot_be_compacted_exits_3(tmp_path, home, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.txt": "x\n"})
    fake_server.script(Reply(error=(400, "prompt is too long: 300000 tokens > 262144 maximum")))
    result = run_heron(["fix", "anything", "--repo", str(repo), "--base-url", fake_server.base_url, "--yes"], home)
    assert result.returncode == 3
    assert "did not fit the server's context window" in result.stderr and "Traceback" not in result.stderr


def test_sessions_lists_the_latest_first_and_the_tui_options_find_them(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    older = Transcript.create(here, "first task")
    older.close()
    os.utime(older.path, (1_000_000, 1_000_000))  # last updated long ago
    newer = Transcript.create(here, "second task")
    newer.close()
    Transcript.create(there, "elsewhere").close()
    assert [s.task for s in list_sessions(here)] == ["second task", "first task"]
    assert len(list_sessions()) == 3
    assert latest_session(here).id == newer.id
    parser = build_parser()
    assert resume_option(parser.parse_args(["--continue"]), here) == newer.id
    assert resume_option(parser.parse_args(["--resume", older.id]), here) == older.id
    assert resume_option(parser.parse_args(["--resume"]), here) == PICK_SESSION
    assert resume_option(parser.parse_args([]), here) is None
    with pytest.raises(UsageError, match="no session 'gone'"):
        resume_option(parser.parse_args(["--resume", "gone"]), here)
    with pytest.raises(UsageError, match="no recorded session to continue"):
        resume_option(parser.parse_args(["--continue"]), tmp_path)
