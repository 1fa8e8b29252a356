"""What the fault-injection suite shares: heron started as a real subprocess, killed at a chosen
point, and the state of a working tree compared byte for byte before and after."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable

from agent.config import Config, Mode
from agent.core.build import Role, open_session
from agent.events import Event
from agent.interfaces import Answer
from tests.conftest import HERON, heron_env
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call, tool_reply

# A headless session that refuses what the policy would ask, as `heron fix` without --yes does.
HEADLESS = Role(default_mode=Mode.FULL_AUTO, answer=Answer.NO)
# Seconds a test waits for heron to reach the point where it is to be killed.
REACH = 60.0

COMMAND = "echo ran >> runs.log"
# The stream's chunks: 0 the role, 1 the call's name, 2.. its arguments: 4 is inside them.
INSIDE_THE_ARGUMENTS = 4

# name -> the faulty reply that comes first, and whether the client reports a stream restart
# (every one does: a retry is never silent).
FAULTS: dict[str, tuple[Reply, bool]] = {
    "reset mid-stream": (Reply(tool_calls=[call("shell", command=COMMAND)],
                               cut_after_chunks=INSIDE_THE_ARGUMENTS), True),
    "[DONE] without a finish, mid-arguments": (Reply(tool_calls=[call("shell", command=COMMAND)],
                                                     fault_after_chunks=INSIDE_THE_ARGUMENTS, fault="done"), True),
    "invalid JSON in a chunk": (Reply(tool_calls=[call("shell", command=COMMAND)],
                                      fault_after_chunks=INSIDE_THE_ARGUMENTS, fault="bad_json"), True),
    "stall past the timeout": (Reply(tool_calls=[call("shell", command=COMMAND)],
                                     fault_after_chunks=INSIDE_THE_ARGUMENTS, fault="stall", stall_seconds=4), True),
    "429 with Retry-After": (Reply(error=(429, "too many requests"), headers={"Retry-After": "1"}), True),
    "500": (Reply(error=(500, "internal error")), True),
    "502 with Retry-After": (Reply(error=(502, "bad gateway"), headers={"Retry-After": "0"}), True),
    "503": (Reply(error=(503, "loading model")), True),
}


def run_turn(server: FakeOpenAIServer, repo: Path, events: list[Event], task: str = "run it",
             **config: object) -> str:
    options: dict[str, object] = {"max_retries": 2, "request_timeout": 2.0, **config}
    cfg = Config(base_url=server.base_url, approval="full-auto", **options)  # type: ignore[arg-type]
    rt = open_session(cfg, repo, events.append, HEADLESS)
    try:
        return rt.turn(task).status
    finally:
        rt.close()


def start_heron(args: list[str], home: Path, cwd: Path | None = None, **env: str) -> subprocess.Popen[str]:
    """The real CLI, running in its own process group (so a test's signals reach it alone)."""
    return subprocess.Popen([str(HERON), *args], cwd=cwd, env=heron_env(home, **env), text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def in_a_command(server: FakeOpenAIServer, repo: Path, home: Path, **env: str) -> tuple[subprocess.Popen[str], str]:
    """`heron fix` that writes new.py, then runs a long command: (heron, a token only that command
    holds), once the command runs."""
    token = f"300.{secrets.randbelow(10**6):06d}"
    server.script(tool_reply(call("write_file", path="new.py", content="x = 1\n")),
                  tool_reply(call("shell", command=f"sleep {token}")))
    heron = start_heron(["fix", "tidy up", "--repo", str(repo), "--base-url", server.base_url, "--yes"], home, **env)
    wait_for(lambda: bool(running(token)) or heron.poll() is not None, "the shell command to start")
    assert heron.poll() is None, heron.communicate()
    return heron, token


def wait_for(condition: Callable[[], bool], what: str, timeout: float = REACH) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def running(command_word: str) -> set[int]:
    """Live processes whose command line holds `command_word` (a unique token a test chose)."""
    pids = set()
    for name in _listdir("/proc"):
        if name.isdigit():
            try:
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if command_word in cmdline and _state(int(name)) != "Z":
                pids.add(int(name))
    return pids


def kill(process: subprocess.Popen[str], sig: int = signal.SIGKILL) -> tuple[str, str]:
    """Signal heron alone (not its group: the point is what heron leaves behind) and reap it."""
    os.kill(process.pid, sig)
    out, err = process.communicate(timeout=REACH)
    return out, err


def tree_state(root: Path) -> dict[str, bytes]:
    """Every file under `root` except .git, with its bytes and mode: what 'nothing lost' compares."""
    state = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] == ".git" or not path.is_file():
            continue
        state[str(rel)] = path.read_bytes() + f"\0mode={path.stat().st_mode & 0o7777:o}".encode()
    return state


def path_without(tmp_path: Path, *missing: str) -> str:
    """A PATH holding every program of this machine's PATH but `missing`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        for entry in Path(directory).glob("*") if Path(directory).is_dir() else []:
            target = bin_dir / entry.name
            if entry.name not in missing and not target.exists() and os.access(entry, os.X_OK):
                target.symlink_to(entry)
    return str(bin_dir)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"
