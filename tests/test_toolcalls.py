"""Tool calls written as text: a corpus of raw server outputs, each parsed whole, then served by the
fake server streamed in uneven chunks and whole; near-misses that must stay text."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any, Iterator

import pytest

from agent.events import ReasoningDelta, TextDelta
from agent.model.client import OpenAIModel, TurnReader
from agent.model.toolcalls import normalize_arguments, recover_calls
from tests.fakes.openai_server import Call, FakeOpenAIServer, Reply
from tools.registry import DEFAULT_TOOLS

TOOLS = [t.schema() for t in DEFAULT_TOOLS]
# A tool with every JSON type, to check that values are converted by the schema.
TYPED = {"type": "function", "function": {"name": "configure", "description": "", "parameters": {
    "type": "object", "properties": {
        "count": {"type": "integer"}, "ratio": {"type": "number"}, "verbose": {"type": "boolean"},
        "options": {"type": "object"}, "names": {"type": "array", "items": {"type": "string"}},
        "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}]}, "label": {"type": "string"},
    }}}}
ALL_TOOLS = TOOLS + [TYPED]


@dataclass
class Case:
    id: str
    text: str
    calls: list[tuple[str, dict[str, Any]]]
    rest: str = ""  # the answer left once the calls are taken out
    reasoning: str = ""  # sent in the server's reasoning field
    expected_reasoning: str | None = None

    def __post_init__(self) -> None:
        if not self.calls and not self.rest:
            self.rest = self.text


DRAFTED = 'Maybe <tool_call>\n{"name": "shell", "arguments": {"command": "ls"}}\n</tool_call>? No need.'
WRITE_WITH_MARKUP = "Write `<parameter=name>` and close with </parameter>; see <function=x>.\n"

CORPUS = [
    Case("qwen-xml", "<tool_call>\n<function=read_file>\n<parameter=path>\nsrc/app.py\n</parameter>\n"
         "</function>\n</tool_call>", [("read_file", {"path": "src/app.py"})]),
    Case("qwen-xml-after-prose", "I will read it first.\n\n<tool_call>\n<function=read_file>\n<parameter=path>\n"
         "a.py\n</parameter>\n<parameter=offset>\n10\n</parameter>\n</function>\n</tool_call>",
         [("read_file", {"path": "a.py", "offset": 10})], rest="I will read it first."),
    Case("qwen-xml-no-opener", "<function=shell>\n<parameter=command>\npytest -q\n</parameter>\n</function>\n"
         "</tool_call>", [("shell", {"command": "pytest -q"})]),
    Case("qwen-xml-bare", "<function=shell><parameter=command>ls -la</parameter></function>",
         [("shell", {"command": "ls -la"})]),
    Case("qwen-xml-several", "<tool_call>\n<function=read_file>\n<parameter=path>\na.py\n</parameter>\n</function>\n"
         "</tool_call>\n<tool_call>\n<function=read_file>\n<parameter=path>\nb.py\n</parameter>\n</function>\n"
         "</tool_call>", [("read_file", {"path": "a.py"}), ("read_file", {"path": "b.py"})]),
    Case("qwen-xml-multiline", "<tool_call>\n<function=write_file>\n<parameter=path>\nm.py\n</parameter>\n"
         "<parameter=content>\ndef f():\n    return 1\n\n\nprint(f())\n</parameter>\n</function>\n</tool_call>",
         [("write_file", {"path": "m.py", "content": "def f():\n    return 1\n\n\nprint(f())"})]),
    Case("qwen-xml-typed", "<tool_call>\n<function=configure>\n<parameter=count>\n3\n</parameter>\n"
         "<parameter=ratio>\n0.5\n</parameter>\n<parameter=verbose>\nTrue\n</parameter>\n"
         "<parameter=options>\n{\"a\": [1, 2],}\n</parameter>\n<parameter=names>\n[\"x\", \"y\"]\n</parameter>\n"
         "<parameter=limit>\nnull\n</parameter>\n<parameter=label>\n42\n</parameter>\n</function>\n</tool_call>",
         [("configure", {"count": 3, "ratio": 0.5, "verbose": True, "options": {"a": [1, 2]},
                         "names": ["x", "y"], "limit": None, "label": "42"})]),
    Case("qwen-xml-todo-array", "<tool_call>\n<function=todo>\n<parameter=items>\n"
         "[{\"text\": \"read\", \"status\": \"in_progress\"}, {\"text\": \"fix\"}]\n</parameter>\n</function>\n</tool_call>",
         [("todo", {"items": [{"text": "read", "status": "in_progress"}, {"text": "fix"}]})]),
    Case("qwen-xml-content-holding-markup", "<tool_call>\n<function=write_file>\n<parameter=path>\nREADME.md\n"
         "</parameter>\n<parameter=content>\n" + WRITE_WITH_MARKUP + "</parameter>\n</function>\n</tool_call>",
         [("write_file", {"path": "README.md", "content": WRITE_WITH_MARKUP.rstrip("\n")})]),
    Case("qwen-xml-missing-parameter-close", "<tool_call>\n<function=edit_file>\n<parameter=path>\na.py\n"
         "<parameter=old>\nx = 1\n<parameter=new>\nx = 2\n</function>\n</tool_call>",
         [("edit_file", {"path": "a.py", "old": "x = 1", "new": "x = 2"})]),
    Case("hermes-json", "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.py\"}}\n</tool_call>",
         [("read_file", {"path": "a.py"})]),
    Case("hermes-json-several", "Two reads.\n<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.py\"}}\n"
         "</tool_call>\n<tool_call>\n{\"name\": \"shell\", \"arguments\": {\"command\": \"ls\"}}\n</tool_call>",
         [("read_file", {"path": "a.py"}), ("shell", {"command": "ls"})], rest="Two reads."),
    Case("hermes-json-string-arguments", "<tool_call>{\"name\": \"shell\", \"arguments\": "
         "\"{\\\"command\\\": \\\"git status\\\"}\"}</tool_call>", [("shell", {"command": "git status"})]),
    Case("hermes-json-trailing-commas", "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.py\", "
         "\"limit\": 5,},}\n</tool_call>", [("read_file", {"path": "a.py", "limit": 5})]),
    Case("hermes-json-raw-newlines", "<tool_call>\n{\"name\": \"write_file\", \"arguments\": {\"path\": \"t.txt\", "
         "\"content\": \"line one\nline two\n\"}}\n</tool_call>",
         [("write_file", {"path": "t.txt", "content": "line one\nline two\n"})]),
    Case("hermes-json-unclosed-at-end", "<tool_call>\n{\"name\": \"finish\", \"arguments\": {\"summary\": \"done\"}}",
         [("finish", {"summary": "done"})]),
    Case("hermes-json-content-holding-the-closer", "<tool_call>\n{\"name\": \"write_file\", \"arguments\": "
         "{\"path\": \"p.md\", \"content\": \"end with </tool_call> here\"}}\n</tool_call>",
         [("write_file", {"path": "p.md", "content": "end with </tool_call> here"})]),
    Case("hermes-json-parameters-key", "<tool_call>{\"name\": \"shell\", \"parameters\": {\"command\": \"make\"}}"
         "</tool_call>", [("shell", {"command": "make"})]),
    Case("fenced-json", "Running the tests:\n```json\n{\"name\": \"shell\", \"arguments\": {\"command\": \"pytest\"}}\n```",
         [("shell", {"command": "pytest"})], rest="Running the tests:"),
    Case("fenced-json-string-arguments", "```json\n{\"name\": \"read_file\", \"arguments\": \"{\\\"path\\\": \\\"x.py\\\",}\"}\n```",
         [("read_file", {"path": "x.py"})]),
    Case("bare-json", '{"name": "read_file", "arguments": {"path": "notes.txt"}}', [("read_file", {"path": "notes.txt"})]),
    Case("bare-json-several", ' {"name": "read_file", "arguments": {"path": "a.py"}}\n{"name": "shell", "arguments": '
         '{"command": "ls"}}\n', [("read_file", {"path": "a.py"}), ("shell", {"command": "ls"})]),
    Case("bare-json-pretty", '{\n  "name": "finish",\n  "arguments": {"summary": "two\nlines"}\n}',
         [("finish", {"summary": "two\nlines"})]),
    Case("xml-inside-think", "<think>I should look.\n<tool_call>\n<function=read_file>\n<parameter=path>\na.py\n"
         "</parameter>\n</function>\n</tool_call>\n</think>", [("read_file", {"path": "a.py"})],
         expected_reasoning="I should look."),
    Case("hermes-in-reasoning-field", "", [("shell", {"command": "ls"})],
         reasoning="Listing first.\n<tool_call>\n{\"name\": \"shell\", \"arguments\": {\"command\": \"ls\"}}\n</tool_call>",
         expected_reasoning="Listing first."),
    Case("unknown-tool-still-a-call", "<tool_call>\n<function=paint>\n<parameter=colour>\nred\n</parameter>\n"
         "</function>\n</tool_call>", [("paint", {"colour": "red"})]),
]

NEAR_MISSES = [
    Case("prose", "I will call read_file with path a.py and then run the tests.", []),
    Case("inline-code", "Models call tools by writing `<tool_call>` and `<function=NAME>` tags.", []),
    Case("xml-in-a-code-fence", "The format looks like this:\n```xml\n<tool_call>\n<function=shell>\n"
         "<parameter=command>\nrm -rf /\n</parameter>\n</function>\n</tool_call>\n```\nThat is all.", []),
    Case("unclosed-function", "<tool_call>\n<function=shell>\n<parameter=command>\nrm -rf build\n</parameter>\n", []),
    Case("stray-text-in-function", "<function=shell>\nplease run ls\n</function>", []),
    Case("hermes-not-json", "<tool_call>\nread the file a.py\n</tool_call>", []),
    Case("hermes-truncated-json", "<tool_call>\n{\"name\": \"shell\", \"arguments\": {\"command\": \"rm -rf", []),
    Case("hermes-without-name", "<tool_call>{\"arguments\": {\"path\": \"a.py\"}}</tool_call>", []),
    Case("fenced-package-json", "```json\n{\"name\": \"my-app\", \"version\": \"1.0.0\"}\n```", []),
    Case("bare-json-not-a-call", '{"name": "my-app", "version": "1.0.0"}', []),
    Case("bare-json-unknown-tool", '{"name": "deploy", "arguments": {}}', []),
    Case("bare-json-then-prose", '{"name": "shell", "arguments": {"command": "ls"}} is how a call looks.', []),
    Case("json-after-prose", 'A call looks like {"name": "shell", "arguments": {"command": "ls"}}.', []),
    Case("fenced-json-unknown-tool", "```json\n{\"name\": \"deploy\", \"arguments\": {}}\n```", []),
    Case("call-drafted-in-reasoning-then-an-answer", "The file is fine as it is.", [],
         reasoning=DRAFTED, expected_reasoning=DRAFTED),
    Case("fenced-python-printing-markup", "```python\nprint('<function=shell><parameter=command>ls</parameter></function>')\n```", []),
]


def as_calls(turn_calls: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(c.name, json.loads(c.arguments)) for c in turn_calls]


# Reasoning is split off by the client, so those cases are checked through the server only.
@pytest.mark.parametrize("case", [c for c in CORPUS + NEAR_MISSES if c.expected_reasoning is None], ids=lambda c: c.id)
def test_parsing_the_whole_text(case: Case) -> None:
    found = recover_calls(case.text, ALL_TOOLS)
    assert [(c.name, json.loads(c.arguments)) for c in found.calls] == case.calls
    assert found.text == case.rest


@pytest.fixture(scope="module")
def corpus_server() -> Iterator[tuple[FakeOpenAIServer, dict[bool, OpenAIModel]]]:
    """One server and one client per mode for the whole corpus: making clients is the slow part."""
    with FakeOpenAIServer() as server:
        models = {stream: OpenAIModel(server.base_url, "fake-model", max_retries=0, timeout=10, stream=stream)
                  for stream in (True, False)}
        yield server, models
    assert not server.surprises and not server.replies


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
@pytest.mark.parametrize("case", CORPUS + NEAR_MISSES, ids=lambda c: c.id)
def test_through_the_server(case: Case, stream: bool, corpus_server) -> None:
    server, models = corpus_server
    # Uneven chunks from 1 character up put every tag across chunk edges somewhere.
    for chunk_size in ([1, 4, 9] if stream else [0]):
        server.chunk_size = chunk_size
        server.script(Reply(text=case.text, reasoning=case.reasoning))
        events: list[object] = []
        turn = models[stream].complete([{"role": "user", "content": "go"}], ALL_TOOLS, events.append)
        assert as_calls(turn.tool_calls) == case.calls
        assert turn.recovered == bool(case.calls)
        assert turn.text == case.rest
        if case.expected_reasoning is not None:
            assert turn.reasoning == case.expected_reasoning
            assert any(isinstance(e, ReasoningDelta) for e in events)
        shown = "".join(e.text for e in events if isinstance(e, TextDelta))
        assert shown == case.rest, "the live text showed call markup or lost prose"
    assert server.chat_requests[-1]["stream"] is stream


def test_native_arguments_holding_markup_are_content(fake_server: FakeOpenAIServer) -> None:
    content = "<tool_call>\n<function=shell>\n<parameter=command>\nrm -rf /\n</parameter>\n</function>\n</tool_call>\n"
    fake_server.script(Reply(tool_calls=[Call("write_file", {"path": "doc.md", "content": content})]))
    model = OpenAIModel(fake_server.base_url, "fake-model", max_retries=0, timeout=10)
    turn = model.complete([], TOOLS, lambda e: None)
    assert as_calls(turn.tool_calls) == [("write_file", {"path": "doc.md", "content": content})]
    assert not turn.recovered


def test_native_arguments_are_repaired(fake_server: FakeOpenAIServer) -> None:
    fake_server.script(Reply(tool_calls=[
        Call("read_file", json.dumps(json.dumps({"path": "a.py"}))),  # a JSON string holding JSON
        Call("shell", '{"command": "ls",}'),
        Call("read_file", '{"path": "a.txt",'),  # truncated: left for the dispatcher to report
    ]))
    model = OpenAIModel(fake_server.base_url, "fake-model", max_retries=0, timeout=10)
    turn = model.complete([], TOOLS, lambda e: None)
    assert [c.arguments for c in turn.tool_calls] == ['{"path": "a.py"}', '{"command": "ls"}', '{"path": "a.txt",']


def test_calls_are_not_recovered_when_no_tools_were_offered(fake_server: FakeOpenAIServer) -> None:
    text = "<tool_call>\n{\"name\": \"shell\", \"arguments\": {\"command\": \"ls\"}}\n</tool_call>"
    fake_server.script(Reply(text=text))
    model = OpenAIModel(fake_server.base_url, "fake-model", max_retries=0, timeout=10)
    turn = model.complete([], [], lambda e: None)
    assert (turn.text, turn.tool_calls) == (text, [])


@pytest.mark.parametrize("raw, expected", [
    ('{"a": 1}', '{"a": 1}'),
    ('"{\\"a\\": 1}"', '{"a": 1}'),
    ('{"a": "x\ny"}', '{"a": "x\\ny"}'),
    ('{"a": [1, 2,],}', '{"a": [1, 2]}'),
    ('{"a": "keep, } this"}', '{"a": "keep, } this"}'),
    ('[1, 2]', '[1, 2]'),
    ('not json', 'not json'),
])
def test_normalize_arguments(raw: str, expected: str) -> None:
    assert normalize_arguments(raw) == expected


def test_a_python_literal_is_read_never_run(tmp_path) -> None:
    marker = tmp_path / "ran"
    value = f"{{'a': __import__('pathlib').Path({str(marker)!r}).touch()}}"
    text = f"<tool_call>\n<function=configure>\n<parameter=options>\n{value}\n</parameter>\n</function>\n</tool_call>"
    found = recover_calls(text, ALL_TOOLS)
    assert [json.loads(c.arguments) for c in found.calls] == [{"options": value}]
    assert not marker.exists()


def test_prose_and_a_fence_that_is_no_call_show_before_the_answer_ends() -> None:
    events: list[object] = []
    reader = TurnReader(events.append, tools=ALL_TOOLS)
    answer = "Run these:\n```\nmake\nmake test\n```\nThen "
    for ch in answer:
        reader.content(ch)
    shown = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert shown == "Run these:\n```\nmake\nmake test\n```\nThen"  # the space waits for what follows
    reader.content("<tool_call>\n{\"name\": \"shell\", \"arguments\": {\"command\": \"ls\"}}\n</tool_call>")
    reader.flush()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == shown


FRAGMENTS = ["Some prose. ", "\n", "  ", "`<tool_call>` inline ", "```\nmake\n```\n", "<tool_c", "</tool_call>",
             "```json\n{\"name\": \"shell\", \"arguments\": {\"command\": \"ls\"}}\n```\n", "``` json\n", "\t~~~\n",
             "~~~python\nx = '<function=a>'\n~~~\n", "{\"name\": \"shell\", \"arguments\": {}}", "```", "{", "}",
             "<tool_call>\n<function=shell>\n<parameter=command>\nls\n</parameter>\n</function>\n</tool_call>",
             "<function=read_file><parameter=path>a</parameter></function>", "<think>hm</think>", "\r\n",
             "{'name': 'shell', 'arguments': {}}", "<parameter=x>", "~~~~\n", "````json\n{}\n````\n"]


def shown_and_final(pieces: list[str]) -> tuple[str, str, str, list[Any]]:
    """What a reader shows while the pieces come, what it shows in all, and the final answer."""
    events: list[object] = []
    reader = TurnReader(events.append, tools=ALL_TOOLS)
    for piece in pieces:
        reader.content(piece)
    reader.flush()
    found = recover_calls(reader.turn.text, ALL_TOOLS)
    final = found.text if found.calls else reader.turn.text
    live = "".join(e.text for e in events if isinstance(e, TextDelta))
    reader.release(final)
    return live, "".join(e.text for e in events if isinstance(e, TextDelta)), final, found.calls


@pytest.mark.parametrize("seed", range(4))
def test_any_chunking_shows_what_the_whole_answer_shows(seed: int) -> None:
    """Random answers mixing prose, fences, markup and calls, streamed a character at a time and
    in random pieces: the same calls, the same visible answer, and nothing shown that is not in
    the final answer."""
    rng = random.Random(seed)
    for _ in range(150):
        text = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 6)))
        _, whole_shown, final, whole_calls = shown_and_final([text])
        for width in (lambda: 1, lambda: rng.randint(1, 8)):
            pieces, i = [], 0
            while i < len(text):
                w = width()
                pieces.append(text[i:i + w])
                i += w
            live, shown, _, calls = shown_and_final(pieces)
            assert (calls, shown) == (whole_calls, whole_shown), repr(text)
            assert final.lstrip().startswith(live), repr(text)
