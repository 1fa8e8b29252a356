"""heron against a real llama-server with real weights (Qwen2.5-Coder-0.5B, CPU).

The model is weak: it repeats calls and rarely solves anything. These tests check the protocol and
heron's behaviour — calls parsed, tools run, streams assembled, runs ending cleanly — not the task.
Sampling is greedy and answers short (the user config in HOME), so runs repeat and stay fast.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from agent.config import Config
from agent.tui.app import HeronApp
from agent.tui.entries import PanelEntry, UserEntry
from agent.tui.widgets.status_bar import StatusBar
from tests.conftest import make_repo, run_heron
from tests.real_server.conftest import CONTEXT, RealServer
from tests.tui_support import SIZE, connected, say, wait_for

pytestmark = pytest.mark.real_server

ISSUE = "Read the file notes.txt with the read_file tool, then call finish with a one-line summary."
# Calls heron recovered from text get ids of its own; the server's parsed calls carry the server's.
RECOVERED_ID = "call_text_"
TOOL_NAMES = {"todo", "read_file", "finish", "shell", "find_files", "grep", "symbols"}


def events_of(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.fixture
def tiny() -> Path:
    """A tiny repository, at the same path in every test and every run: heron's system prompt
    names the workspace, so one path lets the server's prefix cache carry over from test to test,
    and keeps greedy answers the same from run to run (a path that changed with pytest's numbered
    temporary directories changed what this small model wrote)."""
    path = Path(tempfile.gettempdir()) / "heron-real-server" / "tiny"
    if path.exists():
        shutil.rmtree(path)
    make_repo(path, {"notes.txt": "remember the milk\n"})
    return path


def configure(home: Path, **settings: object) -> None:
    """The user's config file: greedy, short answers, plus what the test sets."""
    values = {"temperature": 0.0, "max_output_tokens": 256, **settings}
    path = home / ".config" / "heron" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()))


def fix(server: RealServer, repo: Path, home: Path) -> list[dict]:
    result = run_heron(["fix", ISSUE, "--repo", str(repo), "--base-url", server.base_url,
                        "--max-steps", "3", "--json", "--yes"], home, timeout=280)
    assert result.returncode in (0, 1), f"{result.stderr}\n--- server log ---\n{server.log.read_text()[-3000:]}"
    assert "Traceback" not in result.stderr
    events = events_of(result.stdout)
    assert events[-1]["type"] == "done"
    return events


def calls_of(events: list[dict]) -> list[dict]:
    return [c for e in events if e["type"] == "assistant_turn" for c in e["tool_calls"]]


def check_tools_ran(events: list[dict]) -> None:
    started = [e for e in events if e["type"] == "tool_started"]
    finished = [e for e in events if e["type"] == "tool_finished"]
    assert started and started[0]["name"] in TOOL_NAMES
    assert len(finished) == len(started)
    usage = [e for e in events if e["type"] == "usage"]
    assert usage and all(u["prompt_tokens"] > 0 and u["context_window"] == CONTEXT for u in usage)
    # Each request extends the one before, so the server serves most of it from its cache.
    assert all(u["cached_tokens"] >= 0.8 * u["prompt_tokens"] for u in usage[1:]), usage


@pytest.mark.timeout(300)  # the first request prefills the whole prompt on a loaded CPU
def test_discovery_and_doctor_identify_llama_cpp_and_its_window(home, qwen_tools_server):
    configure(home)  # greedy: with sampling the small model sometimes writes a call the server cannot parse
    port = qwen_tools_server.base_url.split(":")[-1].split("/")[0]
    result = run_heron(["doctor"], home, timeout=280, HERON_PROBE_ADDRESSES=f"127.0.0.1:{port}")
    assert result.returncode == 0, result.stdout + result.stderr
    report = dict(line.split(None, 1) for line in result.stdout.splitlines() if "  " in line)
    assert report["server"] == f"llama-server at {qwen_tools_server.base_url}"
    assert report["model"].endswith("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
    assert report["window"] == f"{CONTEXT:,} tokens"
    assert report["tool"].split() == ["calls", "native"]
    assert report["prefix"].startswith("cache  reused")
    assert "restart llama-server with -c 262144" in result.stdout


@pytest.mark.timeout(300)
def test_fix_with_native_streamed_tool_calls(tiny, home, qwen_tools_server):
    configure(home)
    events = fix(qwen_tools_server, tiny, home)
    calls = calls_of(events)
    assert calls and any(not c["id"].startswith(RECOVERED_ID) for c in calls), "native tool calls"
    assert all(c["function"]["name"] in TOOL_NAMES for c in calls)
    check_tools_ran(events)
    # Reasoning-free: Qwen2.5-Coder does not think, and nothing is taken for reasoning.
    assert not any(e["type"] == "reasoning_delta" for e in events)
    assert all(e["reasoning"] == "" for e in events if e["type"] == "assistant_turn")


@pytest.mark.timeout(300)
def test_fix_with_whole_answers_and_thinking_off(tiny, home, qwen_tools_server):
    configure(home, stream=False, enable_thinking=False)
    events = fix(qwen_tools_server, tiny, home)
    assert calls_of(events)
    check_tools_ran(events)
    assert not any(e["type"] == "reasoning_delta" for e in events)
    # A whole answer whose calls the server cannot parse comes back as an HTTP error: asked again.
    assert all("tool calls" in e["reason"] for e in events if e["type"] == "stream_restarted")


@pytest.mark.timeout(300)
def test_fix_recovers_the_calls_the_model_writes_as_text(tiny, home, qwen_own_template_server):
    """With its own template the model writes a fenced JSON call; the server parses none."""
    configure(home)
    events = fix(qwen_own_template_server, tiny, home)
    calls = calls_of(events)
    assert calls and all(c["id"].startswith(RECOVERED_ID) for c in calls), calls
    check_tools_ran(events)
    turns = [e for e in events if e["type"] == "assistant_turn"]
    assert not any("```" in t["text"] for t in turns), "call markup was left in the answer"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.timeout(300)
@pytest.mark.anyio
async def test_the_tui_runs_one_turn(tiny, qwen_tools_server):
    config = Config(base_url=qwen_tools_server.base_url, max_retries=0, temperature=0.0,
                    max_output_tokens=256, max_steps=2, approval="read-only")
    async with HeronApp(config, tiny).run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await say(pilot, ISSUE)
        await wait_for(pilot, lambda: app.running, "the run to start")
        # Real decoding on a small CPU: tens of seconds, not the fake server's milliseconds.
        await wait_for(pilot, lambda: not app.running, "the run to end", seconds=270)
        entries = app.transcript.entries
        assert [e.text for e in entries if isinstance(e, UserEntry)] == [ISSUE]
        panels = [e for e in entries if isinstance(e, PanelEntry)]
        assert panels and panels[0].title.split()[0] in TOOL_NAMES
        status = app.query_one(StatusBar)
        assert status.used_tokens and status.used_tokens > 1000
        assert status.tokens_per_second and status.tokens_per_second > 0
