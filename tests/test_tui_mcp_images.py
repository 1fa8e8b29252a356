"""/mcp in the app, through Pilot: a real MCP server written with the SDK, started by heron."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agent.mcp.servers import McpServer
from agent.tui.entries import NoticeEntry, PanelEntry
from tests.conftest import ROOT, make_repo, run_heron
from tests.tui_support import SIZE, command, connected, idle, make_app

pytestmark = pytest.mark.anyio

DEMO = str(ROOT / "tests" / "fakes" / "mcp_server.py")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    make_repo(path, {"README.md": "app\n"})
    return path


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
