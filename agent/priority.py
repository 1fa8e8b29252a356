"""Threads that give way to the screen.

The TUI's screen runs on its process's main thread; the session's core, the workers that list
files and connect, and every process they start (git, the repo map's, the shell's) run beside it
on the same cores. On Linux a thread's scheduling priority is its own, and a process it starts
inherits it: lowered, their work waits for a frame rather than the frame for it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

BACKGROUND_NICE = 10  # Linux's scheduler then gives the screen's thread nine tenths of a busy core


def give_way(increment: int = BACKGROUND_NICE) -> None:
    """Lower the calling thread's priority by `increment` (as `nice` does), and so that of the
    processes it starts from now on. Only on Linux, where that is the thread's alone."""
    if sys.platform != "linux" or increment <= 0:
        return
    thread = threading.get_native_id()
    with contextlib.suppress(OSError):  # a sandbox's seccomp, say: the work runs as before
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + increment))
