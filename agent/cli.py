"""Argument parsing for every sub-command. Each handler hands the parsed flags to a front-end."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any, Sequence

from agent import __version__
from agent.config import APPROVAL_MODES, CONTAINER_ENGINES, FULL_WINDOW, SANDBOX_MODES, load_config
from agent.errors import HeronError, UsageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heron", description="A local-first coding agent for models served on your own machine."
    )
    parser.add_argument("--version", action="version", version=f"heron {__version__}")
    _server_flags(parser)
    parser.add_argument("--approval", choices=APPROVAL_MODES, help="approval mode of the app (default ask)")
    # Unset, --repo is the resumed session's repository, or else the current directory.
    parser.set_defaults(handler=_tui, repo=None)
    # Options of the TUI: which recorded session to open (see resume_option).
    parser.add_argument("--continue", dest="continue_session", action="store_true",
                        help="continue this repository's latest session")
    parser.add_argument("--resume", nargs="?", const=PICK_SESSION, metavar="ID",
                        help="resume session ID; without ID, choose one from a list")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_fix(commands)
    _add_doctor(commands)
    _add_serve(commands)
    _add_undo(commands)
    _add_sessions(commands)
    _add_map(commands)
    _add_review(commands)
    _add_hook(commands)
    _add_mcp(commands)
    return parser


PICK_SESSION = ""  # `--resume` without an ID: the TUI lets the user choose


def resume_option(args: argparse.Namespace, repo: Path) -> str | None:
    """The session the TUI should open: an ID, PICK_SESSION, or None for a new session."""
    from agent.core.session import find_session, latest_session

    if args.continue_session:
        latest = latest_session(repo)
        if latest is None:
            raise UsageError(f"no recorded session to continue in {repo.resolve()}; `heron sessions` lists them")
        return latest.id
    if args.resume:
        find_session(args.resume)
    return args.resume


def _server_flags(parser: argparse.ArgumentParser, many: bool = False) -> None:
    parser.add_argument("--repo", default=".", help="the repository to work in (default: .)")
    parser.add_argument("--base-url", action="append" if many else "store",
                        help="the OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1"
                             + ("; with --batch, give it once per server" if many else ""))
    parser.add_argument("--model", help="the served model name (default: the server's first)")


def _add_fix(commands: Any) -> None:
    fix = commands.add_parser("fix", help="fix an issue headlessly", description="Fix an issue without a UI.")
    fix.add_argument("issue", nargs="?", help="the issue text, or - to read it from stdin")
    fix.add_argument("--issue-file", metavar="F", help="read the issue from a file")
    _server_flags(fix, many=True)
    fix.add_argument("--max-steps", type=int, metavar="N", help="model turns before giving up (default 50)")
    fix.add_argument("--test-cmd", metavar="CMD", help="command that must pass; decides exit 0 or 1")
    fix.add_argument("--retries", type=int, metavar="N", help="rounds the model gets after the check fails (default 2)")
    fix.add_argument("--json", action="store_true", help="write one JSON event per line on stdout")
    fix.add_argument("--yes", action="store_true", help="approve everything the policy would ask")
    fix.add_argument("--sandbox", choices=SANDBOX_MODES,
                     help="the shell's sandbox: auto (bubblewrap, else Landlock), require, landlock, off")
    fix.add_argument("--commit", action="store_true", help="commit the agent's changes when the fix succeeds")
    fix.add_argument("--branch", nargs="?", const="", metavar="NAME",
                     help="work on a new branch (default name from the issue) and commit the result there")
    fix.add_argument("--worktree", nargs="?", const="", metavar="DIR",
                     help="like --branch, in a new worktree left at DIR (default: beside the repository)")
    fix.add_argument("--resume", metavar="ID", help="continue a recorded session (`heron sessions` lists them)")
    fix.add_argument("--image", action="append", default=[], metavar="FILE",
                     help="attach an image (a screenshot of the bug) to the issue; may be given more than once")
    batch = fix.add_argument_group("batch", "many issues against one or many servers (see README)")
    batch.add_argument("--batch", metavar="TASKS.jsonl", help="run every task of a JSONL file")
    batch.add_argument("--workers", type=int, default=4, metavar="N", help="tasks run at once (default 4)")
    batch.add_argument("--out", metavar="RESULTS.jsonl", help="results file; rerunning skips finished ids")
    batch.add_argument("--task-timeout", type=float, default=3600.0, metavar="S",
                       help="seconds before a task is stopped (default 3600)")
    batch.add_argument("--format", choices=["heron", "swebench"], default="heron",
                       help="swebench also writes predictions for the SWE-bench harness")
    batch.add_argument("--container", choices=CONTAINER_ENGINES,
                       help="run each task's shell in a container of --container-image (Docker or Podman)")
    batch.add_argument("--container-image", metavar="TEMPLATE",
                       help="each task's image; {id} is the task id, {instance} its SWE-bench image name, "
                            "e.g. swebench/sweb.eval.x86_64.{instance}:latest")
    batch.add_argument("--ray", metavar="auto|ADDRESS",
                       help="run the tasks on a Ray cluster (pip install 'heron[ray]'); auto: the one running")
    # Unset, --repo is the resumed session's repository, or else the current directory.
    fix.set_defaults(handler=_fix, repo=None)


def _add_sessions(commands: Any) -> None:
    sessions = commands.add_parser("sessions", help="list recorded sessions",
                                   description="List recorded sessions, the latest first.")
    sessions.add_argument("--repo", help="only the sessions of this repository")
    sessions.set_defaults(handler=_sessions)


def _sessions(args: argparse.Namespace) -> int:
    from agent.core.session import list_sessions

    found = list_sessions(Path(args.repo) if args.repo else None)
    if not found:
        print("no sessions recorded yet", file=sys.stderr)
    for info in found:
        task = info.task.strip().splitlines()[0][:60] if info.task.strip() else "-"
        print(f"{info.id}  {info.created[:19]}  {info.workspace}  {task}")
    return 0


def _fix(args: argparse.Namespace) -> int:
    from agent.core.session import session_info
    from agent.fix import read_issue, run_fix

    if args.repo is None:
        args.repo = session_info(args.resume).workspace if args.resume else "."
    repo = Path(args.repo)
    urls = args.base_url or []
    if len(urls) > 1 and not args.batch:
        raise UsageError("--base-url more than once spreads a --batch over servers; `heron fix` uses one")
    config = load_config(repo, {
        "base_url": urls[0] if urls else None, "base_urls": urls if len(urls) > 1 else None,
        "model": args.model, "max_steps": args.max_steps,
        "test_cmd": args.test_cmd, "retries": args.retries, "sandbox": args.sandbox,
    })
    if args.batch:
        from agent.batch.runner import run_batch

        if args.issue or args.issue_file or args.resume or args.image:
            raise UsageError("--batch takes its issues from the task file; give no other issue, --image or --resume")
        return run_batch(config, repo, Path(args.batch), Path(args.out) if args.out else None,
                         args.workers, args.task_timeout, swebench=args.format == "swebench", ray=args.ray,
                         container=args.container, image=args.container_image)
    given = args.issue is not None or args.issue_file is not None
    issue = read_issue(args.issue, args.issue_file, sys.stdin) if given or not args.resume else None
    return run_fix(config, repo, issue, json_output=args.json, yes=args.yes,
                   branch=args.branch, worktree=args.worktree, commit=args.commit, resume=args.resume,
                   images=tuple(Path(f) for f in args.image))


def _add_mcp(commands: Any) -> None:
    mcp = commands.add_parser("mcp", help="MCP servers: list the configured ones, or serve heron's map",
                              description="Model Context Protocol: the servers whose tools heron offers "
                                          "the model, and heron's own server for other agents.")
    actions = mcp.add_subparsers(dest="mcp_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="start the configured servers and show their state and tools")
    listing.add_argument("--repo", default=".", help="the repository whose configuration to read (default: .)")
    listing.set_defaults(handler=_mcp_list)
    serve = actions.add_parser("serve", help="serve heron's repo map, localization and review over stdio")
    serve.add_argument("--repo", default=".", help="the repository to serve (default: .)")
    serve.set_defaults(handler=_mcp_serve)


def _mcp_list(args: argparse.Namespace) -> int:
    from agent.mcp.hub import McpHub, ServerState
    from agent.mcp.report import describe

    config = load_config(Path(args.repo))
    hub = McpHub(config.mcp_servers, notice=lambda text: None)
    try:
        hub.start()
        print(describe(hub.status.values()))
        return 1 if any(s.state is ServerState.FAILED for s in hub.status.values()) else 0
    finally:
        hub.close()


def _mcp_serve(args: argparse.Namespace) -> int:
    from agent.mcp_server import serve

    return serve(Path(args.repo))


def _add_undo(commands: Any) -> None:
    undo = commands.add_parser("undo", help="undo the agent's last turns",
                               description="Restore the files as they were before the last N turns of "
                                           "heron's latest session in this repository.")
    undo.add_argument("n", nargs="?", type=int, default=1, metavar="N", help="how many turns (default 1)")
    undo.add_argument("--repo", default=".", help="the repository (default: .)")
    undo.add_argument("--list", action="store_true", help="show the turns that can be undone; change nothing")
    undo.set_defaults(handler=_undo)


def _undo(args: argparse.Namespace) -> int:
    from agent.sinks import ProgressSink
    from agent.vcs.undo import run_undo

    return run_undo(Path(args.repo), args.n, ProgressSink(sys.stderr), list_only=args.list)


def _add_doctor(commands: Any) -> None:
    doctor = commands.add_parser("doctor", help="check that the local model server is ready for heron",
                                 description="Find the model server and try it: tools, reasoning, prefix cache.")
    _server_flags(doctor)
    doctor.set_defaults(handler=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    from agent.serve.doctor import run_doctor

    config = load_config(Path(args.repo), {"base_url": args.base_url, "model": args.model})
    return run_doctor(config, sys.stdout)


def _add_serve(commands: Any) -> None:
    from agent.serve.launch import RUNTIMES

    serve = commands.add_parser("serve", help="start a local server for Qwen3.6-27B",
                                description="From a bare machine to a served model: probe the hardware, plan what fits, "
                                            "download the weights, start vLLM, llama-server or Ollama and wait for it.")
    serve.add_argument("--runtime", choices=RUNTIMES, help="which server (default: the first installed)")
    serve.add_argument("--gguf", metavar="PATH", help="the GGUF file llama-server loads")
    serve.add_argument("--port", type=int, metavar="N", help="port on 127.0.0.1 (default: the runtime's usual one)")
    serve.add_argument("--context", type=int, metavar="N",
                       help=f"context window in tokens (default {FULL_WINDOW}; with --gguf, at most "
                            "what the model was trained for)")
    serve.add_argument("--model", metavar="REPO[:FILE]", help="a Hugging Face model instead of the catalogue's "
                       "(REPO:FILE for a GGUF, REPO alone for vLLM)")
    serve.add_argument("--yes", action="store_true", help="answer yes to every question (download, build)")
    serve.add_argument("--dry-run", action="store_true", help="print the machine and the plan with its arithmetic, then stop")
    serve.add_argument("--wait", type=float, default=900, metavar="SECONDS", help="how long to wait for the server (default 900)")
    mode = serve.add_mutually_exclusive_group()
    mode.add_argument("--print", action="store_true", dest="print_only",
                      help="show the command for what is installed, instead of planning and running it")
    mode.add_argument("--foreground", action="store_true", help="run the server in this terminal (no plan, no download)")
    mode.add_argument("--status", action="store_true", help="show the server `heron serve` started")
    mode.add_argument("--stop", action="store_true", help="stop the server `heron serve` started")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from agent.serve import supervise
    from agent.serve.launch import run_serve
    from agent.serve.run import Request, run

    say = lambda line: print(line, flush=True)  # noqa: E731
    if args.status:
        return supervise.status(say)
    if args.stop:
        return supervise.stop(say)
    if args.print_only or args.foreground:
        return run_serve(args.runtime, args.port, args.context or FULL_WINDOW, args.gguf, args.print_only, sys.stdout)
    return run(Request(args.runtime, args.port, args.context, args.gguf, args.model, args.yes, args.dry_run, args.wait),
               sys.stdout)


def _add_map(commands: Any) -> None:
    cmd = commands.add_parser("map", help="print the repository map",
                              description="Print the ranked map of a repository, as the model sees it.")
    cmd.add_argument("path", nargs="?", default=".", help="the repository (default: .)")
    cmd.add_argument("--tokens", type=int, metavar="N", help="token budget (default: a quarter of 262,144)")
    cmd.add_argument("--focus", nargs="+", default=[], metavar="FILE|IDENT", help="files or identifiers in play")
    cmd.add_argument("--task", default="", metavar="TEXT", help="the task to rank for")
    cmd.add_argument("--stats", action="store_true", help="also print files, tags, tokens, time and cache hits (stderr)")
    cmd.set_defaults(handler=_map)


def _map(args: argparse.Namespace) -> int:
    from agent.repomap.cli import print_map

    return print_map(Path(args.path), args.tokens, args.focus, args.task, args.stats)


def _add_review(commands: Any) -> None:
    from agent.findings import SEVERITIES
    from agent.review.chunks import DEFAULT_CHUNK_TOKENS
    from agent.review.formats import FORMATS

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

    from agent.review.command import ReviewOptions, run_review
    from agent.review.diff import Target

    target = (Target("range", args.range) if args.range else Target("commit", args.commit) if args.commit
              else Target("staged"))
    repo = Path(args.repo)
    config = load_config(repo, {"base_url": args.base_url, "model": args.model})
    options = ReviewOptions(target, args.format, args.fail_on, args.timeout, args.strict, args.fix,
                            args.jobs, args.chunk_tokens)
    return run_review(config, repo, options, sys.stdout, sys.stderr, os.environ)


def _add_hook(commands: Any) -> None:
    from agent.findings import SEVERITIES

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
    from agent.review.hook import install

    print(install(Path(args.repo), args.fail_on, args.force))
    return 0


def _hook_uninstall(args: argparse.Namespace) -> int:
    from agent.review.hook import uninstall

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


def _tui(args: argparse.Namespace) -> int:
    """`heron` with no sub-command: the app, in the repository at --repo (default: here)."""
    from agent.core.session import session_info
    from agent.tui.app import HeronApp

    if args.repo is None:
        args.repo = session_info(args.resume).workspace if args.resume else "."
    repo = Path(args.repo)
    if not repo.is_dir():
        raise UsageError(f"--repo {repo}: not a directory")
    resume = resume_option(args, repo)
    config = load_config(repo, {"base_url": args.base_url, "model": args.model, "approval": args.approval})
    HeronApp(config, repo, resume=resume or None, pick_session=resume == PICK_SESSION).run()
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
    # SIGTERM ends a run as Ctrl-C does: the turn is closed (undo has it) and the shell stopped.
    signal.signal(signal.SIGTERM, _terminated)
    sys.exit(main())


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
