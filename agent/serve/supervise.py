"""Starting a model server in the background and keeping track of it: a state file in heron's
state directory (pid, command, address, log), a health wait with progress, status and stop.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import platformdirs

from agent.errors import HeronError, Interrupted, ServerError

HEALTH_PATHS = {"llama-server": "/health", "vllm": "/health", "ollama": "/api/version"}
PROGRESS_EVERY = 5.0  # seconds between "still loading" lines
STOP_GRACE = 20.0  # seconds a server gets to exit after SIGTERM


@dataclass(frozen=True)
class Served:
    pid: int
    runtime: str
    argv: list[str]
    address: str  # http://127.0.0.1:PORT
    log: str
    model: str  # the name heron asks the server for
    heron_command: str

    @property
    def base_url(self) -> str:
        return f"{self.address}/v1"


def state_dir() -> Path:
    return platformdirs.user_state_path("heron") / "serve"


def state_file() -> Path:
    return state_dir() / "server.json"


def log_file(runtime: str) -> Path:
    return state_dir() / f"{runtime}.log"


def load() -> Served | None:
    try:
        return Served(**json.loads(state_file().read_text()))
    except (OSError, ValueError, TypeError):
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this very process is not alive; reap it.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def healthy(address: str, runtime: str) -> bool:
    try:
        with urllib.request.urlopen(address + HEALTH_PATHS[runtime], timeout=3) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start(argv: list[str], env: dict[str, str], runtime: str) -> tuple[subprocess.Popen[bytes], Path]:
    state_dir().mkdir(parents=True, exist_ok=True)
    log = log_file(runtime)
    with open(log, "wb") as out:
        # Its own session: the server outlives `heron serve` and a Ctrl-C in this terminal.
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, **env}, start_new_session=True)
    return process, log


def record(served: Served) -> None:
    state_dir().mkdir(parents=True, exist_ok=True)
    state_file().write_text(json.dumps(asdict(served), indent=2))


def wait_healthy(process: subprocess.Popen[bytes], address: str, runtime: str, log: Path, timeout: float,
                 say: Callable[[str], None]) -> None:
    """Until the server answers its health check; its log's tail when it dies or takes too long."""
    began = last = time.monotonic()
    say(f"waiting for {runtime} at {address} (log: {log})")
    try:
        while not healthy(address, runtime):
            if process.poll() is not None:
                raise ServerError(f"{runtime} exited with code {process.returncode} before it was ready:\n"
                                  f"{tail(log)}\n(full log: {log})")
            now = time.monotonic()
            if now - began > timeout:
                terminate(process.pid)
                raise ServerError(f"{runtime} was not ready after {timeout:.0f} s; stopped it. Its log:\n{tail(log)}\n"
                                  "(a large model loads slowly from a slow disk: --wait SECONDS gives it longer)")
            if now - last >= PROGRESS_EVERY:
                say(f"  still loading after {now - began:.0f} s: {last_line(log)}")
                last = now
            time.sleep(0.5)
    except KeyboardInterrupt:
        terminate(process.pid)
        raise Interrupted(f"interrupted: stopped {runtime}") from None


def tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def last_line(log: Path) -> str:
    text = tail(log, 1).strip()
    return text[:120] if text else "(nothing logged yet)"


def terminate(pid: int) -> None:
    """SIGTERM to the server's process group, SIGKILL after STOP_GRACE seconds."""
    for sig, wait in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not alive(pid):
                return
            time.sleep(0.2)


def status(say: Callable[[str], None]) -> int:
    served = load()
    if served is None:
        say("no server started by `heron serve`")
        return 1
    if not alive(served.pid):
        say(f"{served.runtime} (pid {served.pid}) is no longer running; its log: {served.log}")
        state_file().unlink(missing_ok=True)
        return 1
    state = "ready" if healthy(served.address, served.runtime) else "running, not answering its health check yet"
    say(f"{served.runtime} pid {served.pid} at {served.base_url}: {state}")
    say(f"model: {served.model}")
    say(f"log: {served.log}")
    say(f"start heron: {served.heron_command}")
    return 0


def stop(say: Callable[[str], None]) -> int:
    served = load()
    if served is None:
        say("no server started by `heron serve`")
        return 1
    if alive(served.pid):
        terminate(served.pid)
        if alive(served.pid):
            raise HeronError(f"{served.runtime} (pid {served.pid}) did not stop; kill it yourself", 1)
        say(f"stopped {served.runtime} (pid {served.pid})")
    else:
        say(f"{served.runtime} (pid {served.pid}) was not running")
    state_file().unlink(missing_ok=True)
    return 0
