"""A request too long for the server's window, and a session whose last line a kill cut in half,
through the real CLI: the first is compacted and sent again (or ends with exit 3 and the
server's words), the second resumes with `heron fix --resume`."""

from __future__ import annotations

import json

import pytest

from tests.conftest import make_repo, run_heron
from tests.fakes.openai_server import Reply, call, tool_reply
from tests.faults.support import in_a_command, kill

pytestmark = pytest.mark.faults

OVERFLOW = Reply(error=(400, "This model's maximum context length is 8192 tokens. "
                             "However, you requested 9000 tokens."))


def fix(repo, server, home, *extra: str):
    return run_heron(["fix", "tidy up", "--repo", str(repo), "--base-url", server.base_url, "--yes", *extra],
                     home, timeout=240)


def test_an_overflow_mid_run_is_compacted_and_the_request_sent_again(tmp_path, home, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n"})
    fake_server.script(
        tool_reply(call("read_file", path="a.py")),
        tool_reply(call("write_file", path="b.py", content="b = 1\n")),
        OVERFLOW,
        Reply(text="Read a.py and wrote b.py."),  # the summary the compaction asks for
        tool_reply(call("finish", summary="wrote b.py")),
    )
    result = fix(repo, fake_server, home)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "context compacted, overflow" in result.stderr
    assert (repo / "b.py").read_text() == "b = 1\n"
    retried = fake_server.chat_requests[-1]["messages"]
    assert len(retried) < len(fake_server.chat_requests[2]["messages"])


def test_an_overflow_with_nothing_to_compact_exits_3_with_the_servers_words(tmp_path, home, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n"})
    fake_server.script(OVERFLOW)
    result = fix(repo, fake_server, home)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert "did not fit the server's context window" in result.stderr
    assert "maximum context length is 8192" in result.stderr


def test_a_session_cut_mid_line_by_a_kill_resumes(tmp_path, home, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n"})
    heron, _ = in_a_command(fake_server, repo, home)
    kill(heron)
    [session] = (home / ".local/share/heron/sessions").glob("*.jsonl")
    # What a kill in the middle of an append leaves: the start of a line, no newline.
    with session.open("a", encoding="utf-8") as f:
        f.write('{"type": "message", "message": {"role": "tool", "content": "(sle')
    killed_request = fake_server.chat_requests[-1]["messages"]

    fake_server.script(tool_reply(call("finish", summary="new.py is written")))
    resumed = run_heron(["fix", "--resume", session.stem, "--base-url", fake_server.base_url, "--yes"],
                        home, cwd=tmp_path, timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    sent = fake_server.chat_requests[-1]["messages"]
    assert sent[:len(killed_request)] == killed_request  # the history up to the kill, exactly
    # The cut line is gone and the file is whole JSON lines again, the resumed turns appended.
    lines = session.read_text(encoding="utf-8").splitlines()
    assert all(json.loads(line) for line in lines)
    assert '"(sle' not in session.read_text(encoding="utf-8")
