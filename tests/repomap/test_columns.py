"""The cached files' columns, and the mapping that makes a Source of a row when asked for one."""

from agent.repomap.columns import Cached, Columns
from agent.repomap.source import Source


def source(path: str, digest: str, skipped: str | None = None) -> Source:
    return Source(path, size=len(digest), mtime_ns=7, digest=digest, skipped=skipped, language="python",
                  signature_tokens=3, path_tokens=2)


def test_columns_again_after_files_came_went_and_were_recorded():
    cached = Cached(Columns.of_rows([Columns.row(source(p, p.upper()), 100 + k)
                                     for k, p in enumerate(["a.py", "b.py", "c.py", "d.py"])]))
    cached["b.py"] = source("b.py", "B2")  # read again
    del cached["c.py"]  # gone
    cached["bb.py"] = source("bb.py", "NEW", skipped="binary")  # came
    cached["0.py"] = source("0.py", "ZERO")  # came, first in path order
    cached.record(["d.py"], 999)  # looked at again, unchanged
    cached.record(["b.py", "bb.py", "0.py"], 500)
    columns = cached.as_columns()
    expected = Columns.of_rows([Columns.row(source("0.py", "ZERO"), 500), Columns.row(source("a.py", "A.PY"), 100),
                                Columns.row(source("b.py", "B2"), 500),
                                Columns.row(source("bb.py", "NEW", skipped="binary"), 500),
                                Columns.row(source("d.py", "D.PY"), 999)])
    assert (columns.paths, columns.recorded, columns.values) == (expected.paths, expected.recorded, expected.values)
    assert Cached(columns).mapped() == ["0.py", "a.py", "b.py", "d.py"]
    assert cached.detached("a.py") is not cached.detached("a.py") and cached.detached("b.py") is cached["b.py"]
    assert "a.py" not in cached._made  # read detached only: not kept
