"""The app through Pilot: a scripted model at the HTTP boundary, real tools in a real repository."""

from __future__ import annotations

import socket

import pytest
from textual import events

from agent.config import Config
from agent.tui.app import HeronApp
from agent.tui.entries import AssistantEntry, NoticeEntry, PanelEntry, UserEntry
from agent.tui.screens.approval import ApprovalScreen
from agent.tui.screens.no_endpoint import NoEndpointScreen
from agent.tui.screens.plan_review import PlanReviewScreen
from agent.tui.widgets.assistant_message import AssistantMessage, settled_length
from agent.tui.widgets.completion_menu import CompletionMenu
from agent.tui.widgets.files_panel import FilesPanel
from agent.tui.widgets.fold import Fold
from agent.tui.widgets.plan_panel import PlanPanel
from agent.tui.widgets.prompt_input import PromptInput
from agent.tui.widgets.status_bar import StatusBar
from agent.tui.widgets.tool_panel import ToolPanel
from agent.tui.widgets.transcript import LIVE, PAGE
from tests.conftest import make_repo
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call, tool_reply
from tests.tui_support import SIZE, command, connected, entry_kinds, idle, make_app, say, shown_text, wait_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "repo"
    make_repo(path, {"calc.py": "def add(a, b):\n    return a - b\n", "docs/guide.md": "# Guide\n"})
    return path


def last_user_message(server: FakeOpenAIServer) -> str:
    """What the user typed, without the repo map heron puts in front of it."""
    content = [m for m in server.chat_requests[-1]["messages"] if m["role"] == "user"][-1]["content"]
    return content.split("</repo-map>")[-1].lstrip("\n")


def tool_messages(server: FakeOpenAIServer) -> list[str]:
    return [m["content"] for m in server.chat_requests[-1]["messages"] if m["role"] == "tool"]


def panel_lines(panel: ToolPanel) -> list[str]:
    """The panel's lines on screen, without its left border."""
    return [line.lstrip("█ ") for line in shown_text(panel).splitlines()]


async def test_streams_markdown_and_folds_reasoning(repo, fake_server):
    fake_server.script(Reply(text="The bug is in **add**.", reasoning="Let me look at calc.py first.",
                             prompt_tokens=5000, completion_tokens=40, cached_tokens=4000))
    async with make_app(fake_server, repo).run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await say(pilot, "what is wrong?")
        await idle(pilot)
        assert entry_kinds(app) == ["User", "Assistant"]
        answer = app.transcript.entries[1]
        assert isinstance(answer, AssistantEntry)
        assert answer.text == "The bug is in **add**." and answer.reasoning == "Let me look at calc.py first."
        widget = app.query_one(AssistantMessage)
        assert shown_text(widget.query_one(".answer")) == "The bug is in add."
        fold = widget.query_one(Fold)
        assert not fold.expanded and fold.title == "Thought (6 words)"
        await pilot.click(fold)
        assert fold.expanded and answer.reasoning_expanded
        status = app.query_one(StatusBar)
        # heron's own count of the history (the meter), not the server's usage of the last request
        assert status.model == "fake-model" and status.used_tokens == app.session.used_tokens
        assert status.cache_reuse == pytest.approx(0.8)
        assert status.tokens_per_second and status.tokens_per_second > 0


