"""`heron fix` end to end: the real CLI as a subprocess, a scripted server, a real git repository."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import EXAMPLES, HERON, heron_env, make_repo, run_heron
from tests.fakes.openai_server import Reply, call, tool_reply

BUGGY = "if n < threshold)"
FIXED = "if n <= threshold)"
TEST_CMD = "python -m pytest -q"


def inventory(tmp_path: Path) -> Path:
    repo = tmp_path / "inventory"
    make_repo(repo, source=EXAMPLES / "inventory")
    return repo


def fixing_script() -> list[Reply]:
    return [
        tool_reply(call("todo", items=[{"text": "find low_stock", "status": "in_progress"},
                                       {"text": "fix the comparison"}])),
        tool_reply(call("read_file", path="inventory/stock.py")),
        tool_reply(call("edit_file", path="inventory/stock.py", old=BUGGY, new=FIXED)),
        tool_reply(call("shell", command=TEST_CMD)),
        tool_reply(call("finish", summary="low_stock now includes items at the threshold")),
    ]


def test_fix_repairs_the_example_and_exits_0(tmp_path, home, fake_server):
    repo = inventory(tmp_path)
    fake_server.script(*fixing_script())
    result = run_heron(["fix", "--issue-file", str(repo / "ISSUE.md"), "--repo", str(repo),
                        "--base-url", fake_server.base_url, "--yes", "--test-cmd", TEST_CMD], home)
    assert result.returncode == 0, result.stderr
    assert FIXED in (repo / "inventory/stock.py").read_text()
    assert "low_stock now includes items at the threshold" in result.stdout
    assert "inventory/stock.py" in result.stdout  # the diff stat
    assert "check `python -m pytest -q` passed" in result.stderr
    # The model saw the tool results: the read, then the diff, then the passing test run.
    last = fake_server.chat_requests[-1]["messages"]
    tool_outputs = [m["content"] for m in last if m["role"] == "tool"]
    assert "def low_stock" in tool_outputs[1]
    assert f"+        return sorted(item for item, n in self._counts.items() {FIXED}" in tool_outputs[2]
    assert "3 passed" in tool_outputs[3]


def test_fix_exits_1_when_the_check_still_fails(tmp_path, home, fake_server):
    repo = inventory(tmp_path)
    fake_server.script(tool_reply(call("finish", summary="nothing to do")))
    result = run_heron(["fix", "low stock is wrong", "--repo", str(repo), "--base-url",
                        fake_server.base_url, "--yes", "--test-cmd", TEST_CMD, "--retries", "0"], home)
    assert result.returncode == 1, result.stderr
    assert "failed (exit 1)" in result.stderr


def test_a_failing_check_goes_back_to_the_model(tmp_path, home, fake_server):
    repo = inventory(tmp_path)
    fake_server.script(
        tool_reply(call("finish", summary="looks fine")),
        *fixing_script()[1:],  # read, edit, test, finish
    )
    result = run_heron(["fix", "low stock is wrong", "--repo", str(repo), "--base-url",
                        fake_server.base_url, "--yes", "--test-cmd", TEST_CMD, "--retries", "1"], home)
    assert result.returncode == 0, result.stderr
    second_round = fake_server.chat_requests[1]["messages"][-1]
    assert second_round["role"] == "user"
    assert "failed (exit code 1)" in second_round["content"]
    assert "test_low_stock_includes_items_at_the_threshold" in second_round["content"]


def test_json_lines_follow_the_schema(tmp_path, home, fake_server):
    repo = inventory(tmp_path)
    fake_server.script(*fixing_script())
    result = run_heron(["fix", "-", "--repo", str(repo), "--base-url", fake_server.base_url,
                        "--yes", "--json", "--test-cmd", TEST_CMD], home,
                       input=(repo / "ISSUE.md").read_text())
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    schema = readme_event_schema()
    for event in events:
        fields = schema[event["type"]]
        assert set(event) == {"type", *fields}, event
    types = [e["type"] for e in events]
    assert types[0] == "session_started"
    assert types[-1] == "done" and events[-1]["status"] == "fixed"
    assert "plan_updated" in types and "test_run" in types
    started = [e for e in events if e["type"] == "tool_started"]
    assert [e["name"] for e in started] == ["todo", "read_file", "edit_file", "shell", "finish"]
    assert any(e["type"] == "text_delta" or e["type"] == "assistant_turn" for e in events)


def test_a_call_cut_off_mid_arguments_does_not_poison_the_history(tmp_path, home, fake_servers):
    """llama-server refuses every later request whose history holds arguments that are not JSON."""
    server = fake_servers(kind="llama-server")
    repo = tmp_path / "tiny"
    make_repo(repo, {"notes.txt": "milk\n"})
    cut = Reply(tool_calls=[call("read_file")], finish_reason="length")
    cut.tool_calls[0].arguments = '{"path": "notes'  # the answer hit max_tokens mid-call
    server.script(cut, tool_reply(call("finish", summary="read it")))
    result = run_heron(["fix", "read notes.txt", "--repo", str(repo), "--base-url", server.base_url,
                        "--json", "--yes"], home)
    assert result.returncode == 0, result.stderr
    second = server.chat_requests[1]["messages"]
    kept = [c for m in second for c in m.get("tool_calls") or []]
    assert [c["function"]["arguments"] for c in kept] == ["{}"]
    answer = [m["content"] for m in second if m["role"] == "tool"]
    assert answer == ['arguments for read_file must be a JSON object; got: {"path": "notes']


def test_unreachable_server_exits_3_with_one_line(tmp_path, home):
    repo = inventory(tmp_path)
    result = run_heron(["fix", "anything", "--repo", str(repo), "--base-url",
                        "http://127.0.0.1:9/v1", "--model", "m", "--yes"], home)
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the model server at http://127.0.0.1:9/v1" in lines[0]
    assert "Traceback" not in result.stderr


def test_unknown_model_exits_3(tmp_path, home, fake_server):
    repo = inventory(tmp_path)
    fake_server.script(Reply(error=(404, "The model `nope` does not exist.")))
    result = run_heron(["fix", "anything", "--repo", str(repo), "--base-url", fake_server.base_url,
                        "--model", "nope", "--yes"], home)
    assert result.returncode == 3
    assert "does not serve model 'nope'" in result.stderr


def test_bad_config_exits_2_naming_file_and_key(tmp_path, home):
    repo = inventory(tmp_path)
    (repo / "heron.toml").write_text('max_steps = "many"\n')
    result = run_heron(["fix", "anything", "--repo", str(repo)], home)
    assert result.returncode == 2
    assert "heron.toml" in result.stderr and "max_steps" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigint_exits_130_and_leaves_files_whole(tmp_path, home, fake_server):
    repo = inventory(tmp_path)
    before = (repo / "inventory/stock.py").read_text()
    fake_server.script(Reply(text="thinking about it " * 200, chunk_delay=0.05))
    proc = subprocess.Popen(
        [str(HERON), "fix", "anything", "--repo", str(repo), "--base-url", fake_server.base_url, "--yes"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=heron_env(home),
    )
    assert fake_server.got_request.wait(30)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert (repo / "inventory/stock.py").read_text() == before
    assert not list(repo.rglob("*.heron"))
    assert git_status(repo) == ""


def readme_event_schema() -> dict[str, list[str]]:
    """The JSONL schema as the README documents it: rows of `| `type` | field, field | meaning |`."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("### Events of `--json`", 1)[1].split("\n#", 1)[0]
    schema = {}
    for row in section.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("`"):
            fields = cells[1].replace("`", "")
            schema[cells[0].strip("`")] = [f.strip() for f in fields.split(",") if f.strip() not in ("", "–")]
    return schema


def git_status(repo: Path) -> str:
    return subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout
