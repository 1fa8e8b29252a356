"""`fix --batch --container podman --container-image TEMPLATE`: each task's shell in its own real container.

The images are made here from a few of this machine's own binaries (`podman import`), since
nothing may be pulled. Where Podman cannot run a container the test is skipped, and fails under
CI=true. On a VM whose cgroups are hybrid and whose root may not raise rlimits (this project's
machines), crun refuses to start: tests/fakes/containers.conf points Podman at runc instead.

The container guards the task's git as the other sandbox tiers do (protect.py): a model that
tries to make the host's git run its code, from the container's shell, changes nothing there.
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
# What a model in the container tries git with, and what it tries to undo a mount with.
GIT_BINARIES = (*BINARIES, "/usr/bin/git", "/bin/chmod", "/bin/umount", "/bin/grep")


def podman(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **ENV}, **kwargs)


def make_image(tmp_path: Path, tag: str, marker: str, binaries: tuple[str, ...] = BINARIES) -> str:
    """An image of bash and a few tools, with /etc/marker saying which image it is."""
    rootfs = tmp_path / f"rootfs-{tag}"
    for binary in binaries:
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


def need_podman() -> None:
    if shutil.which("podman") is None and os.environ.get("CI") != "true":
        pytest.skip("podman is not installed")


def check_runs(name: str) -> None:
    """Podman can run `name` here; skipped if not, failed under CI."""
    probe = podman("run", "--rm", name, "/bin/cat", "/etc/marker")
    if probe.returncode != 0 and os.environ.get("CI") != "true":
        pytest.skip(f"podman cannot run a container here: {probe.stderr.strip()}")
    assert probe.returncode == 0, probe.stderr


@pytest.fixture
def images(tmp_path):
    need_podman()
    tags = {"task-a": "inside image a", "task-b": "inside image b"}
    names = [make_image(tmp_path, tag, marker) for tag, marker in tags.items()]
    check_runs(names[0])
    yield tags
    podman("rmi", "--force", *names)


@pytest.fixture(scope="module")
def git_image(tmp_path_factory):
    """An image with git in it, for the tasks below: localhost/heron-test:git."""
    need_podman()
    name = make_image(tmp_path_factory.mktemp("image"), "git", "with git", GIT_BINARIES)
    check_runs(name)
    yield name
    podman("rmi", "--force", name)


def run_batch(tmp_path: Path, home: Path, fake_server, scripts: dict[str, list], workers: int = 1,
              image: str = "localhost/heron-test:git") -> tuple[Path, dict[str, dict]]:
    """A batch over the inventory example, one task per script (in order with one worker), each
    task's shell in a container of `image`; the repository and the results by task id."""
    repo_dir = tmp_path / "inventory"
    make_repo(repo_dir, source=EXAMPLES / "inventory")
    for task_id, replies in scripts.items():
        fake_server.script_for(task_id, *replies)
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"id": t, "issue": f"{t}: do it"}) + "\n" for t in scripts))
    out = tmp_path / "results.jsonl"
    result = run_heron(["fix", "--batch", str(tasks), "--out", str(out), "--repo", str(repo_dir), "--workers",
                        str(workers), "--base-url", fake_server.base_url, "--container", "podman",
                        "--container-image", image], home, timeout=300, **ENV)
    assert result.returncode == 0, result.stderr
    return repo_dir, {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}


def mirror_of(repo_dir: Path) -> Path:
    """The batch's shared mirror of `repo_dir`, under heron's cache."""
    batch = Path(os.environ["XDG_CACHE_HOME"]) / "heron" / "batch"
    found = [m for m in batch.glob("*.git") if f"url = {repo_dir}" in map(str.strip, (m / "config").open())]
    assert len(found) == 1, found
    return found[0]


def events(result: dict) -> list[dict]:
    return [json.loads(line) for line in Path(result["transcript"]).read_text().splitlines()]


def shell_outputs(result: dict) -> list[str]:
    return [e["output"] for e in events(result) if e["type"] == "tool_finished" and e["name"] == "shell"]