async def test_tool_panels_show_the_diff_and_the_output_at_a_glance(repo, fake_server):
    fake_server.script(
        tool_reply(call("read_file", path="calc.py")),
        tool_reply(call("edit_file", path="calc.py", old="a - b", new="a + b")),
        tool_reply(call("shell", command="python -c 'print(6 * 7)'")),
        tool_reply(call("shell", command="seq 30")),
        Reply(text="Fixed."),
    )
    async with make_app(fake_server, repo, approval="full-auto").run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await say(pilot, "fix add")
        await idle(pilot)
        read, edit, short, long = [e for e in app.transcript.entries if isinstance(e, PanelEntry)]
        assert read.title == "read_file  calc.py" and read.status == "ok"
        assert edit.title == "edit_file  calc.py" and edit.status == "ok"
        assert edit.lexer == "diff" and "+    return a + b" in edit.body and edit.expanded
        assert short.title == "shell  $ python -c 'print(6 * 7)'" and short.body == "42"
        assert app.query_one(FilesPanel).paths == ["calc.py"]
        panels = {p.entry.title: p for p in app.query(ToolPanel)}
        # A one-line output shows whole under its call, folded; there is nothing more to open.
        short_panel = panels[short.title]
        assert panel_lines(short_panel) == ["• ✓ shell  $ python -c 'print(6 * 7)'", "42"]
        await pilot.click(short_panel)
        assert not short_panel.expanded
        # A long one shows its head and how many lines the fold holds; a click opens it.
        long_panel = panels[long.title]
        assert panel_lines(long_panel) == ["▶ ✓ shell  $ seq 30", "1", "2", "3", "4", "… +26 lines"]
        await pilot.click(long_panel)
        assert long_panel.expanded and long.expanded
        assert panel_lines(long_panel)[-1] == "30"
        # From the keys: Tab reaches a panel, Enter folds it; typing goes back to the input box.
        prompt = app.query_one(PromptInput)
        assert prompt.has_focus
        await pilot.press("tab")
        assert app.focused is panels[read.title]
        await pilot.press("tab", "tab", "tab")
        assert app.focused is long_panel
        await pilot.press("enter")
        assert not long_panel.expanded and not long.expanded
        await pilot.press("o", "k")
        assert prompt.has_focus and prompt.text == "ok"


async def test_finish_shows_its_summary_once_as_the_models_last_message(repo, fake_server):
    fake_server.script(tool_reply(call("read_file", path="calc.py")),
                       tool_reply(call("finish", summary="add subtracts; made it add.")))
    async with make_app(fake_server, repo, approval="full-auto").run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await say(pilot, "fix add")
        await idle(pilot)
        assert entry_kinds(app)[-2:] == ["Panel", "Assistant"]
        assert [e.title for e in app.transcript.entries if isinstance(e, PanelEntry)] == ["read_file  calc.py"]
        assert app.transcript.entries[-1].text == "add subtracts; made it add."


async def test_approval_yes_no_with_reason_and_always(repo, fake_server):
    fake_server.script(
        tool_reply(call("shell", command="git log --oneline -1")),
        tool_reply(call("shell", command="git status --short")),
        tool_reply(call("read_file", path="calc.py")),
        tool_reply(call("edit_file", path="calc.py", old="a - b", new="a + b")),
        tool_reply(call("shell", command="git status --porcelain")),
        Reply(text="ok"),
    )
    async with make_app(fake_server, repo, approval="ask").run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await say(pilot, "look around")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen), "the first approval")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(fake_server.chat_requests) == 2 and isinstance(app.screen, ApprovalScreen),
                       "the second approval")
        assert app.screen.query_one("#pattern").value == "git status *"
        await pilot.press("a", "enter")  # always, for the suggested pattern
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen), "the edit's approval")
        assert "+    return a + b" in str(app.screen.preview)
        await pilot.press("n", *"not yet", "enter")
        await idle(pilot)  # the last `git status` ran without asking: the pattern allows it
        outputs = tool_messages(fake_server)
        assert "initial" in outputs[0]
        assert outputs[3] == "the user did not approve this edit call: not yet"
        assert outputs[4] == "(no output)"
        assert (repo / "calc.py").read_text().endswith("a - b\n")


