"""Ranking files for a task: personalized PageRank over the def/ref graph, blended with BM25.

PageRank alone ranks central code, not the file a task is about; lexical similarity alone misses
structure. The blend personalizes PageRank on what the task points at (files in play, mentioned
paths, dotted module and package names, identifiers, lexically similar files) and adds the lexical
score and the mentions themselves. BM25 weighs a file's path above its text, and a task's title and
`code` above its prose; a name the title gives counts more than one its body gives.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import math
import re
from array import array
from collections import defaultdict
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any, Iterable, Sequence

import numpy as np

from agent.repomap.packed import Packed
from agent.repomap.source import Source, terms, words

# A name defined in more files than this is generic (get, run, __init__): no evidence of a link.
MAX_DEFINERS = 12
# An edge that weighs less is none: the least a real one weighs is 0.1 / MAX_DEFINERS.
DUST = 1e-9
DAMPING = 0.85
LINK_RUN = 1 << 18  # references turned into edges at once (see _linked)
CHUNK_POSTINGS = 1 << 20  # postings a chunk of IndexBuilder's buffers holds, about
# Up to this many files read again, their words are kept beside the postings (Index.overlay); past
# it, the postings take them in: each query term then looks through no more than these.
OVERLAY_FILES = 500
# The edges of files whose edges changed are kept beside the others (Index.patch) until they are
# more than one in FOLD_SHARE of them, and more than FOLD_MIN_EDGES (fewer cost PageRank nothing
# to speak of); then they are folded in.
FOLD_SHARE = 8
FOLD_MIN_EDGES = 50_000
ITERATIONS = 30
# Up to this many edges, PageRank's product is numpy's (Flow); past them, scipy's sparse one, whose
# single pass over the edges is quicker there (3.0 ms a step against 4.8 over the 3 million of a
# 100,000-file tree, and 3 times as quick in a warm start) but whose import takes 0.12-0.19 s, more
# than all 30 steps of numpy's below this (0.4 ms a step over 300,000 edges; sympy has 81,000).
NUMPY_FLOW_EDGES = 1 << 19
BM25_K1, BM25_B = 1.2, 0.75
# Blend weights, chosen by a grid search on 71 SWE-bench Lite instances (tests/bench/localize.py):
# BM25 carries most of it; PageRank at 0.05 breaks ties (higher weights lowered recall@5 from 69%
# to 62%; with the weighted BM25 below, 0.02-0.1 differ by one instance); tests are rarely the
# file a task is about. Reciprocal-rank fusion of the same signals did no better over 18
# settings: its best recall@5 (78.9%) came with MRR 0.559, its best MRR (0.615) with the same
# recall@5 as this blend (77.5%, MRR 0.610). Checked again on the even half (`--half even`) with
# the mention weighting below: graph 0.02-0.2, path mention 0.2-0.5, title and code boosts 1-3,
# path terms 1-4 and BM25 k1 0.9-1.5, b 0.6-0.9 found nothing better than these values by more
# than one instance.
LEXICAL_WEIGHT = 1.0
GRAPH_WEIGHT = 0.05
MENTION_WEIGHT = 0.5  # for defining an identifier the task names (see named_definers)
# An issue's title names what is wrong; its body names much else on the way (the calls of a
# reproducer, the frames of a traceback). So a name past the title counts for less. Chosen on the
# even half of the instances (tests/bench/localize.py --half even) over mention 0.3-0.7 and body
# 0.2-1 (1: no title weighting): at 0.5 and 0.3 (0.2 tied) its recall@5 went 73.0% -> 75.7%, MRR
# 0.658 -> 0.675, from the old 0.3 and 1; the odd half's MRR 0.675 -> 0.719, recall@5 82.4% both.
MENTION_BODY = 0.3
PATH_MENTION_WEIGHT = 0.3  # for being named by path, file name or dotted module (tracebacks name
# site-packages files that are rarely the fix: weighting these higher lowered MRR)
# For the files most called by a file defining a name the title gives: the title names where the
# trouble shows, the fix is often in what that delegates to (pytest's _code/source.py has the most,
# an eighth, of the references of the code.py that defines the `code` a title named). Only names
# of the title that one or two files define count (see named_definers: a weight of TITLE_NAMED or more); with the body's too (0.3),
# recall@1 fell on the even half, 59.5% -> 56.8%. Chosen on the even half: 0.4-2 alike (a gold
# file 3rd -> 2nd, MRR 0.689 -> 0.694), from 3 callees outranked the named files (recall@1 56.8%);
# the odd half at 1: a gold file 28th -> 12th, into the 32K map, one 87th -> 82nd, none lower.
CALLEE_WEIGHT = 1.0
TITLE_NAMED = 0.5
# Where the words are: a file's path says more than a word in its text (source.PATH_TERM_EXTRA); an
# issue's title and its `code spans` more than its prose and pasted output. Chosen on the same 71
# instances, from the middle of a plateau (title 1-3 and code 1-2 all gave recall@5 76-79%, from 69%).
TITLE_BOOST = 2.0  # added to the weight (1) of a term in the task's first line
CODE_BOOST = 2.0  # added for a term inside `backticks`
CODE_SPAN = re.compile(r"`([^`\n]+)`")
# English function words: a task's prose is full of them, and so are comments, docstrings and
# keywords (if, for, not, with), so they match every file and most where the text is longest. Left
# out of the task's terms (a title's "that" weighed 3 in sphinx/application.py). On the 71
# instances MRR went from 0.610 to 0.626, recall@5 stayed 77.5%.
STOP_WORDS = frozenset("""
a about above after again all also am an and any are as at be because been before being below between
both but by can could did do does doing don down during each few for from further had has have having
he her here hers him his how if in into is it its itself just me more most my no nor not now of off on
once only or other our out over own same she should so some such than that the their them then there
these they this those through to too under until up very was we were what when where which while who
whom why will with would you your
""".split())
# Text in a task that its author did not write: an issue template's instructions, in <!-- comments
# --> that GitHub does not show, and an interpreter's start-up banner pasted with a session (Type
# "help", "copyright", "credits" or "license"; IPython's help lines). Their words (license,
# interactive, thanks, submitting) matched files about those, above the file the task is about.
# Left out (tests/bench/localize.py), no gold file ranked lower; on the even half one rose (228th
# to 212th), on the odd half two (28th to 24th, 62nd to 35th); recall and MRR as they were.
TEMPLATE_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
BANNER_LINE = re.compile(
    r"^[ \t]*(?:Python \d+\.\d+\.\d+[^\n]*\(.*\d\d:\d\d:\d\d\)[^\n]*"  # Python 3.6.0 (default, Dec 23 2016, 12:22:00)
    r"|\[(?:GCC|Clang|MSC)\b[^\n]*\] on \w+"  # [GCC 8.4.0] on linux
    r"|Type [^\n]*\bcopyright\b[^\n]*\bcredits\b[^\n]*for more information\.?"
    r"|IPython \d[^\n]*-- An enhanced Interactive Python\.[^\n]*"
    r"|(?:\?|%quickref|help|object\?)[ \t]+-> [^\n]*)[ \t]*\r?$", re.M)
FOCUS_WEIGHT = 2.0
# Tests are rarely the file a task is about, yet share its words: test_commonmatrix.py outranked
# the matrices/sparse.py it tests. Chosen on the even half: 0.1-0.4 alike, recall@5 78.4% -> 83.8%
# from 0.5 (two instances at rank 6 moved to 5), MRR 0.687 -> 0.689; the odd half's unchanged.
TEST_FILE_FACTOR = 0.3
# Each of its alternatives holds "test" (_per_path looks for the word first).
TEST_FILE = re.compile(r"(^|/)(tests?|testing)/|(^|/)test_[^/]*$|_tests?\.\w+$|(^|/)conftest\.py$")
# Documentation and examples (doc/en/conf.py, examples/*.py) are, like tests, seldom the file a
# task is about, and share its words. Chosen on the even half: 0.3-0.7 alike, the gold file of 3
# of its 37 instances 1-7 places higher (15th to 14th, 67th to 63rd), none lower; on the odd half
# 4 of 34 higher by 1-4 places, none lower; recall and MRR as they were on both.
DOC_FILE_FACTOR = 0.5
# Each of its alternatives holds "doc" or "example" (see TEST_FILE).
DOC_FILE = re.compile(r"(^|/)(docs?|examples?)/")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
PATHLIKE = re.compile(r"[\w./-]+\.\w+|[\w-]+(?:/[\w.-]+)+")
CODE_USE = re.compile(r"\b([A-Za-z_]\w{2,})\s*\(|\.([A-Za-z_]\w{2,})\b")  # call( or .attribute
DOTTED = re.compile(r"\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")  # django.db.models.query.QuerySet


@dataclass
class Index:
    """What ranking needs, built once, patched when files change (updated) and reused every turn.

    Lists, numpy arrays and packed name maps only, so it unpickles quickly at the next start;
    what follows from them (position, _walk) is made when first needed, and only PageRank's
    matrix is saved.
    """

    paths: list[str]
    definers: Packed  # name -> files defining it
    src: np.ndarray  # graph edges: referencing file -> defining file, with weights
    dst: np.ndarray
    weight: np.ndarray
    terms: Packed  # BM25 postings, compressed by row: term -> [its row] (a dict took 70 ms to unpickle)
    starts: np.ndarray  # row r holds files[starts[r]:starts[r + 1]] and their counts
    files: np.ndarray
    counts: np.ndarray
    lengths: np.ndarray  # words per file
    definitions: np.ndarray  # tags seen per file, for statistics
    references: np.ndarray
    # Per file, computed once rather than every turn:
    modules: Packed  # a/b/c for a/b/c.py or package a/b/c/ (see _modules), and tails b/c -> files
    path_order: np.ndarray  # rank of the path in sorted order, to break ties
    factor: np.ndarray  # TEST_FILE_FACTOR for tests, DOC_FILE_FACTOR for docs and examples, else 1
    by_name: Packed  # file name -> the files of that name (a/__init__.py, b/__init__.py)
    # The words of the files read again since the postings were made, whose postings there are
    # out of date (`stale`): an edit puts its files here rather than rewrite postings that a
    # 100,000-file tree holds 10^7 of (see postings, updated).
    overlay: dict[int, dict[str, int]] = dataclasses.field(default_factory=dict)
    stale: np.ndarray | None = None
    # Likewise for the edges: the files whose edges out changed since src, dst and weight were
    # made (`rewired`, whose edges there count no more) and their edges now (`patch`, keyed in
    # the same order), rather than rewrite the 3 million edges of a 100,000-file tree at each
    # edit (see edges, updated).
    rewired: np.ndarray | None = None
    patch: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Its fields and PageRank's matrix over them (made again, it took a tenth of a warm
        start); not `position`, quicker made again than read."""
        state = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        state["_base_walk"] = self._base_walk
        return state

    @functools.cached_property
    def position(self) -> dict[str, int]:
        """Path -> index."""
        return {path: i for i, path in enumerate(self.paths)}

    @classmethod
    def build(cls, sources: list[Source]) -> "Index":
        builder = IndexBuilder()
        for s in sources:
            builder.add(s)
        return builder.finish([s.path for s in sources], [s.language for s in sources])

    @property
    def tag_count(self) -> int:
        return int(self.definitions.sum() + self.references.sum())

    def referrers(self, sources: list[Source], changed: dict[int, Source]) -> list[int] | None:
        """The files that may refer to a name that a changed file began or ceased to define, so
        whose edges change (see updated): each holds all the terms of such a name, since a
        reference is an identifier of its text. None when a name has no term to find it by."""
        found: set[int] = set()
        for name in _renamed(sources, changed):
            held = [self.postings(term)[0] for term in words(name)]
            if not held:
                return None
            found.update(min(held, key=len).tolist())  # none: no file refers to it
        return sorted(found.difference(changed))

    def updated(self, sources: list[Source], changed: dict[int, Source], referrers: Iterable[int]) -> "Index":
        """This index with the files at `changed` read again (index -> the Source it was, with its
        head), the files in the map being the same ones: a turn after an edit patches the index
        in milliseconds rather than build it again. `sources` are the map's files, with the bodies
        of the changed files and of `referrers` (see referrers)."""
        definers = _redefined(self.definers, sources, changed)
        at = sorted(changed)
        is_changed = np.zeros(len(self.paths), dtype=bool)
        is_changed[at] = True
        rewired, patch = self._rewired(sources, changed, referrers, definers)
        stale = is_changed if self.stale is None else self.stale | is_changed
        overlay = {**self.overlay, **{i: dict(sources[i].words) for i in at}}
        terms, starts, files, counts = self.terms, self.starts, self.files, self.counts
        if len(overlay) > OVERLAY_FILES:
            terms, starts, files, counts = self._patched_postings(overlay, stale)
            overlay, stale = {}, None
        lengths, definitions, references = self.lengths.copy(), self.definitions.copy(), self.references.copy()
        lengths[at] = [sum(sources[i].words.values()) for i in at]
        definitions[at] = _definition_counts([sources[i] for i in at])
        references[at] = _reference_counts([sources[i] for i in at])
        patched = dataclasses.replace(
            self, definers=definers, rewired=rewired, patch=patch,
            terms=terms, starts=starts, files=files, counts=counts, overlay=overlay, stale=stale,
            lengths=lengths, definitions=definitions, references=references)
        if len(patch[0]) > max(len(self.src) // FOLD_SHARE, FOLD_MIN_EDGES):
            patched = patched.folded()
        # Made again, they took 50 ms and 20 ms of a turn.
        if "position" in self.__dict__:  # the same paths
            patched.position = self.position
        if "_base_walk" in self.__dict__ and patched.src is self.src:  # the same edges beneath the patch
            patched._base_walk = self._base_walk
        return patched

    def folded(self) -> "Index":
        """This index with the patch's edges taken in among the others."""
        src, dst, weight = self.edges()
        return dataclasses.replace(self, src=src, dst=dst, weight=weight, rewired=None, patch=None)

    def renumbered(self, paths: Sequence[str], languages: Sequence[str | None]) -> "Index":
        """This index over `paths` (with their languages), the map's files now, when files came
        or went. Those that went must have been emptied first (see updated: then nothing refers to
        them); those that came start empty, to be filled in by updated."""
        if self.patch is not None:  # numbered anew, the edges take in the patch first
            return self.folded().renumbered(paths, languages)
        if self.overlay:  # numbered anew, the postings take in the overlay first
            assert self.stale is not None
            terms, starts, files, counts = self._patched_postings(self.overlay, self.stale)
            return dataclasses.replace(self, terms=terms, starts=starts, files=files, counts=counts, overlay={},
                                       stale=None).renumbered(paths, languages)
        fields = _per_path(paths, languages)
        position = dict(zip(paths, range(len(paths))))
        moved = np.array([position.get(path, -1) for path in self.paths], dtype=np.int64)
        kept = moved >= 0
        per_file = []
        for values in (self.lengths, self.definitions, self.references):
            now = np.zeros(len(paths), dtype=values.dtype)
            now[moved[kept]] = values[kept]
            per_file.append(now)
        return dataclasses.replace(
            self, paths=list(paths), definers=self.definers.renumbered(moved),
            src=moved[self.src].astype(np.int32), dst=moved[self.dst].astype(np.int32),
            files=moved[self.files].astype(np.int32),
            lengths=per_file[0], definitions=per_file[1], references=per_file[2], **fields)

    def _rewired(self, sources: list[Source], changed: dict[int, Source], referrers: Iterable[int],
                 definers: Packed) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The files whose edges out change (those read again, and those referring to a name
        whose definers changed) added to the rewired ones, and the patch with their edges as
        they are now: the few made afresh, the many left as they are."""
        n = len(self.paths)
        renamed = _renamed(sources, changed)
        files = sorted({*changed, *(f for f in referrers if not renamed.isdisjoint(sources[f].refs))})
        used = set(chain.from_iterable(sources[f].refs for f in files))
        fresh = _edges(files, [sources[f].refs for f in files], {name: definers[name] for name in used if name in definers}, n)
        rewired = np.zeros(n, dtype=bool) if self.rewired is None else self.rewired.copy()
        rewired[files] = True
        if self.patch is None:
            return rewired, fresh
        again = np.zeros(n, dtype=bool)
        again[files] = True
        return rewired, _merged(self.patch, ~again[self.patch[0]], fresh, n)

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every edge: from, to and weight, ordered by to, then from (as a build makes them)."""
        if self.patch is None:
            return self.src, self.dst, self.weight
        assert self.rewired is not None
        return _merged((self.src, self.dst, self.weight), ~self.rewired[self.src], self.patch, len(self.paths))

    def _patched_postings(self, words: dict[int, dict[str, int]], is_changed: np.ndarray
                          ) -> tuple[Packed, np.ndarray, np.ndarray, np.ndarray]:
        """The postings with those of the files in `words` (file -> its words, each file marked
        in `is_changed`) as they are now: rows by term, files ascending within a row, as build
        makes them; a new term gets a new row. A posting that stays (an edit keeps most of a
        file's words) has only its count rewritten, and only those that went or came move the
        others: the 10^7 postings of a 100,000-file tree are copied at most, never keyed or
        sorted again (deleting and inserting all of the file's postings took half a second)."""
        at = sorted(words)
        bags = [words[i] for i in at]
        rows_of = {term: self.terms.get(term) for term in dict.fromkeys(term for bag in bags for term in bag)}
        new = [term for term, row in rows_of.items() if row is None]
        terms = self.terms
        if new:  # each a row of its own; the old index keeps its terms
            terms = terms.updated({term: [len(terms) + k] for k, term in enumerate(new)})
            rows_of.update({term: terms[term] for term in new})
        n = len(self.paths)
        old = np.flatnonzero(is_changed[self.files])  # where the changed files' postings were, by (row, file)
        old_keys = (np.searchsorted(self.starts, old, side="right") - 1) * n + self.files[old]
        rows = np.array([rows_of[term][0] for bag in bags for term in bag], dtype=np.int64)
        keys = rows * n + np.repeat(np.asarray(at, dtype=np.int64), [len(bag) for bag in bags])
        new_counts = np.array([c for bag in bags for c in bag.values()], dtype=self.counts.dtype)
        order = np.argsort(keys)
        keys, new_counts = keys[order], new_counts[order]
        found = np.searchsorted(old_keys, keys)
        stays = found < len(old_keys)
        stays[stays] = old_keys[found[stays]] == keys[stays]
        counts = self.counts.copy()
        counts[old[found[stays]]] = new_counts[stays]
        went = np.ones(len(old), dtype=bool)
        went[found[stays]] = False
        gone, came, came_counts = old[went], keys[~stays], new_counts[~stays]
        files, starts = self.files, self.starts
        if len(gone):
            files, counts = _deleted(files, gone), _deleted(counts, gone)
            starts = starts - np.concatenate(([0], np.cumsum(np.bincount(
                np.searchsorted(starts, gone, side="right") - 1, minlength=len(starts) - 1))))
        starts = np.concatenate((starts, np.full(len(terms) + 1 - len(starts), starts[-1])))  # new rows, empty
        if len(came):
            came_rows, came_files = came // n, came % n
            # Each new posting goes after the files below it in its row.
            place = np.array([start + np.searchsorted(files[start:end], f) for start, end, f in zip(
                starts[came_rows].tolist(), starts[came_rows + 1].tolist(), came_files.tolist(), strict=True)],
                dtype=np.int64)
            starts = starts + np.concatenate(([0], np.cumsum(np.bincount(came_rows, minlength=len(terms)))))
            files, counts = _inserted(files, place, came_files.astype(files.dtype)), _inserted(counts, place, came_counts)
        return terms, starts, files, counts

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """The files holding the term, ascending, and how many times each holds it."""
        found = self.terms.get(term)
        row = found[0] if found else None
        files, counts = (self.files[self.starts[row]:self.starts[row + 1]], self.counts[self.starts[row]:self.starts[row + 1]]
                         ) if row is not None else (self.files[:0], self.counts[:0])
        if not self.overlay:
            return files, counts
        assert self.stale is not None
        keep = ~self.stale[files]
        now = [(f, bag[term]) for f, bag in self.overlay.items() if term in bag]
        if not now:
            return files[keep], counts[keep]
        files = np.concatenate((files[keep], np.array([f for f, _ in now], dtype=files.dtype)))
        counts = np.concatenate((counts[keep], np.array([c for _, c in now], dtype=counts.dtype)))
        order = np.argsort(files, kind="stable")
        return files[order], counts[order]

    def bm25(self, text: str) -> np.ndarray:
        """Lexical relevance of each file to the text, its terms weighted (see _query_weights)."""
        scores = np.zeros(len(self.paths))
        if not self.paths:
            return scores
        avg = max(self.lengths.mean(), 1.0)
        norm = BM25_K1 * (1 - BM25_B + BM25_B * self.lengths / avg)
        for term, q in _query_weights(text).items():
            files, counts = self.postings(term)
            if not len(files):
                continue
            idf = math.log(1 + (len(self.paths) - len(files) + 0.5) / (len(files) + 0.5))
            scores[files] += q * idf * counts * (BM25_K1 + 1) / (counts + norm[files])
        return scores

    def pagerank(self, personal: np.ndarray) -> np.ndarray:
        n = len(self.paths)
        if n == 0:
            return personal
        p = (personal / personal.sum() if personal.sum() > 0 else np.full(n, 1.0 / n)).astype(np.float32)
        walk = self._walk
        rank = p.copy()
        for _ in range(ITERATIONS):
            rank = DAMPING * (walk.spread(rank) + rank[walk.dangling].sum() * p) + (1 - DAMPING) * p
        return rank

    def prepare(self) -> None:
        """Make what ranking needs beyond the fields (PageRank's matrix) now rather than at the first rank."""
        self._walk  # noqa: B018

    @functools.cached_property
    def _base_walk(self) -> tuple[Any, np.ndarray]:
        """PageRank's matrix over src, dst and weight (see _spread), and each file's weight out.
        Kept by an index patched after an edit (see updated), whose patch is made beside it."""
        return _spread(self.src, self.dst, self.weight, len(self.paths))

    @functools.cached_property
    def _walk(self) -> Walk:
        """The graph as PageRank walks it: src, dst and weight, but for the rewired files' edges,
        which the patch holds."""
        spread, out = self._base_walk
        if self.patch is None:
            return Walk(spread, None, None, out == 0)
        assert self.rewired is not None
        patch, patch_out = _spread(*self.patch, len(self.paths))
        return Walk(spread, (~self.rewired).astype(np.float32), patch, np.where(self.rewired, patch_out == 0, out == 0))

    def mentioned(self, text: str) -> np.ndarray:
        """1 for files whose path or name the text names, or that define an identifier it names."""
        return np.maximum(self.named_files(text), self.named_definers(text))

    def named_files(self, text: str) -> np.ndarray:
        """1 for files the text names: by path (a traceback's too) or as a dotted module; by file
        name, 1 over how many files have that name (`__init__.py` names none in particular)."""
        hits = np.zeros(len(self.paths))
        # A path named whole or in part ends with the file's name: only files of that name are
        # looked at, not each of 180,000 paths for each name.
        for named in set(PATHLIKE.findall(text)):
            files = self.by_name.get(named.rpartition("/")[2], [])
            for i in files:
                path = self.paths[i]
                if path == named or "/" in named and (named.endswith(path) or (len(named) > 6 and path.endswith(named))):
                    hits[i] = 1.0
                elif "/" not in named:
                    hits[i] = max(hits[i], 1.0 / len(files))
        for dotted in set(DOTTED.findall(text)):
            parts = dotted.split(".")
            # The longest prefix naming a module: the rest are attributes (QuerySet, bulk_create).
            for k in range(len(parts), 1, -1):
                files = self.modules.get("/".join(parts[:k]))
                if files:
                    hits[files] = 1.0
                    break
        return hits

    def named_definers(self, text: str) -> np.ndarray:
        """For files defining an identifier the text names as code or that looks like one: 1 over
        how many define it, MENTION_BODY of that when the title does not name it."""
        hits = np.zeros(len(self.paths))
        as_code, in_title = _used_as_code(text), set(IDENTIFIER.findall(_title(text)))
        for ident in set(IDENTIFIER.findall(text)):
            files = self.definers.get(ident)
            if files and len(files) <= MAX_DEFINERS and (ident in as_code or _distinctive(ident)):
                weight = 1.0 if ident in in_title else MENTION_BODY
                hits[files] = np.maximum(hits[files], weight / len(files))
        return hits

    def rank(self, task: str = "", focus: tuple[str, ...] = (), recent: tuple[str, ...] = ()) -> list[int]:
        """File indices, best first. The last answer is kept: a turn with nothing changed asks
        the same again, and ranking a 100,000-file tree takes a tenth of a second."""
        asked = (task, focus, recent)
        kept = self.__dict__.get("_ranked")
        if kept is None or kept[0] != asked:
            kept = self.__dict__["_ranked"] = (asked, self._ranking(task, focus, recent))
        return list(kept[1])

    def _ranking(self, task: str, focus: tuple[str, ...], recent: tuple[str, ...]) -> list[int]:
        n = len(self.paths)
        if n == 0:
            return []
        task = _authored(task)
        lexical = _normalized(self.bm25(task + " " + " ".join(focus)))
        text = task + "\n" + "\n".join(focus)
        named, defining = self.named_files(text), self.named_definers(text)
        mentioned = np.maximum(named, defining)
        in_play = np.zeros(n)
        in_play[[self.position[p] for p in {*focus, *recent} if p in self.position]] = 1.0
        personal = lexical ** 2 + mentioned + FOCUS_WEIGHT * in_play
        graph = _normalized(self.pagerank(personal + 1e-3))
        callees = self._walk.spread(np.where(defining >= TITLE_NAMED, defining, 0.0))
        score = (LEXICAL_WEIGHT * lexical + GRAPH_WEIGHT * graph + MENTION_WEIGHT * defining
                 + PATH_MENTION_WEIGHT * named + CALLEE_WEIGHT * callees) * self.factor \
            + FOCUS_WEIGHT * in_play
        return np.lexsort((self.path_order, -score)).tolist()


@dataclass(frozen=True)
class Walk:
    """PageRank's matrices: src, dst and weight as made (`base`), but for the files that `keep`
    (0 or 1 by file) has not, whose edges now are `patch`'s; and the files with no edges out."""

    base: Any
    keep: np.ndarray | None
    patch: Any
    dangling: np.ndarray

    def spread(self, rank: np.ndarray) -> np.ndarray:
        """What flows to each file along the edges from each file's `rank` (in single precision,
        as the matrices are: PageRank, 30 products with each, took 1.7 times as long in double)."""
        rank = rank.astype(np.float32, copy=False)
        if self.keep is None:
            return self.base @ rank
        return self.base @ (rank * self.keep) + self.patch @ rank


def _spread(src: np.ndarray, dst: np.ndarray, weight: np.ndarray, n: int,
            numpy_up_to: int = NUMPY_FLOW_EDGES) -> tuple[Any, np.ndarray]:
    """The edges as a sparse matrix whose row d holds the share of each file's rank that flows to
    d (its edge's weight over all its edges'), and each file's weight out: a Flow up to
    `numpy_up_to` edges, scipy's matrix past them. The edges are ordered by dst."""
    out = np.bincount(src, weights=weight, minlength=n)
    share = (weight / out[src]).astype(np.float32)
    if len(src) <= numpy_up_to:
        starts = np.flatnonzero(np.diff(dst, prepend=-1))
        return Flow(share, src.astype(np.intp), dst[starts], starts), out
    import scipy.sparse  # here: only a large graph's ranking needs it

    return scipy.sparse.csr_matrix((share, src, np.searchsorted(dst, np.arange(n + 1))), shape=(n, n)), out


@dataclass(frozen=True)
class Flow:
    """A sparse matrix by rows, as _spread makes it, multiplied by a rank in three passes of numpy:
    each edge's share of the rank of the file it leaves, summed by the file it leads to."""

    share: np.ndarray  # float32, by edge, edges ordered by the file they lead to
    src: np.ndarray  # the file each edge leaves, in numpy's index type (a narrower one is copied at each product)
    into: np.ndarray  # the files with edges in, ascending
    starts: np.ndarray  # where the edges into each of them begin

    def __matmul__(self, rank: np.ndarray) -> np.ndarray:
        flowing = np.take(rank, self.src, mode="wrap")  # wrap: checks no bounds, each src being a file
        flowing *= self.share
        spread = np.zeros(len(rank), dtype=np.float32)
        if len(self.into):
            spread[self.into] = np.add.reduceat(flowing, self.starts)
        return spread


class IndexBuilder:
    """An Index built a file at a time: what ranking needs of each file is appended to a few flat
    buffers of 32-bit numbers, so the file's own dictionaries can be let go at once (those of
    100,000 files would not fit in memory together) and a cold build takes each file in as the
    parsing workers send it. The buffers are sealed into chunks as they fill, and the postings
    are put in place a chunk at a time, each let go once placed: Arrays of each file's own, and
    their copies joined to sort, took 1.6 GB at the peak of a 180,000-file build; the buffers
    whole beside the postings made from them, a tenth of a gigabyte more than needed.

    Files are best taken in the order they are numbered in (see finish): then the postings of
    each term come in that order; taken in another, each term's are sorted at the end."""

    def __init__(self) -> None:
        # Each distinct term and name numbered once: a new key gets the next number.
        self.term_ids: defaultdict[str, int] = defaultdict()
        self.term_ids.default_factory = self.term_ids.__len__
        self.name_ids: defaultdict[str, int] = defaultdict()
        self.name_ids.default_factory = self.name_ids.__len__
        self.taken: dict[str, int] = {}  # path -> its place in the order files were taken in
        # Of the files taken since the last chunk was sealed, one after another: the terms of
        # each and their counts, the names it refers to and its uses of each, the names it
        # defines (each once).
        self.buffers = {name: array("i") for name in ("terms", "counts", "refs", "uses", "defined")}
        # Sealed: the buffers of the files taken before, and how many files each holds.
        self.chunks: list[tuple[int, dict[str, np.ndarray]]] = []
        self._sealed = 0  # files in the chunks
        # Of each file: how many terms, references and names defined it adds to them, and its definitions.
        self.sizes = {name: array("i") for name in ("terms", "refs", "defined", "definitions")}

    def add(self, s: Source) -> None:
        """Take in a file, whose head and body must be loaded; it is not kept."""
        self.taken[s.path] = len(self.taken)
        buffers, sizes, names = self.buffers, self.sizes, self.name_ids
        defined = dict.fromkeys(name for name, _ in s.defs)
        # Appended from lists: array.extend takes an iterator's items one at a time (16 s of a
        # cold build of 180,000 files), and numpy.fromiter costs 1.5 us a call however few items
        # it makes (rebuilding that tree's index, this took 8.3 s with it, 7.3 s with fromlist).
        for name, numbers in (("terms", map(self.term_ids.__getitem__, s.words)), ("counts", s.words.values()),
                              ("refs", map(names.__getitem__, s.refs)), ("uses", s.refs.values()),
                              ("defined", map(names.__getitem__, defined))):
            buffers[name].fromlist(list(numbers))
        for name, size in (("terms", len(s.words)), ("refs", len(s.refs)), ("defined", len(defined)),
                           ("definitions", len(s.defs))):
            sizes[name].append(size)
        if len(buffers["terms"]) >= CHUNK_POSTINGS:
            self._seal()

    def _seal(self) -> None:
        self.chunks.append((len(self.taken) - self._sealed,
                            {name: np.frombuffer(buffer, dtype=np.int32) for name, buffer in self.buffers.items()}))
        self._sealed = len(self.taken)
        self.buffers = {name: array("i") for name in self.buffers}

    def __contains__(self, path: str) -> bool:
        return path in self.taken

    def finish(self, paths: Sequence[str], languages: Sequence[str | None]) -> Index:
        """The index of the files taken in, each once, numbered in the order of `paths` (each
        file's language beside it). The builder is spent: what it numbered is let go of as soon
        as it is packed, before the edges are made (their peak is the build's)."""
        n = len(paths)
        taken = np.fromiter((self.taken[path] for path in paths), dtype=np.int64, count=n)
        if n != len(self.taken):
            raise ValueError("the files of an index are the files taken in, each once")
        per_path = _per_path(paths, languages)  # first, while the least else is held
        number = np.empty(n, dtype=np.int32)  # by the order taken: the file's number
        number[taken] = np.arange(n, dtype=np.int32)
        self._seal()
        chunks, self.chunks = self.chunks, []
        sizes = {name: np.frombuffer(size, dtype=np.int32) for name, size in self.sizes.items()}
        # Each chunk's postings let go once placed; what the edges need joined (a tenth as much).
        terms, starts, files, counts, lengths = self._postings(chunks, sizes["terms"], number)
        buffers = {name: np.concatenate([chunk.pop(name) for _, chunk in chunks]) for name in ("refs", "uses", "defined")}
        del chunks
        definers = _grouped(buffers.pop("defined"), np.repeat(number, sizes["defined"]), len(self.name_ids))
        ref_by = np.repeat(number, sizes["refs"])
        uses = buffers.pop("uses")
        references = np.bincount(ref_by, weights=uses, minlength=n)
        names = list(self.name_ids)
        self.name_ids.clear()
        private = np.fromiter((name.startswith("_") for name in names), dtype=bool, count=len(names))
        packed_definers = Packed.of_groups(names, *definers)
        del names
        src, dst, weight = _linked(ref_by, buffers.pop("refs"), uses, *definers, private, n)
        del ref_by, uses
        return Index(
            paths=list(paths), definers=packed_definers,
            # 32-bit file numbers and counts (whole numbers): the index pickles into the cache
            # and is read at every start, so its size is time.
            src=src, dst=dst, weight=weight,
            terms=terms, starts=starts, files=files, counts=counts, lengths=lengths,
            definitions=sizes["definitions"][taken].copy(), references=references.astype(np.int32),
            **per_path,
        )

    def _postings(self, chunks: list[tuple[int, dict[str, np.ndarray]]], held: np.ndarray, number: np.ndarray
                  ) -> tuple[Packed, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Terms, row starts, files and counts of the postings, rows by term and files ascending
        within a row; and the words of each file. `chunks` hold the term (`terms`) of each word of
        each file and its count (`counts`) for so many files, `held` words a file, files in the order taken;
        `number`: each taken file's number. A chunk's postings are placed after those of the
        chunks before, each in its row, and let go."""
        n = len(number)
        per_row = np.zeros(len(self.term_ids), dtype=np.int64)
        for _, chunk in chunks:
            per_row += np.bincount(chunk["terms"], minlength=len(per_row))
        starts = np.concatenate(([0], np.cumsum(per_row)))
        files, counts = np.empty(int(starts[-1]), dtype=np.int32), np.empty(int(starts[-1]), dtype=np.int32)
        lengths = np.zeros(n)
        slot = starts[:-1].copy()  # where each row's next posting goes
        first = 0  # the first file (in the order taken) of the chunk
        for held_files, chunk in chunks:
            rows, many = chunk.pop("terms"), chunk.pop("counts")
            last = first + held_files
            local = np.repeat(np.arange(last - first, dtype=np.int32), held[first:last])
            lengths[number[first:last]] = np.bincount(local, weights=many, minlength=last - first)
            order = np.argsort(rows, kind="stable")  # the files as taken within each row
            at = rows[order]
            del rows
            places = slot[at] + np.arange(len(at)) - np.searchsorted(at, at)  # after those of the row before
            files[places], counts[places] = number[first:last][local[order]], many[order]
            slot += np.bincount(at, minlength=len(slot))
            first = last
        if np.any(np.diff(number) < 0):  # taken out of order: each row's files sorted
            order = np.lexsort((files, np.repeat(np.arange(len(per_row), dtype=np.int32), per_row)))
            files, counts = files[order], counts[order]
        count = len(self.term_ids)
        terms = Packed.of_groups(list(self.term_ids), np.arange(count + 1), np.arange(count, dtype=np.int32))
        self.term_ids.clear()
        return terms, starts, files, counts, lengths

def _grouped(keys: np.ndarray, values: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Key k's values are values[starts[k]:starts[k + 1]], ascending (keys 0 to count - 1)."""
    order = np.lexsort((values, keys))
    return np.concatenate(([0], np.cumsum(np.bincount(keys, minlength=count)))), values[order]


def _edges(files: Sequence[int], refs: Sequence[dict[str, int]], definers: dict[str, list[int]],
           n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each of `files`, with its `refs`, -> the files defining what it refers to, weighted."""
    names = list(definers)
    number = {name: k for k, name in enumerate(names)}
    starts = np.concatenate(([0], np.cumsum([len(definers[name]) for name in names]))).astype(np.int64)
    targets = np.fromiter(chain.from_iterable(definers.values()), dtype=np.int64, count=int(starts[-1]))
    private = np.array([name.startswith("_") for name in names], dtype=bool)
    used = np.fromiter(map(number.get, chain.from_iterable(refs), repeat(-1)), dtype=np.int64,
                       count=sum(map(len, refs)))
    uses = np.fromiter(chain.from_iterable(r.values() for r in refs), dtype=np.float64, count=len(used))
    by = np.repeat(np.asarray(files, dtype=np.int64), [len(r) for r in refs])
    known = used >= 0  # names nothing defines
    return _linked(by[known], used[known], uses[known], starts, targets, private, n)


def _linked(by: np.ndarray, ref_names: np.ndarray, uses: np.ndarray, target_start: np.ndarray,
            targets: np.ndarray, private: np.ndarray, n: int, run: int = LINK_RUN
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges from files `by` that refer (`uses` times) to the names numbered `ref_names` -> the
    files defining them (name k's: targets[target_start[k]:target_start[k + 1]]), weighted; built
    with numpy, as there are 10^5 references and more. `private`: whether each name is (_x)."""
    target_count = np.diff(target_start)
    linkable = (target_count > 0) & (target_count <= MAX_DEFINERS)
    # Many uses count, with diminishing returns; a name with few definers says more; a private
    # name (_x) little.
    factor = np.where(private, 0.1, 1.0) / np.maximum(target_count, 1)
    # A run of references at a time: one edge per (reference, definer) takes five arrays of
    # 64-bit numbers, which for the 10^7 references of a 100,000-file tree at once took 0.8 GB.
    keys, weights = [], []
    for at in range(0, max(len(ref_names), 1), run):
        k = ref_names[at:at + run]
        keep = linkable[k]
        run_keys, run_weights = _fanned(k[keep], by[at:at + run][keep], uses[at:at + run][keep], targets,
                                        target_start, target_count, factor, n)
        keys.append(run_keys)
        weights.append(run_weights)
    joined_keys, joined_weights = np.concatenate(keys), np.concatenate(weights)
    del keys, weights  # the runs, not held twice
    return _kept(*_summed_keys(joined_keys, joined_weights), n)  # runs may share a pair


def _fanned(k: np.ndarray, frm: np.ndarray, uses: np.ndarray, targets: np.ndarray, target_start: np.ndarray,
            target_count: np.ndarray, factor: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The keyed edges (see _pairs) of references from files `frm` to the linked names `k`, each
    used `uses` times: one edge per (reference, definer). Its own function, so that what it
    makes on the way is let go before the runs are joined."""
    fan = target_count[k]  # each reference repeated once per definer of its name
    ref_of = np.repeat(np.arange(len(k)), fan)
    offset = np.arange(len(ref_of)) - np.repeat(np.cumsum(fan) - fan, fan)
    to = targets[target_start[k][ref_of] + offset]
    frm, w = frm[ref_of], (np.sqrt(uses.astype(np.float64)) * factor[k])[ref_of]
    own = frm != to
    return _pairs(frm[own], to[own], w[own], n)


def _inserted(array: np.ndarray, at: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`array` with values[k] inserted before array[at[k]], `at` ascending (values at the same
    place in their order). Joined from slices: np.insert masks the whole array, which took a tenth
    of a second for a few values among the 10^7 postings of a 100,000-file tree."""
    if not len(at):
        return array
    pieces = np.split(array, at)
    joined = [pieces[0]]
    for k in range(len(at)):
        joined += [values[k:k + 1], pieces[k + 1]]
    return np.concatenate(joined)


def _deleted(array: np.ndarray, at: np.ndarray) -> np.ndarray:
    """`array` without the items at `at` (ascending, each once), joined from slices (see _inserted)."""
    if not len(at):
        return array
    return np.concatenate(np.split(array, np.column_stack((at, at + 1)).ravel())[::2])


def _merged(edges: tuple[np.ndarray, np.ndarray, np.ndarray], keep: np.ndarray,
            extra: tuple[np.ndarray, np.ndarray, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The `edges` where `keep`, and the `extra` edges (none between the same two files) put in
    their places: both are ordered by to, then from, and so is what they make."""
    src, dst, weight = (a[keep] for a in edges)
    extra_keys = extra[1].astype(np.int64) * n + extra[0]
    at = np.searchsorted(dst.astype(np.int64) * n + src, extra_keys) + np.arange(len(extra_keys))
    placed = np.zeros(len(src) + len(at), dtype=bool)
    placed[at] = True
    merged = []
    for part, extra_part, dtype in zip((src, dst, weight), extra, (np.int32, np.int32, np.float64), strict=True):
        whole = np.empty(len(placed), dtype=dtype)
        whole[~placed], whole[at] = part, extra_part
        merged.append(whole)
    return merged[0], merged[1], merged[2]


def _pairs(frm: np.ndarray, to: np.ndarray, w: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The edges' keys (to * n + from), each once and ascending, and their weights summed."""
    return _summed_keys(to.astype(np.int64) * n + frm, w)


def _summed_keys(keys: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each key once, ascending, with the weights given it summed. Sorted stably, which finds
    the runs of sorted keys that _linked joins, and summed over each key's run: np.unique's
    inverse took two more arrays of the keys' size."""
    order = np.argsort(keys, kind="stable")
    keys, w = keys[order], w[order].astype(np.float64, copy=False)
    del order
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1]))) if len(keys) else np.zeros(0, dtype=np.int64)
    return keys[starts], np.add.reduceat(w, starts) if len(starts) else w


def _kept(keys: np.ndarray, weight: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From, to (32-bit file numbers) and weight of the keyed edges that weigh something."""
    keep = weight > DUST
    if not keep.all():  # a build's weigh something, all of them: not copied
        keys, weight = keys[keep], weight[keep]
    return (keys % n).astype(np.int32), (keys // n).astype(np.int32), weight


def _per_path(paths: Sequence[str], languages: Sequence[str | None]) -> dict[str, Any]:
    """The fields of an Index that follow from the paths alone (and which are source files)."""
    by_name: dict[str, list[int]] = {}
    for i, path in enumerate(paths):
        by_name.setdefault(path.rpartition("/")[2], []).append(i)
    return dict(
        modules=Packed.of(_modules(paths, languages)),
        path_order=np.argsort(np.argsort(np.array(paths, dtype=object), kind="stable")),
        # Each pattern holds its word, looked for first: a path without it is spared the search
        # (the two searches took 0.63 s of 180,000 paths, 43% of them neither tests nor docs).
        factor=np.array([TEST_FILE_FACTOR if "test" in path and TEST_FILE.search(path) else
                         DOC_FILE_FACTOR if ("doc" in path or "example" in path) and DOC_FILE.search(path) else 1.0
                         for path in paths]),
        by_name=Packed.of(by_name),
    )


def _definition_counts(sources: Sequence[Source]) -> np.ndarray:
    return np.array([len(s.defs) for s in sources], dtype=np.int32)


def _reference_counts(sources: Sequence[Source]) -> np.ndarray:
    return np.array([sum(s.refs.values()) for s in sources], dtype=np.int32)


def _redefined(definers: Packed, sources: list[Source], changed: dict[int, Source]) -> Packed:
    """Name -> files defining it, for the changed files' definitions now (a copy, lists in order)."""
    changes: dict[str, list[int]] = {}
    for i, old in changed.items():
        new = {name for name, _ in sources[i].defs}
        for name in new.symmetric_difference(name for name, _ in old.defs):
            files = [f for f in (changes[name] if name in changes else definers.get(name, ())) if f != i]
            if name in new:
                bisect.insort(files, i)
            changes[name] = files  # none: the name is defined no more
    return definers.updated(changes)


def _renamed(sources: list[Source], changed: dict[int, Source]) -> set[str]:
    """The names that changed files began or ceased to define (`changed`: index -> old Source)."""
    return set().union(*({name for name, _ in sources[i].defs} ^ {name for name, _ in old.defs}
                         for i, old in changed.items()))


def _query_weights(text: str) -> dict[str, float]:
    """The task's terms, weighted 1, plus TITLE_BOOST in its first line and CODE_BOOST in `code`."""
    weights = dict.fromkeys(_terms_of(text), 1.0)
    for part, boost in [(_title(text), TITLE_BOOST)] + [(span, CODE_BOOST) for span in CODE_SPAN.findall(text)]:
        for term in _terms_of(part):
            weights[term] += boost
    return weights


def _authored(task: str) -> str:
    """The task without what its author did not write (see TEMPLATE_COMMENT, BANNER_LINE)."""
    return BANNER_LINE.sub("", TEMPLATE_COMMENT.sub("", task))


def _title(text: str) -> str:
    return text.strip().split("\n", 1)[0]


def _terms_of(text: str) -> set[str]:
    return {t for ident in IDENTIFIER.findall(text) for t in terms(ident) if t not in STOP_WORDS}


def _modules(paths: Sequence[str], languages: Sequence[str | None]) -> dict[str, list[int]]:
    """Module names as dotted paths would give them: a/b/c.py and a/b/c/__init__.py as a/b/c, b/c.
    A package's name names its modules too: `sphinx.ext.napoleon` points into the package, at
    napoleon/docstring.py as much as at its __init__.py. Source files only: docs and data are not
    imported (and are half of Django's files)."""
    files = [(i, path) for i, (path, language) in enumerate(zip(paths, languages, strict=True)) if language]
    packages = {path.rpartition("/")[0] for _, path in files if path.rpartition("/")[2].startswith("__init__.")}
    modules: dict[str, list[int]] = {}
    for i, path in files:
        folder, _, name = path.rpartition("/")
        stem = path.rpartition(".")[0] if "." in name else path
        names = _tails(stem.removesuffix("/__init__"))
        if folder in packages and not name.startswith("__init__."):
            names += _tails(folder)
        for module in names:
            modules.setdefault(module, []).append(i)
    return modules


def _tails(stem: str) -> list[str]:
    """a/b/c, b/c: at least two parts, as "mul" alone names nothing."""
    parts = stem.split("/")
    return ["/".join(parts[k:]) for k in range(len(parts) - 1)]


def _normalized(values: np.ndarray) -> np.ndarray:
    top = values.max() if len(values) else 0.0
    return values / top if top > 0 else values


def _distinctive(ident: str) -> bool:
    """Names like QuerySet, bulk_create, _eval_is_zero or __matmul__, not English words: not Set,
    which starts a sentence as often as it names a class (see _used_as_code)."""
    return "_" in ident.strip("_") or any(c.isupper() for c in ident[1:]) or (
        ident.startswith("__") and ident.endswith("__"))  # __matmul__: a special method, named on purpose


def _used_as_code(text: str) -> set[str]:
    """Identifiers the text calls (cse()), reaches as attributes (expr.apart) or puts in `code`."""
    used = {name for pair in CODE_USE.findall(text) for name in pair if name}
    return used.union(*(IDENTIFIER.findall(span) for span in CODE_SPAN.findall(text)))
