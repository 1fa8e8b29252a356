"""/mcp and images in the app, through Pilot: a real MCP server written with the SDK, real PNGs made
with Pillow, and the request bodies the fake model server receives."""

from __future__ import annotations

import base64
import io
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from PIL import Image

from agent.core.session import entries
from agent.mcp.servers import McpServer
from agent.tui.attachments import image_paths
from agent.tui.entries import NoticeEntry, PanelEntry, UserEntry
from agent.tui.history import history_entries
from agent.tui.widgets.completion_menu import CompletionMenu
from agent.tui.widgets.prompt_input import PromptInput
from agent.tui.widgets.user_message import UserMessage
from tests.conftest import ROOT, make_repo, run_heron
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.tui_support import SIZE, command, connected, idle, make_app, say, shown_text, wait_for

pytestmark = pytest.mark.anyio

DEMO = str(ROOT / "tests" / "fakes" / "mcp_server.py")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    make_repo(path, {"README.md": "app\n"})
    return path


def png(path: Path, size: tuple[int, int]) -> Path:
    Image.new("RGB", size, "red").save(path, "PNG")
    return path


def image_sizes(message: dict) -> list[tuple[int, int]]:
    """The size of each image the message carries as an image_url data URL."""
    content = message["content"]
    urls = [p["image_url"]["url"] for p in content if p["type"] == "image_url"] if isinstance(content, list) else []
    assert all(url.startswith("data:image/png;base64,") for url in urls)
    return [Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2]))).size for url in urls]


def last_user(server: FakeOpenAIServer) -> dict:
    return [m for m in server.chat_requests[-1]["messages"] if m["role"] == "user"][-1]


def notices(app) -> list[NoticeEntry]:
    return [e for e in app.transcript.entries if isinstance(e, NoticeEntry)]


async def test_mcp_shows_the_servers_their_state_and_tools_as_heron_mcp_list_does(repo, fake_server, home):
    servers = (McpServer("demo", command=sys.executable, args=(DEMO,)),
               McpServer("stuck", command=sys.executable, args=(DEMO, "--hang-at-start"), startup_timeout=2))
    (repo / "heron.toml").write_text(
        f'[mcp.servers.demo]\ncommand = "{sys.executable}"\nargs = ["{DEMO}"]\n\n'
        f'[mcp.servers.stuck]\ncommand = "{sys.executable}"\nargs = ["{DEMO}", "--hang-at-start"]\n'
        'startup_timeout = 2\n')
    listed = run_heron(["mcp", "list", "--repo", str(repo)], home)
    assert listed.returncode == 1, listed.stderr  # one server failed
    async with make_app(fake_server, repo, mcp_servers=servers).run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await command(pilot, "/mcp")
        await idle(pilot)
        panel = app.transcript.entries[-1]
        assert isinstance(panel, PanelEntry) and panel.title == "MCP servers: 1 of 2 ready"
        assert panel.status == "error" and panel.expanded
        assert panel.body == listed.stdout.strip()  # the same report as `heron mcp list`
        assert "demo  (stdio:" in panel.body and "ready: 7 tools" in panel.body
        assert "  demo__add  Add two whole numbers." in panel.body
        assert "stuck  (stdio:" in panel.body and "failed: did not start within 2 s" in panel.body


async def test_mcp_without_servers_says_how_to_add_one(repo, fake_server):
    async with make_app(fake_server, repo).run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await command(pilot, "/mcp")
        await idle(pilot)
        assert notices(app)[-1].text.startswith("no MCP servers configured: add [mcp.servers.NAME] to heron.toml")