async def test_plan_mode_explores_read_only_then_acts_on_the_approved_plan(repo, fake_server):
    plan = [{"text": "fix add in calc.py", "status": "pending"}]
    fake_server.script(
        tool_reply(call("read_file", path="calc.py")),
        tool_reply(call("edit_file", path="calc.py", old="a - b", new="a + b")),  # refused: plan mode
        tool_reply(call("todo", items=plan)),
        tool_reply(call("finish", summary="add subtracts; make it add.")),
        tool_reply(call("todo", items=[{"text": "fix add in calc.py", "status": "in_progress"}])),
        tool_reply(call("edit_file", path="calc.py", old="a - b", new="a + b")),
        tool_reply(call("todo", items=[{"text": "fix add in calc.py", "status": "done"}])),
        tool_reply(call("finish", summary="add adds now.")),
    )
    async with make_app(fake_server, repo, approval="full-auto").run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await pilot.press("shift+tab")  # full-auto → plan
        assert app.mode == "plan" and app.query_one(StatusBar).mode == "plan"
        await say(pilot, "add is broken")
        await wait_for(pilot, lambda: isinstance(app.screen, PlanReviewScreen), "the plan review")
        assert "plan mode" in fake_server.chat_requests[0]["messages"][-1]["content"]
        assert "refused" in tool_messages(fake_server)[1]
        assert (repo / "calc.py").read_text().endswith("a - b\n")
        assert app.screen.query_one("#plan-text").text == "- fix add in calc.py"
        app.screen.query_one("#plan-text").load_text("- fix add in calc.py, with a test")
        await pilot.press("ctrl+s")
        await idle(pilot)
        act = fake_server.chat_requests[4]["messages"][-1]["content"]
        assert "approved the plan below (the user edited it)" in act and "with a test" in act
        assert app.mode == "full-auto"  # back to the mode before planning
        assert (repo / "calc.py").read_text().endswith("a + b\n")
        assert app.query_one(PlanPanel).items == [{"text": "fix add in calc.py", "status": "done"}]


async def test_escape_interrupts_the_stream_and_the_session_goes_on(repo, fake_server):
    fake_server.script(Reply(text="word " * 400, chunk_delay=0.02), Reply(text="Still here."))
    async with make_app(fake_server, repo).run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await say(pilot, "talk")
        await wait_for(pilot, lambda: any(len(m.entry.text) > 20 for m in app.query(AssistantMessage)), "streaming")
        await pilot.press("escape")
        await idle(pilot)
        streamed = app.transcript.entries[1]
        assert isinstance(streamed, AssistantEntry) and not streamed.streaming
        assert len(streamed.text) < len("word " * 400)
        assert "Interrupted" in app.transcript.entries[-1].text  # type: ignore[attr-defined]
        await say(pilot, "again")
        await idle(pilot)
        roles = [m["role"] for m in fake_server.chat_requests[-1]["messages"]]
        assert roles == ["system", "user", "user"]  # the cut answer never entered the history
        assert app.transcript.entries[-1].text == "Still here."  # type: ignore[attr-defined]


async def test_escape_stops_a_running_command_at_once(repo, fake_server):
    fake_server.script(tool_reply(call("shell", command="sleep 60")), Reply(text="unused"))
    async with make_app(fake_server, repo, approval="full-auto").run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await say(pilot, "wait")
        await wait_for(pilot, lambda: any(isinstance(e, PanelEntry) for e in app.transcript.entries), "the command")
        await pilot.pause(0.3)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.running, "the interrupted run to end", seconds=15)
        panel = [e for e in app.transcript.entries if isinstance(e, PanelEntry)][0]
        assert panel.status == "error" and "exit code 130" in panel.body
        fake_server.replies.clear()  # the model is never asked again after an interrupt


async def test_input_history_new_lines_and_long_pastes(repo, fake_server):
    fake_server.script(Reply(text="one"), Reply(text="two"))
    async with make_app(fake_server, repo).run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        prompt = app.query_one(PromptInput)
        await pilot.press(*"first", "ctrl+j", *"line", "enter")
        await idle(pilot)
        assert last_user_message(fake_server) == "first\nline"
        await pilot.press("up")
        assert prompt.text == "first\nline"
        await pilot.press("down")
        assert prompt.text == ""
        pasted = "\n".join(f"line {i}" for i in range(40))
        prompt.post_message(events.Paste(pasted))
        await pilot.pause(0.05)
        assert prompt.text == "[pasted text #1: 40 lines]"
        await pilot.press("enter")
        await idle(pilot)
        assert last_user_message(fake_server) == pasted


async def test_completes_commands_and_repository_paths(repo, fake_server):
    async with make_app(fake_server, repo).run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        menu = app.query_one(CompletionMenu)
        prompt = app.query_one(PromptInput)
        await pilot.press("slash", "m", "o")
        assert menu.display and [v for v, _ in menu.completion.options] == ["/mode ", "/model "]
        await pilot.press("down", "tab")
        assert prompt.text == "/model " and not menu.display
        prompt.clear()
        await wait_for(pilot, lambda: app.completer.files, "the file list")
        await pilot.press(*"look", "space", *"at", "space", "@", *"gui")
        assert [v for v, _ in menu.completion.options] == ["@docs/guide.md "]
        await pilot.press("enter")
        assert prompt.text == "look at @docs/guide.md "


