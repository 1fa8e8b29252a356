"""Finding the server: fake servers posing as each kind on real ports, probed as heron would."""

from __future__ import annotations

import socket

import pytest

from agent.config import Config
from agent.core.build import Role, open_session
from agent.errors import ServerError
from agent.events import Event, Warning
from agent.interfaces import Answer
from agent.model.endpoint import find_endpoint
from tests.conftest import make_repo
from tests.fakes.openai_server import FakeOpenAIServer, Reply


def closed_address() -> str:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def address(server: FakeOpenAIServer) -> str:
    return server.base_url.removeprefix("http://").removesuffix("/v1")


@pytest.mark.parametrize("kind, model, window", [
    ("vllm", "Qwen/Qwen3.6-27B", 262144),
    ("sglang", "Qwen/Qwen3.6-27B", 131072),
    ("llama-server", "Qwen3.6-27B-Q4_K_M.gguf", 65536),
    ("ollama", "qwen3.6:27b", 262144),
    ("lmstudio", "qwen3.6-27b", 32768),
    ("openai", "fake-model", None),
])
def test_discovery_tells_the_kind_model_and_window(fake_servers, kind, model, window):
    server = fake_servers(kind=kind, context_window=window or 1)
    config = Config(probe_addresses=(closed_address(), address(server)))
    endpoint = find_endpoint(config)
    assert (endpoint.base_url, endpoint.kind, endpoint.model, endpoint.context_window) == (
        server.base_url, kind, model, window)


def test_the_first_server_that_answers_wins(fake_servers):
    first, second = fake_servers(kind="llama-server"), fake_servers(kind="vllm")
    config = Config(probe_addresses=(closed_address(), address(first), address(second)))
    assert find_endpoint(config).kind == "llama-server"


def test_something_else_on_a_port_is_skipped(fake_servers):
    # Something that answers /v1/models but serves no model is passed over.
    other = fake_servers(models=[])
    server = fake_servers(kind="vllm")
    config = Config(probe_addresses=(address(other), address(server)))
    assert find_endpoint(config).kind == "vllm"


def test_nothing_found_is_one_line_naming_the_addresses():
    nowhere = closed_address()
    with pytest.raises(ServerError) as err:
        find_endpoint(Config(probe_addresses=(nowhere,)))
    assert f"no model server answers on {nowhere}" in str(err.value)
    assert "heron serve" in str(err.value) and "\n" not in str(err.value)


def test_a_configured_url_is_used_as_is_and_unreachable_says_so():
    url = f"http://{closed_address()}/v1"
    with pytest.raises(ServerError, match=f"cannot reach the model server at {url}"):
        find_endpoint(Config(base_url=url))


def test_configured_window_and_model_win(fake_servers):
    server = fake_servers(kind="vllm", context_window=8192)
    endpoint = find_endpoint(Config(base_url=server.base_url, context_window=100000, model="other"))
    assert (endpoint.context_window, endpoint.model) == (100000, "other")


def test_ollama_window_is_the_models_own_up_to_the_full_window(fake_servers):
    server = fake_servers(kind="ollama", context_window=1_000_000)
    assert find_endpoint(Config(base_url=server.base_url)).context_window == 262144


@pytest.mark.parametrize("kind, extras", [
    ("vllm", {"chat_template_kwargs": {"enable_thinking": False, "preserve_thinking": True}}),
    ("sglang", {"chat_template_kwargs": {"enable_thinking": False, "preserve_thinking": True}}),
    ("llama-server", {"chat_template_kwargs": {"enable_thinking": False, "preserve_thinking": True}}),
    ("ollama", {"options": {"num_ctx": 65536}}),
    ("lmstudio", {}),
])
def test_each_kind_gets_its_request_extras_and_a_short_window_warns(tmp_path, fake_servers, kind, extras):
    server = fake_servers(kind=kind, context_window=65536)
    server.script(Reply(text="nothing to do"))
    repo = tmp_path / "r"
    make_repo(repo, {"a.txt": "x\n"})
    events: list[Event] = []
    config = Config(probe_addresses=(address(server),), enable_thinking=False, max_retries=0)
    rt = open_session(config, repo, events.append, Role(answer=Answer.NO))
    rt.turn("go")
    rt.close()
    body = server.chat_requests[0]
    assert {k: body[k] for k in extras} == extras
    if not extras:
        assert "chat_template_kwargs" not in body and "options" not in body
    warnings = [e.message for e in events if isinstance(e, Warning)]
    assert len(warnings) == 1 and "65,536-token window, below Qwen3.6's 262,144" in warnings[0]


def test_the_full_window_does_not_warn(tmp_path, fake_servers):
    server = fake_servers(kind="vllm", context_window=262144)
    repo = tmp_path / "r"
    make_repo(repo, {"a.txt": "x\n"})
    events: list[Event] = []
    rt = open_session(Config(base_url=server.base_url), repo, events.append, Role(answer=Answer.NO))
    rt.close()
    assert not [e for e in events if isinstance(e, Warning)]
    assert rt.context_window == 262144
