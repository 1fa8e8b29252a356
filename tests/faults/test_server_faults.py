"""Server faults at every point of a turn, against the real loop, tools and client: each one is
retried where that is safe, reported as an event, and never runs a tool twice or runs half a call."""

from __future__ import annotations

import pytest

from agent.config import Config
from agent.core.build import open_session
from agent.errors import ServerError
from agent.events import Event, StreamRestarted, ToolStarted
from tests.conftest import make_repo
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call, tool_reply
from tests.faults.support import COMMAND, FAULTS, HEADLESS, run_turn

pytestmark = pytest.mark.faults


@pytest.mark.parametrize("fault", FAULTS)
def test_a_server_fault_mid_turn_is_retried_and_no_tool_runs_twice(tmp_path, fake_server, fault):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n"})
    faulty, restarts = FAULTS[fault]
    fake_server.script(faulty, tool_reply(call("shell", command=COMMAND)),
                       tool_reply(call("finish", summary="ran it once")))
    events: list[Event] = []
    assert run_turn(fake_server, repo, events) == "finished"
    assert (repo / "runs.log").read_text() == "ran\n"  # once: never twice, never a half call
    assert [e.name for e in events if isinstance(e, ToolStarted)] == ["shell", "finish"]
    assert any(isinstance(e, StreamRestarted) for e in events) == restarts


def test_a_server_restarted_mid_session_is_used_again(tmp_path):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n"})
    first = FakeOpenAIServer().start()
    port = first.base_url.rsplit(":", 1)[1].split("/")[0]
    first.script(tool_reply(call("shell", command=COMMAND)))
    first_request = first.got_request
    cfg = Config(base_url=first.base_url, approval="full-auto", max_retries=3)
    events: list[Event] = []
    rt = open_session(cfg, repo, events.append, HEADLESS)
    try:
        rt.loop.step()  # the first step's call runs, then the server goes away and comes back empty
        assert first_request.is_set()
        first.stop()
        with FakeOpenAIServer(port=int(port)) as second:
            second.script(tool_reply(call("finish", summary="done after the restart")))
            with pytest.raises(Exception) as ended:
                rt.loop.step()
            assert type(ended.value).__name__ == "TaskFinished"
            # The new server got the whole conversation again: its prefix cache is rebuilt from it.
            assert [m["role"] for m in second.chat_requests[0]["messages"]][-2:] == ["assistant", "tool"]
    finally:
        rt.close()
    assert (repo / "runs.log").read_text() == "ran\n"


def test_connection_refused_is_a_clear_server_error(tmp_path):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n"})
    server = FakeOpenAIServer().start()
    server.stop()  # nothing listens on its port now
    with pytest.raises(ServerError, match="cannot reach the model server"):
        open_session(Config(base_url=server.base_url, max_retries=0), repo, [].append, HEADLESS)


def test_each_retry_is_an_event_naming_the_status_and_the_delay_the_server_asked_for(tmp_path, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n"})
    fake_server.script(Reply(error=(429, "slow down"), headers={"Retry-After": "1"}),
                       Reply(error=(503, "loading model")), tool_reply(call("finish", summary="done")))
    events: list[Event] = []
    assert run_turn(fake_server, repo, events) == "finished"
    reasons = [e.reason for e in events if isinstance(e, StreamRestarted)]
    assert len(reasons) == 2, reasons
    assert "429 (slow down)" in reasons[0] and "again in 1.0 s (retry 1 of 2)" in reasons[0]
    assert "503 (loading model)" in reasons[1] and "(retry 2 of 2)" in reasons[1]


def test_a_retry_after_longer_than_a_minute_fails_at_once_with_the_servers_words(tmp_path, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n"})
    fake_server.script(Reply(error=(503, "queue full"), headers={"Retry-After": "3600"}))
    events: list[Event] = []
    with pytest.raises(ServerError, match="answered 503: queue full"):
        run_turn(fake_server, repo, events)
    assert not any(isinstance(e, StreamRestarted) for e in events)
