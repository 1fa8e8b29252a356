"""Peak memory of a command and everything it runs, measured from a small launcher.

A process forked from pytest starts with pytest's memory counted in its peak (ru_maxrss carries
over fork and exec), so the command is started by a launcher whose own footprint is small."""

from __future__ import annotations

import sys
from pathlib import Path

LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
status, usage = os.wait4(pid, 0)[1:]
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
"""


def measured(argv: list[str], report: Path) -> list[str]:
    """`argv` started through the launcher, which writes its peak (KiB) to `report` at the end."""
    return [sys.executable, "-c", LAUNCHER, str(report), *argv]


def peak_kib(report: Path) -> int:
    return int(report.read_text())
