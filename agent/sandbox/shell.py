"""The persistent shell: one bash per session, driven by pexpect, inside the sandbox when there is one.

Completion and exit status are read from a per-command random marker, so a command's own output
cannot fake them. State (cwd, variables, functions) persists between calls. A command that runs
too long, or stays silent too long, is interrupted from outside (the shell has no controlling
terminal, so Ctrl-C on the pty would reach nobody useful): SIGINT to the shell and its children,
then SIGKILL to the children, then a new shell. Stdin is /dev/null; /dev/tty cannot be opened.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import termios
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pexpect

from agent.errors import HeronError
from agent.sandbox.bubblewrap import Launch, ShellSandbox, unconfined
from agent.sandbox.limits import DiskBudget, free_bytes
from agent.sandbox.nested import NestedGit
from agent.sandbox.walk import walk
from agent.secrets import scrub_env

BASH = ["bash", "--noprofile", "--norc", "--noediting"]
# Only a safety cap: the context shows the model a long output's head and tail and keeps the
# whole of it readable with read_output (tools/outputs.py).
OUTPUT_HEAD = 500_000
OUTPUT_TAIL = 500_000
READ_CHUNK = 65536
# Every shell is forked from this one thread, which lives as long as heron: the sandbox dies
# with the thread that forked it (bwrap --die-with-parent is per thread), and the TUI's workers
# are threads that end after each message.
SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="heron-shell-spawner")
# Seconds a command gets to stop after SIGINT, and again after SIGKILL, before the shell is replaced.
GRACE = 2.0
START_TIMEOUT = 30.0
# Seconds between looks at the disk and the process limit while a command runs.
DISK_WATCH = 0.2
# Seconds the processes a command left running are watched for a fork bomb at most, and how
# long their number may stay still before they are taken for ordinary background jobs.
RUNAWAY_WATCH, RUNAWAY_STILL = 3.0, 0.2
# What the end marker can span: the marker itself plus an exit code.
MARKER_SPAN = 64
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Run once in each new shell: no prompts, no history expansion (a `!` in a command stays a `!`),
# pagers that print, and editors that say so instead of waiting for a keyboard.
SHELL_SETUP = r"""
set +H +o history; unset HISTFILE PROMPT_COMMAND; PS1=''; PS2=''; PS4='+ '
trap '' XFSZ  # past the disk budget a write fails with EFBIG ("File too large"); nothing is killed
export TERM=dumb PAGER=cat GIT_PAGER=cat MANPAGER=cat SYSTEMD_PAGER=cat LESS=-FRX
export GIT_EDITOR=true EDITOR=false VISUAL=false GIT_TERMINAL_PROMPT=0 DEBIAN_FRONTEND=noninteractive
less() { cat "$@"; }; more() { cat "$@"; }
__heron_no_editor() { echo "$1: no interactive editor here; edit files with edit_file or write_file, or sed" >&2; return 1; }
for __e in vi vim nvim view nano pico emacs joe micro mcedit ed; do eval "$__e() { __heron_no_editor $__e; }"; done
unset __e
"""


class ShellStartError(HeronError):
    """The shell did not come up (the sandbox refused to start, bash is missing)."""


# The Debian package of each program the shell is started through, for the error naming it.
PACKAGES = {"bash": "bash", "setsid": "util-linux", "bwrap": "bubblewrap"}


@dataclass(frozen=True)
class CommandResult:
    output: str
    # None when the command did not end by itself (interrupted, or the shell died).
    exit_code: int | None
    # Why it did not end by itself, for the model; empty when it did.
    stopped: str = ""
    # What heron undid or refused of the command's effects, for the user and the model.
    warnings: tuple[str, ...] = ()
    # Why the sandbox refused part of it, for the model ("" when nothing needs explaining).
    hint: str = ""


@dataclass
class _Output:
    """What a command printed, kept within bounds: its head, its tail, and how much was cut."""

    head: str = ""
    tail: str = ""
    cut: int = 0
    # The line the shell prints as it starts the command: what came before it (a newline bash
    # printed late for an interrupted command) is not this command's.
    begin: str = ""
    before: str = ""

    def add(self, data: str, marker: re.Pattern[str]) -> re.Match[str] | None:
        if self.begin:
            self.before += data
            at = self.before.find(self.begin)
            if at < 0:
                self.before = self.before[-len(self.begin):]
                return None
            data, self.begin, self.before = self.before[at + len(self.begin):], "", ""
        start = max(0, len(self.tail) - MARKER_SPAN)
        self.tail += data
        match = marker.search(self.tail, start)
        if match:
            self.tail = self.tail[: match.start()]
            return match
        if len(self.tail) > 2 * OUTPUT_TAIL + MARKER_SPAN:
            self._squeeze(MARKER_SPAN)  # keep enough to find a marker split across reads
        return None

    def _squeeze(self, extra: int) -> None:
        """Fill the head, then keep only the last OUTPUT_TAIL (+ extra) characters of the tail."""
        take = OUTPUT_HEAD - len(self.head)
        if take > 0:
            self.head, self.tail = self.head + self.tail[:take], self.tail[take:]
        excess = len(self.tail) - OUTPUT_TAIL - extra
        if excess > 0:
            self.cut += excess
            self.tail = self.tail[excess:]

    def text(self) -> str:
        self._squeeze(0)
        if not self.cut:
            return clean_output(self.head + self.tail)
        return (f"{clean_output(self.head)}\n... [{self.cut} characters cut] ...\n"
                f"{clean_output(self.tail)}")


class ShellSession:
    def __init__(self, cwd: Path, env: Mapping[str, str] | None = None,
                 sandbox: ShellSandbox | None = None, idle_timeout: float = 60.0) -> None:
        self.cwd = cwd
        self.env = scrub_env(os.environ if env is None else env)
        self.sandbox = sandbox
        self.idle_timeout = idle_timeout
        # Why the shell was replaced since the model last heard; the tool tells it once.
        self.restarted = ""
        # Limits the sandbox could not apply (no cgroup), for the user.
        self.problems: list[str] = []
        # Set when the shell exited or would not stop: it is replaced before the next command.
        self._broken = ""
        # True while a command runs, so a front-end's interrupt never reaches an idle shell.
        self.busy = False
        # In a sandbox, the workspace is walked once now and after each command (walk.py): for
        # the disk budget, and for the git repositories made in it (nested.py).
        self.disk: DiskBudget | None = None
        self.nested: NestedGit | None = None
        self._used = 0
        if sandbox:
            found = walk(cwd)
            self.disk = DiskBudget.create(cwd, sandbox.limits.max_disk_bytes, found.used)
            self.nested = NestedGit.record(cwd, found.git)
            self._used = found.used
        # While a command runs: the disk left at its start, and the free space then.
        self._disk_watch: tuple[int, int] | None = None
        self._start()

    def _start(self) -> None:
        self._broken = ""
        launch = self.sandbox.launch(BASH, self.env, self.nested.kept if self.nested else ()) if self.sandbox \
            else unconfined(BASH, self.env)
        self.problems = launch.problems
        self._cleanup = launch.cleanup
        self._forks_refused = launch.forks_refused
        self._members = launch.members
        self._settle = launch.settle
        self._explain = launch.explain
        self._refused_seen = 0
        self._bombed = False
        _require(launch.argv[0], launch.env)
        self.child = SPAWNER.submit(
            pexpect.spawn, launch.argv[0], launch.argv[1:], cwd=str(self.cwd), env=launch.env,
            encoding="utf-8", codec_errors="replace", echo=False,
            preexec_fn=lambda: _in_child(launch), dimensions=(50, 250),
        ).result()
        # pexpect waits 50 ms before every send by default; a shell round trip needs none of it.
        self.child.delaybeforesend = None
        result = self._run_raw(SHELL_SETUP, START_TIMEOUT, START_TIMEOUT)
        self.shell_pid = next((p for p in _descendants(self.child.pid) if _comm(p) == "bash"), None)
        if result.exit_code is None or self.shell_pid is None:
            self._close()
            raise ShellStartError(f"the shell did not start: {result.output or result.stopped}")
        self._reaper = _group_reaper(self.shell_pid)

    def run(self, command: str, timeout: float, idle_timeout: float | None = None) -> CommandResult:
        """Run one command; it is interrupted after `timeout` s, or after `idle_timeout` s silent."""
        warnings = self._restart("the shell had died") if not self.child.isalive() else []
        notes = []
        self._bombed = False
        warnings += self._settle()
        cap = self._watch_disk()
        self.busy = True
        try:
            result = self._run_raw(command, timeout, idle_timeout or self.idle_timeout, cap)
        finally:
            self.busy = False
            self._disk_watch = None
            warnings += self._settle()
        if self._broken:
            warnings += self._restart(self._broken)
        if self._forks_refused() > self._refused_seen or self._runaway():
            self._kill_children()
            self._bombed = True
        if self._bombed:
            notes.append("processes hit the sandbox's process limit (a fork bomb?); every process "
                         "the shell had started was killed")
            result = CommandResult(result.output, None, result.stopped)
        self._refused_seen = self._forks_refused()
        warnings += self._look()
        if self.disk and self.disk.left(self._used) <= 0:
            notes.append(f"the session's disk budget for the workspace ({self.disk.describe()}) is "
                         "used up: no file can grow now; delete files (build output, downloads) to "
                         "make room")
        stopped = "; ".join(filter(None, [result.stopped, *notes]))
        return CommandResult(result.output, result.exit_code, stopped, tuple(warnings), self._explain(result.output))

    def _look(self) -> list[str]:
        """The walk after a command: what the workspace takes now, and its git repositories
        made harmless (nested.py)."""
        if not self.nested:
            return []
        found = walk(self.cwd)
        self._used = found.used
        return self.nested.check(found.git)

    def _runaway(self) -> bool:
        """Whether what the command left running multiplies towards the process limit (a fork
        bomb sent to the background ends its command at once): watched while it keeps growing."""
        limit = self.sandbox.limits.max_processes if self.sandbox else 0
        count = len(self._members())
        if not limit or count <= 3:  # at most bwrap's init, its child and the shell: nothing left
            return False
        deadline, grew = time.monotonic() + RUNAWAY_WATCH, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - grew < RUNAWAY_STILL:
            if count > limit // 2 or self._forks_refused() > self._refused_seen:
                return True
            time.sleep(0.02)
            now = len(self._members())
            if now > count:
                count, grew = now, time.monotonic()
        return False

    def _watch_disk(self) -> str:
        """Start the disk watch; the shell line that caps any one file at the disk left.

        A soft limit, set by bash itself (heron may lack CAP_SYS_RESOURCE to set another
        process's): a command could raise it back up to the hard limit set at launch, and then
        the watch stops it."""
        if not self.disk:
            return ""
        left = self.disk.left(self._used)
        self._disk_watch = (left, free_bytes(self.cwd))
        return f"ulimit -S -f {max(left, 0) // 1024} 2>/dev/null; "

    def _over_disk_budget(self) -> bool:
        """Whether the running command took the workspace over the budget: measured only when the
        filesystem's free space dropped by more than what was left, so the watch costs a statvfs."""
        if not self.disk or not self._disk_watch:
            return False
        left, free = self._disk_watch
        return free - free_bytes(self.cwd) > max(left, 0) and self.disk.left() < min(left, 0)

    def interrupt(self) -> None:
        """Stop the running command from another thread (the TUI's Esc); the shell lives on.

        The command's processes get SIGINT, the eval ends, and the marker line still runs, so the
        reading thread returns the output so far with the exit status.
        """
        if self.busy and self.child.isalive():
            self._signal(signal.SIGINT, include_shell=True)

    def _run_raw(self, command: str, timeout: float, idle: float, prefix: str = "") -> CommandResult:
        self._drain()
        _raw_input(self.child.child_fd)  # again: a command may have run `stty sane` or `reset`
        token = secrets.token_hex(8)
        end = f"__HERON_DONE_{token}:"
        begin = f"__HERON_BEGIN_{token}"
        # The command travels in a quoted heredoc, so no character in it is special to the outer
        # shell. The prompts are reset on the eval's own line, before bash would print them: a
        # command's PS1 or PROMPT_COMMAND never reaches the output. The fallback marker is its own
        # line, so it runs even when SIGINT ends the eval's line.
        reset = "PS1=; PS2=; PS0=; unset PROMPT_COMMAND"
        self.child.send(
            f"IFS= read -r -d '' __heron_cmd <<'__HERON_EOF_{token}'\n{command}\n__HERON_EOF_{token}\n"
            f"printf '{begin}\\n'; {prefix}__heron_done=; eval \"$__heron_cmd\" < /dev/null; __heron_rc=$?; {reset}; "
            f"__heron_done=1; printf '\\n{end}%s\\n' \"$__heron_rc\"\n"
            f"__heron_rc=$?; [ -n \"$__heron_done\" ] || {{ {reset}; printf '\\n{end}%s\\n' \"$__heron_rc\"; }}\n"
        )
        marker = re.compile(re.escape(end) + r"(\d+)\r?\n")
        out = _Output(begin=begin + "\n")
        found = self._read(out, marker, timeout, idle)
        if isinstance(found, re.Match):
            return CommandResult(out.text().rstrip("\n"), int(found.group(1)))
        if found == "eof":
            self._broken = "the shell exited"
            return CommandResult(out.text().rstrip("\n"), None, "the shell exited while running it")
        why = {"timeout": f"ran past its {timeout:g} s timeout", "idle": f"printed nothing for {idle:g} s",
               "disk": f"went over the session's disk budget ({self.disk.describe() if self.disk else ''})"}[found]
        stopped = self._stop(out, marker, why)
        return CommandResult(out.text().rstrip("\n"), None, stopped)

    def _read(self, out: _Output, marker: re.Pattern[str], timeout: float,
              idle: float) -> re.Match[str] | str:
        """Read until the marker; else 'timeout', 'idle', 'disk' (over the disk budget) or 'eof'."""
        now = time.monotonic()
        deadline, last = now + timeout, now
        while True:
            now = time.monotonic()
            if now >= deadline:
                return "timeout"
            if now - last >= idle:
                return "idle"
            if self._over_disk_budget():
                self._disk_watch = None  # stopping it is what follows; watch no more
                return "disk"
            if self._forks_refused() > self._refused_seen:
                # At the process limit (a fork bomb, maybe left by an earlier command): nothing
                # can fork, this command's own steps included. Clear every process but the shell.
                self._kill_children()
                self._refused_seen = self._forks_refused()
                self._bombed = True
            try:
                data = self.child.read_nonblocking(READ_CHUNK, min(deadline - now, last + idle - now, DISK_WATCH))
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                return "eof"
            last = time.monotonic()
            found = out.add(data, marker)
            if found:
                return found

    def _drain(self) -> None:
        """Drop what came after the last marker (an interrupted shell's newline), not this command's."""
        try:
            for _ in range(16):  # bounded: a chatty background job must not hold the next command
                self.child.read_nonblocking(READ_CHUNK, 0)
        except (pexpect.TIMEOUT, pexpect.EOF):
            pass

    def _stop(self, out: _Output, marker: re.Pattern[str], why: str) -> str:
        """Interrupt the running command; say what it took. The shell is usable afterwards."""
        self._signal(signal.SIGINT, include_shell=True)
        if isinstance(self._read(out, marker, GRACE, GRACE), re.Match):
            return f"it {why} and was interrupted (SIGINT)"
        self._kill_children()
        if isinstance(self._read(out, marker, GRACE, GRACE), re.Match):
            return f"it {why}, ignored SIGINT and was killed"
        self._broken = "a command would not stop"
        return f"it {why} and would not stop; the shell was replaced"

    def _kill_children(self) -> None:
        # A fork bomb outruns kills sent one process at a time: the survivors fork into the slots
        # the killed free. A stopped process cannot fork, so first stop them all, again until two
        # rounds in a row find none that was not stopped already (a process stopped mid-fork can
        # leave a child that appears only after a round); then kill them, until none is left.
        stopped: set[int] = set()
        quiet = 0
        for _ in range(400):
            found = set(self._signal(signal.SIGSTOP, include_shell=False))
            quiet = quiet + 1 if found <= stopped else 0
            stopped |= found
            if quiet == 2:
                break
        quiet = 0
        for _ in range(400):
            quiet = 0 if self._signal(signal.SIGKILL, include_shell=False) else quiet + 1
            if quiet == 2:
                break
            time.sleep(0.005 * quiet)

    def _signal(self, sig: int, include_shell: bool) -> list[int]:
        """Send `sig` to every process the shell started (and to the shell); returns the pids.

        Walked from the shell's parent (bubblewrap's init, which inherits the orphans of commands
        whose parents died, as a fork bomb's do), and read from the sandbox's cgroup, which
        keeps orphans wherever they were reparented.
        """
        if self.shell_pid is None:
            return []
        wrapper = _parent(self.shell_pid)
        found = set(_descendants(wrapper)) | set(self._members())
        pids = sorted(found - {self.shell_pid, wrapper, self.child.pid})
        for pid in pids + ([self.shell_pid] if include_shell else []):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return pids

    def _restart(self, why: str) -> list[str]:
        """A new shell; what the old one's sandbox would not hand back."""
        refused = self._close()
        self._start()
        self.restarted = f"{why}; a new shell was started, so cwd, variables and functions are reset"
        return refused

    def close(self) -> list[str]:
        """End the shell and every process it started; then, with nothing of the sandbox left to
        race it, the last look at the workspace's git repositories. Returns what heron undid or
        refused, for the user."""
        return self._close() + self._look()

    def _close(self) -> list[str]:
        reaper = getattr(self, "_reaper", None)
        if reaper is not None:  # a clean close needs no reaping
            reaper.kill()
            reaper.wait()
        if self.child.isalive():
            self.child.close(force=True)
        return self._cleanup()


def _in_child(launch: Launch) -> None:
    """In the forked child before exec: the default signal handling Python changed, then the launch's own."""
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_DFL)
    # Before bash starts: it keeps the modes it finds, and puts them back whenever a job dies of
    # a signal; cooked modes then would turn every later \n into \r\n.
    _raw_input(0)
    if launch.in_child:
        launch.in_child()


