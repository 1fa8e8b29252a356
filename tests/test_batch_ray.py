"""`heron fix --batch --ray` on a real local Ray cluster: a head and a second node, each 1 CPU.

One cluster for the module (starting one costs ~20 s); the test that stops a node runs last.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import EXAMPLES, HERON, heron_env, make_repo
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call

if os.environ.get("CI") != "true":
    pytest.importorskip("ray")
import ray  # noqa: E402

pytestmark = pytest.mark.ray
RAY = Path(sys.executable).parent / "ray"
NODE = ["--num-cpus", "1", "--memory", str(2 * 10**9), "--object-store-memory", str(80 * 10**6),
        "--disable-usage-stats", "--block"]


class Cluster:
    def __init__(self, root: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.address = f"127.0.0.1:{s.getsockname()[1]}"
        self.root = root
        self.head = self._start("head", ["--head", "--port", self.address.split(":")[1], "--temp-dir", str(root),
                                          "--include-dashboard", "false"])
        self._wait_for_nodes(1)
        self.second = self._start("second", ["--address", self.address])
        self._wait_for_nodes(2)

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "w")
        # A process group of its own: stopping it stops that node and nothing else on the machine.
        return subprocess.Popen([str(RAY), "start", *args, *NODE], stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}, start_new_session=True)

    def nodes(self) -> list[dict]:
        return [n for n in self._ask(ray.nodes) if n["Alive"]]

    def free_cpus(self) -> float:
        return self._ask(ray.available_resources).get("CPU", 0.0)

    def _ask(self, what):  # a short-lived driver of the test's own
        ray.init(address=self.address, logging_level="ERROR", log_to_driver=False)
        try:
            return what()
        finally:
            ray.shutdown()

    def _wait_for_nodes(self, n: int) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if len(self.nodes()) >= n:
                    return
            except (ConnectionError, RuntimeError):
                pass
            time.sleep(1)
        raise RuntimeError(f"the Ray cluster did not come up: see {self.root}")

    def stop(self, node: subprocess.Popen) -> None:
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGTERM)
            try:
                node.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths live here
    made = Cluster(root)
    try:
        yield made
    finally:
        made.stop(made.second)
        made.stop(made.head)


def slow_finish(seconds: float) -> Reply:
    """A reply that streams for about `seconds`, then finishes the task."""
    return Reply(text="thinking " * 40, tool_calls=[call("finish", summary="done")], chunk_delay=seconds / 50)


def start_batch(tmp_path: Path, home: Path, server: FakeOpenAIServer, cluster: Cluster, n: int,
                ) -> tuple[subprocess.Popen, Path, Path]:
    repo_dir = tmp_path / "inventory"
    make_repo(repo_dir, source=EXAMPLES / "inventory")
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"id": f"t{i}", "issue": f"look at the stock, part {i}"}) + "\n"
                             for i in range(n)))
    out, log = tmp_path / "results.jsonl", tmp_path / "stderr.txt"
    proc = subprocess.Popen([str(HERON), "fix", "--batch", str(tasks), "--out", str(out), "--repo", str(repo_dir),
                             "--workers", str(n), "--ray", cluster.address, "--base-url", server.base_url,
                             "--model", "fake-model"], stdout=subprocess.PIPE, stderr=log.open("w"), text=True,
                            env=heron_env(home))
    return proc, out, log


def wait_for_requests(server: FakeOpenAIServer, n: int) -> None:
    deadline = time.monotonic() + 120
    while len(server.chat_requests) < n and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(server.chat_requests) >= n, "the tasks never reached the model server"


def test_ctrl_c_stops_every_task_on_the_cluster(tmp_path, home, cluster):
    with FakeOpenAIServer() as server:
        server.script(slow_finish(120), slow_finish(120))
        proc, out, log = start_batch(tmp_path, home, server, cluster, 2)
        wait_for_requests(server, 2)  # one task on each node, mid-answer
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=90)
    stderr = log.read_text()
    assert proc.returncode == 130, stderr
    assert "interrupted: stopping 2 running tasks" in stderr
    assert not out.exists() or out.read_text() == ""  # cut short: a rerun does them
    # Nothing of the batch is left on the cluster: both CPUs free, every slot of the mirror free.
    deadline = time.monotonic() + 30
    while cluster.free_cpus() < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert cluster.free_cpus() == 2
    for lock in Path(os.environ["XDG_CACHE_HOME"]).glob("heron/batch/*.trees/*.lock"):
        with lock.open() as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if a task still held it


def test_a_task_whose_node_dies_runs_again_on_the_other(tmp_path, home, cluster):
    head = next(n["NodeID"] for n in cluster.nodes() if n["NodeManagerAddress"] and n["Resources"].get(
        "node:__internal_head__"))
    with FakeOpenAIServer() as server:
        # Two slow first answers (one per node); the task that starts over gets the quick one.
        server.script(slow_finish(8), slow_finish(8), slow_finish(1))
        proc, out, log = start_batch(tmp_path, home, server, cluster, 2)
        wait_for_requests(server, 2)
        cluster.stop(cluster.second)
        stdout, _ = proc.communicate(timeout=240)
        assert not server.unused
    stderr = log.read_text()
    assert proc.returncode == 0, stderr
    assert "started over: its worker or node died" in stderr
    got = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert {r["status"] for r in got.values()} == {"fixed"}
    assert {r["node"] for r in got.values()} == {head}  # both ended on the node still alive
    for r in got.values():  # each transcript holds one attempt: the one that finished
        events = [json.loads(line)["type"] for line in Path(r["transcript"]).read_text().splitlines()]
        assert events.count("session_started") == 1 and events[-1] == "done"
