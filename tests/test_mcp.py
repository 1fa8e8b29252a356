"""MCP: servers' tools through the real `heron fix`, `heron mcp list`, and `heron mcp serve`.

The servers are real MCP servers written with the official SDK (tests/fakes/mcp_server.py),
started by heron over stdio or by the test over streamable HTTP.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from tests.conftest import HERON, ROOT, heron_env, make_repo, run_heron
from tests.fakes.openai_server import call, tool_reply

DEMO = str(ROOT / "tests" / "fakes" / "mcp_server.py")


def demo_server(*args: str, **keys: object) -> str:
    """A heron.toml table declaring the demo server over stdio."""
    lines = [f"command = {json.dumps(sys.executable)}", f"args = {json.dumps([DEMO, *args])}"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in keys.items()]
    return "\n".join(lines)


def repo_with(tmp_path: Path, heron_toml: str = "", mcp_json: dict | None = None) -> Path:
    files = {"README.md": "demo\n"}
    if heron_toml:
        files["heron.toml"] = heron_toml
    if mcp_json is not None:
        files[".mcp.json"] = json.dumps(mcp_json)
    repo = tmp_path / "repo"
    make_repo(repo, files)
    return repo


def fix(repo: Path, server, home: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return run_heron(["fix", "use the demo tools", "--repo", str(repo), "--base-url", server.base_url,
                      "--json", *flags], home, timeout=120)


def events(result: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def tool_messages(server) -> list[str]:
    return [m["content"] for m in server.chat_requests[-1]["messages"] if m["role"] == "tool"]


def test_a_servers_tools_are_offered_and_called_in_a_stable_order(tmp_path, home, fake_server):
    repo = repo_with(tmp_path, f"[mcp.servers.demo]\n{demo_server()}\n")
    fake_server.script(
        tool_reply(call("demo__add", a=2, b=40)),
        tool_reply(call("demo__shout", message={"x": "loud"})),
        tool_reply(call("demo__add", a="two", b=1)),
        tool_reply(call("demo__notes"), call("demo__picture")),
        tool_reply(call("finish", summary="done")),
    )
    result = fix(repo, fake_server, home, "--yes")
    assert result.returncode == 0, result.stderr
    names = [t["function"]["name"] for t in fake_server.chat_requests[0]["tools"]]
    mcp = [n for n in names if n.startswith("demo__")]
    assert mcp == sorted(mcp) and "demo__add" in mcp and names[-len(mcp):] == mcp
    # The same schemas in every request, byte for byte: the prefix cache holds.
    assert len({json.dumps(r["tools"]) for r in fake_server.chat_requests}) == 1
    outputs = tool_messages(fake_server)
    assert outputs[0] == "42"
    assert outputs[1] == "LOUD"
    assert "bad arguments for demo__add" in outputs[2] and "'two' is not of type 'integer'" in outputs[2]
    assert outputs[3] == "[resource file:///notes.txt]\nbuy milk"
    assert outputs[4].startswith("[image 1: 1x1, shown below]")  # this server takes no images: not sent


def test_the_policy_asks_for_mcp_tools_unless_a_rule_allows_the_server(tmp_path, home, fake_servers):
    repo = repo_with(tmp_path, f"[mcp.servers.demo]\n{demo_server()}\n")
    asked = fake_servers().script(tool_reply(call("demo__echo", text="hi")), tool_reply(call("finish", summary="x")))
    assert fix(repo, asked, home).returncode == 0
    assert "did not approve" in tool_messages(asked)[0]

    (repo / "heron.toml").write_text(f'allow = ["mcp:demo"]\n[mcp.servers.demo]\n{demo_server()}\n')
    allowed = fake_servers().script(tool_reply(call("demo__echo", text="hi")), tool_reply(call("finish", summary="x")))
    assert fix(repo, allowed, home).returncode == 0
    assert tool_messages(allowed)[0] == "hi"

    (repo / "heron.toml").write_text(f'deny = ["mcp:demo__echo"]\n[mcp.servers.demo]\n{demo_server()}\n')
    denied = fake_servers().script(tool_reply(call("demo__echo", text="hi")), tool_reply(call("finish", summary="x")))
    assert fix(repo, denied, home, "--yes").returncode == 0
    assert "refused" in tool_messages(denied)[0] and "mcp:demo__echo" in tool_messages(denied)[0]


def test_a_server_that_dies_mid_call_is_an_error_the_model_reads_and_a_notice(tmp_path, home, fake_server):
    repo = repo_with(tmp_path, f"[mcp.servers.demo]\n{demo_server()}\n")
    fake_server.script(tool_reply(call("demo__crash")), tool_reply(call("demo__add", a=1, b=1)),
                       tool_reply(call("finish", summary="gave up on demo")))
    result = fix(repo, fake_server, home, "--yes")
    assert result.returncode == 0, result.stderr
    first, second = tool_messages(fake_server)[:2]
    assert "MCP server 'demo' failed" in first
    assert "is not running" in second
    warnings = [e["message"] for e in events(result) if e["type"] == "warning"]
    assert any("MCP server 'demo' failed" in w for w in warnings)


def test_hanging_servers_cost_a_timeout_and_leave_no_process_behind(tmp_path, home, fake_server):
    pids = tmp_path / "pids"
    pids.mkdir()
    repo = repo_with(tmp_path, "\n".join([
        f"[mcp.servers.slow]\n{demo_server('--pid-file', str(pids / 'slow'), timeout=2)}",
        f"[mcp.servers.stuck]\n{demo_server('--hang-at-start', '--pid-file', str(pids / 'stuck'), startup_timeout=2)}",
    ]) + "\n")
    fake_server.script(tool_reply(call("slow__hang")), tool_reply(call("finish", summary="moved on")))
    result = fix(repo, fake_server, home, "--yes")
    assert result.returncode == 0, result.stderr
    names = [t["function"]["name"] for t in fake_server.chat_requests[0]["tools"]]
    assert "slow__hang" in names and not any(n.startswith("stuck__") for n in names)
    assert "took longer than 2 s" in tool_messages(fake_server)[0]
    warnings = " ".join(e["message"] for e in events(result) if e["type"] == "warning")
    assert "MCP server 'stuck' failed: did not start within 2 s" in warnings
    for pid_file in pids.iterdir():
        assert not _alive(int(pid_file.read_text())), f"the {pid_file.name} server outlived heron"


def test_a_streamable_http_server_from_mcp_json(tmp_path, home, fake_server):
    port = _free_port()
    process = subprocess.Popen([sys.executable, DEMO, "--http", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port)
        repo = repo_with(tmp_path, mcp_json={"mcpServers": {"web": {"type": "http", "url": f"http://127.0.0.1:{port}/mcp"}}})
        fake_server.script(tool_reply(call("web__add", a=20, b=3)), tool_reply(call("finish", summary="ok")))
        result = fix(repo, fake_server, home, "--yes")
        assert result.returncode == 0, result.stderr
        assert tool_messages(fake_server)[0] == "23"
    finally:
        process.terminate()
        process.wait(10)


def test_mcp_list_shows_servers_state_and_tools(tmp_path, home):
    repo = repo_with(tmp_path, f"[mcp.servers.demo]\n{demo_server()}\n",
                     mcp_json={"mcpServers": {"gone": {"command": "/nonexistent/mcp-server"}}})
    result = run_heron(["mcp", "list", "--repo", str(repo)], home)
    assert result.returncode == 1  # one server failed
    assert "demo  (stdio:" in result.stdout and "ready: 7 tools" in result.stdout
    assert "  demo__add  Add two whole numbers." in result.stdout
    assert "gone  (stdio: /nonexistent/mcp-server)  failed:" in result.stdout
    empty = run_heron(["mcp", "list", "--repo", str(repo_with(tmp_path / "b"))], home)
    assert empty.returncode == 0 and "no MCP servers configured" in empty.stdout


@pytest.mark.parametrize("table, message", [
    ('[mcp.servers.x]\nargs = ["a"]\n', "give either `command`"),
    ('[mcp.servers.x]\ncommand = "a"\nurl = "http://b"\n', "give either `command`"),
    ('[mcp.servers.x]\nurl = "ftp://b"\n', "must start with http"),
    ('[mcp.servers."a b"]\ncommand = "a"\n', "a name is 1-32 letters"),
    ('[mcp.servers.x]\ncommand = "a"\ntimeout = -1\n', "`timeout` must be a number of seconds"),
    ('[mcp.servers.x]\ncommand = "a"\ncolour = "red"\n', "unknown key 'colour'"),
    ('[mcp]\nserver = 1\n', "holds only [mcp.servers.NAME]"),
])
def test_bad_server_declarations_exit_2_naming_the_place(tmp_path, home, table, message):
    repo = repo_with(tmp_path, table)
    result = run_heron(["mcp", "list", "--repo", str(repo)], home)
    assert result.returncode == 2
    assert message in result.stderr and "heron.toml" in result.stderr and "Traceback" not in result.stderr


def test_a_broken_mcp_json_exits_2(tmp_path, home):
    repo = repo_with(tmp_path)
    (repo / ".mcp.json").write_text("{not json")
    result = run_heron(["mcp", "list", "--repo", str(repo)], home)
    assert result.returncode == 2 and ".mcp.json: not valid JSON" in result.stderr


def test_heron_mcp_serve_gives_other_agents_the_map_localization_and_review(tmp_path, home, fake_server):
    from mcp import Client, StdioServerParameters

    repo_dir = tmp_path / "shop"
    repo = make_repo(repo_dir, {"shop/cart.py": "def total(items):\n    return sum(i.price for i in items)\n",
                                "shop/users.py": "def login(name):\n    return name\n"})
    (repo_dir / "shop/cart.py").write_text("def total(items):\n    return sum(i.price for i in items) * 2\n")
    repo.git.add(A=True)
    fake_server.script(tool_reply(call("report_finding", file="shop/cart.py", line=2, severity="blocker",
                                       category="bug", message="the total is doubled")),
                       tool_reply(call("finish", summary="one bug")))
    env = heron_env(home, HERON_BASE_URL=fake_server.base_url)
    params = StdioServerParameters(command=str(HERON), args=["mcp", "serve", "--repo", str(repo_dir)], env=env)

    async def session() -> tuple[list[str], str, str, str, bool]:
        async with Client(params) as client:
            tools = [t.name for t in (await client.list_tools()).tools]
            located = await client.call_tool("localize", {"task": "the cart total is wrong", "limit": 2})
            mapped = await client.call_tool("repo_map", {"task": "cart total", "tokens": 400})
            reviewed = await client.call_tool("review", {"target": "staged"})
            bad = await client.call_tool("localize", {"task": "  "})
            return tools, located.content[0].text, mapped.content[0].text, reviewed.content[0].text, bad.is_error

    tools, located, mapped, reviewed, bad_is_error = anyio.run(session)
    assert tools == ["repo_map", "localize", "review"]
    assert json.loads(located)[0]["path"] == "shop/cart.py"
    assert "total" in json.loads(located)[0]["defines"]  # read back from the cache for the files named
    assert "shop/cart.py" in mapped and "def total(items):" in mapped
    findings = json.loads(reviewed)["findings"]
    assert findings[0]["message"] == "the total is doubled" and findings[0]["severity"] == "blocker"
    assert bad_is_error


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split()[2] != "Z"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"the MCP server did not listen on {port}")
