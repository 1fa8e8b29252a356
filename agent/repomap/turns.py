"""The repo map as per-turn context: the first user turn carries it, later ones a refreshed map
only when the repository changed, so the cached prompt prefix is never rewritten."""

from __future__ import annotations

from dataclasses import dataclass

from agent.repomap import RepoMap

INTRO = "<repo-map>\n{map}</repo-map>"


@dataclass
class MapTurns:
    repo_map: RepoMap
    budget: int
    sent: bool = False

    def __call__(self, user_message: str) -> str | None:
        changed = self.repo_map.refresh()
        if self.sent and not changed:
            return None
        self.sent = True
        return INTRO.format(map=self.repo_map.render(task=user_message, budget=self.budget).text)
