"""A big build's freed arrays are given back to the system (agent/repomap/memory.py)."""

import subprocess
import sys

import pytest

SCENARIO = """
import sys
import numpy as np
from agent.repomap.memory import give_back_freed_arrays
if sys.argv[1] == "held":
    give_back_freed_arrays()
def resident():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
big = np.ones(16 << 20, dtype=np.uint8)  # freed, it raises glibc's threshold to 16 MB
del big
before = resident()
freed, kept = [], []
for _ in range(16):  # arrays let go of among arrays kept, as a build's are
    freed.append(np.ones(2 << 20, dtype=np.uint8))
    kept.append(np.ones(64 << 10, dtype=np.uint8))
del freed
print((resident() - before) >> 20)
"""


def kept_mb(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", SCENARIO, mode], capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc, read through /proc")
def test_arrays_let_go_of_among_kept_ones_are_given_back():
    assert kept_mb("held") < 4
    assert kept_mb("default") >= 16  # what glibc keeps by itself
