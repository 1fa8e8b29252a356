"""Argument parsing for every sub-command. Each handler hands the parsed flags to a front-end."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any, Sequence

from agent import __version__
from agent.config import APPROVAL_MODES, load_config
from agent.errors import HeronError, UsageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heron", description="A local-first coding agent for models served on your own machine."
    )
    parser.add_argument("--version", action="version", version=f"heron {__version__}")
    _server_flags(parser)
    parser.add_argument("--approval", choices=APPROVAL_MODES, help="approval mode of the app (default ask)")
    parser.set_defaults(handler=_tui)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_fix(commands)
    return parser


def _server_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", default=".", help="the repository to work in (default: .)")
    parser.add_argument("--base-url", help="the OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--model", help="the served model name (default: the server's first)")


def _add_fix(commands: Any) -> None:
    fix = commands.add_parser("fix", help="fix an issue headlessly", description="Fix an issue without a UI.")
    fix.add_argument("issue", nargs="?", help="the issue text, or - to read it from stdin")
    fix.add_argument("--issue-file", metavar="F", help="read the issue from a file")
    _server_flags(fix)
    fix.add_argument("--max-steps", type=int, metavar="N", help="model turns before giving up (default 50)")
    fix.add_argument("--test-cmd", metavar="CMD", help="command that must pass; decides exit 0 or 1")
    fix.add_argument("--retries", type=int, metavar="N", help="rounds the model gets after the check fails (default 2)")
    fix.add_argument("--json", action="store_true", help="write one JSON event per line on stdout")
    fix.add_argument("--yes", action="store_true", help="approve everything the policy would ask")
    batch = fix.add_argument_group("batch", "many issues against one server (see README)")
    batch.add_argument("--batch", metavar="TASKS.jsonl", help="run every task of a JSONL file")
    batch.add_argument("--workers", type=int, default=4, metavar="N", help="tasks run at once (default 4)")
    batch.add_argument("--out", metavar="RESULTS.jsonl", help="results file; rerunning skips finished ids")
    batch.add_argument("--task-timeout", type=float, default=3600.0, metavar="S",
                       help="seconds before a task is stopped (default 3600)")
    batch.add_argument("--format", choices=["heron", "swebench"], default="heron",
                       help="swebench also writes predictions for the SWE-bench harness")
    fix.set_defaults(handler=_fix)


def _fix(args: argparse.Namespace) -> int:
    from agent.fix import read_issue, run_fix

    repo = Path(args.repo)
    config = load_config(repo, {
        "base_url": args.base_url, "model": args.model, "max_steps": args.max_steps,
        "test_cmd": args.test_cmd, "retries": args.retries,
    })
    if args.batch:
        from agent.batch import run_batch

        if args.issue or args.issue_file:
            raise UsageError("--batch takes its issues from the task file; give no other issue")
        return run_batch(config, repo, Path(args.batch), Path(args.out) if args.out else None,
                         args.workers, args.task_timeout, swebench=args.format == "swebench")
    issue = read_issue(args.issue, args.issue_file, sys.stdin)
    return run_fix(config, repo, issue, json_output=args.json, yes=args.yes)


def _tui(args: argparse.Namespace) -> int:
    """`heron` with no sub-command: the app, in the repository at --repo (default: here)."""
    from agent.tui.app import HeronApp

    repo = Path(args.repo)
    if not repo.is_dir():
        raise UsageError(f"--repo {repo}: not a directory")
    config = load_config(repo, {"base_url": args.base_url, "model": args.model, "approval": args.approval})
    HeronApp(config, repo).run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except HeronError as e:
        print(f"heron: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("heron: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    # A closed pipe (heron fix --json | head) ends quietly rather than with a traceback.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
