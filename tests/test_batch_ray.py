"""`heron fix --batch --ray` on a real local Ray cluster: a head and a second node, each 1 CPU.

One cluster for the module (starting one costs ~20 s); the test that stops a node runs last.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.test_batch import slow_finish, start_batch, wait_for_requests

if os.environ.get("CI") != "true":
    pytest.importorskip("ray")
from tests.ray_cluster import Cluster  # noqa: E402

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster(cpus=1) as made:
        yield made


def test_ctrl_c_stops_every_task_on_the_cluster(tmp_path, home, cluster):
    with FakeOpenAIServer() as server:
        server.script(slow_finish(120), slow_finish(120))
        proc, out, log = start_batch(tmp_path, home, server, 2, "--ray", cluster.address)
        wait_for_requests(server, 2)  # one task on each node, mid-answer
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=90)
    stderr = log.read_text()
    assert proc.returncode == 130, stderr
    assert "interrupted: stopping 2 running tasks" in stderr
    assert not out.exists() or out.read_text() == ""  # cut short: a rerun does them
    # Nothing of the batch is left on the cluster: both CPUs free, every slot of the mirror free.
    deadline = time.monotonic() + 30
    while cluster.free_cpus() < 2 * cluster.cpus and time.monotonic() < deadline:
        time.sleep(0.5)
    assert cluster.free_cpus() == 2 * cluster.cpus
    for lock in Path(os.environ["XDG_CACHE_HOME"]).glob("heron/batch/*.trees/*.lock"):
        with lock.open() as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if a task still held it


def test_a_task_whose_node_dies_runs_again_on_the_other(tmp_path, home, cluster):
    head = next(n["NodeID"] for n in cluster.nodes() if n["NodeManagerAddress"] and n["Resources"].get(
        "node:__internal_head__"))
    with FakeOpenAIServer() as server:
        # Two slow first answers (one per node); the task that starts over gets the quick one.
        server.script(slow_finish(8), slow_finish(8), slow_finish(1))
        proc, out, log = start_batch(tmp_path, home, server, 2, "--ray", cluster.address)
        wait_for_requests(server, 2)
        cluster.stop(cluster.second)
        proc.communicate(timeout=240)
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
