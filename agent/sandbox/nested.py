"""Git repositories below the workspace: the user's kept read-only, the session's kept harmless.

A command in the sandbox can make a repository anywhere in the workspace (`git init sub`) and
write in its config what git runs: core.fsmonitor, a filter's clean command, an alias, a hook.
The user's git runs it as the user, in a submodule on `git status` at the top, and in any
repository a git-aware prompt enters. So:
- the git directories (and .git files) below the workspace that were there when the session
  began are the user's: read-only to the sandbox (both tiers bind or leave them out), and
  known here by identity, wherever a command moves them;
- after each command, and once more when the shell is gone and no process of the sandbox is
  left to undo it, every other one is made harmless: its config keeps only keys that run
  nothing (SAFE_KEYS), its hooks only git's samples, its commondir only a place in the
  workspace; a .git file or link must lead to a git directory in the workspace, held to the
  same rule, or it is removed.
No mount can keep a name from being made, so this part is a check; gitlinks.py keeps the real
index from registering such a repository as a submodule by construction. The top repository's
git directories are the sandbox's stand-ins' to guard (gitmeta.py) and are left out here.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from agent.edits import beneath
from agent.errors import ToolError
from agent.sandbox.gitlinks import GIT_TIMEOUT, git_env
from agent.sandbox.gitmeta import git_dirs

# Config keys that make git run nothing: per section, the names allowed ("*" for any); a
# subsection (remote "origin") is written `remote.*`. Everything else (core.fsmonitor,
# core.hooksPath, core.sshCommand, filter.*, diff.*, alias.*, credential.*, include.*...) goes.
SAFE_KEYS = {
    "core": {"repositoryformatversion", "filemode", "bare", "logallrefupdates", "ignorecase",
             "precomposeunicode", "symlinks", "autocrlf", "eol"},
    "remote.*": {"url", "pushurl", "fetch"},
    "branch.*": {"remote", "merge", "rebase", "pushremote", "description"},
    "user": {"name", "email"},
    "extensions": {"objectformat", "refstorage", "worktreeconfig"},
    "init": {"defaultbranch"},
}
CONFIGS = ("config", "config.worktree")
Identity = tuple[int, int]


@dataclass
class NestedGit:
    workspace: Path
    # The top repository's git directories and its .git: guarded by the stand-ins.
    skip: tuple[Path, ...]
    # The user's: what was there when the session began, by (device, inode).
    users: frozenset[Identity]
    # Of those, what the sandbox gets read-only (the outermost; links cannot be bound).
    kept: tuple[Path, ...]
    # Config texts git was asked about and found safe (or that heron wrote), by file: the same
    # text is not parsed again. Decided on the bytes read, so no later change can hide behind it.
    safe: dict[Path, bytes] = field(default_factory=dict)

    @classmethod
    def record(cls, workspace: Path, found: Iterable[Path]) -> "NestedGit":
        skip = (workspace / ".git", *git_dirs(workspace))
        users, kept = set(), []
        for path in sorted(p for p in found if not _under(p, skip)):
            with contextlib.suppress(OSError):
                st = os.lstat(path)
                users.add((st.st_dev, st.st_ino))
                if not stat.S_ISLNK(st.st_mode) and not _under(path, kept):
                    kept.append(path)
        return cls(workspace, skip, frozenset(users), tuple(kept))

    def check(self, found: Iterable[Path]) -> list[str]:
        """Make every git directory and .git file of the session harmless; what was done, for the
        user and the model."""
        notes = []
        for path in sorted(found):
            if _under(path, self.skip) or self._users(path, ancestors=False) or not os.path.lexists(path):
                continue
            if done := self._defuse(path):
                notes.append(f"{self._shown(path)} ({'; '.join(done)})")
        if not notes:
            return []
        return ["heron disarmed git repositories made in the sandbox, whose config or hooks the user's git "
                "would run as the user (only keys that run nothing are kept, and no hooks): " + ", ".join(notes)]

    def _users(self, path: Path, ancestors: bool = True) -> bool:
        """Whether `path` (or, with ancestors, a directory holding it) is the user's."""
        for where in [path, *(path.parents if ancestors else ())]:
            if where == self.workspace or self.workspace not in where.parents:
                return False
            with contextlib.suppress(OSError):
                st = os.lstat(where)
                if (st.st_dev, st.st_ino) in self.users:
                    return True
        return False

    def _defuse(self, path: Path) -> list[str]:
        if not path.is_symlink() and path.is_dir():
            return self._defuse_dir(path)
        target = self._target(path)
        if target is None and not path.is_symlink():
            return []  # git refuses such a .git file
        if target is None or not self._inside(target):
            self._remove(path)
            return [f"removed: it led git {f'to {target}, outside the workspace' if target else 'in a circle'}"]
        if done := self._defuse_dir(target) if self._ours(target) else []:
            return [f"it leads to {self._shown(target)}", *done]
        return []

    def _defuse_dir(self, folder: Path, follow: bool = True) -> list[str]:
        done = []
        for name in CONFIGS:
            if removed := self._filter_config(folder / name):
                done.append(f"{name}: removed {', '.join(removed)}")
        hooks = folder / "hooks"
        if hooks.is_symlink():
            self._remove(hooks)
            done.append("hooks: removed the link")
        elif hooks.is_dir():
            gone = [n for n in sorted(os.listdir(hooks)) if not n.endswith(".sample") and not _is_dir(hooks / n)]
            for name in gone:
                self._remove(hooks / name)
            if gone:
                done.append(f"hooks removed: {', '.join(gone)}")
        common = folder / "commondir"
        if follow and os.path.lexists(common):
            done += self._defuse_common(common)
        return done

    def _defuse_common(self, common: Path) -> list[str]:
        """A commondir names the directory whose config and hooks git uses: in the workspace it
        is held to the same rule (git follows no commondir of a commondir); elsewhere it goes."""
        try:
            text = beneath.read_bytes(self.workspace, common, self._shown(common)).decode("utf-8", "replace")
            target: Path | None = (common.parent / text.strip()).resolve()
        except (OSError, RuntimeError, ToolError):
            target = None
        if target is None or not self._inside(target):
            self._remove(common)
            return [f"commondir removed: it led git {f'to {target}, outside the workspace' if target else 'nowhere'}"]
        done = self._defuse_dir(target, follow=False) if self._ours(target) else []
        return [f"its commondir {self._shown(target)}: {'; '.join(done)}"] if done else []

    def _target(self, pointer: Path) -> Path | None:
        """Where a .git file or link leads git: a directory, or a place outside the workspace (not
        looked into); None when git would go nowhere (a loop, a file that is no `gitdir:` file)."""
        try:
            real = pointer.resolve()
            if not self._inside(real) or real.is_dir():
                return real
            text = beneath.read_bytes(self.workspace, real, self._shown(real)).decode("utf-8", "replace")
            if not text.startswith("gitdir:"):
                return None  # git refuses it ("invalid gitfile format")
            # Relative to where git found the .git, even through a link.
            return (pointer.parent / text.removeprefix("gitdir:").strip()).resolve()
        except (OSError, RuntimeError, ToolError):
            return None

    def _ours(self, folder: Path) -> bool:
        """Whether a directory in the workspace is one heron looks after: not the user's, nor the
        top repository's, and a directory at all."""
        return not (_under(folder, self.skip) or self._users(folder)) and _is_dir(folder)

    def _filter_config(self, path: Path) -> list[str]:
        """Rewrite a config with its safe keys only; the keys removed."""
        if not os.path.lexists(path) or _is_dir(path):
            return []
        shown = self._shown(path)
        try:
            data = beneath.read_bytes(self.workspace, path, shown)
            if self.safe.get(path) == data:
                return []
            entries = _config_entries(data)
        except (ToolError, OSError, subprocess.SubprocessError):  # a link, a fifo, what git cannot read
            entries = None
        if entries is None:
            self._write(path, b"")
            return ["everything (git could not read it as a plain config file)"]
        removed = list(dict.fromkeys(key for key, _ in entries if not safe_key(key)))
        if removed:
            data = render_config([(k, v) for k, v in entries if safe_key(k)])
            self._write(path, data)
        self.safe[path] = data
        return removed

    def _write(self, path: Path, data: bytes) -> None:
        with contextlib.suppress(ToolError):  # a race with the sandbox: the next check sees it
            beneath.write_atomic(self.workspace, path, data, self._shown(path))

    def _remove(self, path: Path) -> None:
        with contextlib.suppress(ToolError):
            beneath.unlink(self.workspace, path, self._shown(path))

    def _inside(self, path: Path) -> bool:
        return self.workspace in path.parents

    def _shown(self, path: Path) -> str:
        return str(path.relative_to(self.workspace)) if self._inside(path) else str(path)


