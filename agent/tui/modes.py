"""The app's modes: plan mode, then the approval modes of the policy."""

from __future__ import annotations

import dataclasses

from agent.config import APPROVAL_MODES
from agent.core.policy import Policy

MODES = ("plan", *APPROVAL_MODES)
# Shift+Tab walks these; read-only is reachable with /mode.
MODE_CYCLE = ("ask", "auto-edit", "full-auto", "plan")


def next_mode(mode: str) -> str:
    at = MODE_CYCLE.index(mode) if mode in MODE_CYCLE else -1
    return MODE_CYCLE[(at + 1) % len(MODE_CYCLE)]


def policy_for(base: Policy, mode: str, session_allow: tuple[str, ...]) -> Policy:
    """Plan mode is read-only without allow rules, so nothing can change the tree while planning."""
    if mode == "plan":
        return dataclasses.replace(base, mode="read-only", allow=())
    return dataclasses.replace(base, mode=mode, allow=base.allow + session_allow)
