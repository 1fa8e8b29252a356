"""Runs inside aider-chat's own venv (see benchdata.aider_python): aider's RepoMap, offline, with a
stub model that only counts tokens and a stub io. Prints one JSON object.

  aider_side.py map ROOT TOKENS TASK [TASK ...]   time the first map, then one turn per extra task
  aider_side.py rank ROOT TOKENS TASK             aider's file ranking for TASK and its map
"""

import json
import os
import re
import resource
import sys
import time
from pathlib import Path

from aider.repomap import RepoMap, find_src_files
from edit_turn import edited


class StubModel:
    def token_count(self, text):
        return len(text) // 4  # cheap: aider is not charged for a real tokenizer here


class StubIO:
    def read_text(self, fname, silent=False):
        try:
            with open(fname, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return None

    def tool_output(self, *args, **kwargs):
        pass

    tool_warning = tool_error = tool_output


def mentions(text, root, files):
    """What aider's coder would pass: the words of the text, and files named in it."""
    idents = set(re.split(r"\W+", text))
    words = {w.strip("\"'`*_,.!;:?()") for w in text.split()}
    named = {f for f in files if os.path.relpath(f, root) in words or os.path.basename(f) in words}
    return named, idents


def main():
    mode, root, tokens, *tasks = sys.argv[1:]
    files = find_src_files(root)
    repo_map = RepoMap(map_tokens=int(tokens), root=root, main_model=StubModel(), io=StubIO(),
                       max_context_window=262144, map_mul_no_files=1, refresh="auto")
    if mode == "rank":
        named, idents = mentions(tasks[0], root, files)
        ranked = []
        for tag in repo_map.get_ranked_tags([], files, named, idents):
            rel = tag[0]
            if rel not in ranked:
                ranked.append(rel)
        text = repo_map.get_repo_map([], files, named, idents) or ""
        print(json.dumps({"ranked": ranked, "map": text}))
        return
    seconds = []
    text = ""
    for task in tasks:
        named, idents = mentions(task, root, files)
        started = time.perf_counter()
        text = repo_map.get_repo_map([], files, named, idents) or ""
        seconds.append(time.perf_counter() - started)
    edit = None
    if len(tasks) > 1 and os.environ.get("BENCH_EDIT"):
        with edited(Path(root) / os.environ["BENCH_EDIT"]):
            named, idents = mentions(tasks[-1] + " again", root, files)
            started = time.perf_counter()
            repo_map.get_repo_map([], files, named, idents)
            edit = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps({"seconds": seconds, "edit": edit, "peak_mb": peak, "map": text}))


main()
