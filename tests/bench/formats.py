"""Reading tool calls and patches the way the model meant them: the corpus in tests/corpus, run.

    python tests/bench/formats.py [-v]

Tool calls (tests/corpus/toolcalls/*.json): each answer is served by the scripted OpenAI server
whole, then streamed one character at a time and in several seeded random chunkings; a case is
recovered exactly when every run gives exactly its calls and its visible answer. Edits
(tests/corpus/edits/*.json): each runs through the real tools (read_file, then apply_patch,
edit_file or write_file) in a temporary workspace that has a file and a symlink pointing outside
it; a case is applied exactly when every file's bytes are the expected ones, or, when it must be
refused, when it is refused and nothing changed. Prints: cases recovered exactly, false calls
(calls read from an answer that holds none), patches applied exactly, patches applied in the wrong
place, path escapes refused, and bytes changed outside the intended edit (must be 0).
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.events import TextDelta  # noqa: E402
from agent.model.client import OpenAIModel  # noqa: E402
from tests.bench.edits import call_tool  # noqa: E402
from tests.fakes.openai_server import FakeOpenAIServer, Reply  # noqa: E402
from tools.base import ToolContext  # noqa: E402
from tools.files import ReadFileArgs, read_file  # noqa: E402
from tools.registry import DEFAULT_TOOLS  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
# (chunk size, seed): one character at a time, then random sizes from 1 to 12 characters.
CHUNKINGS = [(1, None), (6, 1), (6, 2), (6, 3), (6, 4)]
SECRET = b"secret\n"


@dataclass(frozen=True)
class CallCase:
    id: str
    text: str
    calls: list[tuple[str, dict[str, Any]]]
    rest: str
    source: str


@dataclass(frozen=True)
class EditCase:
    id: str
    group: str
    files: dict[str, str]
    tool: str
    args: dict[str, str]
    expected: dict[str, str | None] | None  # None: must be refused
    encoding: str = "utf-8"
    read: list[str] = field(default_factory=list)


def corpus_tools() -> list[dict[str, Any]]:
    extra = json.loads((CORPUS / "toolcalls" / "tools.json").read_text())["tools"]
    return [t.schema() for t in DEFAULT_TOOLS] + extra


def call_cases() -> list[CallCase]:
    cases = []
    for path in sorted((CORPUS / "toolcalls").glob("*.json")):
        data = json.loads(path.read_text())
        for c in data.get("cases", []):
            calls = [(name, args) for name, args in c["calls"]]
            rest = c.get("rest", "" if calls else c["text"])
            cases.append(CallCase(f"{path.stem}/{c['id']}", c["text"], calls, rest, c.get("source", data["source"])))
    return cases


def edit_cases() -> list[EditCase]:
    cases = []
    for path in sorted((CORPUS / "edits").glob("*.json")):
        for c in json.loads(path.read_text())["cases"]:
            cases.append(EditCase(f"{path.stem}/{c['id']}", path.stem, c["files"], c["tool"], c["args"], c["expected"],
                                  c.get("encoding", "utf-8"), c.get("read", list(c["files"]))))
    return cases


# --- tool calls ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    how: str  # "whole", or the chunking
    calls: list[tuple[str, dict[str, Any]]]
    shown: str


def run_call_case(case: CallCase, server: FakeOpenAIServer, models: dict[bool, OpenAIModel],
                  tools: list[dict[str, Any]]) -> list[Run]:
    """The case whole, then streamed in every chunking."""
    runs = []
    for stream, (size, seed) in [(False, (0, None)), *((True, c) for c in CHUNKINGS)]:
        server.chunk_size, server.chunk_seed = size, seed
        server.script(Reply(text=case.text))
        events: list[object] = []
        turn = models[stream].complete([{"role": "user", "content": "go"}], tools, events.append)
        shown = "".join(e.text for e in events if isinstance(e, TextDelta))
        calls = [(c.name, json.loads(c.arguments)) for c in turn.tool_calls]
        runs.append(Run("whole" if not stream else f"size {size} seed {seed}", calls, shown))
    return runs


def call_verdict(case: CallCase, runs: list[Run]) -> str:
    """exact, false_call (calls read from an answer that holds none), or missed."""
    if not case.calls and any(r.calls for r in runs):
        return "false_call"
    return "exact" if all(r.calls == case.calls and r.shown == case.rest for r in runs) else "missed"


# --- edits -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EditOutcome:
    verdict: str  # exact, refused (but meant to apply), wrong (applied, not as expected)
    outside_bytes: int  # bytes that differ from the expected result, or from the original when refused
    escaped: bool  # something outside the workspace changed
    detail: str = ""


def run_edit_case(case: EditCase, root: Path) -> EditOutcome:
    workspace = root / "ws"
    workspace.mkdir()
    (root / "outside.txt").write_bytes(SECRET)
    (workspace / "link").symlink_to(root, target_is_directory=True)
    for name, text in case.files.items():
        (workspace / name).parent.mkdir(parents=True, exist_ok=True)
        (workspace / name).write_bytes(text.encode(case.encoding))
    outside_before = sorted(p.name for p in root.iterdir())
    ctx = ToolContext(workspace=workspace)
    for name in case.read:
        read_file.run(ReadFileArgs(path=name), ctx)
    refusal = call_tool(case.tool, case.args, ctx)
    escaped = ((root / "outside.txt").read_bytes() != SECRET or sorted(p.name for p in root.iterdir()) != outside_before
               or Path("/tmp/heron-corpus-escape.txt").exists())
    want = case.expected if case.expected is not None else dict(case.files)
    names = set(want) | set(case.files)
    changed = 0
    for name in names:
        path = workspace / name
        actual = path.read_bytes() if path.is_file() else None
        expected = want.get(name)
        changed += _bytes_apart(None if expected is None else expected.encode(case.encoding), actual)
    if case.expected is None:
        verdict = "exact" if refusal and not changed else "wrong"
    elif not changed:
        verdict = "exact"
    elif refusal and all(_unchanged(workspace, n, t, case.encoding) for n, t in case.files.items()):
        verdict, changed = "refused", 0
    else:
        verdict = "wrong"
    return EditOutcome(verdict, changed, escaped, refusal)


def _unchanged(workspace: Path, name: str, text: str, encoding: str) -> bool:
    path = workspace / name
    return path.is_file() and path.read_bytes() == text.encode(encoding)


def _bytes_apart(expected: bytes | None, actual: bytes | None) -> int:
    if expected == actual:
        return 0
    if expected is None or actual is None:
        return len(expected or actual or b"") or 1
    matcher = difflib.SequenceMatcher(None, expected, actual, autojunk=False)
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal")


def run_edits(cases: list[EditCase]) -> list[EditOutcome]:
    outcomes = []
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="heron-formats-") as tmp:
            outcomes.append(run_edit_case(case, Path(tmp)))
    return outcomes


# --- the report ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="show every case not read exactly")
    args = parser.parse_args()
    tools = corpus_tools()
    calls = call_cases()
    with FakeOpenAIServer() as server:
        models = {s: OpenAIModel(server.base_url, "fake-model", max_retries=0, timeout=10, stream=s) for s in (True, False)}
        verdicts = []
        for case in calls:
            runs = run_call_case(case, server, models, tools)
            verdicts.append(call_verdict(case, runs))
            if args.verbose and verdicts[-1] != "exact":
                print(f"[{verdicts[-1]}] {case.id}: " + "; ".join(f"{r.how}: {r.calls} shown {r.shown!r}" for r in runs[:2]))
    negatives = [c for c in calls if not c.calls]
    print(f"tool calls: {len(calls)} cases ({len(negatives)} without a call), each whole and in {len(CHUNKINGS)} chunkings")
    print(f"  recovered exactly       {verdicts.count('exact')} of {len(calls)}")
    print(f"  false calls             {verdicts.count('false_call')}")
    edits = edit_cases()
    outcomes = run_edits(edits)
    escapes = [o for c, o in zip(edits, outcomes) if c.group == "path_escapes"]
    print(f"edits: {len(edits)} cases through apply_patch, edit_file and write_file")
    print(f"  applied exactly         {sum(o.verdict == 'exact' for o in outcomes)} of {len(edits)}")
    print(f"  applied wrongly         {sum(o.verdict == 'wrong' for o in outcomes)}")
    print(f"  path escapes refused    {sum(o.verdict == 'exact' and not o.escaped for o in escapes)} of {len(escapes)}")
    print(f"  bytes changed outside the intended edit: {sum(o.outside_bytes for o in outcomes)}")
    if args.verbose:
        for case, outcome in zip(edits, outcomes):
            if outcome.verdict != "exact" or outcome.escaped:
                print(f"[{outcome.verdict}] {case.id}: {outcome.detail}")


if __name__ == "__main__":
    main()
