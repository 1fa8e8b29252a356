"""The shell's second sandbox tier: Landlock and seccomp, for where bubblewrap cannot run.

No user namespaces are needed, so it works inside Docker. What it cannot do, and bubblewrap can:
hide paths by mounting over them (so the home and /tmp are made unreadable instead, and the shell
gets a private TMPDIR), and a PID namespace (the shell sees other processes, but Landlock's
scoping stops it signalling or tracing them).

Landlock only grants, and cannot keep a name from being made in a directory it lets be written.
So the protected names are kept in one of two ways:
- as root with idmapped mounts, the shell runs as nobody in a mount namespace of its own, where
  the child mounts what bubblewrap binds (protect.py: each git directory's stand-in, read-only
  binds for what host tools run and the user's nested repositories) before Landlock is applied;
  then the whole workspace is writable, and the mounts are what it cannot change or undo;
- otherwise (not root, or no idmapped mounts: Docker without CAP_SYS_ADMIN) they are holes in
  the writable workspace: the workspace root and the git directories hold them, so a command
  cannot create entries directly in them (heron's file tools, which run outside the sandbox, can;
  the model is told why: `holes_hint`). Inside a git directory only git's data is writable
  (objects, refs, logs, and the existing HEAD and state files: gitmeta.py), not the index: an
  index written in place is how a command would register a submodule whose config runs a program
  on the user's next `git status` (gitlinks.py). The git directories and .git files below the
  workspace that were there before are holes too (nested.py).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from agent.sandbox import capabilities, landlock, protect
from agent.sandbox.bubblewrap import Launch, home_toolchains, socket_filter
from agent.sandbox.gitmeta import BOUND, git_dirs, synced
from agent.sandbox.identity import NOBODY, Identity, closed_to_others, idmap_problem
from agent.sandbox.landlock import READ, Rule, beneath_except
from agent.sandbox.limits import CgroupSet, Limits, set_rlimits
from agent.sandbox.protect import Protection
from agent.sandbox.workspace import HOST_EXECUTED
from agent.secrets import is_secret_name

# Unreadable inside: others' files and secrets, and a terminal the shell could hang on.
HIDDEN = ("/root", "/home", "/run", "/tmp", "/var/tmp", "/dev/tty", "/etc/shadow", "/etc/gshadow",
          "/etc/sudoers", "/etc/ssh")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full")
DEVICE_RIGHTS = landlock.READ_FILE | landlock.WRITE_FILE | landlock.TRUNCATE
# Where a refused path shows in a program's "Permission denied": quoted, or bash's own `name:`.
_QUOTED = re.compile(r"[‘'\"]([^‘’'\"\n]+)[’'\"]")
_BASH_NAMED = re.compile(r"^\S+: (?:line \d+: )?([^:\n]+): Permission denied", re.MULTILINE)
HOLES_HINT = ("the sandbox refused to make or remove an entry directly in the workspace root or in a git "
              "directory: Landlock alone cannot keep .git and what host tools run (.envrc...) from being made, "
              "so without a mount namespace of its own (heron running as root with idmapped mounts, or "
              "bubblewrap) the root and the git directories take no new entries from commands, and git "
              "commands that write fail. Make files under a subdirectory instead (write_file can make them at "
              "the root too); the user can install bubblewrap for the full sandbox")


@dataclass(frozen=True)
class LandlockSandbox:
    workspace: Path
    network: bool = False
    limits: Limits = field(default_factory=Limits)
    abi: int = field(default_factory=landlock.abi_version)
    # As root: run as nobody with the workspace idmapped (identity.py), where mounts can be made.
    as_nobody: bool = field(default_factory=lambda: os.geteuid() == 0 and idmap_problem() is None)

    def rules(self, env: Mapping[str, str], tmp: Path, kept: Sequence[Path] = ()) -> list[Rule]:
        homes = {Path(env.get("HOME") or "/root"), Path.home(), Path("/root")}
        rules = beneath_except(Path("/"), [Path(p) for p in HIDDEN] + list(homes), READ)
        for tools in {t for home in homes for t in home_toolchains(home, env.get("PATH", ""))}:
            # Toolchains under the home stay usable, their own credentials not.
            rules += beneath_except(tools, [p for p in tools.iterdir() if p.is_file() and is_secret_name(p.name)], READ)
        full = landlock.handled_rights(self.abi)
        dirs = git_dirs(self.workspace)
        if self.as_nobody:  # the binds protect (protect.py): the whole workspace is the shell's
            rules += [Rule(self.workspace, full), *(Rule(d, full) for d in dirs if self.workspace not in d.parents)]
        else:
            rules += self._holes(dirs, kept)
        rules.append(Rule(tmp, landlock.handled_rights(self.abi)))
        rules += [Rule(Path(d), DEVICE_RIGHTS) for d in DEVICES]
        return rules

    def _holes(self, dirs: list[Path], kept: Sequence[Path]) -> list[Rule]:
        """Without mounts: the workspace writable around what it must not change."""
        full = landlock.handled_rights(self.abi)
        # The git directories and what host tools run are holes in the writable workspace; in
        # a git directory only git's data is writable (gitmeta.py), and nothing new appears.
        holes = [self.workspace / n for n in (*HOST_EXECUTED, ".git")] + dirs + list(kept)
        rules = [Rule(self.workspace, READ), *beneath_except(self.workspace, holes, full)]
        for git_dir in dirs:
            rules.append(Rule(git_dir, READ))
            rules += [Rule(git_dir / name, full) for name in BOUND]
            for entry in git_dir.iterdir():
                if synced(entry.name) and entry.name != "index" and not entry.is_symlink():
                    rules.append(Rule(entry, full if entry.is_dir() else full & landlock.FILE_RIGHTS))
        return rules

    def launch(self, command: list[str], env: Mapping[str, str], kept: Sequence[Path] = ()) -> Launch:
        """`command` confined; `env` must already be scrubbed. Its TMPDIR is private to it;
        `kept`: git directories and .git files below the workspace, read-only to it (nested.py)."""
        tmp = Path(tempfile.mkdtemp(prefix="heron-shell-tmp-"))
        # The home is unreadable here, where bubblewrap shows an empty one: git must not try it.
        env = {**env, "TMPDIR": str(tmp), "GIT_CONFIG_GLOBAL": "/dev/null"}
        # With a mount namespace, the protected names are bound over the workspace as bubblewrap
        # binds them; the child opens the rules' paths after, so a git directory's is its stand-in.
        protection = Protection.create(self.workspace) if self.as_nobody else None
        binds = protection.binds(kept) if protection else []
        rules = self.rules(env, tmp, kept)
        identity = self._identity(env, tmp, protection) if protection else None
        cgroups = CgroupSet.create(self.limits)
        # Built before the fork: libseccomp's rule compiler is no work for a child about to exec.
        seccomp = socket_filter(deny_network=not self.network)

        def in_child() -> None:
            cgroups.join()  # before Landlock, which would refuse the write to the cgroup
            set_rlimits(self.limits)
            if identity:
                identity.mount()
                protect.mount(binds)
            capabilities.keep_only(0)  # as root: after exec, root without any capability
            terminal = [Rule(Path(os.ttyname(0)), DEVICE_RIGHTS)] if os.isatty(0) else []
            landlock.restrict_self(rules + terminal, self.abi)
            if identity:
                identity.become()
            seccomp.load()

        def cleanup() -> list[str]:
            cgroups.remove()
            refused = protection.close() if protection else []
            if identity:
                identity.close()
            shutil.rmtree(tmp, ignore_errors=True)
            return refused

        return Launch(["setsid", "-w", *command], env, in_child, cleanup, cgroups.problems,
                      cgroups.forks_refused, cgroups.members, protection.settle if protection else lambda: [],
                      lambda output: "" if protection else self.holes_hint(output))

    def holes_hint(self, output: str) -> str:
        """Why a command could not make an entry where the holes are (not among their limits
        under mounts), when its output names such a refusal."""
        parents = {self.workspace, *git_dirs(self.workspace)}
        for line in (ln for ln in output.splitlines() if "Permission denied" in ln):
            for named in [*_QUOTED.findall(line), *_BASH_NAMED.findall(line)]:
                path = Path(os.path.normpath(self.workspace / named))
                if path.parent in parents and not os.path.lexists(path):
                    return HOLES_HINT
        return ""


    def _identity(self, env: Mapping[str, str], tmp: Path, protection: Protection) -> Identity:
        """nobody's view: the workspace, git directories and their stand-ins idmapped over
        themselves, with what nobody could not pass on the way to them and to the toolchains;
        TMPDIR given to it."""
        os.chown(tmp, NOBODY, NOBODY)
        outside = [d for d in git_dirs(self.workspace) if self.workspace not in d.parents]
        writable = [self.workspace, *outside, *(s.copy for s in protection.shadows), protection.empty]
        tools = [t for home in {Path(env.get("HOME") or "/root"), Path("/root")}
                 for t in home_toolchains(home, env.get("PATH", ""))]
        wanted = {p for path in [*writable, *tools] for p in closed_to_others(path)} | set(writable)
        # What lies below an idmapped root is idmapped with it (and cannot be idmapped again).
        roots = sorted((p for p in wanted if not any(q in p.parents for q in wanted)), key=lambda p: len(p.parts))
        owner = self.workspace.stat()
        return Identity.create((owner.st_uid, owner.st_gid), roots, in_place=True)


def landlock_problem() -> str | None:
    """Why the Landlock tier cannot run here, or None."""
    if landlock.abi_version() < 1:
        return "the kernel has no Landlock (Linux 5.13+ with Landlock enabled)"
    try:
        socket_filter(deny_network=True)
    except (ImportError, OSError) as e:
        return f"the seccomp library (libseccomp) is missing: {e}"
    return None
