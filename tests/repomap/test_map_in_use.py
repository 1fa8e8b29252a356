"""The map where it is used: `heron map` as a subprocess, the first user turn, the symbols tool."""

from __future__ import annotations

import json

from agent.config import Config, Mode
from agent.core.build import Role, open_session
from agent.interfaces import Answer
from tests.conftest import make_repo, run_heron
from tests.fakes.openai_server import Call, FakeOpenAIServer, Reply, call, tool_reply
from tests.repomap.test_repomap import SHOP


def test_heron_map_prints_the_map_and_its_stats(tmp_path, home):
    root = tmp_path / "shop"
    make_repo(root, SHOP)
    done = run_heron(["map", str(root), "--tokens", "300", "--task", "discount prices",
                      "--focus", "price_of", "--stats"], home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Repository map: 5 files")
    assert "shop/prices.py" in done.stdout.split("\n", 3)[2]  # ranked first
    stats = dict(line.split(": ", 1) for line in done.stderr.splitlines())
    assert stats["files"].startswith("5 mapped") and int(stats["tokens"].split()[0]) <= 300
    assert stats["cache"] == "0 hits, 5 parsed" and float(stats["time"].split()[0]) > 0
    again = run_heron(["map", str(root), "--stats"], home)
    assert "cache: 5 hits, 0 parsed" in again.stderr


def test_heron_map_rejects_bad_input_in_one_line(tmp_path, home):
    missing = run_heron(["map", str(tmp_path / "nowhere")], home)
    assert missing.returncode == 2 and missing.stderr.strip().endswith("not a directory")
    assert "Traceback" not in missing.stderr
    zero = run_heron(["map", str(tmp_path), "--tokens", "0"], home)
    assert zero.returncode == 2 and len(zero.stderr.strip().splitlines()) == 1


def runtime(server: FakeOpenAIServer, root, **config):
    cfg = Config(base_url=server.base_url, max_retries=0, approval="full-auto", **config)
    return open_session(cfg, root, lambda e: None, Role(default_mode=Mode.FULL_AUTO, answer=Answer.NO))


def test_the_map_comes_with_the_first_user_turn_and_again_only_after_a_change(tmp_path, fake_server):
    root = tmp_path / "shop"
    make_repo(root, SHOP)
    fake_server.script(Reply(text="seen"), Reply(text="still"),
                       tool_reply(call("read_file", path="shop/prices.py")),
                       tool_reply(call("edit_file", path="shop/prices.py", old="return PRICES[sku]",
                                       new="return PRICES.get(sku, 0)")),
                       Reply(text="edited"), Reply(text="again"))
    rt = runtime(fake_server, root, map_tokens=2000)
    rt.turn("price_of fails for unknown sku")
    rt.turn("anything else?")
    rt.turn("make price_of return 0 for unknown sku")
    rt.turn("and now?")
    rt.close()
    requests = fake_server.chat_requests
    users = [m["content"] for m in requests[-1]["messages"] if m["role"] == "user"]
    assert users[0].startswith("<repo-map>\nRepository map: 5 files") and "def price_of(sku):" in users[0]
    assert users[0].endswith("</repo-map>\n\nprice_of fails for unknown sku")
    assert users[1] == "anything else?"  # nothing changed: no new map
    assert users[2] == "make price_of return 0 for unknown sku"
    assert users[3].startswith("<repo-map>") and "PRICES.get(sku, 0)" in users[3]  # the edit shows
    # The system prompt and tool schemas never change, and each request extends the one before.
    assert all(r["messages"][0] == requests[0]["messages"][0] for r in requests)
    assert all(json.dumps(r["tools"]) == json.dumps(requests[0]["tools"]) for r in requests)
    for before, after in zip(requests, requests[1:]):
        assert after["messages"][: len(before["messages"])] == before["messages"]


def test_no_map_when_its_budget_is_zero(tmp_path, fake_server):
    root = tmp_path / "shop"
    make_repo(root, SHOP)
    fake_server.script(Reply(text="ok"))
    rt = runtime(fake_server, root, map_tokens=0)
    rt.turn("hello")
    rt.close()
    assert fake_server.chat_requests[0]["messages"][1]["content"] == "hello"


def test_the_symbols_tool_finds_definitions_and_references(tmp_path, fake_server):
    root = tmp_path / "shop"
    make_repo(root, SHOP)
    # Call with raw arguments: the tool's argument is called `name`, like call()'s own.
    fake_server.script(tool_reply(*(Call("symbols", json.dumps({"name": n}))
                                    for n in ("price_of", "nothing_here", "two words"))), Reply(text="done"))
    rt = runtime(fake_server, root, map_tokens=0)
    rt.turn("where is price_of?")
    rt.close()
    found, missing, bad = [m["content"] for m in fake_server.chat_requests[-1]["messages"] if m["role"] == "tool"]
    assert found.splitlines() == [
        "Definitions of price_of (1):",
        "shop/prices.py:6: def price_of(sku):",
        "References to price_of (3):",
        "shop/cart.py:3", "shop/cart.py:17", "shop/prices.py:12",
    ]
    assert "no definition or reference of nothing_here" in missing
    assert "is not an identifier" in bad
