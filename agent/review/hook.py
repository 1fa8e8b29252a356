"""`heron hook install | uninstall`: `heron review --staged` as the repository's pre-commit hook.

The hook goes where git looks for hooks (core.hooksPath, else .git/hooks). A hook already there
is kept: it is moved aside and the heron hook runs it first, so a commit must pass both.
`uninstall` removes heron's hook and puts the old one back.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from agent.errors import UsageError

MARKER = "# installed by `heron hook install`"
CHAINED = "pre-commit.heron-chained"

SCRIPT = """#!/bin/sh
{marker}: reviews the staged changes before each commit.
# `heron hook uninstall` removes it and restores the hook that was here before.
# Skip it once with HERON_SKIP=1 or `git commit --no-verify`.
chained="$(dirname "$0")/{chained}"
if [ -x "$chained" ]; then
    "$chained" "$@" || exit $?
fi
# Nothing staged (an --allow-empty commit, say): nothing to review, and no Python to start.
git diff --cached --quiet 2>/dev/null && exit 0
exec {command}
"""


def hooks_dir(repo: Path) -> Path:
    """Where git runs hooks from for `repo`, honouring core.hooksPath."""
    if not repo.is_dir():
        raise UsageError(f"--repo {repo}: not a directory")
    proc = subprocess.run(["git", "rev-parse", "--git-path", "hooks"], cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        raise UsageError(f"{repo} is not inside a git repository")
    return (repo / proc.stdout.strip()).resolve()


def install(repo: Path, fail_on: str, force: bool) -> str:
    hooks = hooks_dir(repo)
    hook, chained = hooks / "pre-commit", hooks / CHAINED
    if _is_heron(hook):
        if not force:
            raise UsageError(f"{hook} is already heron's hook; `heron hook install --force` rewrites it")
    elif hook.exists() or hook.is_symlink():
        if chained.exists():
            raise UsageError(f"{chained} is in the way of keeping the existing hook; move it away first")
        hook.rename(chained)
    hooks.mkdir(parents=True, exist_ok=True)
    command = shlex.join([sys.executable, "-m", "agent", "review", "--staged", "--fail-on", fail_on])
    hook.write_text(SCRIPT.format(marker=MARKER, chained=CHAINED, command=command), encoding="utf-8")
    hook.chmod(0o755)
    kept = f"; the hook that was there runs first (kept as {CHAINED})" if chained.exists() else ""
    return f"heron review is the pre-commit hook in {hook}{kept}"


def uninstall(repo: Path) -> str:
    hooks = hooks_dir(repo)
    hook, chained = hooks / "pre-commit", hooks / CHAINED
    if not _is_heron(hook):
        if hook.exists():
            raise UsageError(f"{hook} was not installed by heron; it is left as it is")
        return f"no heron hook in {hooks}: nothing to remove"
    hook.unlink()
    if chained.exists():
        chained.rename(hook)
        return f"removed heron's hook and restored the one that was there, {hook}"
    return f"removed heron's hook, {hook}"


def _is_heron(hook: Path) -> bool:
    try:
        return hook.is_file() and MARKER in hook.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