async def test_slash_commands(repo, fake_server):
    (repo / ".heron/commands").mkdir(parents=True)
    (repo / ".heron/commands/explain.md").write_text("description: explain a file\nExplain $ARGUMENTS simply.\n")
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    # After /mode full-auto the edit runs unasked: the mode reached the core's policy.
    fake_server.script(tool_reply(call("write_file", path="note.txt", content="n\n")), Reply(text="It adds."))
    async with make_app(fake_server, repo).run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await command(pilot, "/help")
        assert "/diff" in app.transcript.entries[-1].text and "/explain" in app.transcript.entries[-1].text  # type: ignore[attr-defined]
        await command(pilot, "/diff")
        diff = app.transcript.entries[-1]
        assert isinstance(diff, PanelEntry) and "+    return a + b" in diff.body and diff.lexer == "diff"
        await command(pilot, "/model")
        await wait_for(pilot, lambda: "fake-model" in getattr(app.transcript.entries[-1], "text", ""), "the models")
        await command(pilot, "/mode full-auto")
        assert app.mode == "full-auto"
        await command(pilot, "/mode sideways")
        assert "No mode 'sideways'" in app.transcript.entries[-1].text  # type: ignore[attr-defined]
        await command(pilot, "/nope")
        assert "Unknown command /nope" in app.transcript.entries[-1].text  # type: ignore[attr-defined]
        await say(pilot, "/explain calc.py")
        await idle(pilot)
        assert last_user_message(fake_server) == "Explain calc.py simply."
        assert (repo / "note.txt").read_text() == "n\n"
        await say(pilot, "/clear")
        await wait_for(pilot, lambda: not app.transcript.entries, "the transcript to clear")
        await wait_for(pilot, lambda: app.session is not None, "the new session")
        assert len(app.session.messages) == 1
        await say(pilot, "/quit")
        await wait_for(pilot, lambda: not app.is_running, "the app to quit")


async def test_no_endpoint_screen_explains_and_connects_when_a_server_appears(repo):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = HeronApp(Config(base_url=f"http://127.0.0.1:{port}/v1", max_retries=0), repo)
    async with app.run_test(size=SIZE) as pilot:
        # The Markdown widget takes its text when mounted: wait for the text, not only the widget.
        await wait_for(pilot, lambda: isinstance(app.screen, NoEndpointScreen) and app.screen.query("Markdown")
                       and app.screen.query_one("Markdown").source, "the no-endpoint screen")
        text = app.screen.query_one("Markdown").source
        assert f"cannot reach the model server at http://127.0.0.1:{port}/v1" in text and "heron serve" in text
        with FakeOpenAIServer(port=port):
            await pilot.press("r")
            await connected(pilot)
            await wait_for(pilot, lambda: not isinstance(app.screen, NoEndpointScreen), "the main screen")


async def test_no_endpoint_screen_plans_a_server_and_starts_it_only_when_asked(repo, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The subprocess `heron serve` inherits this: it must find the weights missing and say so.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    app = HeronApp(Config(base_url=f"http://127.0.0.1:{port}/v1", max_retries=0), repo)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, NoEndpointScreen) and app.screen.query("#serve-log"),
                       "the no-endpoint screen")
        log = app.screen.query_one("#serve-log")
        await pilot.press("y")  # nothing planned yet: y does nothing
        await pilot.pause(0.5)
        assert not log.lines
        await pilot.press("s")
        await wait_for(pilot, lambda: any("press y" in line for line in log.lines), "the plan", seconds=90)
        text = "\n".join(log.lines)
        assert "$ heron serve --dry-run" in text and "kv cache" in text and "dry run: nothing downloaded" in text
        await pilot.press("y")
        await wait_for(pilot, lambda: any("exited with 2" in line for line in log.lines), "the start", seconds=90)
        assert "HF_HUB_OFFLINE is set" in "\n".join(log.lines)


