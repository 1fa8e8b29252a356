"""Benchmark: does the map rank the file an issue is about? SWE-bench Lite localization.

Run `python tests/bench/localize.py [--limit N] [--half even|odd] [--aider]`. For each instance of
/work/shared/data/swebench-lite-localization.jsonl whose repository has a local mirror (see
benchdata.checkout), the repository is checked out at its base commit and the issue text is the
task. Printed: recall@1/5/10 of the gold file, MRR, and the share of instances whose gold file is
in the map at each budget of --budgets (32K, the default and the whole 262K window) whole or as
signatures; and, apart, with its definitions (shown whole, as signatures or as the names it
defines) — for heron's hybrid ranking, for BM25 alone (heron's index, file contents + path), for PageRank alone, and with
--aider for aider-chat's ranking (its tags, its mentions, on the same instances).
Anchors (sympy, requests and flask of full Lite): BM25 recall@5 67%, aider 8%.

With --releases, the instances whose repositories are too big to fetch here (Django, matplotlib,
scikit-learn) run instead, each on the release sdist before the version its fix went into (see
RELEASES): an approximate tree, months from the base commit, so these figures are reported apart.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.repomap import DEFAULT_BUDGET, RepoMap  # noqa: E402
from tests.bench.benchdata import WORK, aider_python, checkout, sdist_tree  # noqa: E402

DATA = Path("/work/shared/data/swebench-lite-localization.jsonl")
# PyPI project, and by pull-request number (the instance id's) the release whose tree stands in:
# the last before the version in development when the pull request was opened, so that the fix is
# not in it (0.21.1: 0.21.0 has no sdist). The numbers are those of the first pull requests after
# each release branched.
RELEASES = {
    "django/django": ("Django", [(11800, "2.2"), (12900, "3.0"), (13880, "3.1"), (14880, "3.2"),
                                 (15700, "4.0"), (16450, "4.1"), (10**9, "4.2")]),
    "matplotlib/matplotlib": ("matplotlib", [(19900, "3.3.0"), (21700, "3.4.0"), (23700, "3.5.0"),
                                             (25000, "3.6.0"), (10**9, "3.7.0")]),
    "scikit-learn/scikit-learn": ("scikit-learn", [(12000, "0.19.1"), (13700, "0.20.0"), (16000, "0.21.1"),
                                                   (10**9, "1.2.0")]),
}


def rank_of(gold: str, ranked: list[str]) -> int | None:
    return ranked.index(gold) + 1 if gold in ranked else None


def summary(ranks: list[int | None]) -> str:
    n = len(ranks)
    at = {k: sum(1 for r in ranks if r is not None and r <= k) / n for k in (1, 5, 10)}
    mrr = sum(1 / r for r in ranks if r is not None) / n
    return f"recall@1 {at[1]:6.1%}  recall@5 {at[5]:6.1%}  recall@10 {at[10]:6.1%}  MRR {mrr:.3f}"


def release_tree(row: dict) -> Path | None:
    """The unpacked release sdist standing in for the instance's tree (see RELEASES)."""
    if row["repo"] not in RELEASES:
        return None
    project, releases = RELEASES[row["repo"]]
    number = int(row["instance_id"].rpartition("-")[2])
    return sdist_tree(project, next(version for below, version in releases if number < below))