def safe_key(key: str) -> bool:
    section, _, rest = key.partition(".")
    sub, _, name = rest.rpartition(".")
    allowed = SAFE_KEYS.get(f"{section}.*" if sub else section, set())
    return name in allowed or "*" in allowed


def render_config(entries: list[tuple[str, str | None]]) -> bytes:
    """Config text git reads back as these (key, value) pairs; a value of None is a bare `key`."""
    lines, current = [], None
    for key, value in entries:
        section, _, rest = key.partition(".")
        sub, _, name = rest.rpartition(".")
        header = f'[{section} "{_escape(sub)}"]' if sub else f"[{section}]"
        if header != current:
            lines.append(header)
            current = header
        lines.append(f"\t{name}" if value is None else f'\t{name} = "{_escape(value)}"')
    return ("\n".join(lines) + "\n" if lines else "").encode("utf-8", "surrogateescape")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")


def _config_entries(data: bytes) -> list[tuple[str, str | None]] | None:
    """The (key, value) pairs git reads from config text, in order; None when git cannot read it.
    Git itself parses it, so nothing hides from the filter in syntax only git understands."""
    with tempfile.NamedTemporaryFile(prefix="heron-config-") as f:
        f.write(data)
        f.flush()
        done = subprocess.run(["git", "config", "--file", f.name, "--list", "-z"], capture_output=True,
                              env=git_env(), cwd=tempfile.gettempdir(), timeout=GIT_TIMEOUT)
    if done.returncode != 0:
        return None
    entries: list[tuple[str, str | None]] = []
    for item in done.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1]:
        key, newline, value = item.partition("\n")
        entries.append((key, value if newline else None))
    return entries


def _is_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _under(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)
