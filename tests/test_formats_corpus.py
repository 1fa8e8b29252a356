"""The corpus of tool calls and edits in tests/corpus, case by case: every tool call read exactly,
whole and in every chunking, no call read from an answer that holds none; every edit applied
exactly or refused as it must be, never in the wrong place, never outside the workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from agent.model.client import OpenAIModel
from tests.bench.formats import (
    CallCase,
    EditCase,
    call_cases,
    call_verdict,
    corpus_tools,
    edit_cases,
    run_call_case,
    run_edit_case,
)
from tests.fakes.openai_server import FakeOpenAIServer

TOOLS = corpus_tools()


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeOpenAIServer, dict[bool, OpenAIModel]]]:
    with FakeOpenAIServer() as server:
        yield server, {s: OpenAIModel(server.base_url, "fake-model", max_retries=0, timeout=10, stream=s)
                       for s in (True, False)}
    assert not server.surprises and not server.replies


@pytest.mark.parametrize("case", call_cases(), ids=lambda c: c.id)
def test_tool_call_read_exactly_whole_and_streamed(case: CallCase, served) -> None:
    server, models = served
    runs = run_call_case(case, server, models, TOOLS)
    for run in runs:
        assert run.calls == case.calls, f"{run.how}; from {case.source}"
        assert run.shown == case.rest, f"{run.how}: the visible answer differs; from {case.source}"
    assert call_verdict(case, runs) == "exact"


@pytest.mark.parametrize("case", edit_cases(), ids=lambda c: c.id)
def test_edit_applied_exactly_or_refused(case: EditCase, tmp_path: Path) -> None:
    outcome = run_edit_case(case, tmp_path)
    assert not outcome.escaped
    assert outcome.verdict == "exact", outcome.detail
    assert outcome.outside_bytes == 0
    if case.expected is None:
        assert outcome.detail, "a refusal says why"


def test_the_corpus_covers_every_class() -> None:
    calls, edits = call_cases(), edit_cases()
    assert {c.id.split("/")[0] for c in calls} == {
        "closers_in_values", "missing_parameter_close", "negatives", "python_literals", "real_outputs"}
    assert sum(not c.calls for c in calls) >= 8
    assert sum(c.group == "path_escapes" for c in edits) == 9
    assert all(c.source.startswith("https://github.com/") for c in calls)