def aider_ranking(tree: Path, task: str) -> tuple[list[str], str]:
    done = subprocess.run([str(aider_python()), str(Path(__file__).parent / "aider_side.py"), "rank",
                           str(tree), "4096", task], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return [], ""
    result = json.loads(done.stdout.splitlines()[-1])
    return result["ranked"], result["map"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="at most this many instances")
    parser.add_argument("--repos", nargs="+", help="only these repositories (owner/name)")
    parser.add_argument("--instances", nargs="+", help="only these instance ids")
    parser.add_argument("--aider", action="store_true", help="also rank with aider-chat (slow)")
    parser.add_argument("--releases", action="store_true",
                        help="the instances of repositories too big to fetch, on release sdists (approximate)")
    parser.add_argument("--budgets", type=int, nargs="+", default=[32_768, DEFAULT_BUDGET, 262_144],
                        help="map budgets in tokens at which to look for the gold file (default 32K, the "
                             "default budget and the whole 262K window)")
    parser.add_argument("--half", choices=("even", "odd"),
                        help="only the instances at even (0, 2, ...) or odd places of the whole file sorted by "
                             "instance id: tune on one half, check on the other")
    args = parser.parse_args()
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    if args.half:
        rows = sorted(rows, key=lambda r: r["instance_id"])[args.half == "odd"::2]
    if args.repos:
        rows = [r for r in rows if r["repo"] in args.repos]
    if args.releases:
        rows = [r for r in rows if r["repo"] in RELEASES]
    if args.instances:
        rows = [r for r in rows if r["instance_id"] in args.instances]
    rows.sort(key=lambda r: (r["repo"], r["instance_id"]))
    results: dict[str, list[int | None]] = collections.defaultdict(list)
    shown, detailed = collections.Counter(), collections.Counter()  # per budget
    used, skipped = collections.Counter(), collections.Counter()
    for row in rows:
        if args.limit and sum(used.values()) >= args.limit:
            break
        tree = release_tree(row) if args.releases else checkout(row["repo"], row["base_commit"])
        gold, task = row["gold_files"][0], row["problem_statement"]
        if tree is None or not (tree / gold).is_file():
            skipped[row["repo"]] += 1
            continue
        used[row["repo"]] += 1
        repo_map = RepoMap(tree, cache_dir=WORK / "localize-cache")
        repo_map.refresh()
        index = repo_map.index
        paths = [s.path for s in repo_map.ordered]
        results["heron (hybrid)"].append(rank_of(gold, [s.path for s in repo_map.ranked(task)]))
        results["BM25 alone"].append(rank_of(gold, [paths[i] for i in np.argsort(-index.bm25(task), kind="stable")]))
        results["PageRank alone"].append(rank_of(gold, [paths[i] for i in np.argsort(
            -index.pagerank(index.mentioned(task) + 1e-3), kind="stable")]))
        tiers = {budget: repo_map.render(task, budget=budget).tiers.get(gold) for budget in args.budgets}
        for budget, tier in tiers.items():
            shown[budget] += tier in ("full", "signatures", "names")
            detailed[budget] += tier in ("full", "signatures")
        if args.aider:
            ranked, text = aider_ranking(tree, task)
            results["aider"].append(rank_of(gold, ranked))
            results["aider gold in 4k map"].append(1 if gold in text else None)
        repo_map.close()
        print(f"{row['instance_id']:40} heron {results['heron (hybrid)'][-1]}  bm25 {results['BM25 alone'][-1]}"
              "  tiers " + " ".join(f"{budget}:{tier}" for budget, tier in tiers.items()), file=sys.stderr, flush=True)
    n = sum(used.values())
    print(f"{n} instances: " + ", ".join(f"{repo} {k}" for repo, k in sorted(used.items())))
    if skipped:
        why = "gold file not in the release" if args.releases else "no local history"
        print(f"skipped ({why}): " + ", ".join(f"{repo} {k}" for repo, k in sorted(skipped.items())))
    for name, ranks in results.items():
        if name == "aider gold in 4k map":
            print(f"{'aider: gold file in its 4k map':24} {sum(1 for r in ranks if r) / n:6.1%}")
        else:
            print(f"{name:24} {summary(ranks)}")
    for budget in args.budgets:
        print(f"gold file in a {budget}-token map whole or as signatures: {detailed[budget] / n:.1%}"
              f" (with its definitions, names included: {shown[budget] / n:.1%})")


if __name__ == "__main__":
    main()