def _require(program: str, env: Mapping[str, str]) -> None:
    """A program the shell starts through must be installed: say which, and its package."""
    if shutil.which(program, path=env.get("PATH", os.defpath)) is None:
        package = PACKAGES.get(program, program)
        raise ShellStartError(
            f"the shell needs the program `{program}`, which is not on PATH; install it "
            f"(Debian/Ubuntu: apt install {package}) and run heron again", exit_code=2)


def _group_reaper(shell_pid: int) -> subprocess.Popen[bytes]:
    """A tiny process that kills the shell's process group (the shell and every command it runs)
    when heron ends, however it ends: the pipe it reads closes even on SIGKILL. Without it a command
    running when heron is killed would outlive it (the sandbox's --die-with-parent covers only
    bubblewrap's tier)."""
    _require("bash", os.environ)  # bash, which the shell needs anyway: no other program is assumed
    pgid = os.getpgid(shell_pid)
    return subprocess.Popen(["bash", "--noprofile", "--norc", "-c", f"read _; kill -KILL -{pgid} 2>/dev/null"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _raw_input(fd: int) -> None:
    """No line editing on the pty (canonical mode cuts a line at 4096 bytes), no \\n -> \\r\\n."""
    attrs = termios.tcgetattr(fd)
    attrs[1] &= ~termios.OPOST
    attrs[3] &= ~(termios.ICANON | termios.ECHO)
    attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 1, 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def _descendants(pid: int) -> list[int]:
    """Every live descendant of `pid`, parents before children."""
    found, queue = [], [pid]
    while queue:
        parent = queue.pop(0)
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{parent}/task/{task}/children").read_text().split()
            except OSError:
                continue
            found += map(int, children)
            queue += map(int, children)
    return found


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return pid


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def clean_output(text: str) -> str:
    """Strip terminal escapes and control bytes; keep the last frame of carriage-return progress."""
    text = ANSI.sub("", text).replace("\r\n", "\n")
    text = "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n"))
    return CONTROL.sub("", text)
