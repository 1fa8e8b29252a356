"""`heron fix`: the headless front-end. An issue in, a changed repository and an exit code out."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from agent.config import Config, Mode
from agent.core.build import Role, open_session
from agent.core.session import (
    CommitFailed,
    Session,
    Transcript,
    Workplace,
    check_can_commit,
    close_workplace,
    open_workplace,
)
from agent.errors import UsageError
from agent.events import Done, Outcome, SessionOpened, SessionStarted, Status, TestRun, Warning
from agent.images import Picture, load_picture
from agent.interfaces import Answer, EventSink
from agent.sinks import JsonlSink, ProgressSink
from prompts import render

if TYPE_CHECKING:
    from agent.sandbox.bubblewrap import ShellSandbox

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
            resume: str | None = None, images: tuple[Path, ...] = (), sandbox: ShellSandbox | None = None) -> int:
    """Fix `issue`, or with `resume`, continue that session (`issue`, if any, is added to it).

    branch/worktree: None when not asked for; "" for a name or directory heron picks. sandbox: the
    shell's, when the caller made it (a batch task's container), instead of the one config names.
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
        config = config.replace(approval=Mode.FULL_AUTO)
    transcript = Transcript.resume(resume) if resume else Transcript.create(workspace, issue or "")
    emit = transcript.recording(sink)
    try:
        place = open_workplace(workspace, branch or "", worktree, issue or "") if new_branch else None
        result = _Result()
        try:
            _run(config, place.workspace if place else workspace, issue, yes, commit, place, transcript, sink,
                 result, pictures, sandbox)
        finally:
            note = close_workplace(place, result.committed) if place else ""
        if note and not result.committed:
            emit(Warning(note))
        emit(Done(status=result.status, summary=result.summary))
    finally:
        transcript.close()
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
         place: Workplace | None, transcript: Transcript, sink: EventSink, result: _Result,
         pictures: tuple[Picture, ...] = (), sandbox: ShellSandbox | None = None) -> None:
    role = Role(default_mode=Mode.AUTO_EDIT, answer=Answer.YES if yes else Answer.NO)
    session = open_session(config, workspace, sink, role, transcript=transcript, sandbox=sandbox)
    emit = session.emit
    resumed = transcript.restored is not None
    try:
        emit(SessionStarted(str(session.workspace), session.base_url, session.model_name, issue or "(resumed)"))
        emit(SessionOpened(transcript.id, str(transcript.path), resumed=resumed))
        # A resumed session's first message is wrapped by the session, which says it was resumed.
        first = (issue or "") if resumed else render("fix", issue=(issue or "").strip(), test_hint=_test_hint(config))
        outcome, check = _work(session, first, emit, pictures)
        fixed = outcome.status in (Status.FINISHED, Status.ANSWERED) if check is None else check.passed
        result.status = "interrupted" if outcome.status == Status.INTERRUPTED else ("fixed" if fixed else "not_fixed")
        result.summary = outcome.summary
        result.stat = session.diff_stat() or "(no changes)"
        # On the user's branch only a fix is committed; a new branch keeps any attempt.
        if commit and result.status != "interrupted" and (fixed or place is not None):
            result.committed = _commit(session, outcome.summary, emit, place, result)
    finally:
        session.close()


def _commit(session: Session, summary: str, emit: EventSink, place: Workplace | None, result: _Result) -> bool:
    try:
        event = session.commit(summary, worktree=str(place.worktree) if place and place.keep else "",
                               # its worktree is about to go; the branch holds the work
                               discard=place is not None and not place.keep)
    except CommitFailed as e:
        emit(Warning(str(e)))
        result.commit_failed = e.exit_code
        return False
    return event is not None


def _test_hint(config: Config) -> str:
    return f"The check `{config.test_cmd}` must pass." if config.test_cmd else ""


def _work(session: Session, first: str, emit: EventSink,
          pictures: tuple[Picture, ...] = ()) -> tuple[Outcome, CheckResult | None]:
    """Run the loop; after each `finish`, run the check and give failures back to the model."""
    test_cmd = session.config.test_cmd
    outcome = session.turn(first, pictures=pictures)
    if not test_cmd or outcome.status == Status.INTERRUPTED:
        return outcome, None
    check = run_check(test_cmd, session.workspace, emit)
    rounds = 0
    while not check.passed and outcome.status == Status.FINISHED and rounds < session.config.retries:
        rounds += 1
        # The rounds share the run's step budget.
        outcome = session.turn(render(
            "tests_failed", command=test_cmd, exit_code=check.exit_code, output=check.output,
        ), fresh_budget=False)
        if outcome.status == Status.INTERRUPTED:
            return outcome, None
        check = run_check(test_cmd, session.workspace, emit)
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
