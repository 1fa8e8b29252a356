"""The repo map as per-turn context: the first user turn carries it, later ones a refreshed map
only when the repository changed, so the cached prompt prefix is never rewritten."""

from __future__ import annotations

from dataclasses import dataclass

from agent.config import Config
from agent.model.endpoint import Endpoint
from agent.repomap import DEFAULT_BUDGET, RepoMap
from agent.repomap.apart import MapProcess

INTRO = "<repo-map>\n{map}</repo-map>"


@dataclass
class MapTurns:
    repo_map: RepoMap | MapProcess
    budget: int
    sent: bool = False

    def __call__(self, user_message: str) -> str | None:
        changed = self.repo_map.refresh()
        if self.sent and not changed:
            return None
        self.sent = True
        return INTRO.format(map=self.repo_map.render(task=user_message, budget=self.budget).text)


def map_budget(config: Config, endpoint: Endpoint | None) -> int:
    """The repo map's token budget: configured, or a quarter of the window; 0 turns the map off."""
    if config.map_tokens is not None:
        return config.map_tokens
    window = endpoint.context_window if endpoint else None
    return window // 4 if window else DEFAULT_BUDGET
