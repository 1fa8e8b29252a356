"""`heron fix --batch`: real repositories, the real CLI, one scripted server for every worker."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from agent.batch.endpoints import Endpoints
from tests.conftest import EXAMPLES, HERON, heron_env, make_repo, run_heron
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call, tool_reply

BUGGY = "if n < threshold)"
FIXED = "if n <= threshold)"
TEST_CMD = "python -m pytest -q"


def fixing(path: str = "inventory/stock.py") -> list[Reply]:
    return [
        tool_reply(call("read_file", path=path)),
        tool_reply(call("edit_file", path=path, old=BUGGY, new=FIXED)),
        tool_reply(call("finish", summary="fixed the comparison")),
    ]


def write_tasks(path: Path, tasks: list[dict]) -> Path:
    path.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    return path


def swebench_predictions(path: Path, tasks: Path) -> dict[str, dict]:
    """Predictions as `python -m swebench.harness.run_evaluation` loads them, checked against the
    tasks as a SWE-bench dataset file (instance_id, repo, base_commit, problem_statement)."""
    if os.environ.get("CI") != "true":
        pytest.importorskip("swebench")
    from swebench.harness.run_evaluation import get_dataset_from_preds
    from swebench.harness.utils import get_predictions_from_file

    dataset = path.with_name("dataset.jsonl")
    instances = [{"instance_id": t["id"], "repo": t.get("repo"), "base_commit": t.get("base_commit"),
                  "problem_statement": t["issue"]} for t in map(json.loads, tasks.read_text().splitlines())]
    dataset.write_text("".join(json.dumps(i) + "\n" for i in instances))
    loaded = get_predictions_from_file(str(path), str(dataset), "test")
    by_id = {p["instance_id"]: p for p in loaded}
    assert len(by_id) == len(loaded)  # no instance twice
    matched = get_dataset_from_preds(str(dataset), "test", [], by_id, "heron-test", rewrite_reports=False,
                                     exclude_completed=False)
    # The harness evaluates the instances with a patch; an empty one is reported as such.
    assert {i["instance_id"] for i in matched} == {k for k, p in by_id.items() if p["model_patch"]}
    # The keys the harness reads from each prediction (run_evaluation.run_instance).
    assert all(isinstance(p["model_name_or_path"], str) and isinstance(p["model_patch"], str) for p in loaded)
    return by_id


def results(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, path.read_text().splitlines())}


def test_a_mixed_batch_reports_each_task_and_swebench_predictions(tmp_path, home, fake_server):
    repo_dir = tmp_path / "inventory"
    repo = make_repo(repo_dir, source=EXAMPLES / "inventory")
    base = repo.head.commit.hexsha
    fake_server.script_for("issue-fixable", *fixing())
    fake_server.script_for("issue-unfixable", tool_reply(call("finish", summary="cannot")))
    fake_server.script_for("issue-crashing", Reply(error=(500, "the model crashed")))
    tasks = write_tasks(tmp_path / "tasks.jsonl", [
        {"id": "fixable", "issue": "issue-fixable: low stock misses the threshold", "repo": str(repo_dir),
         "base_commit": base, "test_cmd": TEST_CMD},
        {"id": "unfixable", "issue": "issue-unfixable", "repo": str(repo_dir), "test_cmd": TEST_CMD},
        {"id": "crashing", "issue": "issue-crashing", "repo": str(repo_dir)},
    ])
    out = tmp_path / "results.jsonl"
    result = run_heron(["fix", "--batch", str(tasks), "--out", str(out), "--workers", "4",
                        "--base-url", fake_server.base_url, "--task-timeout", "60", "--format", "swebench",
                        "--retries", "0"], home, timeout=180)
    assert result.returncode == 1, result.stderr  # one task errored; the batch still finished
    got = results(out)
    assert {k: v["status"] for k, v in got.items()} == {
        "fixable": "fixed", "unfixable": "tests-failed", "crashing": "error"}
    assert "answered 500: the model crashed" in got["crashing"]["error"]
    fixed = got["fixable"]
    assert FIXED in fixed["patch"] and fixed["steps"] == 3 and fixed["tokens_in"] == 300
    assert Path(fixed["transcript"]).is_file()
    assert got["unfixable"]["patch"] == ""
    # The user's repository is untouched: every task ran in its own clone.
    assert repo.git.status("--porcelain") == "" and BUGGY in (repo_dir / "inventory/stock.py").read_text()
    # Each task ran in a slot of one shared mirror, never in a clone of its own.
    assert not list((tmp_path / "results.work").glob("*/repo"))
    assert {Path(r["transcript"]).parent for r in got.values()} == {tmp_path / "results.work"}
    # The predictions, read by the SWE-bench harness's own loader and matched to its dataset.
    predictions = swebench_predictions(tmp_path / "results.predictions.jsonl", tmp_path / "tasks.jsonl")
    assert set(predictions) == set(got)
    assert {p["model_name_or_path"] for p in predictions.values()} == {"heron+fake-model"}
    patch = predictions["fixable"]["model_patch"]
    check = subprocess.run(["git", "apply", "--check", "-"], cwd=repo_dir, input=patch, text=True,
                           capture_output=True)
    assert check.returncode == 0, check.stderr
    assert "1 fixed" in result.stdout and "1 tests-failed" in result.stdout


def test_a_task_past_its_timeout_is_an_error_and_the_batch_goes_on(tmp_path, home, fake_server):
    repo_dir = tmp_path / "inventory"
    make_repo(repo_dir, source=EXAMPLES / "inventory")
    fake_server.script_for("issue-hanging", Reply(text="slow " * 2000, chunk_delay=0.2))
    fake_server.script_for("issue-quick", tool_reply(call("finish", summary="done")))
    tasks = write_tasks(tmp_path / "tasks.jsonl", [
        {"id": "hanging", "issue": "issue-hanging"}, {"id": "quick", "issue": "issue-quick"}])
    out = tmp_path / "results.jsonl"
    result = run_heron(["fix", "--batch", str(tasks), "--out", str(out), "--repo", str(repo_dir), "--workers", "2",
                        "--base-url", fake_server.base_url, "--task-timeout", "5", "--retries", "0"], home, timeout=120)
    assert result.returncode == 1, result.stderr
    got = results(out)
    assert got["hanging"]["status"] == "error" and "timed out after 5 s" in got["hanging"]["error"]
    assert got["quick"]["status"] != "error", got["quick"]


def slow_finish(seconds: float) -> Reply:
    """A reply that streams for about `seconds`, then finishes the task."""
    return Reply(text="thinking " * 40, tool_calls=[call("finish", summary="done")], chunk_delay=seconds / 50)


def start_batch(tmp_path: Path, home: Path, server: FakeOpenAIServer, n: int, *flags: str,
                ) -> tuple[subprocess.Popen, Path, Path]:
    """`heron fix --batch` of n tasks on n workers, running; its results file and its stderr's."""
    repo_dir = tmp_path / "inventory"
    make_repo(repo_dir, source=EXAMPLES / "inventory")
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"id": f"t{i}", "issue": f"look at the stock, part {i}"}) + "\n"
                             for i in range(n)))
    out, log = tmp_path / "results.jsonl", tmp_path / "stderr.txt"
    proc = subprocess.Popen([str(HERON), "fix", "--batch", str(tasks), "--out", str(out), "--repo", str(repo_dir),
                             "--workers", str(n), "--base-url", server.base_url, "--model", "fake-model", *flags],
                            stdout=subprocess.PIPE, stderr=log.open("w"), text=True, env=heron_env(home),
                            start_new_session=True)
    return proc, out, log


