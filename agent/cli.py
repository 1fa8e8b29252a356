"""Argument parsing for every sub-command. Each handler hands the parsed flags to a front-end."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any, Sequence

from agent import __version__
from agent.config import load_config
from agent.errors import HeronError, UsageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heron", description="A local-first coding agent for models served on your own machine."
    )
    parser.add_argument("--version", action="version", version=f"heron {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_fix(commands)
    _add_review(commands)
    _add_hook(commands)
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


def _add_review(commands: Any) -> None:
    from agent.review_chunks import DEFAULT_CHUNK_TOKENS
    from agent.review_formats import FORMATS
    from tools.findings import SEVERITIES

    review = commands.add_parser("review", help="review a change before it is committed",
                                 description="Review the staged changes, a range or a commit.")
    target = review.add_mutually_exclusive_group()
    target.add_argument("--staged", action="store_true", help="review the staged changes (the default)")
    target.add_argument("--range", metavar="A..B", help="review the changes between two revisions")
    target.add_argument("--commit", metavar="REV", help="review one commit")
    _server_flags(review)
    review.add_argument("--format", choices=FORMATS, default="text", help="output format (default text)")
    review.add_argument("--fail-on", choices=SEVERITIES[::-1], default="blocker",
                        help="exit 1 when a finding is at least this severe (default blocker)")
    review.add_argument("--timeout", type=_positive(float), default=120.0, metavar="S",
                        help="give up after S seconds, warn and exit 0 (default 120)")
    review.add_argument("--strict", action="store_true", help="exit 3 instead when the server fails or times out")
    review.add_argument("--fix", action="store_true", help="apply suggested fixes to the working tree (not the index)")
    review.add_argument("--jobs", type=_positive(int), default=4, metavar="N", help="concurrent requests (default 4)")
    review.add_argument("--chunk-tokens", type=_positive(int), default=DEFAULT_CHUNK_TOKENS, metavar="N",
                        help=f"diff tokens per request (default {DEFAULT_CHUNK_TOKENS})")
    review.set_defaults(handler=_review)


def _review(args: argparse.Namespace) -> int:
    import os

    from agent.review import ReviewOptions, run_review
    from agent.review_diff import Target

    target = (Target("range", args.range) if args.range else Target("commit", args.commit) if args.commit
              else Target("staged"))
    repo = Path(args.repo)
    config = load_config(repo, {"base_url": args.base_url, "model": args.model})
    options = ReviewOptions(target, args.format, args.fail_on, args.timeout, args.strict, args.fix,
                            args.jobs, args.chunk_tokens)
    return run_review(config, repo, options, sys.stdout, sys.stderr, os.environ)


def _add_hook(commands: Any) -> None:
    from tools.findings import SEVERITIES

    hook = commands.add_parser("hook", help="install heron review as a git pre-commit hook",
                               description="Install or remove the pre-commit hook that runs `heron review --staged`.")
    actions = hook.add_subparsers(dest="action", metavar="ACTION", required=True)
    install = actions.add_parser("install", help="write the pre-commit hook, chaining any existing one")
    install.add_argument("--repo", default=".", help="the repository (default: .)")
    install.add_argument("--fail-on", choices=SEVERITIES[::-1], default="blocker",
                         help="block the commit on findings at least this severe (default blocker)")
    install.add_argument("--force", action="store_true", help="replace a heron hook that is already there")
    install.set_defaults(handler=_hook_install)
    uninstall = actions.add_parser("uninstall", help="remove the hook and restore what was there")
    uninstall.add_argument("--repo", default=".", help="the repository (default: .)")
    uninstall.set_defaults(handler=_hook_uninstall)


def _hook_install(args: argparse.Namespace) -> int:
    from agent.hook import install

    print(install(Path(args.repo), args.fail_on, args.force))
    return 0


def _hook_uninstall(args: argparse.Namespace) -> int:
    from agent.hook import uninstall

    print(uninstall(Path(args.repo)))
    return 0


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
        return value

    return parse


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
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
