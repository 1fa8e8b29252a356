"""The persistent shell as the model meets it, inside the real bubblewrap sandbox.

Every case ends with the shell still answering, since a wedged shell ends the whole session.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from pathlib import Path
from typing import Iterator

import pexpect
import pytest

from agent.sandbox.bubblewrap import Sandbox
from agent.sandbox.shell import OUTPUT_HEAD, OUTPUT_TAIL, ShellSession, ShellStartError
from tests.conftest import make_repo


@pytest.fixture
def sh(sandbox: Sandbox) -> Iterator[ShellSession]:
    session = ShellSession(sandbox.workspace, sandbox=sandbox, idle_timeout=30)
    yield session
    session.close()


def still_works(sh: ShellSession) -> None:
    result = sh.run("echo still here", 10)
    assert (result.output, result.exit_code) == ("still here", 0)


def test_state_persists_and_exit_codes_are_read(sh: ShellSession) -> None:
    ws = sh.cwd
    assert sh.run("mkdir sub && cd sub && export GREETING=hi && f() { echo fn; }", 10).exit_code == 0
    result = sh.run("pwd; echo $GREETING; f", 10)
    assert (result.output, result.exit_code) == (f"{ws}/sub\nhi\nfn", 0)
    assert sh.run("false", 10).exit_code == 1
    # Output that imitates the end marker cannot end the command early or fake its status.
    result = sh.run("echo __HERON_DONE_0000000000000000:0; (exit 7)", 10)
    assert (result.output, result.exit_code) == ("__HERON_DONE_0000000000000000:0", 7)


def test_a_never_ending_command_is_interrupted_at_its_timeout(sh: ShellSession) -> None:
    result = sh.run("while true; do echo tick; sleep 0.2; done", 1.5)
    assert result.exit_code is None and "timeout" in result.stopped
    assert "tick" in result.output
    still_works(sh)


def test_a_silent_command_is_interrupted_by_the_idle_timeout(sh: ShellSession) -> None:
    result = sh.run("echo begun; sleep 100", 60, idle_timeout=1)
    assert result.exit_code is None and "printed nothing for 1 s" in result.stopped
    assert result.output == "begun"
    still_works(sh)


def test_a_command_ignoring_sigint_is_killed(sh: ShellSession) -> None:
    result = sh.run("python3 -c 'import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(100)'", 1)
    assert "ignored SIGINT and was killed" in result.stopped
    still_works(sh)


def test_a_shell_that_will_not_stop_is_replaced_and_the_model_told(sh: ShellSession) -> None:
    result = sh.run("trap '' INT; while :; do :; done", 1)
    assert "the shell was replaced" in result.stopped
    assert "cwd, variables and functions are reset" in sh.restarted
    still_works(sh)


def test_infinite_output_is_capped_with_head_tail_and_count(sh: ShellSession) -> None:
    result = sh.run("seq 1 100000000", 2)
    assert result.exit_code is None
    assert result.output.startswith("1\n2\n3\n")
    assert "characters cut] ..." in result.output
    assert len(result.output) < OUTPUT_HEAD + OUTPUT_TAIL + 200
    still_works(sh)


def test_stdin_readers_get_end_of_file(sh: ShellSession) -> None:
    result = sh.run("read line; echo \"read=$? [$line]\"; cat; python3 -c 'import sys; print(len(sys.stdin.read()))'", 10)
    assert (result.output, result.exit_code) == ("read=1 []\n0", 0)


def test_dev_tty_openers_fail_at_once(sh: ShellSession) -> None:
    result = sh.run("cat /dev/tty", 10)
    assert result.exit_code == 1 and "No such device or address" in result.output
    still_works(sh)


def test_pagers_print_and_editors_refuse(sh: ShellSession) -> None:
    make_repo(sh.cwd, {"notes.txt": "line one\n"})
    result = sh.run("git log --format=%s; less notes.txt; man --version >/dev/null; echo $PAGER", 10)
    assert (result.output, result.exit_code) == ("initial\nline one\ncat", 0)
    result = sh.run("vim notes.txt", 10)
    assert result.exit_code == 1 and "no interactive editor" in result.output
    # git's own editor returns at once: the commit aborts instead of waiting for a keyboard.
    result = sh.run("echo more >> notes.txt && git -c user.name=t -c user.email=t@t commit -qa", 10)
    assert result.exit_code == 1 and "empty commit message" in result.output
    still_works(sh)


def test_binary_and_ansi_output_arrive_as_clean_text(sh: ShellSession) -> None:
    result = sh.run(r"printf '\033[1;31mred\033[0m \033]0;a title\007plain\n10%%\r50%%\r100%%\n'", 10)
    assert result.output == "red plain\n100%"
    result = sh.run("head -c 4000 /bin/ls; echo; echo after", 10)
    assert result.exit_code == 0 and result.output.endswith("after")
    assert "\ufffd" in result.output and "\x00" not in result.output and "\x1b" not in result.output


def test_unicode_paths(sh: ShellSession) -> None:
    result = sh.run("mkdir -p 'dir é/子' && cd 'dir é/子' && echo ünï > файл.txt && ls && cat файл.txt", 10)
    assert (result.output, result.exit_code) == ("файл.txt\nünï", 0)
    assert (sh.cwd / "dir é/子/файл.txt").read_text() == "ünï\n"


def test_commands_longer_than_4_kb(sh: ShellSession) -> None:
    word = "x" * 10_000
    result = sh.run(f"echo {word} | wc -c", 10)
    assert (result.output, result.exit_code) == ("10001", 0)
    script = "\n".join(f"v{i}={i}" for i in range(1500)) + "\necho $v1499"
    assert len(script) > 4096
    assert sh.run(script, 10).output == "1499"


def test_heredocs_and_syntax_errors(sh: ShellSession) -> None:
    result = sh.run("cat <<'EOF'\n$HOME !! `x` \"q\nEOF", 10)
    assert (result.output, result.exit_code) == ("$HOME !! `x` \"q", 0)
    result = sh.run("if then fi", 10)
    assert result.exit_code == 2 and "syntax error" in result.output
    result = sh.run('echo "unclosed', 10)
    assert result.exit_code == 2 and "unexpected EOF" in result.output
    still_works(sh)


def test_exit_restarts_the_shell_and_says_so(sh: ShellSession) -> None:
    sh.run("cd /tmp", 10)
    result = sh.run("exit 3", 10)
    assert "the shell exited" in result.stopped
    assert sh.restarted
    assert sh.run("pwd", 10).output == str(sh.cwd)


def test_a_killed_shell_is_restarted_and_the_model_told(sh: ShellSession) -> None:
    assert sh.shell_pid is not None
    os.kill(sh.shell_pid, signal.SIGKILL)
    sh.child.expect(pexpect.EOF, timeout=10)
    still_works(sh)
    assert "the shell had died" in sh.restarted


def test_without_sandbox_the_shell_has_no_terminal_either(tmp_path: Path) -> None:
    session = ShellSession(tmp_path, idle_timeout=30)
    try:
        assert session.run("cat /dev/tty", 10).exit_code == 1
        assert session.run("cd / && pwd", 10).output == "/"
        still_works(session)
    finally:
        session.close()


def test_a_sandbox_that_cannot_start_is_a_clear_error(sandbox: Sandbox) -> None:
    with pytest.raises(ShellStartError, match="the shell did not start"):
        ShellSession(sandbox.workspace, sandbox=dataclasses.replace(sandbox, bwrap="false"))


def test_a_chatty_background_job_does_not_hold_the_shell(sh: ShellSession) -> None:
    assert "started" in sh.run("(while :; do echo noise; done) & echo started", 10).output
    result = sh.run("echo mine", 10)
    # The job's noise may interleave; what matters is that the command ran and returned.
    assert result.exit_code == 0 and "mine" in result.output.splitlines()
    sh.run("kill %1", 10)
    still_works(sh)


def test_the_shell_outlives_the_thread_that_started_it(sandbox: Sandbox) -> None:
    # The TUI starts the shell in a worker thread; the sandbox dies with the thread that forked it.
    started: list[ShellSession] = []
    worker = threading.Thread(target=lambda: started.append(ShellSession(sandbox.workspace, sandbox=sandbox)))
    worker.start()
    worker.join()
    sh = started[0]
    try:
        sh.run("export MARK=kept", 10)
        time.sleep(0.3)
        assert sh.run("echo $MARK", 10).output == "kept" and not sh.restarted
    finally:
        sh.close()
