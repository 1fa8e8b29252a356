"""The model client against the scripted server: streaming, reasoning, tool calls, failures."""

from __future__ import annotations

import pytest

from agent.errors import ContextOverflow, ServerError
from agent.events import ReasoningDelta, StreamRestarted, TextDelta
from agent.model.client import OpenAIModel, ThinkSplitter
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call


def client(server: FakeOpenAIServer, retries: int = 0) -> OpenAIModel:
    return OpenAIModel(server.base_url, "fake-model", max_retries=retries, timeout=10)


def test_streamed_text_reasoning_and_tool_calls(fake_server: FakeOpenAIServer) -> None:
    fake_server.script(Reply(
        text="Let me look.", reasoning="The bug is in stock.py.",
        tool_calls=[call("read_file", path="a.py"), call("shell", command="ls -la")],
        cached_tokens=80,
    ))
    events: list[object] = []
    turn = client(fake_server).complete([{"role": "user", "content": "hi"}], [], events.append)
    assert turn.text == "Let me look."
    assert turn.reasoning == "The bug is in stock.py."
    assert [(c.name, c.arguments) for c in turn.tool_calls] == [
        ("read_file", '{"path": "a.py"}'), ("shell", '{"command": "ls -la"}')]
    assert turn.finish_reason == "tool_calls"
    assert turn.usage is not None and turn.usage.cached_tokens == 80
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Let me look."
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "The bug is in stock.py."
    assert fake_server.chat_requests[0]["stream_options"] == {"include_usage": True}


def test_reasoning_in_the_newer_field_and_in_think_tags(fake_server: FakeOpenAIServer) -> None:
    fake_server.script(
        Reply(text="answer", reasoning="pondering", reasoning_field="reasoning"),
        Reply(text="<think>hidden plan</think>The answer."),
    )
    model = client(fake_server)
    first = model.complete([], [], lambda e: None)
    assert (first.text, first.reasoning) == ("answer", "pondering")
    second = model.complete([], [], lambda e: None)
    assert (second.text, second.reasoning) == ("The answer.", "hidden plan")


def test_a_streamed_turn_times_its_first_piece_and_its_decoding(fake_server: FakeOpenAIServer) -> None:
    # Calls only, no text: the first piece is a call, and the speed is still measured.
    fake_server.script(Reply(tool_calls=[call("read_file", path="a.py")], completion_tokens=21, chunk_delay=0.02))
    usage = client(fake_server).complete([], [], lambda e: None).usage
    assert usage is not None and usage.first_token_seconds is not None and usage.seconds is not None
    assert 0 < usage.first_token_seconds < usage.seconds
    assert usage.tokens_per_second == pytest.approx(20 / (usage.seconds - usage.first_token_seconds))
    fake_server.script(Reply(text="whole"))
    whole = OpenAIModel(fake_server.base_url, "m", max_retries=0, timeout=10, stream=False)
    usage = whole.complete([], [], lambda e: None).usage
    assert usage is not None and usage.first_token_seconds is None and usage.tokens_per_second is None


def test_llama_server_timings_give_cache_reuse(fake_server: FakeOpenAIServer) -> None:
    fake_server.script(Reply(text="ok", extra={"timings": {"cache_n": 1234, "prompt_n": 10}}))
    turn = client(fake_server).complete([], [], lambda e: None)
    assert turn.usage is not None and turn.usage.cached_tokens == 1234


@pytest.mark.parametrize("chunks", ["<thi", "<think", "</th", "x<", "<think>a</think"])
def test_think_splitter_across_chunk_edges(chunks: str) -> None:
    text = "before<think>inner</think>after"
    for size in range(1, len(text) + 1):
        splitter = ThinkSplitter()
        parts = []
        for i in range(0, len(text), size):
            parts += splitter.feed(text[i : i + size])
        parts += splitter.flush()
        answer = "".join(p for thinking, p in parts if not thinking)
        thought = "".join(p for thinking, p in parts if thinking)
        assert (answer, thought) == ("beforeafter", "inner")


def test_a_stream_cut_midway_is_retried_and_reported(fake_server: FakeOpenAIServer) -> None:
    fake_server.script(Reply(text="partial answer that breaks", cut_after_chunks=3), Reply(text="whole"))
    events: list[object] = []
    turn = client(fake_server, retries=1).complete([], [], events.append)
    assert turn.text == "whole"
    assert any(isinstance(e, StreamRestarted) for e in events)


def test_a_stream_cut_midway_with_no_retries_left_is_a_server_error(fake_server: FakeOpenAIServer) -> None:
    fake_server.script(Reply(tool_calls=[call("shell", command="rm -rf build")], cut_after_chunks=4))
    with pytest.raises(ServerError, match="broke off the answer"):
        client(fake_server).complete([], [], lambda e: None)


def test_context_overflow_is_recognised(fake_server: FakeOpenAIServer) -> None:
    fake_server.script(Reply(error=(400, "This model's maximum context length is 4096 tokens.")))
    with pytest.raises(ContextOverflow) as err:
        client(fake_server).complete([], [], lambda e: None)
    assert err.value.exit_code == 3


def test_server_errors_are_retried_then_reported(fake_server: FakeOpenAIServer) -> None:
    fake_server.script(Reply(error=(503, "loading model")), Reply(text="ready"))
    assert client(fake_server, retries=1).complete([], [], lambda e: None).text == "ready"
    fake_server.script(Reply(error=(500, "boom")))
    with pytest.raises(ServerError, match="answered 500: boom"):
        client(fake_server).complete([], [], lambda e: None)


READ_FILE = {"type": "function", "function": {"name": "read_file", "description": "Read a file.",
                                              "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}}
# llama-server's words when its tool-call parser cannot read what the model wrote.
UNPARSED = "The model produced output that does not match the expected peg-native format"


@pytest.mark.parametrize("stream", [True, False])
def test_calls_the_server_cannot_parse_are_asked_again_as_text_and_recovered(
        fake_servers, stream: bool) -> None:
    server = fake_servers(kind="llama-server")
    failed = Reply(stream_error=UNPARSED) if stream else Reply(error=(500, UNPARSED))
    server.script(failed, Reply(text='{"name": "read_file", "arguments": {"path": "a.txt"}}'))
    model = OpenAIModel(server.base_url, "m", max_retries=0, timeout=10, stream=stream)
    events: list[object] = []
    messages = [{"role": "user", "content": "read a.txt"}]
    turn = model.complete(messages, [READ_FILE], events.append)
    assert [(c.name, c.arguments) for c in turn.tool_calls] == [("read_file", '{"path": "a.txt"}')]
    assert turn.recovered and turn.text == ""
    first, again = server.chat_requests
    # The same prompt (so the server's prefix cache still applies), without the server's parsing.
    assert "tool_choice" not in first and again["tool_choice"] == "none"
    assert again["messages"] == first["messages"] and again["tools"] == first["tools"]
    restarted = [e for e in events if isinstance(e, StreamRestarted)]
    assert len(restarted) == 1 and "could not read the model's tool calls" in restarted[0].reason


def test_an_error_event_in_the_stream_is_reported_with_the_servers_words(fake_server) -> None:
    fake_server.script(Reply(text="half", stream_error="failed to decode the batch"))
    with pytest.raises(ServerError, match="broke off the answer.*failed to decode the batch"):
        client(fake_server).complete([], [READ_FILE], lambda e: None)
