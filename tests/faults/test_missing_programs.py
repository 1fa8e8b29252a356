"""A system program heron needs is missing: a clear error naming what to install, never a traceback."""

from __future__ import annotations

import pytest

from tests.conftest import make_repo, run_heron
from tests.fakes.openai_server import call, tool_reply
from tests.faults.support import path_without

pytestmark = pytest.mark.faults


@pytest.mark.parametrize("sandbox", ["off", "landlock"])
def test_a_missing_setsid_is_named_with_its_package(tmp_path, home, fake_server, sandbox):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n"})
    fake_server.script(tool_reply(call("shell", command="ls")))
    result = run_heron(["fix", "list the files", "--repo", str(repo), "--base-url", fake_server.base_url,
                        "--yes", "--sandbox", sandbox], home, PATH=path_without(tmp_path, "setsid"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "`setsid`" in result.stderr and "apt install util-linux" in result.stderr