def wait_for_requests(server: FakeOpenAIServer, n: int) -> None:
    deadline = time.monotonic() + 120
    while len(server.chat_requests) < n and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(server.chat_requests) >= n, "the tasks never reached the model server"


def in_group(pgid: int) -> list[int]:
    """The live processes of a process group (a batch started in a session of its own)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry))
    return found


def test_ctrl_c_stops_every_local_worker_and_leaves_no_process(tmp_path, home):
    with FakeOpenAIServer() as server:
        server.script(slow_finish(120), slow_finish(120))
        proc, out, log = start_batch(tmp_path, home, server, 2)
        wait_for_requests(server, 2)  # both workers mid-answer
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=90)
    stderr = log.read_text()
    assert proc.returncode == 130, stderr
    assert "interrupted: stopping 2 running tasks" in stderr and "Traceback" not in stderr
    assert not out.exists() or out.read_text() == ""  # cut short: a rerun does them
    deadline = time.monotonic() + 10
    while in_group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not in_group(proc.pid), "worker processes outlived the batch"


def test_rerunning_skips_finished_ids_and_redoes_a_cut_line(tmp_path, home, fake_server):
    repo_dir = tmp_path / "inventory"
    make_repo(repo_dir, source=EXAMPLES / "inventory")
    out = tmp_path / "results.jsonl"
    done = {"id": "a", "status": "fixed", "patch": "", "steps": 1, "tokens_in": 1, "tokens_out": 1,
            "cached_tokens": 0, "wall_time": 1.0, "transcript": "", "error": ""}
    # "b" was being written when the run was killed: its line is cut, so it runs again.
    out.write_text(json.dumps(done) + "\n" + '{"id": "b", "status": "fi')
    fake_server.script_for("task-b", *fixing())
    tasks = write_tasks(tmp_path / "tasks.jsonl", [
        {"id": "a", "issue": "task-a"}, {"id": "b", "issue": "task-b"}])
    result = run_heron(["fix", "--batch", str(tasks), "--out", str(out), "--repo", str(repo_dir),
                        "--base-url", fake_server.base_url], home, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "resuming: 1 tasks already" in result.stderr
    lines = out.read_text().splitlines()
    assert json.loads(lines[0]) == done
    assert json.loads(lines[-1])["id"] == "b" and json.loads(lines[-1])["status"] == "fixed"


def test_a_bad_task_file_is_a_usage_error(tmp_path, home):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text('{"id": "a", "issue": "x"}\nnot json\n')
    result = run_heron(["fix", "--batch", str(tasks), "--base-url", "http://127.0.0.1:9/v1"], home)
    assert result.returncode == 2
    assert f"{tasks}:2: not a task line" in result.stderr


def test_workers_pause_while_the_server_is_away_and_resume(tmp_path, home):
    repo_dir = tmp_path / "inventory"
    make_repo(repo_dir, source=EXAMPLES / "inventory")
    tasks = write_tasks(tmp_path / "tasks.jsonl", [{"id": "a", "issue": "task-a"}])
    out = tmp_path / "results.jsonl"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr_file:
        proc = subprocess.Popen(
            [str(HERON), "fix", "--batch", str(tasks), "--out", str(out), "--repo", str(repo_dir),
             "--base-url", f"http://127.0.0.1:{port}/v1", "--model", "fake-model"],
            stdout=subprocess.PIPE, stderr=stderr_file, text=True, env=heron_env(home))
        deadline = time.monotonic() + 60
        while "workers paused" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)  # the first attempt fails and the workers pause
        server = FakeOpenAIServer(port=port).script(*fixing()).start()
        try:
            proc.communicate(timeout=120)
        finally:
            server.stop()
    stderr = log.read_text()
    assert proc.returncode == 0, stderr
    assert "is not answering; workers paused" in stderr and "is back; workers resume" in stderr
    assert results(out)["a"]["status"] == "fixed"


def test_tasks_spread_over_several_servers_and_a_dead_one_is_drained(tmp_path, home, fake_servers):
    repo_dir = tmp_path / "inventory"
    make_repo(repo_dir, source=EXAMPLES / "inventory")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"  # nothing listens there
    one, two = fake_servers(), fake_servers()
    names = [f"task-{i}" for i in range(4)]
    for server in (one, two):  # either server may get any task: each knows every script
        for name in names:
            server.script_for(name, tool_reply(call("finish", summary="looked")))
    tasks = write_tasks(tmp_path / "tasks.jsonl", [{"id": n, "issue": n} for n in names])
    out = tmp_path / "results.jsonl"
    result = run_heron(["fix", "--batch", str(tasks), "--out", str(out), "--repo", str(repo_dir), "--workers", "3",
                        "--base-url", dead, "--base-url", one.base_url, "--base-url", two.base_url,
                        "--model", "fake-model"], home, timeout=180)
    assert result.returncode == 0, result.stderr
    assert f"the model server at {dead} is not answering; its tasks go to the other servers" in result.stderr
    got = results(out)
    assert {r["status"] for r in got.values()} == {"fixed"}
    used = {r["endpoint"] for r in got.values()}
    assert used == {one.base_url, two.base_url}  # spread over both, none left on the dead one
    # The progress line shows each server's load and speed.
    assert re.search(r"127\.0\.0\.1:\d+ drained \d+ tok/s", result.stderr), result.stderr
    for server in (one, two):
        server.keyed.clear()  # each task ran on one of the two: the other's script stays unused


def test_a_task_goes_back_to_its_server_and_a_new_one_to_the_least_busy():
    said: list[str] = []
    a, b = "http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"
    servers = Endpoints([a, b], "sk-local", said.append)
    assert servers.acquire("t1") == a
    assert servers.acquire("t2") == b  # a is busier
    servers.release(a)  # t1's attempt ended
    assert [servers.acquire("t3"), servers.acquire("t4")] == [a, a]  # a: 2 running, b: 1
    assert servers.acquire("t1") == a  # its prompt is cached there, busier or not
    assert servers.acquire("t5") == b
    assert servers.status() == "127.0.0.1:9 3 running 0 tok/s | 127.0.0.1:10 2 running 0 tok/s"