def test_each_tasks_shell_runs_in_its_own_container(tmp_path, home, fake_server, images):
    _, got = run_batch(tmp_path, home, fake_server, {
        tag: [tool_reply(call("shell", command="cat /etc/marker; ls inventory")),
              tool_reply(call("shell", command="echo made in the container > NOTE")),
              tool_reply(call("finish", summary="looked"))] for tag in images
    }, workers=2, image="localhost/heron-test:{id}")
    for tag, marker in images.items():
        outputs = shell_outputs(got[tag])
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


# From the task's worktree, in bash alone: its git directory, and the repository's (the mirror).
GIT_DIRS = 'read -r _ gd < .git; common=$(cd "$gd/$(< "$gd/commondir")" && pwd); '


def test_the_containers_shell_cannot_make_the_hosts_git_run_its_code(tmp_path, home, fake_server, git_image):
    ran = tmp_path / "ran-on-the-host"
    payload = f"touch {ran}"
    attack = GIT_DIRS + (
        # First the mounts that guard the rest, then what git on the host would run.
        'umount "$common/hooks"; umount "$common/config"; umount "$common"; umount .git; '
        f'printf "#!/bin/sh\\n{payload}\\n" > "$common/hooks/post-checkout"; chmod +x "$common/hooks/post-checkout"; '
        f'printf "[core]\\n\\tfsmonitor = {payload}\\n" >> "$common/config"; '
        'git config core.hooksPath "$common/evil"; '
        'echo /tmp > "$gd/commondir"; '
        f'printf "[core]\\n\\tfsmonitor = {payload}\\n" > "$gd/config.worktree"; '
        'echo "gitdir: /tmp/elsewhere" > .git; '
        f'echo "{payload}" > .envrc; '
        'echo ordinary work > NOTE; grep CapEff /proc/self/status')
    _, got = run_batch(tmp_path, home, fake_server, {
        "hostile-task": [tool_reply(call("shell", command=attack)), tool_reply(call("finish", summary="done"))],
        # Its checkout of the same worktree would run a post-checkout hook the first task wrote.
        "later-task": [tool_reply(call("shell", command="git status --short")), tool_reply(call("finish", summary="done"))],
    })
    output = shell_outputs(got["hostile-task"])[0]
    assert "Read-only file system" in output
    effective = int(output.split("CapEff:")[1].split()[0], 16)
    assert not effective & (1 << 21 | 1 << 27)  # CAP_SYS_ADMIN, CAP_MKNOD: no mount undone, no disk reached
    mirror = mirror_of(tmp_path / "inventory")
    tree = Path(next(e["workspace"] for e in events(got["hostile-task"]) if e["type"] == "session_started"))
    own = mirror / "worktrees" / tree.name  # the worktree's own git directory, as git names it
    assert not (mirror / "hooks" / "post-checkout").exists()
    assert "fsmonitor" not in (mirror / "config").read_text() and "hooksPath" not in (mirror / "config").read_text()
    assert (own / "commondir").read_text().strip() == "../.."
    assert not (own / "config.worktree").exists()  # nothing new in a git directory is copied back
    assert (tree / ".git").read_text().strip() == f"gitdir: {own}"
    assert not (tree / ".envrc").exists()
    assert not ran.exists()  # no hook, no fsmonitor ran: not the batch's checkout, git status nor git add
    assert "+ordinary work" in got["hostile-task"]["patch"] and ".envrc" not in got["hostile-task"]["patch"]
    assert got["later-task"]["status"] != "error"


def test_git_in_the_container_commits_to_the_repository(tmp_path, home, fake_server, git_image):
    commit = ("echo '# checked in the container' >> inventory/stock.py && git add -A && "
              "git -c user.name=heron -c user.email=heron@example.com commit -qm 'made in the container' && "
              "git rev-parse HEAD")
    repo_dir, got = run_batch(tmp_path, home, fake_server, {
        "committing-task": [tool_reply(call("shell", command=commit)),
                            tool_reply(call("shell", command="echo after the commit > NOTE")),
                            tool_reply(call("finish", summary="done"))],
    })
    sha = shell_outputs(got["committing-task"])[0].split()[-1]
    shown = subprocess.run(["git", "show", "--format=%s", "--stat", sha], cwd=mirror_of(repo_dir),
                           capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("made in the container") and "inventory/stock.py" in shown.stdout
    # The task's patch, against its base commit, has the committed change and what came after it.
    patch = got["committing-task"]["patch"]
    assert "+# checked in the container" in patch and "+after the commit" in patch
