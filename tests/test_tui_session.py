"""The app's session commands through Pilot: /undo /commit /compact /pin /map /sessions /resume /clear,
and `heron --resume` / `--continue`. A scripted model at the HTTP boundary, a real git repository."""

from __future__ import annotations

import git
import pytest
from textual.pilot import Pilot

from agent.config import Config
from agent.context.transcript import list_sessions
from agent.repomap.apart import MapProcess
from agent.tui.app import HeronApp
from agent.tui.entries import AssistantEntry, NoticeEntry, PanelEntry, UserEntry
from agent.tui.screens.session_picker import SessionPickerScreen
from tests.conftest import make_repo, run_heron
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call, tool_reply
from tests.tui_support import SIZE, command, connected, idle, make_app, say, wait_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "repo"
    make_repo(path, {"calc.py": "def add(a, b):\n    return a - b\n"})
    return path


def fix_script() -> list[Reply]:
    return [tool_reply(call("read_file", path="calc.py")),
            tool_reply(call("edit_file", path="calc.py", old="a - b", new="a + b")),
            Reply(text="add adds now.")]


async def fix_add(pilot: Pilot) -> HeronApp:
    """Connect, ask for the fix of fix_script, and wait for it to be done."""
    app = await connected(pilot)
    await say(pilot, "fix add")
    await idle(pilot)
    return app


def requests_messages(server: FakeOpenAIServer, index: int = -1) -> list[dict]:
    return server.chat_requests[index]["messages"]


def last_notice(app: HeronApp) -> str:
    return [e for e in app.transcript.entries if isinstance(e, NoticeEntry)][-1].text


async def test_undo_puts_the_files_back(repo, fake_server):
    fake_server.script(*fix_script())
    async with make_app(fake_server, repo, approval="full-auto").run_test(size=SIZE) as pilot:
        app = await fix_add(pilot)
        assert (repo / "calc.py").read_text().endswith("a + b\n")
        await command(pilot, "/undo")
        await idle(pilot)
        assert (repo / "calc.py").read_text().endswith("a - b\n")
        assert "undid turn 1" in last_notice(app) and "calc.py" in last_notice(app)
        await command(pilot, "/undo")
        await idle(pilot)
        assert "nothing to undo" in last_notice(app)
        await command(pilot, "/undo two")
        assert "takes a number of turns" in last_notice(app)


async def test_commit_uses_the_models_message_and_the_hooks_run(repo, fake_server):
    fake_server.script(*fix_script(), Reply(text="fix(calc): make add add\n\nIt subtracted."))
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho ran > \"$(git rev-parse --git-dir)/hook-ran\"\n")
    hook.chmod(0o755)
    async with make_app(fake_server, repo, approval="full-auto").run_test(size=SIZE) as pilot:
        app = await fix_add(pilot)
        await command(pilot, "/commit")
        await idle(pilot)
        head = git.Repo(repo).head.commit
        assert head.summary == "fix(calc): make add add"
        assert "heron" in head.message.splitlines()[-1].lower()
        assert "Committed" in last_notice(app) and head.hexsha[:10] in last_notice(app)
        assert (repo / ".git" / "hook-ran").exists()
        assert "+    return a + b" in requests_messages(fake_server)[-1]["content"]  # the model saw the diff


async def test_commit_outside_git_says_so(tmp_path, fake_server):
    plain = tmp_path / "plain"
    plain.mkdir()
    async with make_app(fake_server, plain).run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await command(pilot, "/commit")
        assert "not a git repository" in last_notice(app)


async def test_pin_and_compact(repo, fake_server):
    fake_server.script(Reply(text="Hello."), Reply(text="The user greeted; nothing done yet."), Reply(text="Ok."))
    async with make_app(fake_server, repo).run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await say(pilot, "hi")
        await idle(pilot)
        await command(pilot, "/pin the tests live in tests/unit")
        assert last_notice(app) == "Pinned: the tests live in tests/unit"
        await command(pilot, "/compact")
        await idle(pilot)
        assert last_notice(app).startswith("Compacted (requested): 1 older message summarized")
        await say(pilot, "go on")
        await idle(pilot)
        sent = requests_messages(fake_server)
        assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
        assert "The user greeted" in sent[1]["content"] and "tests/unit" in sent[1]["content"]
        assert sent[2]["content"] == "Hello." and sent[3]["content"].endswith("go on")


