"""`heron map`: the map of a repository on stdout, as the model would see it."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from agent.errors import UsageError
from agent.model.tokens import count_tokens
from agent.repomap import DEFAULT_BUDGET, RepoMap


def print_map(path: Path, tokens: int | None, focus: list[str], task: str, stats: bool) -> int:
    if not path.is_dir():
        raise UsageError(f"{path}: not a directory")
    budget = DEFAULT_BUDGET if tokens is None else tokens
    if budget <= 0:
        raise UsageError(f"--tokens {tokens}: give a positive number of tokens")
    started = time.perf_counter()
    repo_map = RepoMap(path, watch=False)
    try:
        repo_map.refresh()
        rendered = repo_map.render(task, [_in_repo(path, f) for f in focus], budget)
    finally:
        repo_map.close()
    seconds = time.perf_counter() - started
    sys.stdout.write(rendered.text)
    if stats:
        s = repo_map.stats
        tiers = list(rendered.tiers.values())
        print(f"files: {s.files} mapped, {s.skipped} skipped (binary, generated, minified)\n"
              f"tags: {s.tags}\n"
              f"tokens: {count_tokens(rendered.text)} of {budget} "
              f"({tiers.count('full')} full, {tiers.count('signatures')} signatures, {tiers.count('names')} names, "
              f"{tiers.count('path')} paths)\n"
              f"time: {seconds:.3f} s\n"
              f"cache: {s.cache_hits} hits, {s.parsed} parsed"
              + (" (the cache was damaged or locked and was rebuilt)" if s.cache_rebuilt else ""),
              file=sys.stderr)
    return 0


def _in_repo(root: Path, item: str) -> str:
    """A focus item as the map names it: a file relative to the root, or the identifier as given."""
    if os.path.exists(item):
        try:
            return Path(item).resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return item
    return item
