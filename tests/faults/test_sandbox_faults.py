"""The sandbox where it cannot be had: `--sandbox require` with neither bubblewrap nor Landlock
refuses to start (exit 2), tested on a real kernel whose Landlock calls are refused to heron."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import HERON, heron_env, make_repo
from tests.faults.support import path_without

pytestmark = pytest.mark.faults

# Runs heron with Landlock's syscalls answering ENOSYS, as on a kernel built without it.
WITHOUT_LANDLOCK = """
import errno, os, sys
import pyseccomp as seccomp
f = seccomp.SyscallFilter(seccomp.ALLOW)
for name in ("landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"):
    f.add_rule(seccomp.ERRNO(errno.ENOSYS), name)
f.load()
os.execv(sys.argv[1], sys.argv[1:])
"""


def test_sandbox_require_without_bubblewrap_or_landlock_refuses_with_exit_2(tmp_path, home):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n"})
    env = heron_env(home, PATH=path_without(tmp_path, "bwrap"))
    # No server is needed: the sandbox is chosen, and refused, before the server is asked anything.
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_LANDLOCK, str(HERON), "fix", "anything", "--repo", str(repo),
         "--base-url", "http://127.0.0.1:9/v1", "--sandbox", "require"],
        capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "sandbox = require" in result.stderr and "bubblewrap" in result.stderr
    assert "the kernel has no Landlock" in result.stderr
