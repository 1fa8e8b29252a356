from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import git
import pytest

from tests.fakes.openai_server import FakeOpenAIServer

if TYPE_CHECKING:
    from agent.sandbox.bubblewrap import Sandbox

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
# The installed console script, beside this interpreter: the CLI exactly as a user runs it.
HERON = Path(sys.executable).parent / "heron"


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the repo map's caches, the sessions and the MCP servers' logs of tests out of the user's
    directories."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("data"))
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))


@pytest.fixture
def anyio_backend() -> str:
    """The event loop of the app's async tests (Textual runs on asyncio)."""
    return "asyncio"


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAIServer]:
    """A scripted OpenAI-compatible server; fails the test on surprises and on unused replies."""
    server = FakeOpenAIServer().start()
    try:
        yield server
    finally:
        server.stop()
    assert not server.surprises, f"the fake server got requests it did not expect: {server.surprises}"
    assert not server.unused, f"{server.unused} scripted replies were never asked for"


@pytest.fixture
def fake_servers() -> Iterator[Callable[..., FakeOpenAIServer]]:
    """Makes started fake servers (e.g. posing as a server kind); each is checked like fake_server."""
    servers: list[FakeOpenAIServer] = []

    def make(**options: Any) -> FakeOpenAIServer:
        servers.append(FakeOpenAIServer(**options).start())
        return servers[-1]

    try:
        yield make
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        assert not server.surprises, f"a fake {server.kind} server got unexpected requests: {server.surprises}"
        assert not server.unused, f"{server.unused} scripted replies were never asked for"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty HOME, so no user config on this machine leaks into a test."""
    path = tmp_path / "home"
    path.mkdir()
    return path


def write_files(root: Path, files: dict[str, str]) -> None:
    """Each file of `files` (path relative to `root` -> text) written, folders made as needed."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def make_repo(path: Path, files: dict[str, str] | None = None, source: Path | None = None) -> git.Repo:
    """A real git repository with one commit, from a dict of files or a copy of a directory."""
    if source is not None:
        shutil.copytree(source, path, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    write_files(path, files or {})
    repo = git.Repo.init(path, initial_branch="main")
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "Test")
        cw.set_value("user", "email", "test@example.com")
        cw.set_value("commit", "gpgsign", "false")
    repo.git.add(A=True)
    repo.index.commit("initial")
    return repo


def heron_env(home: Path, **extra: str) -> dict[str, str]:
    # COLUMNS and LINES: pytest-xdist sets them in its workers, and a terminal app would take them
    # for its size over the terminal's own.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HERON_", "OPENAI_")) and k not in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "COLUMNS", "LINES")}
    # PYTHONPATH: the CLI runs this checkout's code, whichever checkout pip installed.
    env.update(HOME=str(home), HERON_MAX_RETRIES="0", PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT), **extra)
    return env


def run_heron(args: list[str], home: Path, cwd: Path | None = None, input: str | None = None,
              timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """The real CLI, as a subprocess."""
    return subprocess.run(
        [str(HERON), *args], cwd=cwd, input=input, capture_output=True,
        text=True, timeout=timeout, env=heron_env(home, **env),
    )


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    """A bubblewrap sandbox over tmp_path/ws. Without a working bwrap: skipped on a workstation,
    FAILED under CI=true, where the sandbox is part of what must be tested."""
    from agent.sandbox.bubblewrap import Sandbox, bwrap_problem

    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    box = Sandbox(workspace.resolve())
    problem = bwrap_problem(box)
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the sandbox tests need bubblewrap under CI: {problem}")
        pytest.skip(problem)
    return box


@pytest.fixture
def outside() -> Iterator[Path]:
    """A host directory outside the workspace that the sandbox can see (not under the private /tmp)."""
    path = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="heron-outside-"))
    (path / "target").write_text("original\n")
    yield path
    shutil.rmtree(path)
