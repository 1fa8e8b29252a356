"""Ranking files for a task: personalized PageRank over the def/ref graph, blended with BM25.

PageRank alone ranks central code, not the file a task is about; lexical similarity alone misses
structure. The blend personalizes PageRank on what the task points at (files in play, mentioned
paths and identifiers, lexically similar files) and adds the lexical score itself.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from agent.repomap.source import Source, terms

# A name defined in more files than this is generic (get, run, __init__): no evidence of a link.
MAX_DEFINERS = 12
DAMPING = 0.85
ITERATIONS = 30
BM25_K1, BM25_B = 1.2, 0.75
# Blend weights, chosen by a grid search on 71 SWE-bench Lite instances (tests/bench/localize.py):
# BM25 carries most of it; PageRank at 0.05 breaks ties (higher weights lowered recall@5 from 69%
# to 62%); tests are rarely the file a task is about.
LEXICAL_WEIGHT = 1.0
GRAPH_WEIGHT = 0.05
MENTION_WEIGHT = 0.3
FOCUS_WEIGHT = 2.0
TEST_FILE_FACTOR = 0.5
TEST_FILE = re.compile(r"(^|/)(tests?|testing)/|(^|/)test_[^/]*$|_tests?\.\w+$|(^|/)conftest\.py$")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
PATHLIKE = re.compile(r"[\w./-]+\.\w+|[\w-]+(?:/[\w.-]+)+")


@dataclass
class Index:
    """What ranking needs, built when the repository changes and reused every turn.

    Plain lists and numpy arrays only, so it pickles quickly into the cache for the next start.
    """

    paths: list[str]
    definers: dict[str, list[int]]  # name -> files defining it
    src: np.ndarray  # graph edges: referencing file -> defining file, with weights
    dst: np.ndarray
    weight: np.ndarray
    terms: dict[str, int]  # BM25 postings, compressed by row: term -> row
    starts: np.ndarray  # row r holds files[starts[r]:starts[r + 1]] and their counts
    files: np.ndarray
    counts: np.ndarray
    lengths: np.ndarray  # words per file
    definition_count: int  # definitions and references seen, for statistics
    reference_count: int

    @classmethod
    def build(cls, sources: list[Source]) -> "Index":
        definers: dict[str, list[int]] = {}
        for i, s in enumerate(sources):
            for name in {name for name, _ in s.defs}:
                definers.setdefault(name, []).append(i)
        edges: dict[tuple[int, int], float] = {}
        for i, s in enumerate(sources):
            for name, lines in s.refs.items():
                targets = definers.get(name)
                if not targets or len(targets) > MAX_DEFINERS:
                    continue
                # Many uses count, with diminishing returns; a name with few definers says more.
                w = math.sqrt(len(lines)) / len(targets) * (0.1 if name.startswith("_") else 1.0)
                for j in targets:
                    if j != i:
                        edges[(i, j)] = edges.get((i, j), 0.0) + w
        pairs = np.array(list(edges.keys()), dtype=np.int64).reshape(-1, 2)
        term_ids: dict[str, int] = {}
        rows: list[int] = []
        files: list[int] = []
        counts: list[int] = []
        for i, s in enumerate(sources):
            for term, count in s.words.items():
                rows.append(term_ids.setdefault(term, len(term_ids)))
                files.append(i)
                counts.append(count)
        row = np.array(rows, dtype=np.int64)
        order = np.argsort(row, kind="stable")
        starts = np.searchsorted(row[order], np.arange(len(term_ids) + 1))
        return cls(
            paths=[s.path for s in sources], definers=definers,
            src=pairs[:, 0], dst=pairs[:, 1],
            weight=np.fromiter(edges.values(), dtype=np.float64, count=len(edges)),
            terms=term_ids, starts=starts,
            files=np.array(files, dtype=np.int64)[order],
            counts=np.array(counts, dtype=np.float64)[order],
            lengths=np.bincount(np.array(files, dtype=np.int64), weights=np.array(counts, dtype=np.float64),
                                minlength=len(sources)),
            definition_count=sum(len(s.defs) for s in sources),
            reference_count=sum(len(lines) for s in sources for lines in s.refs.values()),
        )

    def bm25(self, text: str) -> np.ndarray:
        scores = np.zeros(len(self.paths))
        if not self.paths:
            return scores
        avg = max(self.lengths.mean(), 1.0)
        norm = BM25_K1 * (1 - BM25_B + BM25_B * self.lengths / avg)
        for term in {t for ident in IDENTIFIER.findall(text) for t in terms(ident)}:
            row = self.terms.get(term)
            if row is None:
                continue
            files = self.files[self.starts[row]:self.starts[row + 1]]
            counts = self.counts[self.starts[row]:self.starts[row + 1]]
            idf = math.log(1 + (len(self.paths) - len(files) + 0.5) / (len(files) + 0.5))
            scores[files] += idf * counts * (BM25_K1 + 1) / (counts + norm[files])
        return scores

    def pagerank(self, personal: np.ndarray) -> np.ndarray:
        n = len(self.paths)
        if n == 0:
            return personal
        p = personal / personal.sum() if personal.sum() > 0 else np.full(n, 1.0 / n)
        out = np.bincount(self.src, weights=self.weight, minlength=n)
        share = np.divide(self.weight, out[self.src], out=np.zeros_like(self.weight), where=out[self.src] > 0)
        dangling = out == 0
        rank = p.copy()
        for _ in range(ITERATIONS):
            flow = np.bincount(self.dst, weights=rank[self.src] * share, minlength=n)
            rank = DAMPING * (flow + rank[dangling].sum() * p) + (1 - DAMPING) * p
        return rank

    def mentioned(self, text: str) -> np.ndarray:
        """1 for files whose path or name the text names, or that define an identifier it names."""
        hits = np.zeros(len(self.paths))
        named = set(PATHLIKE.findall(text))
        if named:
            for i, path in enumerate(self.paths):
                if path in named or path.rsplit("/", 1)[-1] in named or any(
                        n.endswith(path) or (len(n) > 6 and path.endswith(n)) for n in named if "/" in n):
                    hits[i] = 1.0
        for ident in set(IDENTIFIER.findall(text)):
            files = self.definers.get(ident)
            if files and len(files) <= MAX_DEFINERS and _distinctive(ident):
                hits[files] = np.maximum(hits[files], 1.0 / len(files))
        return hits

    def rank(self, task: str = "", focus: tuple[str, ...] = (), recent: tuple[str, ...] = ()) -> list[int]:
        """File indices, best first."""
        n = len(self.paths)
        if n == 0:
            return []
        lexical = _normalized(self.bm25(task + " " + " ".join(focus)))
        mentioned = self.mentioned(task + "\n" + "\n".join(focus))
        in_play = np.zeros(n)
        wanted = set(focus) | set(recent)
        for i, path in enumerate(self.paths):
            if path in wanted:
                in_play[i] = 1.0
        personal = lexical ** 2 + mentioned + FOCUS_WEIGHT * in_play
        graph = _normalized(self.pagerank(personal + 1e-3))
        tests = np.array([TEST_FILE_FACTOR if TEST_FILE.search(p) else 1.0 for p in self.paths])
        score = (LEXICAL_WEIGHT * lexical + GRAPH_WEIGHT * graph + MENTION_WEIGHT * mentioned) * tests \
            + FOCUS_WEIGHT * in_play
        return sorted(range(n), key=lambda i: (-score[i], self.paths[i]))


def _normalized(values: np.ndarray) -> np.ndarray:
    top = values.max() if len(values) else 0.0
    return values / top if top > 0 else values


def _distinctive(ident: str) -> bool:
    """Names like QuerySet, bulk_create or _eval_is_zero, not English words."""
    return "_" in ident.strip("_") or any(c.isupper() for c in ident[1:]) or ident[0].isupper()
