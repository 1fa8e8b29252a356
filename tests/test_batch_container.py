"""`fix --batch --container podman --container-image TEMPLATE`: each task's shell in its own real container.

The images are made here from a few of this machine's own binaries (`podman import`), since
nothing may be pulled. Where Podman cannot run a container the test is skipped, and fails under
CI=true. On a VM whose cgroups are hybrid and whose root may not raise rlimits (this project's
machines), crun refuses to start: tests/fakes/containers.conf points Podman at runc instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, make_repo, run_heron
from tests.fakes.openai_server import call, tool_reply

CONF = Path(__file__).parent / "fakes" / "containers.conf"
ENV = {"CONTAINERS_CONF": str(CONF)}
BINARIES = ("/bin/sh", "/bin/bash", "/bin/cat", "/bin/sleep", "/bin/ls")  # /bin/sh: what finds bash inside


def podman(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **ENV}, **kwargs)


def make_image(tmp_path: Path, tag: str, marker: str) -> str:
    """An image of bash and a few tools, with /etc/marker saying which image it is."""
    rootfs = tmp_path / f"rootfs-{tag}"
    for binary in BINARIES:
        needed = [binary] + [p for p in subprocess.run(["ldd", binary], capture_output=True, text=True)
                             .stdout.split() if p.startswith("/")]
        for path in needed:
            (rootfs / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, rootfs / path.lstrip("/"))
    (rootfs / "etc").mkdir(exist_ok=True)
    (rootfs / "etc/marker").write_text(marker + "\n")
    (rootfs / "tmp").mkdir(exist_ok=True)
    archive = tmp_path / f"{tag}.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(rootfs, arcname=".")
    name = f"localhost/heron-test:{tag}"
    made = podman("import", "--change", "ENV=PATH=/usr/bin:/bin", str(archive), name)
    assert made.returncode == 0, made.stderr
    return name


@pytest.fixture
def images(tmp_path):
    if shutil.which("podman") is None and os.environ.get("CI") != "true":
        pytest.skip("podman is not installed")
    tags = {"task-a": "inside image a", "task-b": "inside image b"}
    names = [make_image(tmp_path, tag, marker) for tag, marker in tags.items()]
    probe = podman("run", "--rm", names[0], "/bin/cat", "/etc/marker")
    if probe.returncode != 0 and os.environ.get("CI") != "true":
        pytest.skip(f"podman cannot run a container here: {probe.stderr.strip()}")
    assert probe.returncode == 0, probe.stderr
    yield tags
    podman("rmi", "--force", *names)


def test_each_tasks_shell_runs_in_its_own_container(tmp_path, home, fake_server, images):
    repo_dir = tmp_path / "inventory"
    make_repo(repo_dir, source=EXAMPLES / "inventory")
    for tag in images:
        fake_server.script_for(tag, tool_reply(call("shell", command="cat /etc/marker; ls inventory")),
                               tool_reply(call("shell", command="echo made in the container > NOTE")),
                               tool_reply(call("finish", summary="looked")))
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"id": tag, "issue": f"{tag}: look around"}) + "\n" for tag in images))
    out = tmp_path / "results.jsonl"
    result = run_heron(["fix", "--batch", str(tasks), "--out", str(out), "--repo", str(repo_dir), "--workers", "2",
                        "--base-url", fake_server.base_url, "--container", "podman",
                        "--container-image", "localhost/heron-test:{id}"], home, timeout=300, **ENV)
    assert result.returncode == 0, result.stderr
    got = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    for tag, marker in images.items():
        outputs = [e["output"] for e in map(json.loads, Path(got[tag]["transcript"]).read_text().splitlines())
                   if e["type"] == "tool_finished" and e["name"] == "shell"]
        assert marker in outputs[0] and "stock.py" in outputs[0]  # its own image, and its worktree
        # What the shell wrote in the container is in the task's worktree, so in its patch.
        assert "+made in the container" in got[tag]["patch"]
    left = podman("ps", "--all", "--filter", "name=heron-", "--format", "{{.Names}}")
    assert left.stdout.strip() == ""  # every task's container is gone


def test_an_engine_that_cannot_run_containers_is_a_clear_error(tmp_path, home):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text('{"id": "a", "issue": "x"}\n')
    argv = ["fix", "--batch", str(tasks), "--base-url", "http://127.0.0.1:9/v1", "--model", "m",
            "--container", "docker", "--container-image", "x:{id}"]
    bare = tmp_path / "bin"  # git alone on the PATH: no docker there
    bare.mkdir()
    (bare / "git").symlink_to(shutil.which("git"))
    missing = run_heron(argv, home, PATH=str(bare))
    assert missing.returncode == 2
    assert "--container docker: docker is not installed on this machine" in missing.stderr
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        no_daemon = run_heron(argv, home)  # a docker client without its daemon, as on this machine
        assert no_daemon.returncode == 2
        assert "--container docker: docker cannot run containers here:" in no_daemon.stderr
