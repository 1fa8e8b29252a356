"""`heron fix`: the headless front-end. An issue in, a changed repository and an exit code out."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from agent.config import Config
from agent.context.transcript import Transcript
from agent.core.build import Runtime, open_runtime
from agent.core.dispatch import deny_all
from agent.core.loop import Outcome
from agent.errors import UsageError
from agent.events import Done, SessionOpened, SessionStarted, TestRun, Warning
from agent.images import Picture, load_picture
from agent.interfaces import Approval, ApprovalRequest, EventSink
from agent.sinks import JsonlSink, ProgressSink
from agent.vcs.branches import Workplace, close_workplace, open_workplace
from agent.vcs.checkpoints import Checkpoints, GitCheckpoints
from agent.vcs.commit import CommitFailed, check_can_commit, commit_session
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
            branch: str | None = None, worktree: str | None = None, commit: bool = False,
            resume: str | None = None, images: tuple[Path, ...] = ()) -> int:
    """Fix `issue`, or with `resume`, continue that session (`issue`, if any, is added to it).

    branch/worktree: None when not asked for; "" for a name or directory heron picks.
    """
    if not workspace.is_dir():
        raise UsageError(f"--repo {workspace}: not a directory")
    pictures = tuple(load_picture(path) for path in images)  # a bad image stops the run before it starts
    new_branch = branch is not None or worktree is not None
    commit = commit or config.auto_commit or new_branch
    if commit:
        check_can_commit(workspace, on_new_branch=new_branch)
    sink: EventSink = JsonlSink(sys.stdout) if json_output else ProgressSink(sys.stderr)
    if yes:
        config = config.replace(approval="full-auto")
    session = Transcript.resume(resume) if resume else Transcript.create(workspace, issue or "")
    emit = session.recording(sink)
    try:
        place = open_workplace(workspace, branch or "", worktree, issue or "") if new_branch else None
        result = _Result()
        try:
            _run(config, place.workspace if place else workspace, issue, yes, commit, place, session, sink, result,
                 pictures)
        finally:
            note = close_workplace(place, result.committed) if place else ""
        if note and not result.committed:
            emit(Warning(note))
        emit(Done(status=result.status, summary=result.summary))
    finally:
        session.close()
    if not json_output:
        print(result.summary)
        print(result.stat)
        if note and result.committed:
            print(note)
    return {"fixed": 0, "not_fixed": 1, "interrupted": 130}[result.status] or result.commit_failed


@dataclass
class _Result:
    status: str = "not_fixed"
    summary: str = ""
    stat: str = ""
    committed: bool = False
    commit_failed: int = 0


def _run(config: Config, workspace: Path, issue: str | None, yes: bool, commit: bool,
         place: Workplace | None, session: Transcript, sink: EventSink, result: _Result,
         pictures: tuple[Picture, ...] = ()) -> None:
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
        outcome, check = _work(runtime, first, emit, pictures)
        fixed = outcome.status in ("finished", "answered") if check is None else check.passed
        result.status = "interrupted" if outcome.status == "interrupted" else ("fixed" if fixed else "not_fixed")
        result.summary = outcome.summary
        result.stat = diff_stat(runtime.checkpoints)
        # On the user's branch only a fix is committed; a new branch keeps any attempt.
        if commit and result.status != "interrupted" and (fixed or place is not None):
            result.committed = _commit(runtime, outcome.summary, emit, place, result)
    finally:
        runtime.close()


def _commit(runtime: Runtime, summary: str, emit: EventSink, place: Workplace | None, result: _Result) -> bool:
    checkpoints = runtime.checkpoints
    assert isinstance(checkpoints, GitCheckpoints), "check_can_commit ran first"
    try:
        event = commit_session(checkpoints, runtime.loop, runtime.model.model, summary, emit,
                               worktree=str(place.worktree) if place and place.keep else "")
    except CommitFailed as e:
        emit(Warning(str(e)))
        result.commit_failed = e.exit_code
        return False
    if event is not None and place is not None and not place.keep:
        checkpoints.discard()  # its worktree is about to go; the branch holds the work
    return event is not None


def _test_hint(config: Config) -> str:
    return f"The check `{config.test_cmd}` must pass." if config.test_cmd else ""


def _work(runtime: Runtime, first: str, emit: EventSink,
          pictures: tuple[Picture, ...] = ()) -> tuple[Outcome, CheckResult | None]:
    """Run the loop; after each `finish`, run the check and give failures back to the model."""
    test_cmd = runtime.config.test_cmd
    outcome = runtime.loop.run(first, pictures)
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


def diff_stat(checkpoints: Checkpoints) -> str:
    """What the agent changed in this session, apart from anyone else's uncommitted work."""
    return checkpoints.diff_stat() or "(no changes)"


def _approve_all(request: ApprovalRequest) -> Approval:
    return Approval(True, "approved by --yes")
