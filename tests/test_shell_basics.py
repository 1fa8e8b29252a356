"""The persistent shell's core promises, in a real pexpect bash."""

from __future__ import annotations

from pathlib import Path

from tools.shell import ShellSession


def test_state_persists_and_exit_codes_are_read(tmp_path: Path) -> None:
    shell = ShellSession(tmp_path)
    try:
        assert shell.run("mkdir sub && cd sub && export GREETING=hi", 10) == ("", 0)
        assert shell.run("pwd; echo $GREETING", 10) == (f"{tmp_path}/sub\nhi", 0)
        assert shell.run("false", 10) == ("", 1)
        # Output that imitates the end marker cannot end the command early.
        out, code = shell.run("echo __HERON_DONE_0000000000000000:0; exit_code=7; (exit 7)", 10)
        assert (out, code) == ("__HERON_DONE_0000000000000000:0", 7)
    finally:
        shell.close()


def test_timeout_interrupts_and_the_shell_stays_usable(tmp_path: Path) -> None:
    shell = ShellSession(tmp_path)
    try:
        out, code = shell.run("echo started; sleep 30", 1)
        assert code is None and "started" in out
        assert shell.run("echo still here", 10) == ("still here", 0)
    finally:
        shell.close()
