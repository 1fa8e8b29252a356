"""Hostile repository content through the real CLI: `heron map`, the file tools (as a model would
call them) and `heron undo` meet huge, binary and non-UTF-8 files, non-UTF-8 names and names
with a newline, symlink loops, links out of the workspace, very deep paths and files changing
while they are read. Each gives an answer, never a traceback; nothing outside leaks to the model;
undo puts every byte back."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import make_repo, run_heron
from tests.fakes.openai_server import call, tool_reply
from tests.faults.support import tree_state

pytestmark = pytest.mark.faults

SECRET = "SECRET_OUTSIDE_THE_WORKSPACE"
DEEP = "/".join(["d"] * 120) + "/deep.py"


def hostile_repo(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text(f"TOKEN = '{SECRET}'\n")
    repo = tmp_path / "r"
    make_repo(repo, {"main.py": "def main():\n    return helper()\n", "helper.py": "def helper():\n    return 1\n"})
    with open(repo / "huge.py", "w") as f:  # 24 MB of Python
        for n in range(1_000_000):
            f.write(f"v{n} = {n}\n")
    (repo / "blob.bin").write_bytes(os.urandom(1 << 20))
    (repo / "looks_like.py").write_bytes(b"\x00\x01\x02def x():\n\xff\xfe\x00")
    (repo / "latin1.py").write_bytes(b"# caf\xe9\nname = 'caf\xe9'\n")
    (repo / os.fsencode("caf\xe9.py").replace(b"\xc3\xa9", b"\xe9").decode(errors="surrogateescape")) \
        .write_bytes(b"def cafe():\n    return 1\n")
    (repo / "new\nline.py").write_text("def newline():\n    return 1\n")
    (repo / "loop").symlink_to("loop")
    (repo / "ping").symlink_to("pong")
    (repo / "pong").symlink_to("ping")
    (repo / "dirloop").mkdir()
    (repo / "dirloop/up").symlink_to("..")
    (repo / "escape.py").symlink_to(outside / "secret.py")
    (repo / "escape_dir").symlink_to(outside)
    (repo / DEEP).parent.mkdir(parents=True)
    (repo / DEEP).write_text("def deep():\n    return 1\n")
    (repo / "churn.py").write_text("def churn():\n    return 0\n")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "hostile"], check=True)
    return repo


@pytest.fixture
def churning() -> Iterator[list[Path]]:
    """Files rewritten, grown, shrunk and deleted over and over while the test runs."""
    paths: list[Path] = []
    stop = threading.Event()

    def churn() -> None:
        n = 0
        while not stop.is_set():
            for path in list(paths):
                n += 1
                try:
                    if n % 5 == 0:
                        path.unlink(missing_ok=True)
                    else:
                        path.write_text("def churn():\n    return 0\n" + "# more\n" * (n % 300))
                except OSError:
                    pass
            stop.wait(0.002)

    thread = threading.Thread(target=churn, daemon=True)
    thread.start()
    yield paths
    stop.set()
    thread.join()


def test_the_map_answers_and_leaks_nothing_from_outside(tmp_path, home, churning):
    repo = hostile_repo(tmp_path)
    churning.append(repo / "churn.py")
    for _ in range(2):  # cold, then from the cache
        result = run_heron(["map", str(repo), "--stats"], home, timeout=600)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert SECRET not in result.stdout
        assert "main.py" in result.stdout and "deep.py" in result.stdout


def test_the_file_tools_and_undo_answer_and_put_every_byte_back(tmp_path, home, fake_server, churning):
    repo = hostile_repo(tmp_path)
    churning.append(repo / "churn.py")
    reads = ["huge.py", "blob.bin", "looks_like.py", "latin1.py", "caf\ufffd.py", "new\nline.py", "loop",
             "ping", "dirloop/up/main.py", "escape.py", "escape_dir/secret.py", DEEP, "churn.py"]
    fake_server.script(
        *[tool_reply(call("read_file", path=p)) for p in reads],
        tool_reply(call("grep", pattern="caf|def ")),
        tool_reply(call("grep", pattern="TOKEN", path="escape_dir")),
        tool_reply(call("find_files", glob="*.py")),
        tool_reply(call("edit_file", path="latin1.py", old="name = 'caf\u00e9'", new="name = 'th\u00e9'")),
        tool_reply(call("write_file", path="new\nline.py", content="def newline():\n    return 2\n")),
        tool_reply(call("write_file", path=DEEP, content="def deep():\n    return 2\n")),
        tool_reply(call("write_file", path="escape.py", content="TOKEN = 'overwritten'\n")),
        tool_reply(call("finish", summary="looked around")),
    )
    churning.clear()  # from here on the tree holds still, so undo can be compared byte for byte
    before = tree_state(repo)
    outside_before = (tmp_path / "outside/secret.py").read_bytes()
    result = run_heron(["fix", "look around", "--repo", str(repo), "--base-url", fake_server.base_url, "--yes"],
                       home, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    sent = json.dumps(fake_server.chat_requests)
    assert SECRET not in sent
    assert "leads in a circle" in sent and "outside the workspace" in sent  # answered, as tool errors
    assert (repo / "latin1.py").read_bytes() == b"# caf\xe9\nname = 'th\xe9'\n"  # its encoding kept
    assert (tmp_path / "outside/secret.py").read_bytes() == outside_before  # the link was not written through

    undo = run_heron(["undo", "--repo", str(repo)], home, timeout=600)
    assert undo.returncode == 0, undo.stderr
    assert "Traceback" not in undo.stderr
    assert tree_state(repo) == before
