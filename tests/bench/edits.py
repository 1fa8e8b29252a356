"""Edit benchmark: edit requests in the shapes local models write, on real source files.

    python tests/bench/edits.py [--files N] [--per-shape N]

Copies files of Python's standard library into a temporary directory, makes edit requests of each
shape against them (exact, drifted whitespace, re-indented, elided middle, misremembered middle,
typographic quotes, stale read_file line numbers, unified diffs with offsets, patch envelopes, and
decoys whose target appears twice), runs them through the real tools (read_file, then edit_file or
apply_patch) and prints, per shape and overall, the share applied correctly, applied wrongly, and
refused. A decoy whose `old` fits both copies is correct only when refused. Target: >= 95%
correct, 0 wrong.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.base import ToolContext, ToolError  # noqa: E402
from tools.files import EditFileArgs, ReadFileArgs, WriteFileArgs, edit_file, read_file, write_file  # noqa: E402
from tools.patch import PatchArgs, apply_patch  # noqa: E402

SOURCES = ("textwrap.py", "difflib.py", "argparse.py", "json/decoder.py", "shutil.py", "configparser.py",
           "csv.py", "calendar.py", "fractions.py", "statistics.py", "tokenize.py", "pprint.py")
CURLY = str.maketrans({"'": "\u2019", '"': "\u201d"})


@dataclass(frozen=True)
class Case:
    shape: str
    name: str
    original: str
    expected: str | None  # None: the request is ambiguous and must be refused
    tool: str  # edit_file or apply_patch
    args: dict[str, str]


@dataclass(frozen=True)
class Outcome:
    shape: str
    verdict: str  # correct, wrong, refused
    seconds: float
    detail: str = ""


# --- making cases ------------------------------------------------------------------------------


def lead(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def edited_block(block: list[str], tag: int) -> list[str]:
    """The block with one line added after its first: the change every request asks for."""
    body = next((s for s in block[1:] if s.strip()), block[0])
    indent = lead(body) if lead(body) or not block[0].rstrip().endswith(":") else lead(block[0]) + "    "
    return [block[0], f"{indent}bench_edit_{tag} = {tag}", *block[1:]]


def unique_blocks(lines: list[str], rng: random.Random, size: range, want: int,
                  test: Callable[[list[str], int], bool] = lambda b, i: True) -> list[int | tuple[int, int]]:
    """Starts (and sizes) of blocks whose stripped lines occur nowhere else in the file."""
    keys = [s.strip() for s in lines]
    found: list[tuple[int, int]] = []
    for _ in range(want * 60):
        if len(found) == want:
            break
        k = rng.choice(size)
        i = rng.randrange(1, len(lines) - k - 4)
        block = lines[i : i + k]
        if not block[0].strip() or not block[-1].strip() or any(abs(i - j) < 12 for j, _ in found):
            continue
        if sum(keys[j : j + k] == keys[i : i + k] for j in range(len(lines) - k)) != 1:
            continue
        if len(block[0].strip()) < 6 or "\n".join(lines).count("\n".join(block)) != 1 or not test(block, i):
            continue
        found.append((i, k))
    return found  # type: ignore[return-value]


def replaced(lines: list[str], i: int, k: int, new: list[str]) -> str:
    return "\n".join(lines[:i] + new + lines[i + k :]) + "\n"


def make_cases(name: str, text: str, rng: random.Random, per_shape: int) -> list[Case]:
    lines = text.rstrip("\n").split("\n")
    cases: list[Case] = []
    tag = iter(range(1, 100000))

    def add(shape: str, expected: str | None, tool: str, **args: str) -> None:
        cases.append(Case(shape, name, text, expected, tool, args))

    def edit(shape: str, size: range, make: Callable[[list[str], list[str], int], tuple[str, str, list[str] | None]],
             test: Callable[[list[str], int], bool] = lambda b, i: True) -> None:
        for i, k in unique_blocks(lines, rng, size, per_shape, test):  # type: ignore[misc]
            block = lines[i : i + k]
            new = edited_block(block, next(tag))
            old_arg, new_arg, result = make(block, new, i)
            add(shape, replaced(lines, i, k, result if result is not None else new), "edit_file",
                path=name, old=old_arg, new=new_arg)

    edit("exact", range(1, 6), lambda b, n, i: ("\n".join(b), "\n".join(n), None))
    edit("whitespace", range(2, 6), lambda b, n, i: (
        "\n" + "\n".join(s + " " * rng.choice((1, 2, 4)) if j % 2 == 0 else s.rstrip() for j, s in enumerate(b)) + "\n",
        "\n" + "\n".join(n) + "\n", None))

    def dedent(block: list[str]) -> list[str]:
        cut = min(len(lead(s)) for s in block if s.strip())
        return [s[cut:] for s in block]

    edit("reindented", range(2, 7), lambda b, n, i: ("\n".join(dedent(b)), "\n".join(dedent(n)), None),
         test=lambda b, i: min(len(lead(s)) for s in b if s.strip()) >= 4)

    def elide(block: list[str], new: list[str], i: int) -> tuple[str, str, list[str] | None]:
        marker = lead(block[2]) + "# ... existing code ..."
        old = block[:2] + [marker] + block[-2:]
        kept = rng.random() < 0.5
        if kept:
            return "\n".join(old), "\n".join(new[:3] + [marker] + new[-2:]), None
        return "\n".join(old), "\n".join(new[:3] + new[-2:]), new[:3] + new[-2:]

    edit("elided", range(7, 14), elide, test=lambda b, i: all(s.strip() for s in b[:2] + b[-2:]))

    def misremember(block: list[str], new: list[str], i: int) -> tuple[str, str, list[str] | None]:
        j = next(j for j in range(1, len(block) - 1) if len(block[j].strip()) > 8)
        slip = block[:j] + [block[j].rstrip()[:-2] + block[j].rstrip()[-1]] + block[j + 1 :]
        return "\n".join(slip), "\n".join(new), None

    edit("misremembered", range(6, 10), misremember,
         test=lambda b, i: any(len(s.strip()) > 8 for s in b[1:-1]) and len(b[-1].strip()) > 3)
    edit("typographic", range(1, 4), lambda b, n, i: (
        "\n".join(b).translate(CURLY), "\n".join(n).translate(CURLY), None),
         test=lambda b, i: any(q in s for s in b for q in "'\""))

    def numbered(block: list[str], new: list[str], i: int) -> tuple[str, str, list[str] | None]:
        stale = i + 1 + rng.choice((-7, -3, 2, 5, 11))
        width = len(str(stale + len(new)))
        number = lambda rows: "\n".join(f"{stale + j:>{width}}\t{s}" for j, s in enumerate(rows))  # noqa: E731
        return number(block), number(new), None

    edit("line_numbers", range(1, 6), numbered)

    for i, k in unique_blocks(lines, rng, range(1, 5), per_shape):  # type: ignore[misc]
        new = edited_block(lines[i : i + k], next(tag))
        before, after = lines[max(0, i - 3) : i], lines[i + k : i + k + 3]
        start = i - len(before) + 1 + rng.choice((-40, -12, -5, 4, 9, 25))
        body = [" " + s for s in before] + ["-" + s for s in lines[i : i + k]] + ["+" + s for s in new] + \
            [" " + s for s in after]
        head = f"@@ -{max(start, 1)},{len(before) + k + len(after)} +{max(start, 1)},{len(before) + len(new) + len(after)} @@"
        patch = "\n".join([f"--- a/{name}", f"+++ b/{name}", head, *body]) + "\n"
        add("unified_diff", replaced(lines, i, k, new), "apply_patch", patch=patch)

    for i, k in unique_blocks(lines, rng, range(1, 5), per_shape):  # type: ignore[misc]
        new = edited_block(lines[i : i + k], next(tag))
        scope = next((s.strip() for s in reversed(lines[:i]) if re.match(r"\s*(def|class) ", s)), "")
        before, after = lines[max(0, i - 3) : i], lines[i + k : i + k + 3]
        body = [" " + s for s in before] + ["-" + s for s in lines[i : i + k]] + ["+" + s for s in new] + \
            [" " + s for s in after]
        patch = "\n".join(["*** Begin Patch", f"*** Update File: {name}", f"@@ {scope}".rstrip(), *body,
                           "*** End Patch"])
        add("envelope", replaced(lines, i, k, new), "apply_patch", patch=patch)

    cases += decoys(name, lines, rng, per_shape, tag)
    return cases


def decoys(name: str, lines: list[str], rng: random.Random, per_shape: int, tag) -> list[Case]:
    """The target block copied to the end of the file: a bare `old` must be refused; `old` with one
    more line of context, or a diff with a roughly right line number, must hit the first copy."""
    cases = []
    for i, k in unique_blocks(lines, rng, range(2, 5), per_shape,  # type: ignore[misc]
                              test=lambda b, i: bool(lines[i - 1].strip()) and not lead(b[0])):
        block = lines[i : i + k]
        doubled = lines + [""] + ["", *block] + ["", "", "x = 0"]
        text = "\n".join(doubled) + "\n"
        new = edited_block(block, next(tag))
        expected = replaced(doubled, i, k, new)
        cases.append(Case("decoy_bare", name, text, None, "edit_file",
                          {"path": name, "old": "\n".join(block), "new": "\n".join(new)}))
        context = [lines[i - 1] + "  ", *block]
        cases.append(Case("decoy_context", name, text, expected, "edit_file",
                          {"path": name, "old": "\n".join(context), "new": "\n".join([lines[i - 1], *new])}))
        start = i + 1 + rng.choice((-3, -1, 2, 4))
        patch = "\n".join([f"--- a/{name}", f"+++ b/{name}", f"@@ -{start},{k} +{start},{len(new)} @@",
                           *("-" + s for s in block), *("+" + s for s in new)]) + "\n"
        cases.append(Case("decoy_diff", name, text, expected, "apply_patch", {"patch": patch}))
    return cases


# --- running -----------------------------------------------------------------------------------


def run_case(case: Case, workdir: Path) -> Outcome:
    path = workdir / case.name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(case.original)
    ctx = ToolContext(workspace=workdir)
    started = time.perf_counter()
    read_file.run(ReadFileArgs(path=case.name), ctx)
    refusal = call_tool(case.tool, case.args, ctx)
    seconds = time.perf_counter() - started
    after = path.read_text()
    if case.expected is None:
        verdict = "correct" if after == case.original and refusal else "wrong"
    elif after == case.expected:
        verdict = "correct"
    elif after == case.original and refusal:
        verdict = "refused"
    else:
        verdict = "wrong"
    return Outcome(case.shape, verdict, seconds, refusal)


def call_tool(name: str, args: dict[str, str], ctx: ToolContext) -> str:
    """Run an edit tool by name: its refusal, or "" when it applied."""
    tools = {"edit_file": (edit_file, EditFileArgs), "write_file": (write_file, WriteFileArgs),
             "apply_patch": (apply_patch, PatchArgs)}
    tool, model = tools[name]
    try:
        tool.run(model(**args), ctx)
    except ToolError as e:
        return str(e)
    return ""


def corpus(files: int, per_shape: int, seed: int = 4) -> list[Case]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    rng = random.Random(seed)
    cases = []
    for name in SOURCES[:files]:
        cases += make_cases(name, (stdlib / name).read_text(encoding="utf-8"), rng, per_shape)
    return cases


def run_corpus(cases: list[Case]) -> list[Outcome]:
    with tempfile.TemporaryDirectory(prefix="heron-edits-") as tmp:
        return [run_case(case, Path(tmp)) for case in cases]


def report(outcomes: list[Outcome]) -> str:
    shapes = sorted({o.shape for o in outcomes}, key=[o.shape for o in outcomes].index)
    rows = [f"{'shape':<15} {'cases':>5} {'correct':>8} {'wrong':>6} {'refused':>8} {'median ms':>10}"]
    for shape in [*shapes, "overall"]:
        mine = [o for o in outcomes if shape in ("overall", o.shape)]
        share = lambda v: 100 * sum(o.verdict == v for o in mine) / len(mine)  # noqa: E731
        ms = 1000 * statistics.median(o.seconds for o in mine)
        rows.append(f"{shape:<15} {len(mine):>5} {share('correct'):>7.1f}% {share('wrong'):>5.1f}% "
                    f"{share('refused'):>7.1f}% {ms:>10.2f}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=len(SOURCES))
    parser.add_argument("--per-shape", type=int, default=6)
    parser.add_argument("-v", "--verbose", action="store_true", help="show every case not applied correctly")
    args = parser.parse_args()
    cases = corpus(args.files, args.per_shape)
    outcomes = run_corpus(cases)
    print(f"edit benchmark: {len(cases)} requests on {args.files} files of Python {sys.version.split()[0]}'s stdlib")
    print(report(outcomes))
    if args.verbose:
        for case, outcome in zip(cases, outcomes):
            if outcome.verdict != "correct":
                print(f"\n[{outcome.verdict}] {case.shape} {case.name}: {outcome.detail}\n{case.args}")


if __name__ == "__main__":
    main()
