"""The app's modes: plan mode, then the approval modes of the policy."""

from __future__ import annotations

from agent.config import Mode

MODES = tuple(m.value for m in Mode)
# Shift+Tab walks these; read-only is reachable with /mode.
MODE_CYCLE = (Mode.ASK, Mode.AUTO_EDIT, Mode.FULL_AUTO, Mode.PLAN)


def next_mode(mode: str) -> str:
    at = MODE_CYCLE.index(Mode(mode)) if mode in MODE_CYCLE else -1
    return MODE_CYCLE[(at + 1) % len(MODE_CYCLE)]
