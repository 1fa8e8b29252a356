"""A real local Ray cluster for tests and benchmarks: a head and a second node, in a temp dir.

Each node is a `ray start --block` in a process group of its own, so stopping one stops that
node and nothing else on the machine ("a node dies").
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import ray

RAY = Path(sys.executable).parent / "ray"
NODE = ["--memory", str(2 * 10**9), "--object-store-memory", str(80 * 10**6),
        "--disable-usage-stats", "--block"]


class Cluster:
    def __init__(self, cpus: int, enter: Callable[[], None] | None = None) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.address = f"127.0.0.1:{s.getsockname()[1]}"
        self.cpus = cpus
        self.enter = enter  # run in each node's process before it starts (the benchmark's CPU meter)
        self.root = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths live here
        self.head = self._start("head", ["--head", "--port", self.address.split(":")[1], "--temp-dir", str(self.root),
                                          "--include-dashboard", "false"])
        self.second: subprocess.Popen | None = None
        try:
            self._wait_for_nodes(1)
            self.second = self._start("second", ["--address", self.address])
            self._wait_for_nodes(2)
        except BaseException:
            self.__exit__()
            raise

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "w")
        # A process group of its own: stopping it stops that node and nothing else on the machine.
        # No worker processes started ahead of tasks: on a small machine, N at once stall the node.
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_enable_worker_prestart": "0"}
        return subprocess.Popen([str(RAY), "start", *args, "--num-cpus", str(self.cpus), *NODE], stdout=log,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                preexec_fn=self.enter)

    def nodes(self) -> list[dict]:
        return [n for n in self._ask(ray.nodes) if n["Alive"]]

    def free_cpus(self) -> float:
        return self._ask(ray.available_resources).get("CPU", 0.0)

    def _ask(self, what: Callable[[], Any]) -> Any:  # a short-lived driver of the caller's own
        ray.init(address=self.address, logging_level="ERROR", log_to_driver=False)
        try:
            return what()
        finally:
            ray.shutdown()

    def _wait_for_nodes(self, n: int) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if len(self.nodes()) >= n:
                    return
            except (ConnectionError, RuntimeError):
                pass
            time.sleep(1)
        raise RuntimeError(f"the Ray cluster did not come up: see {self.root}")

    def stop(self, node: subprocess.Popen | None) -> None:
        if node is not None and node.poll() is None:
            os.killpg(node.pid, signal.SIGTERM)
            try:
                node.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait()

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(self.second)
        self.stop(self.head)
        shutil.rmtree(self.root, ignore_errors=True)