async def test_a_server_dying_mid_stream_is_reported_and_the_app_goes_on(repo, fake_server):
    fake_server.script(Reply(text="partial answer " * 20, cut_after_chunks=4), Reply(text="Back."))
    async with make_app(fake_server, repo).run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await say(pilot, "hello")
        await idle(pilot)
        error = app.transcript.entries[-1]
        assert isinstance(error, NoticeEntry) and error.level == "error"
        assert "broke off the answer" in error.text and "send your message again" in error.text
        await say(pilot, "hello again")
        await idle(pilot)
        assert app.transcript.entries[-1].text == "Back."  # type: ignore[attr-defined]


async def test_ctrl_c_twice_quits(repo, fake_server):
    async with make_app(fake_server, repo).run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await pilot.press("ctrl+c")
        await pilot.pause(0.05)
        assert app.is_running
        await pilot.press("ctrl+c")
        await pilot.pause(0.1)
        assert not app.is_running


async def test_a_thousand_messages_keep_few_widgets_and_scrolling_back_does_not_jump(repo, fake_server):
    fake_server.script(Reply(text="streaming " * 150, chunk_delay=0.01))
    async with make_app(fake_server, repo).run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        transcript = app.transcript
        await transcript.add_many([UserEntry(f"message {i}") if i % 2 == 0 else
                                   AssistantEntry(f"answer {i}", streaming=False) for i in range(1000)])
        await pilot.pause(0.1)
        assert len(transcript.entry_widgets) == LIVE and transcript.first_shown == 1000 - LIVE
        await say(pilot, "stream")
        await wait_for(pilot, lambda: app.view.streaming is not None and len(app.view.streaming.entry.text) > 50, "streaming")
        transcript.scroll_to(y=transcript.max_scroll_y - 30, animate=False, immediate=True)
        await pilot.pause(0.05)
        held = transcript.scroll_y
        await wait_for(pilot, lambda: len(app.view.streaming.entry.text) > 300 if app.view.streaming else True, "more text")
        assert transcript.scroll_y == held  # new text below does not move what the user reads
        first_shown = transcript.first_shown
        top = transcript.entry_widgets[0]
        transcript.scroll_to(y=0, animate=False, immediate=True)
        await wait_for(pilot, lambda: transcript.first_shown == first_shown - PAGE, "the older page")
        await pilot.pause(0.1)
        assert transcript.scroll_y > 0 and top.region.y >= 0  # the old top stays where it was, below
        await idle(pilot)
        transcript.scroll_end(animate=False, immediate=True)
        await pilot.pause(0.1)
        assert len(transcript.entry_widgets) <= LIVE + PAGE


def test_settled_length_stops_at_the_last_blank_line_outside_a_fence():
    assert settled_length("one\n\ntwo") == len("one\n\n")
    assert settled_length("one\n\n```\ncode\n\nmore") == len("one\n\n")
    assert settled_length("```\ncode\n```\n\nafter") == len("```\ncode\n```\n\n")
    assert settled_length("no blank line yet") == 0


async def test_a_long_answer_streams_in_sealed_pieces(repo, fake_server):
    paragraphs = [f"Paragraph {i}: " + "words " * 60 for i in range(40)]
    fake_server.script(Reply(text="\n\n".join(paragraphs), chunk_delay=0.001))
    async with make_app(fake_server, repo).run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await say(pilot, "write a lot")
        await idle(pilot)
        widget = app.query_one(AssistantMessage)
        pieces = list(widget.query(".sealed")) + [widget.query_one(".answer")]
        assert len(pieces) > 2
        shown = " ".join(shown_text(p) for p in pieces)
        assert all(f"Paragraph {i}:" in shown for i in range(40))


async def test_escape_in_the_approval_refuses_and_stops_the_run(repo, fake_server):
    fake_server.script(tool_reply(call("shell", command="rm -rf build"), call("shell", command="ls")))
    async with make_app(fake_server, repo, approval="ask").run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await say(pilot, "clean up")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen), "the approval")
        await pilot.press("escape")
        await idle(pilot)
        assert not isinstance(app.screen, ApprovalScreen)
        assert "Interrupted" in app.transcript.entries[-1].text  # type: ignore[attr-defined]
        messages = app.session.messages
        assert [m["content"] for m in messages if m["role"] == "tool"] == [
            "the user did not approve this shell call: the user stopped the run",
            "(not run: the run ended before this call)",
        ]
