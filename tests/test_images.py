"""Images: attached to an issue, looked at with view_image or returned by an MCP tool, sent as
`image_url` data URLs only to a server that takes them, and kept by hash for resume."""

from __future__ import annotations

import base64
import io
import json
import sys
from pathlib import Path

from PIL import Image

from tests.conftest import ROOT, make_repo, run_heron
from tests.fakes.openai_server import call, tool_reply

MCP_DEMO = ROOT / "tests" / "fakes" / "mcp_server.py"


def png(path: Path, size: tuple[int, int], colour: str = "red") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, "PNG")
    return path


def repo(tmp_path: Path, files: dict[str, str] | None = None) -> Path:
    root = tmp_path / "repo"
    make_repo(root, {"README.md": "app\n", **(files or {})})
    return root


def fix(root: Path, server, home: Path, *flags: str, issue: str = "the button is cut off") -> object:
    return run_heron(["fix", issue, "--repo", str(root), "--base-url", server.base_url, "--json", *flags],
                     home, timeout=120)


def image_parts(message: dict) -> list[dict]:
    content = message.get("content")
    return [p for p in content if p.get("type") == "image_url"] if isinstance(content, list) else []


def decoded(part: dict) -> Image.Image:
    url = part["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2])))


def test_an_attached_screenshot_is_downscaled_and_sent_with_the_issue(tmp_path, home, fake_servers):
    server = fake_servers(kind="vllm", vision=True).script(tool_reply(call("finish", summary="seen")))
    shot = png(tmp_path / "shot.png", (4000, 3000))
    result = fix(repo(tmp_path), server, home, "--image", str(shot))
    assert result.returncode == 0, result.stderr
    first_user = next(m for m in server.chat_requests[0]["messages"] if m["role"] == "user")
    assert "the button is cut off" in first_user["content"][0]["text"]
    [part] = image_parts(first_user)
    assert decoded(part).size == (1568, 1176)
    # vLLM says nothing of vision in its routes: one tiny request asked, once.
    assert [r["path"] for r in server.requests].count("/v1/chat/completions (image probe)") == 1


def test_a_server_without_vision_gets_no_image_and_the_user_is_told(tmp_path, home, fake_servers):
    server = fake_servers(kind="llama-server", vision=False).script(tool_reply(call("finish", summary="x")))
    result = fix(repo(tmp_path), server, home, "--image", str(png(tmp_path / "shot.png", (40, 30))))
    assert result.returncode == 0, result.stderr
    assert not any(image_parts(m) for r in server.chat_requests for m in r["messages"])
    warnings = [json.loads(line)["message"] for line in result.stdout.splitlines()
                if json.loads(line)["type"] == "warning"]
    assert any("takes no images" in w and "--mmproj" in w for w in warnings)
    # llama-server says so in /props: nothing was probed.
    assert not any("probe" in r["path"] for r in server.requests)


def test_view_image_shows_a_workspace_image_after_the_tool_answers(tmp_path, home, fake_servers):
    root = repo(tmp_path)
    png(root / "docs/diagram.png", (300, 200), "blue")
    server = fake_servers(kind="llama-server", vision=True).script(
        tool_reply(call("view_image", path="docs/diagram.png")),
        tool_reply(call("view_image", path="README.md")),
        tool_reply(call("finish", summary="seen")))
    assert fix(root, server, home).returncode == 0
    messages = server.chat_requests[1]["messages"]
    tool, after = messages[-2], messages[-1]
    assert tool["role"] == "tool" and tool["content"] == "docs/diagram.png: 300x200 image, shown below"
    assert after["role"] == "user" and decoded(image_parts(after)[0]).size == (300, 200)
    assert "not an image file" in server.chat_requests[2]["messages"][-1]["content"]


def test_view_image_without_vision_says_the_image_was_not_shown(tmp_path, home, fake_servers):
    root = repo(tmp_path)
    png(root / "plot.png", (10, 10))
    server = fake_servers(kind="vllm", vision=False).script(
        tool_reply(call("view_image", path="plot.png")), tool_reply(call("finish", summary="x")))
    assert fix(root, server, home).returncode == 0
    last = server.chat_requests[-1]["messages"]
    assert "1 image(s) not shown: the model server takes no images" in last[-1]["content"]
    assert not any(image_parts(m) for m in last)


def test_an_mcp_servers_image_reaches_the_model(tmp_path, home, fake_servers):
    toml = (f'[mcp.servers.demo]\ncommand = {json.dumps(sys.executable)}\n'
            f'args = {json.dumps([str(MCP_DEMO)])}\n')
    root = repo(tmp_path, {"heron.toml": toml})
    server = fake_servers(kind="ollama", vision=True).script(
        tool_reply(call("demo__picture")), tool_reply(call("finish", summary="x")))
    assert fix(root, server, home, "--yes").returncode == 0
    last = server.chat_requests[-1]["messages"]
    assert last[-2]["content"] == "[image 1: 1x1, shown below]"
    assert decoded(image_parts(last[-1])[0]).size == (1, 1)


def test_resume_sends_the_same_image_bytes_kept_by_hash(tmp_path, home, fake_servers):
    root = repo(tmp_path)
    server = fake_servers(kind="llama-server", vision=True).script(
        tool_reply(call("finish", summary="first")), tool_reply(call("finish", summary="second")))
    first = fix(root, server, home, "--image", str(png(tmp_path / "shot.png", (64, 48), "green")))
    assert first.returncode == 0, first.stderr
    opened = next(json.loads(line) for line in first.stdout.splitlines() if '"session_opened"' in line)
    session = Path(opened["path"])
    assert "base64" not in session.read_text()  # the transcript names the image by its hash
    stored = list((session.with_suffix("") / "images").iterdir())
    assert len(stored) == 1 and stored[0].read_bytes().startswith(b"\x89PNG")
    resumed = run_heron(["fix", "--resume", opened["session_id"], "--base-url", server.base_url, "--json"],
                        home, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    before, after = server.chat_requests[0]["messages"], server.chat_requests[1]["messages"]
    assert after[:len(before)] == before  # the same bytes: the server's prompt cache still matches


def test_a_file_that_is_no_image_stops_before_anything_runs(tmp_path, home, fake_server):
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture")
    result = fix(repo(tmp_path), fake_server, home, "--image", str(notes))
    assert result.returncode == 2 and "not an image heron can read" in result.stderr
    missing = fix(repo(tmp_path / "b"), fake_server, home, "--image", str(tmp_path / "none.png"))
    assert missing.returncode == 2 and "cannot read it" in missing.stderr
    assert "Traceback" not in result.stderr + missing.stderr