async def test_images_attached_with_at_or_a_pasted_path_are_sent_with_the_message(repo, tmp_path, fake_servers):
    server = fake_servers(vision=True).script(Reply(text="The button is cut off."), Reply(text="Same here."))
    png(repo / "shot.png", (64, 48))
    pasted = png(tmp_path / "Screen Shot.png", (3000, 1000))
    async with make_app(server, repo).run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        # The @ completion offers the image, and says it goes with the message.
        await wait_for(pilot, lambda: "shot.png" in app.completer.files, "the file list")
        await pilot.press(*"what is wrong in", "space", "@", *"sho")
        assert app.query_one(CompletionMenu).completion.options == [("@shot.png ", "image, sent with the message")]
        await pilot.press("tab", "backspace", "?", "enter")
        await idle(pilot)
        first = last_user(server)
        assert first["content"][0]["text"].endswith("what is wrong in @shot.png?")
        assert image_sizes(first) == [(64, 48)]
        asked = app.transcript.entries[0]
        assert isinstance(asked, UserEntry) and asked.images == ["shot.png (64×48)"]
        assert "+ image shot.png (64×48)" in shown_text(app.query_one(UserMessage))
        # A path pasted (or dropped) into the box, quoted as terminals paste one with spaces.
        await say(pilot, f"and this one '{pasted}', next to /static/logo.png")
        await idle(pilot)
        second = last_user(server)
        assert image_sizes(second) == [(1568, 523)]  # downscaled; the prose path is left alone
        assert second["content"][0]["text"].endswith(f"and this one '{pasted}', next to /static/logo.png")
        assert image_sizes(server.chat_requests[-1]["messages"][1]) == [(64, 48)]  # the first stays in the history
        # A resumed session shows that the messages had images.
        resumed = [e for e in history_entries(entries(app.recording.path)) if isinstance(e, UserEntry)]
        assert [e.images for e in resumed] == [[""], [""]]


def test_which_words_of_a_message_attach_an_image(tmp_path):
    shot = png(tmp_path / "my shot.png", (8, 8))
    escaped = str(shot).replace(" ", "\\ ")
    assert image_paths(f"see {escaped} now", tmp_path) == {str(shot): shot}
    assert image_paths(f"see file://{quote(str(shot))}", tmp_path) == {str(shot): shot}
    assert image_paths(f'see "{shot}".', tmp_path) == {str(shot): shot}
    assert image_paths("is @my\\ shot.png, right?", tmp_path) == {"my shot.png": shot}
    assert image_paths("@gone.png", tmp_path) == {"gone.png": tmp_path / "gone.png"}  # asked for: an error later
    # Prose that names an image, a path that is not there, and @ of other files attach nothing.
    assert image_paths("the logo in /static/logo.png and shot.png; see @README.md", tmp_path) == {}


async def test_a_bad_image_is_not_sent_and_the_message_stays_in_the_box(repo, fake_server):
    (repo / "broken.png").write_text("not a picture")
    async with make_app(fake_server, repo).run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        prompt = app.query_one(PromptInput)
        for typed, why in [("look at @broken.png please", "broken.png: not an image heron can read"),
                           ("and @missing.png", "missing.png: cannot read it (No such file or directory)")]:
            told = len(notices(app))
            await say(pilot, typed)
            await wait_for(pilot, lambda told=told: len(notices(app)) > told, "the notice")
            notice = notices(app)[-1]
            assert notice.level == "error" and why in notice.text and "back in the input box" in notice.text
            assert prompt.text == typed and not app.running
            prompt.clear()
        assert not any(isinstance(e, UserEntry) for e in app.transcript.entries)
        assert not fake_server.chat_requests  # nothing reached the model


async def test_a_server_without_vision_gets_the_text_and_the_user_is_told(repo, fake_server):
    fake_server.script(Reply(text="I cannot see it."))
    png(repo / "shot.png", (64, 48))
    async with make_app(fake_server, repo).run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await say(pilot, "look at @shot.png")
        await idle(pilot)
        assert not image_sizes(last_user(fake_server))
        assert last_user(fake_server)["content"].endswith("look at @shot.png")
        warning = [n for n in notices(app) if n.level == "warning"]
        assert warning and "the model server takes no images; the 1 attached were not sent" in warning[0].text
        assert app.transcript.entries[-1].text == "I cannot see it."  # type: ignore[attr-defined]
