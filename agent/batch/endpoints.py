"""Several model servers: each task goes to the least busy one and stays there; a failing one drains.

A task is sent where the fewest tasks are running (each running task has at most one request in
flight) and is sent back to the same server on a retry, because its prompt is cached there. A
server that stops answering is drained: no new task goes to it, a prober asks it again with
backoff, and it takes work again once it answers. With every server drained, workers wait.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import openai

SERVER_WAIT_LIMIT = 1800.0  # seconds a drained server is probed before it is given up


class NoServerLeft(RuntimeError):
    """Every server failed for longer than SERVER_WAIT_LIMIT."""


@dataclass
class EndpointLoad:
    url: str
    running: int = 0
    tokens: int = 0  # completion tokens reported by tasks on it
    drained: bool = False
    dead: bool = False
    since: float = field(default_factory=time.monotonic)


class Endpoints:
    def __init__(self, urls: list[str], api_key: str, say: Callable[[str], None]) -> None:
        self.loads = {url: EndpointLoad(url) for url in urls}
        self.api_key, self.say = api_key, say
        self.sticky: dict[str, str] = {}
        self.changed = threading.Condition()
        self.closed = False

    def acquire(self, task_id: str) -> str:
        """The server for the task's next attempt; waits while every server is drained."""
        with self.changed:
            while True:
                usable = [e for e in self.loads.values() if not e.drained and not e.dead]
                if usable:
                    home = self.loads.get(self.sticky.get(task_id, ""))
                    chosen = home if home in usable else min(usable, key=lambda e: e.running)
                    chosen.running += 1
                    self.sticky[task_id] = chosen.url
                    return chosen.url
                if all(e.dead for e in self.loads.values()):
                    raise NoServerLeft("no model server answered for "
                                       f"{SERVER_WAIT_LIMIT:g} s: {', '.join(self.loads)}")
                if self.closed:
                    raise NoServerLeft("the batch was stopped while every server was drained")
                self.changed.wait()

    def close(self) -> None:
        """Wakes the workers waiting for a server, to stop (Ctrl-C)."""
        with self.changed:
            self.closed = True
            self.changed.notify_all()

    def release(self, url: str) -> None:
        with self.changed:
            self.loads[url].running -= 1
            self.changed.notify_all()

    def count(self, url: str, tokens: int) -> None:
        with self.changed:
            self.loads[url].tokens += tokens

    def alive(self, url: str) -> bool:
        client = openai.OpenAI(base_url=url, api_key=self.api_key, max_retries=0, timeout=5)
        try:
            client.models.list()
            return True
        except openai.APIError:
            return False

    def drain(self, url: str) -> None:
        """Stop sending tasks to `url` and probe it until it answers (on its own thread)."""
        with self.changed:
            load = self.loads[url]
            if load.drained or load.dead:
                return
            load.drained = True
            others = any(not e.drained and not e.dead for e in self.loads.values())
        self.say(f"the model server at {url} is not answering; "
                 + ("its tasks go to the other servers" if others else "workers paused"))
        threading.Thread(target=self._probe, args=(url,), daemon=True).start()

    def _probe(self, url: str) -> None:
        waited, delay = 0.0, 1.0
        while not self.alive(url):
            if waited > SERVER_WAIT_LIMIT:
                self.say(f"the model server at {url} did not come back; it gets no more tasks")
                with self.changed:
                    self.loads[url].dead = True
                    self.changed.notify_all()
                return
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 30.0)
        with self.changed:
            self.loads[url].drained = False
            self.changed.notify_all()
        self.say(f"the model server at {url} is back; workers resume")

    def status(self) -> str:
        """Each server's running tasks and tokens per second, for the progress line."""
        now = time.monotonic()
        with self.changed:
            parts = []
            for e in self.loads.values():
                state = "dead" if e.dead else "drained" if e.drained else f"{e.running} running"
                parts.append(f"{_short(e.url)} {state} {e.tokens / max(now - e.since, 1e-9):.0f} tok/s")
        return " | ".join(parts)


def _short(url: str) -> str:
    return url.split("://", 1)[-1].removesuffix("/v1").removesuffix("/")
