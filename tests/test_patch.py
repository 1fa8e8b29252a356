"""apply_patch on real files: unified diffs with stale line numbers, envelopes, all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_file_tools import run
from tools.base import ToolContext, ToolError
from tools.files import read_file
from tools.patch import apply_patch

APP = "import sys\n\n\ndef main(argv):\n    name = argv[1]\n    print('hello', name)\n    return 0\n\n\ndef helper():\n    return 1\n"


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "old.txt").write_text("bye\n")
    c = ToolContext(workspace=tmp_path)
    run(read_file, c, path="app.py")
    run(read_file, c, path="old.txt")
    return c


def text(ctx: ToolContext, name: str) -> str:
    return (ctx.workspace / name).read_text()


def test_unified_diff_with_stale_line_numbers(ctx):
    patch = """--- a/app.py
+++ b/app.py
@@ -40,3 +40,3 @@ def main(argv):
     name = argv[1]
-    print('hello', name)
+    print('hi', name)
     return 0
@@ -90,2 +90,2 @@
 def helper():
-    return 1
+    return 2
"""
    result = run(apply_patch, ctx, patch=patch)
    assert text(ctx, "app.py") == APP.replace("'hello'", "'hi'").replace("return 1", "return 2")
    assert result.output.startswith("Applied the patch: updated app.py.")
    assert "+    print('hi', name)" in result.data["diff"]


def test_envelope_add_delete_update_and_move(ctx):
    patch = """*** Begin Patch
*** Add File: docs/NOTES.md
+# Notes
+first
*** Delete File: old.txt
*** Update File: app.py
*** Move to: src/app.py
@@ def main(argv):
-    print('hello', name)
+    print('hey', name)
*** End Patch"""
    result = run(apply_patch, ctx, patch=patch)
    assert text(ctx, "docs/NOTES.md") == "# Notes\nfirst\n"
    assert not (ctx.workspace / "old.txt").exists()
    assert not (ctx.workspace / "app.py").exists()
    assert text(ctx, "src/app.py") == APP.replace("'hello'", "'hey'")
    assert "added docs/NOTES.md, deleted old.txt, moved app.py to src/app.py" in result.output


def test_a_fenced_envelope_with_reindented_hunk(ctx):
    patch = "```\n*** Begin Patch\n*** Update File: app.py\n@@\n def helper():\n-    return 1\n+    return 3\n*** End Patch\n```"
    run(apply_patch, ctx, patch=patch)
    assert text(ctx, "app.py").endswith("def helper():\n    return 3\n")


def test_insertion_at_end_of_file(ctx):
    patch = "*** Begin Patch\n*** Update File: app.py\n@@\n+\n+\n+def extra():\n+    pass\n*** End of File\n*** End Patch"
    run(apply_patch, ctx, patch=patch)
    assert text(ctx, "app.py") == APP + "\n\ndef extra():\n    pass\n"


def test_unified_insertion_and_new_file(ctx):
    patch = """--- a/app.py
+++ b/app.py
@@ -1,0 +2,1 @@
+import os
--- /dev/null
+++ b/new.py
@@ -0,0 +1,2 @@
+x = 1
+y = 2
"""
    run(apply_patch, ctx, patch=patch)
    assert text(ctx, "app.py").startswith("import sys\nimport os\n\n")
    assert text(ctx, "new.py") == "x = 1\ny = 2\n"


def test_a_failing_hunk_changes_no_file(ctx):
    patch = """*** Begin Patch
*** Add File: new.txt
+made
*** Update File: app.py
@@
-    return 42
+    return 43
*** End Patch"""
    with pytest.raises(ToolError, match=r"app.py: hunk 1 \(`return 42`\): old text not found"):
        run(apply_patch, ctx, patch=patch)
    assert not (ctx.workspace / "new.txt").exists()
    assert text(ctx, "app.py") == APP


def test_an_ambiguous_hunk_is_refused(ctx):
    (ctx.workspace / "two.py").write_text("x = 1\n\n\nx = 1\n")
    run(read_file, ctx, path="two.py")
    patch = "--- a/two.py\n+++ b/two.py\n@@ -3,1 +3,1 @@\n-x = 1\n+x = 2\n"
    with pytest.raises(ToolError, match=r"matches 2 places \(lines 1, 4\)"):
        run(apply_patch, ctx, patch=patch)


def test_patching_an_unread_file_is_refused(ctx):
    (ctx.workspace / "unread.py").write_text("a = 1\n")
    patch = "--- a/unread.py\n+++ b/unread.py\n@@ -1 +1 @@\n-a = 1\n+a = 2\n"
    with pytest.raises(ToolError, match="you have not read unread.py"):
        run(apply_patch, ctx, patch=patch)


def test_bad_patches_get_clear_errors(ctx):
    with pytest.raises(ToolError, match="not a patch"):
        run(apply_patch, ctx, patch="please change app.py")
    with pytest.raises(ToolError, match="already exists"):
        run(apply_patch, ctx, patch="*** Begin Patch\n*** Add File: app.py\n+x\n*** End Patch")
    with pytest.raises(ToolError, match="hunk lines start with"):
        run(apply_patch, ctx, patch="*** Begin Patch\n*** Update File: app.py\n@@\nimport sys\n*** End Patch")


def test_crlf_file_patched_keeps_crlf(ctx):
    path = ctx.workspace / "w.py"
    path.write_bytes(b"a = 1\r\nb = 2\r\n")
    run(read_file, ctx, path="w.py")
    run(apply_patch, ctx, patch="--- a/w.py\n+++ b/w.py\n@@ -2 +2 @@\n-b = 2\n+b = 3\n")
    assert path.read_bytes() == b"a = 1\r\nb = 3\r\n"


def test_syntax_errors_introduced_by_a_patch_are_reported(ctx):
    result = run(apply_patch, ctx, patch="--- a/app.py\n+++ b/app.py\n@@ -10 +10 @@\n-def helper():\n+def helper(:\n")
    assert "app.py line 10: missing" in result.output
