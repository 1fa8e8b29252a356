"""`heron fix`: the headless front-end. An issue in, a changed repository and an exit code out."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import git

from agent.config import Config
from agent.dispatch import deny_all
from agent.errors import UsageError
from agent.events import Done, SessionOpened, SessionStarted, TestRun
from agent.interfaces import Approval, ApprovalRequest, EventSink
from agent.loop import Outcome
from agent.runtime import Runtime, open_runtime
from agent.session import Session
from agent.sinks import JsonlSink, ProgressSink
from prompts import render

CHECK_TIMEOUT = 3600.0
CHECK_OUTPUT_CHARS = 6000


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    exit_code: int
    output: str


def read_issue(text: str | None, issue_file: str | None, stdin: TextIO) -> str:
    """The issue from the argument, a file, or stdin (`-`)."""
    if text is not None and issue_file is not None:
        raise UsageError("give the issue as text or with --issue-file, not both")
    if issue_file is not None:
        try:
            issue = Path(issue_file).read_text(encoding="utf-8")
        except OSError as e:
            raise UsageError(f"cannot read the issue file {issue_file}: {e.strerror}") from None
    elif text == "-":
        issue = stdin.read()
    elif text is not None:
        issue = text
    else:
        raise UsageError("no issue given: `heron fix \"TEXT\"`, `heron fix --issue-file F`, or `heron fix -` to read stdin")
    if not issue.strip():
        raise UsageError("the issue text is empty")
    return issue


def run_fix(config: Config, workspace: Path, issue: str | None, json_output: bool, yes: bool,
            resume: str | None = None) -> int:
    """Fix `issue`, or with `resume`, continue that session (`issue`, if any, is added to it)."""
    if not workspace.is_dir():
        raise UsageError(f"--repo {workspace}: not a directory")
    session = Session.resume(resume) if resume else Session.create(workspace, issue or "")
    try:
        return _run_recorded(config, workspace, issue, json_output, yes, session)
    finally:
        session.close()


def _run_recorded(config: Config, workspace: Path, issue: str | None, json_output: bool, yes: bool,
                  session: Session) -> int:
    sink: EventSink = JsonlSink(sys.stdout) if json_output else ProgressSink(sys.stderr)
    if yes:
        config = config.replace(approval="full-auto")
    runtime = open_runtime(config, workspace, sink, approver=_approve_all if yes else deny_all,
                           default_mode="auto-edit", session=session)
    emit = runtime.emit
    resumed = session.restored is not None
    try:
        emit(SessionStarted(str(runtime.workspace), runtime.model.base_url, runtime.model.model,
                            issue or "(resumed)"))
        emit(SessionOpened(session.id, str(session.path), resumed=resumed))
        if resumed:
            first = render("resume", note=f"The user adds: {issue.strip()}\n\n" if issue else "")
        else:
            first = render("fix", issue=(issue or "").strip(), test_hint=_test_hint(config))
        outcome, check = _work(runtime, first, emit)
    finally:
        runtime.close()
    fixed = outcome.status in ("finished", "answered") if check is None else check.passed
    status = "interrupted" if outcome.status == "interrupted" else ("fixed" if fixed else "not_fixed")
    emit(Done(status=status, summary=outcome.summary))
    if not json_output:
        print(outcome.summary)
        print(diff_stat(runtime.workspace))
    if outcome.status == "interrupted":
        return 130
    return 0 if fixed else 1


def _test_hint(config: Config) -> str:
    return f"The check `{config.test_cmd}` must pass." if config.test_cmd else ""


def _work(runtime: Runtime, first: str, emit: EventSink) -> tuple[Outcome, CheckResult | None]:
    """Run the loop; after each `finish`, run the check and give failures back to the model."""
    test_cmd = runtime.config.test_cmd
    outcome = runtime.loop.run(first)
    if not test_cmd or outcome.status == "interrupted":
        return outcome, None
    check = run_check(test_cmd, runtime.workspace, emit)
    rounds = 0
    while not check.passed and outcome.status == "finished" and rounds < runtime.config.retries:
        rounds += 1
        outcome = runtime.loop.run(render(
            "tests_failed", command=test_cmd, exit_code=check.exit_code, output=check.output,
        ))
        if outcome.status == "interrupted":
            return outcome, None
        check = run_check(test_cmd, runtime.workspace, emit)
    return outcome, check


def run_check(command: str, workspace: Path, emit: EventSink) -> CheckResult:
    try:
        proc = subprocess.run(
            ["bash", "-c", command], cwd=workspace, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=CHECK_TIMEOUT,
        )
        code, output = proc.returncode, proc.stdout.decode("utf-8", errors="replace")
    except subprocess.TimeoutExpired:
        code, output = -1, f"(the check ran past {CHECK_TIMEOUT:g} s and was stopped)"
    if len(output) > CHECK_OUTPUT_CHARS:
        output = "...\n" + output[-CHECK_OUTPUT_CHARS:]
    result = CheckResult(code == 0, code, output)
    emit(TestRun(command=command, passed=result.passed, exit_code=code, output=output))
    return result


def diff_stat(workspace: Path) -> str:
    """What changed in the working tree, as `git diff --stat` plus new files; not a repo: a note."""
    try:
        repo = git.Repo(workspace, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return "(not a git repository: no diff to show)"
    stat = repo.git.diff("--stat")
    new = [f"  {path} (new)" for path in repo.untracked_files]
    return "\n".join(filter(None, [stat, *new])) or "(no changes)"


def _approve_all(request: ApprovalRequest) -> Approval:
    return Approval(True, "approved by --yes")
