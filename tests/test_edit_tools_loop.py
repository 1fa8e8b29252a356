"""The search and edit tools through the loop: a scripted model finds, reads and patches a file."""

from __future__ import annotations

from agent.events import Event, ToolFinished
from tests.conftest import make_repo
from tests.fakes.openai_server import Reply, call, tool_reply
from tests.test_loop import runtime, tool_messages

STOCK = "def low_stock(counts, threshold):\n    return sorted(k for k, n in counts.items() if n < threshold)\n"
PATCH = """*** Begin Patch
*** Update File: inventory/stock.py
@@ def low_stock(counts, threshold):
-    return sorted(k for k, n in counts.items() if n < threshold)
+    return sorted(k for k, n in counts.items() if n <= threshold)
*** End Patch"""


def test_the_model_greps_reads_then_patches(tmp_path, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"inventory/stock.py": STOCK, ".gitignore": "dist/\n", "dist/stock.py": STOCK})
    fake_server.script(
        tool_reply(call("grep", pattern="def low_stock")),
        tool_reply(call("apply_patch", patch=PATCH)),
        tool_reply(call("read_file", path="inventory/stock.py")),
        tool_reply(call("apply_patch", patch=PATCH)),
        tool_reply(call("find_files", glob="*.py")),
        Reply(text="done"),
    )
    events: list[Event] = []
    rt = runtime(fake_server, repo, events)
    rt.turn("fix low_stock")
    rt.close()
    names = [t["function"]["name"] for t in fake_server.chat_requests[0]["tools"]]
    assert {"apply_patch", "grep", "find_files"} <= set(names)
    grep_out, refused, _, applied, files = tool_messages(fake_server)
    assert grep_out == "inventory/stock.py:1:def low_stock(counts, threshold):"
    assert "you have not read inventory/stock.py" in refused
    assert applied.startswith("Applied the patch: updated inventory/stock.py.")
    assert files == "inventory/stock.py"
    assert "n <= threshold" in (repo / "inventory/stock.py").read_text()
    finished = [e for e in events if isinstance(e, ToolFinished) and e.name == "apply_patch"]
    assert "+    return sorted(k for k, n in counts.items() if n <= threshold)" in finished[-1].data["diff"]