async def test_map_shows_what_the_model_would_get(repo, fake_server):
    async with make_app(fake_server, repo).run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await command(pilot, "/map add")
        await idle(pilot)
        panel = app.transcript.entries[-1]
        assert isinstance(panel, PanelEntry) and panel.title.startswith("repo map: 1 files")
        assert panel.title.endswith("for: add") and "def add(a, b)" in panel.body
        # Built in a process of its own, so its work never holds up the screen.
        assert isinstance(app.session.ctx.repo_map, MapProcess)


async def test_a_session_is_resumed_with_its_history(repo, fake_server):
    fake_server.script(*fix_script(), Reply(text="Still adding."))
    async with make_app(fake_server, repo, approval="full-auto").run_test(size=SIZE) as pilot:
        app = await fix_add(pilot)
        first = app.recording.id if app.recording else ""
    async with make_app(fake_server, repo).run_test(size=SIZE) as pilot:  # an unused session is not kept
        await connected(pilot)
    assert [s.id for s in list_sessions(repo)] == [first]

    resumed = HeronApp(Config(base_url=fake_server.base_url, max_retries=0), repo, resume=first)
    async with resumed.run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await wait_for(pilot, lambda: any(isinstance(e, NoticeEntry) for e in app.transcript.entries), "the history")
        kinds = [type(e).__name__ for e in app.transcript.entries]
        assert kinds == ["UserEntry", "PanelEntry", "PanelEntry", "AssistantEntry", "NoticeEntry"]
        assert app.transcript.entries[0] == UserEntry(text=app.transcript.entries[0].text)
        assert "fix add" in app.transcript.entries[0].text
        assert "a + b" in app.transcript.entries[2].body  # type: ignore[attr-defined]
        await say(pilot, "does it?")
        await idle(pilot)
        sent = requests_messages(fake_server)
        assert [m["role"] for m in sent[:2]] == ["system", "user"] and len(sent) == 8
        assert "resumed" in sent[-1]["content"] and "The user adds: does it?" in sent[-1]["content"]
        assert app.recording and app.recording.id == first


async def test_sessions_clear_and_resume_from_the_list(repo, fake_server):
    fake_server.script(Reply(text="One."), Reply(text="Two."))
    async with make_app(fake_server, repo).run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await say(pilot, "first question")
        await idle(pilot)
        first = app.recording.id if app.recording else ""
        await say(pilot, "/clear")
        await wait_for(pilot, lambda: app.recording is not None and app.recording.id != first
                       and app.session is not None, "a new session")
        assert app.transcript.entries == []
        await say(pilot, "second question")
        await idle(pilot)
        assert [m["role"] for m in requests_messages(fake_server)] == ["system", "user"]
        await command(pilot, "/sessions")
        listing = last_notice(app)
        assert first in listing and "first question" in listing and "→ " + app.recording.id in listing
        await say(pilot, "/resume")
        await wait_for(pilot, lambda: isinstance(app.screen, SessionPickerScreen), "the session list")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.recording is not None and app.recording.id == first
                       and app.session is not None, "the first session")
        await wait_for(pilot, lambda: any(isinstance(e, AssistantEntry) and e.text == "One."
                                          for e in app.transcript.entries), "its history")
        await command(pilot, "/resume nope")
        assert "no session 'nope'" in last_notice(app)


async def test_pick_a_session_at_start(repo, fake_server):
    fake_server.script(Reply(text="Noted."))
    async with make_app(fake_server, repo).run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await say(pilot, "remember this")
        await idle(pilot)
        recorded = app.recording.id if app.recording else ""
    picker = HeronApp(Config(base_url=fake_server.base_url, max_retries=0), repo, pick_session=True)
    async with picker.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(picker.screen, SessionPickerScreen), "the session list")
        await pilot.press("enter")
        app = await connected(pilot)
        assert app.recording and app.recording.id == recorded
        # The resumed history is shown once connected; the test ends only after, as a user would.
        await wait_for(pilot, lambda: any(isinstance(e, NoticeEntry) for e in app.transcript.entries), "the history")


def test_resume_flags_of_the_cli(repo, home):
    unknown = run_heron(["--resume", "nope", "--repo", str(repo)], home)
    assert unknown.returncode == 2 and "no session 'nope'" in unknown.stderr
    nothing = run_heron(["--continue", "--repo", str(repo)], home)
    assert nothing.returncode == 2 and "no recorded session to continue" in nothing.stderr
