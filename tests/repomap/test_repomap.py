"""The repo map on real repositories in tmp dirs: listing, skipping, the cache, ranking, budgets."""

from __future__ import annotations

import gc
import os
import pickle
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from agent.model.tokens import count_tokens
from agent.repomap import RepoMap
from agent.repomap.cache import TagCache
from agent.repomap.files import Lister
from agent.repomap import rank
from agent.repomap.rank import Index
from agent.repomap.source import words
from tests.conftest import make_repo, write_files

GOLDEN = Path(__file__).parent / "golden"

SHOP = {
    "shop/cart.py": '"""The shopping cart."""\n\nfrom shop.prices import price_of\n\n\nclass Cart:\n'
                    '    """Items a customer means to buy."""\n\n    def __init__(self):\n        self.items = []\n\n'
                    '    def add(self, sku, qty=1):\n        """Add qty of sku."""\n        self.items.append((sku, qty))\n\n'
                    '    def total(self):\n        return sum(price_of(sku) * qty for sku, qty in self.items)\n',
    "shop/prices.py": '"""Prices and discounts."""\n\nPRICES = {"apple": 3, "pear": 4}\n\n\n'
                      'def price_of(sku):\n    """The unit price of sku, in cents."""\n    return PRICES[sku]\n\n\n'
                      'def discounted(sku, percent):\n    return price_of(sku) * (100 - percent) // 100\n',
    "shop/report.py": "from shop.cart import Cart\n\n\ndef summary(cart: Cart) -> str:\n"
                      "    return f'{len(cart.items)} items, {cart.total()} cents'\n",
    "web/app.js": "// Serves the shop.\nfunction serve(port) {\n  return listen(port);\n}\n",
    "README.md": "# Shop\n\nA tiny shop.\n",
}


def new_map(root: Path, tmp_path: Path) -> RepoMap:
    return RepoMap(root, cache_dir=tmp_path / "cache")


def index_of(tmp_path: Path, files: dict[str, str]) -> Index:
    """The ranking index of a new repository holding `files`."""
    root = tmp_path / "repo"
    make_repo(root, files)
    repo_map = new_map(root, tmp_path)
    repo_map.refresh()
    assert repo_map.index is not None
    return repo_map.index


def paths_hit(index: Index, hits: np.ndarray) -> set[str]:
    return {index.paths[i] for i in hits.nonzero()[0]}


def test_rendered_map_matches_the_golden_file(tmp_path):
    root = tmp_path / "shop"
    make_repo(root, SHOP)
    repo_map = new_map(root, tmp_path)
    text = repo_map.render("the cart total is wrong when a discount applies", budget=400).text
    golden = GOLDEN / "shop_map.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_ranking_follows_mentions_and_focus(tmp_path):
    root = tmp_path / "shop"
    make_repo(root, SHOP)
    repo_map = new_map(root, tmp_path)
    assert repo_map.ranked("price_of returns the wrong unit price")[0].path == "shop/prices.py"
    assert repo_map.ranked("", focus=["web/app.js"])[0].path == "web/app.js"
    assert repo_map.ranked("summary() in shop/report.py")[0].path == "shop/report.py"


@pytest.mark.parametrize("budget", [120, 300, 1000, 5000])
def test_the_budget_is_honoured(tmp_path, budget):
    root = tmp_path / "shop"
    make_repo(root, SHOP)
    rendered = new_map(root, tmp_path).render("cart total", budget=budget)
    assert count_tokens(rendered.text) <= budget
    if budget >= 1000:  # room for everything: every file is in, the hottest whole
        assert "full" in rendered.tiers.values() and len(rendered.tiers) == len(SHOP)


def test_only_changed_files_are_read_again(tmp_path):
    root = tmp_path / "shop"
    repo = make_repo(root, SHOP)
    repo_map = new_map(root, tmp_path)
    repo_map.refresh()
    assert repo_map.stats.parsed == len(SHOP)
    assert not repo_map.refresh() and repo_map.stats.parsed == 0

    # An edit that keeps the size and the mtime: only the content hash can tell.
    prices = root / "shop/prices.py"
    stat = prices.stat()
    prices.write_text(prices.read_text().replace("def price_of", "def cost_of"))
    os.utime(prices, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert repo_map.refresh() and repo_map.stats.parsed == 1
    assert repo_map.symbol("cost_of").definitions == [("shop/prices.py", 6, "def cost_of(sku):")]

    (root / "shop/report.py").rename(root / "shop/summary.py")  # rename
    (root / "web/app.js").unlink()  # delete
    repo_map.refresh()
    assert repo_map.stats.parsed == 1
    assert {s.path for s in repo_map.ordered} == {"shop/cart.py", "shop/prices.py", "shop/summary.py", "README.md"}

    repo.git.checkout("-q", "--", ".")  # back to the commit
    repo.git.clean("-q", "-f")
    repo.git.checkout("-q", "-b", "feature")  # a branch switch brings other contents
    (root / "shop/extra.py").write_text("def extra():\n    return 1\n")
    repo.git.add(A=True)
    repo.index.commit("extra")
    repo.git.checkout("-q", "main")
    repo_map.refresh()
    assert "shop/extra.py" not in {s.path for s in repo_map.ordered}
    repo.git.checkout("-q", "feature")
    repo_map.refresh()
    assert repo_map.symbol("extra").definitions[0][:2] == ("shop/extra.py", 1)

    # A new process over the same cache reads nothing.
    fresh = new_map(root, tmp_path)
    fresh.refresh()
    assert fresh.stats.parsed == 0 and fresh.stats.cache_hits == len(fresh.sources)


def test_the_cache_key_ignores_the_task(tmp_path):
    root = tmp_path / "shop"
    make_repo(root, SHOP)
    repo_map = new_map(root, tmp_path)
    repo_map.render("cart")
    second = new_map(root, tmp_path)
    second.render("prices and discounts, a different task")
    assert second.stats.parsed == 0


def test_a_new_process_over_the_cache_gives_the_same_map(tmp_path):
    """A warm start loads signatures only for the files it shows; the map and symbols are unchanged."""
    root = tmp_path / "shop"
    make_repo(root, SHOP)
    first = new_map(root, tmp_path)
    cold = first.render("price of a cart", budget=300)
    assert "signatures" in cold.tiers.values()
    first.close()
    second = new_map(root, tmp_path)
    warm = second.render("price of a cart", budget=300)
    assert second.stats.parsed == 0 and second.stats.tags == first.stats.tags
    assert warm.text == cold.text
    assert second.symbol("price_of").definitions == [("shop/prices.py", 6, "def price_of(sku):")]


def test_hostile_repository(tmp_path):
    """Syntax errors, binary, minified, vendored, ignored and generated files, a symlink loop and
    a 50 MB generated file: all survive, and only source appears."""
    root = tmp_path / "hostile"
    make_repo(root, {
        "good.py": "def fine():\n    return 1\n",
        "broken.py": "def broken(:\n    pass\n\ndef after():\n    pass\n",
        "blob.dat": "",
        "app.min.js": "",
        "bundle.js": "var a=1;" * 1000,
        "gen_pb.py": "# Code generated by protoc. DO NOT EDIT.\nclass Message:\n    pass\n",
        "node_modules/lib/index.js": "function vendored() {}\n",
        ".gitignore": "ignored.py\n",
        "ignored.py": "def ignored():\n    pass\n",
    })
    (root / "blob.dat").write_bytes(b"\x00\x01binary" * 100)
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "self").symlink_to(root / "self")  # a link to itself
    with open(root / "huge_generated.py", "w") as f:
        line = "VALUE_%d = %d\n"
        f.writelines(line % (i, i) for i in range(3_000_000))
    assert (root / "huge_generated.py").stat().st_size > 50_000_000
    for in_git in (True, False):
        if not in_git:
            import shutil
            shutil.rmtree(root / ".git")
            (root / "node_modules").mkdir(exist_ok=True)
        repo_map = new_map(root, tmp_path / str(in_git))
        repo_map.refresh()
        mapped = {s.path for s in repo_map.ordered}
        assert {"good.py", "broken.py"} <= mapped
        assert not mapped & {"blob.dat", "app.min.js", "bundle.js", "gen_pb.py", "huge_generated.py",
                              "node_modules/lib/index.js", "loop", "self"}
        assert ("ignored.py" in mapped) is not in_git
        repo_map.cache.load_heads(repo_map.ordered)
        assert {"fine", "after"} <= {n for s in repo_map.ordered for n, _ in s.defs}
        assert repo_map.render("fine", budget=500).text


def test_a_corrupt_cache_is_rebuilt(tmp_path):
    root = tmp_path / "shop"
    make_repo(root, SHOP)
    repo_map = new_map(root, tmp_path)
    repo_map.refresh()
    repo_map.close()
    repo_map.cache.path.write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(str(repo_map.cache.path) + suffix).unlink(missing_ok=True)
    again = new_map(root, tmp_path)
    again.refresh()
    assert again.stats.cache_rebuilt and again.stats.parsed == len(SHOP)
    third = new_map(root, tmp_path)
    third.refresh()
    assert third.stats.parsed == 0  # the rebuilt cache is whole again


def test_a_damaged_or_foreign_index_file_is_built_again(tmp_path):
    root = tmp_path / "shop"
    make_repo(root, SHOP)
    first = new_map(root, tmp_path)
    cold = first.render("price of a cart", budget=300).text
    first.close()
    saved = first.cache.snapshot_path.read_bytes()
    header, _, index = saved.partition(b"\n")
    before = saved_index(first.cache.path)
    foreign = header.rsplit(b" ", 2)[0] + b" 0123.1 0123"  # of another database and other contents
    for damaged in (saved[: len(saved) // 2], b"not an index", foreign + b"\n" + index, b"\n" + index):
        first.cache.snapshot_path.write_bytes(damaged)
        again = new_map(root, tmp_path)
        assert again.render("price of a cart", budget=300).text == cold
        again.close()
        assert saved_index(first.cache.path) == before  # built and saved again


def saved_index(cache: Path) -> tuple[str, str, bytes]:
    """The snapshot saved beside the cache database at `cache`: its generation, fingerprint and
    index (the columns beside it keep when each file was last seen as it is)."""
    tags = TagCache(cache)
    saved = tags.snapshot()
    tags.close()
    assert saved is not None
    return saved.generation, saved.fingerprint, pickle.dumps(saved.index)


def test_a_locked_cache_is_not_fatal(tmp_path):
    root = tmp_path / "shop"
    make_repo(root, SHOP)
    first = new_map(root, tmp_path)
    first.refresh()
    holder = sqlite3.connect(first.cache.path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        (root / "shop/new.py").write_text("def new():\n    pass\n")
        second = new_map(root, tmp_path)
        second.refresh()
        assert "shop/new.py" in {s.path for s in second.ordered}
        assert second.stats.cache_rebuilt
    finally:
        holder.rollback()
        holder.close()


def test_a_tree_that_git_ignores_is_walked(tmp_path):
    """An unpacked archive under an ignored directory of some repository is still mapped whole."""
    outer = tmp_path / "outer"
    make_repo(outer, {".gitignore": "/unpacked/\n", "kept.py": "def kept():\n    pass\n"})
    tree = outer / "unpacked" / "shop"
    write_files(tree, SHOP)
    repo_map = new_map(tree, tmp_path)
    repo_map.refresh()
    assert {s.path for s in repo_map.ordered} == set(SHOP)


def test_the_graph_links_a_file_to_the_files_defining_what_it_uses(tmp_path):
    index = index_of(tmp_path, SHOP)
    edges = {(index.paths[a], index.paths[b]): w for a, b, w in zip(index.src, index.dst, index.weight)}
    # report.py uses Cart (and its total), cart.py uses price_of; nothing links a file to itself.
    assert set(edges) == {("shop/report.py", "shop/cart.py"), ("shop/cart.py", "shop/prices.py")}
    # Cart is used twice (sqrt: diminishing returns), total once.
    assert edges[("shop/report.py", "shop/cart.py")] == pytest.approx(2 ** 0.5 + 1)


def test_all_uses_of_a_symbol_are_counted_and_the_first_found_line_by_line(tmp_path):
    root = tmp_path / "repo"
    make_repo(root, {"a.py": "from lib import f\n" + "f()\n" * 30, "b.py": "import lib\n" + "lib.f()\n" * 30,
                     "c.py": "f()\n" * 5, "lib.py": "def f():\n    return g()\n"})
    repo_map = new_map(root, tmp_path)
    found = repo_map.symbol("f", lines=40)
    assert found.definitions == [("lib.py", 1, "def f():")]
    assert found.reference_count == 66  # an imported name is a use too
    # The files using it are parsed again in path order until the lines asked for are found.
    assert found.references == [("a.py", line) for line in range(1, 32)] + [("b.py", line) for line in range(2, 32)]
    assert repo_map.symbol("g").references == [] and repo_map.symbol("g").reference_count == 1


@pytest.mark.parametrize("inotify", [True, False], ids=["inotify", "no-inotify"])
def test_a_walk_that_remembers_directories_still_sees_every_change(tmp_path, inotify):
    """Outside git, directories whose mtime has not moved are not read again; edits, new files,
    deletions and renames are all seen all the same, whether inotify names them or not."""
    root = tmp_path / "tree"
    write_files(root, SHOP)
    past = time.time() - 60  # older than the racy window, so the directories are trusted
    for folder in (root, root / "shop", root / "web"):
        os.utime(folder, (past, past))
    lister = Lister()
    if not inotify:
        lister.watcher.close()
    first = lister.list(root)
    assert [f.path for f in first] == sorted(SHOP) and "shop" in lister.directories
    assert lister.list(root) == first

    cart = root / "shop/cart.py"
    cart.write_text(cart.read_text() + "\n# longer\n")  # an edit leaves the directory's mtime alone
    (root / "web/app.js").rename(root / "web/server.js")
    (root / "shop/prices.py").unlink()
    (root / "shop/new.py").write_text("def new():\n    pass\n")
    (root / "NEWS.md").write_text("News.\n")  # where nothing else changed
    listed = {f.path: f for f in lister.list(root)}
    assert set(listed) == set(SHOP) - {"web/app.js", "shop/prices.py"} | {"web/server.js", "shop/new.py", "NEWS.md"}
    assert listed["shop/cart.py"].size == cart.stat().st_size
    assert (lister.touched is not None) == inotify


def test_the_next_process_remembers_the_directories_and_still_sees_changes(tmp_path):
    """A warm start outside git reads no directory whose mtime has not moved since the last
    session, and still sees files added, edited or removed in between."""
    root = tmp_path / "tree"
    write_files(root, SHOP)
    past = time.time() - 60
    for folder in (root, root / "shop", root / "web"):
        os.utime(folder, (past, past))
    first = new_map(root, tmp_path)
    first.refresh()
    first.close()

    second = new_map(root, tmp_path)
    second.refresh()
    assert not second.lister.directories_changed and set(second.lister.directories) == {"", "shop", "web"}
    second.close()

    (root / "web/extra.js").write_text("function extra() {}\n")
    (root / "shop/cart.py").write_text("def checkout():\n    pass\n")
    (root / "shop/prices.py").unlink()
    third = new_map(root, tmp_path)
    third.refresh()
    assert third.lister.directories_changed  # web/ and shop/ were read again
    assert {s.path for s in third.ordered} == set(SHOP) - {"shop/prices.py"} | {"web/extra.js"}
    assert [path for path, _, _ in third.symbol("checkout").definitions] == ["shop/cart.py"]
    third.close()


LEXICON = {
    "a.py": "def alpha():\n    return gamma()\n\n\ndef gamma():\n    return 1\n",
    "b.py": "def beta():\n    return 2\n",
    "c.py": "def unrelated():\n    return 3\n",
}


@pytest.mark.parametrize("task", [
    "beta fails\n\nwhen alpha meets gamma",  # the title says most
    "It fails\n\nCalling `beta` when alpha meets gamma",  # so does code in backticks
])
def test_an_issue_title_and_its_code_spans_weigh_more_than_its_prose(tmp_path, task):
    root = tmp_path / "lexicon"
    make_repo(root, LEXICON)
    repo_map = new_map(root, tmp_path)
    assert repo_map.ranked("It fails\n\nwhen beta, alpha meets gamma")[0].path == "a.py"  # prose alone
    assert repo_map.ranked(task)[0].path == "b.py"


def test_the_function_words_of_a_task_match_nothing(tmp_path):
    """"when", "with", "that", "it" fill prose and docstrings alike: they are no evidence of a link."""
    root = tmp_path / "words"
    make_repo(root, {
        "notes.py": '"""What it does when it is there and will be with that: this is all it has."""\n'
                    "def noted():\n    return 1\n",
        "render.py": "def render(page):\n    return page\n",
        "other.py": "def unrelated():\n    return 3\n",
    })
    repo_map = new_map(root, tmp_path)
    assert repo_map.ranked("it is all there but what it does with that when it will render is this")[0].path \
        == "render.py"


def test_an_identifier_counts_as_named_when_the_task_uses_it_as_code(tmp_path):
    """Called, reached as an attribute or in backticks; a capitalized word alone may start a sentence."""
    index = index_of(tmp_path, {
        "sets.py": "class Set:\n    pass\n",
        "cse_main.py": "def cse(exprs):\n    return exprs\n",
        "other.py": "def other():\n    return 1\n",
    })

    def defining(text: str) -> set[str]:
        return paths_hit(index, index.named_definers(text))

    assert defining("Set up a matrix, then simplify it") == set()
    assert defining("Set(1, 2) is empty") == defining("`Set` is empty") == {"sets.py"}
    assert defining("cse on matrices") == set()
    assert defining("cse() on matrices") == defining("sympy.cse on matrices") == {"cse_main.py"}


def test_a_name_in_the_title_counts_more_than_one_past_it(tmp_path):
    index = index_of(tmp_path, {"sets.py": "class Set:\n    pass\n", "cse_main.py": "def cse(exprs):\n    return exprs\n"})
    hits = index.named_definers("cse() drops a term\n\n>>> cse(Set(1, 2))\n")
    assert hits[index.position["cse_main.py"]] == 1.0
    assert 0 < hits[index.position["sets.py"]] < 1.0


def test_what_the_title_s_function_calls_ranks_above_a_file_with_more_of_the_task_s_words(tmp_path):
    """The title names where the trouble shows; the fix is often in what that calls."""
    root = tmp_path / "calls"
    make_repo(root, {
        "report.py": "from layout import measure, wrap\n\n\ndef render_report(rows):\n    return wrap(measure(rows))\n",
        "layout.py": "def measure(rows):\n    return [len(row) for row in rows]\n\n\ndef wrap(widths):\n    return widths\n",
        "columns.py": "def columns(rows):\n    # long rows come out cut short\n    return [row for row in rows]\n",
        "other.py": "def unrelated():\n    return 3\n",
    })
    ranked = new_map(root, tmp_path).ranked("render_report() cuts long rows\n\nThe rows come out too short.")
    assert [s.path for s in ranked[:3]] == ["report.py", "layout.py", "columns.py"]


def test_code_ranks_above_a_test_of_it_with_more_of_the_task_s_words(tmp_path):
    """A test repeats the words of what it tests; the task is about the code (here the test's
    BM25 is 2.6 times the code's)."""
    root = tmp_path / "tested"
    make_repo(root, {
        "shop/cart.py": "class Cart:\n    def total(self):\n        return 0\n",
        "shop/tests/test_cart.py": "from shop.cart import Cart\n\n\ndef test_an_empty_cart_costs_nothing():\n"
                                   "    empty_cart = Cart()\n"
                                   "    assert empty_cart.total() == 0  # an empty cart costs nothing\n",
        "other.py": "def unrelated():\n    return 3\n",
    })
    assert new_map(root, tmp_path).ranked("the total of an empty cart should be nothing")[0].path == "shop/cart.py"


def test_code_ranks_above_docs_and_examples_with_more_of_the_task_s_words(tmp_path):
    """Short, and all about the task's words: alike, both would rank above the code."""
    root = tmp_path / "documented"
    make_repo(root, {
        "shop/cart.py": "class Cart:\n    def total(self):\n        return 0\n",
        "docs/conf.py": "# The total of an empty cart.\nproject = 'shop'\n",
        "examples/checkout.py": "# An empty cart's total.\nfrom shop.cart import Cart\n",
        "other.py": "def unrelated():\n    return 3\n",
    })
    assert new_map(root, tmp_path).ranked("the total of an empty cart should be nothing")[0].path == "shop/cart.py"


BANNER = ('Python 3.6.9 (default, Jan 26 2021, 15:33:00)\n[GCC 8.4.0] on linux\n'
          'Type "help", "copyright", "credits" or "license" for more information.\n')


@pytest.mark.parametrize("boilerplate", [
    f"```\n{BANNER}>>> cart.total()\n3\n```",  # a pasted interpreter session
    "<!--\nThanks for submitting! For help, read the license: more information in the credits.\n-->",  # a template
])
def test_what_the_task_s_author_did_not_write_matches_nothing(tmp_path, boilerplate):
    """An interpreter's banner and an issue template's comments are not the task: their words
    would rank the file about the license first."""
    root = tmp_path / "pasted"
    make_repo(root, {
        "shop/cart.py": "class Cart:\n    def total(self):\n        return 0\n",
        "shop/about.py": '"""Help: the license, the credits and the copyright, for more information."""\n'
                         'LICENSE = "MIT"\n',
    })
    task = f"Wrong result\n\n{boilerplate}\n\nIts total should be 0."
    assert new_map(root, tmp_path).ranked(task)[0].path == "shop/cart.py"


def test_dotted_module_paths_name_their_files(tmp_path):
    index = index_of(tmp_path, {
        "pkg/__init__.py": "", "pkg/db/__init__.py": "", "pkg/db/query.py": "class QuerySet:\n    pass\n",
        "pkg/web/query.py": "def handle():\n    pass\n",
    })

    def named(text: str) -> set[str]:
        return paths_hit(index, index.named_files(text))

    assert named("pkg.db.query.QuerySet.filter() fails") == {"pkg/db/query.py"}
    assert named("importing db.query breaks") == {"pkg/db/query.py"}  # a tail of the module path
    assert named("in pkg.db, nothing works") == {"pkg/db/__init__.py", "pkg/db/query.py"}  # a package: its modules
    assert named("self.query is None") == set()  # an attribute, not a module path


def test_a_file_name_that_many_files_share_names_each_of_them_weakly(tmp_path):
    index = index_of(tmp_path, {"pkg/__init__.py": "", "pkg/db/__init__.py": "", "pkg/db/query.py": "",
                                "pkg/web/query.py": "", "pkg/web/conf.py": ""})
    hits = index.named_files("with an empty `__init__.py`, a conf.py and query.py")
    assert hits[index.position["pkg/__init__.py"]] == hits[index.position["pkg/db/__init__.py"]] == 0.5
    assert hits[index.position["pkg/db/query.py"]] == hits[index.position["pkg/web/query.py"]] == 0.5
    assert hits[index.position["pkg/web/conf.py"]] == 1.0


def many_modules(count: int) -> dict[str, str]:
    return {
        f"pkg/sub_{k % 7}/mod_{k:03}.py": "".join(f'def func_{k}_{j}(value, other=None):\n    """Step {j} of {k}."""\n'
                                                  f"    return value\n\n\n" for j in range(6))
        for k in range(count)
    }


def test_past_the_signatures_share_files_show_the_names_they_define(tmp_path):
    root = tmp_path / "many"
    make_repo(root, many_modules(40))
    repo_map = new_map(root, tmp_path)
    rendered = repo_map.render("func_3_1", budget=2000)
    tiers = list(rendered.tiers.values())
    assert {"signatures", "names", "path"} <= set(tiers)
    assert count_tokens(rendered.text) <= 2000
    named = next(p for p, t in rendered.tiers.items() if t == "names")
    k = int(named[-6:-3])
    assert f"{named}: " + ", ".join(f"func_{k}_{j}" for j in range(6)) + "\n" in rendered.text
    # A new process over the cache renders the same, loading those names on demand.
    again = new_map(root, tmp_path).render("func_3_1", budget=2000)
    assert again.text == rendered.text


@pytest.mark.parametrize("budget", [1500, 3000, 6000])
def test_a_repository_bigger_than_the_budget_fills_it_nearly_whole(tmp_path, budget):
    root = tmp_path / "many"
    make_repo(root, many_modules(300))
    rendered = new_map(root, tmp_path).render("func_12_3 returns the wrong value", budget=budget)
    assert 0.95 * budget <= count_tokens(rendered.text) <= budget


def test_a_repository_whose_paths_fit_their_share_is_listed_whole(tmp_path):
    """Signatures and names take only what the listing of the other files leaves, the margin kept
    under the budget included: taking that margin, they once left a 262K map of sympy short of
    451 of its 1,941 paths, more the bigger the budget."""
    files = {f"core/part_{k:02}.py": "".join(f'def step_{k}_{j}(value, other=None, *rest, **options):\n'
                                             f'    """Step {j} of core part {k}, with options."""\n'
                                             f"    return value\n\n\n" for j in range(120)) for k in range(40)}
    files |= {f"tiny/mod_{k:02}.py": f"def tiny_{k}():\n    pass\n" for k in range(60)}
    files |= {f"data/part_{k % 20}/notes_{k:04}.txt": "plain notes\n" for k in range(2000)}
    root = tmp_path / "spread"
    make_repo(root, files)  # the signatures take 176K tokens, the paths 15K
    rendered = new_map(root, tmp_path).render("step_3_7 returns the wrong value", budget=128_000)
    assert len(rendered.tiers) == len(files) and "left out for space" not in rendered.text
    assert "signatures" in rendered.tiers.values()
    assert 0.95 * 128_000 <= count_tokens(rendered.text) <= 128_000


def test_an_index_rebuilt_after_an_edit_is_kept_at_close_for_the_next_start(tmp_path):
    root = tmp_path / "shop"
    make_repo(root, SHOP)
    first = new_map(root, tmp_path)
    first.refresh()
    (root / "shop/prices.py").write_text(SHOP["shop/prices.py"] + "\n\ndef surcharge(sku):\n    return 1\n")
    assert first.refresh()
    ranked = [s.path for s in first.ranked("surcharge")]
    first.close()

    second = new_map(root, tmp_path)
    second.refresh()
    # Started from the saved index: no file's references and identifiers had to be read.
    assert not any(s.has_body for s in second.ordered)
    assert [s.path for s in second.ranked("surcharge")] == ranked
    second.close()


def test_parsing_in_worker_processes_gives_what_parsing_in_one_gives(tmp_path):
    files = {f"pkg/mod_{i}.py": f'"""Module {i}."""\n\n\nclass Thing{i}:\n    def run_{i}(self):\n'
                                f'        return Thing{(i + 1) % 80}().run_{(i + 1) % 80}()\n' for i in range(80)}
    root = tmp_path / "many"
    make_repo(root, files)
    maps = [RepoMap(root, cache_dir=tmp_path / f"cache-{workers}", workers=workers) for workers in (1, 2)]
    for repo_map in maps:
        repo_map.refresh()
        repo_map.cache.load_heads(repo_map.ordered)
        repo_map.cache.load_bodies(repo_map.ordered)
    serial, parallel = ([vars(s) for s in m.ordered] for m in maps)
    assert len(serial) == 80 and serial == parallel
    assert all(s["signature_tokens"] and s["path_tokens"] for s in parallel)
    for repo_map in maps:
        repo_map.close()


def test_a_file_s_words_are_the_parts_of_its_identifiers_counted():
    text = "bulk = bulk_create(Self, self, x1, _x1, x) # QuerySet bulk"
    assert words(text) == {
        "bulk": 3, "create": 1, "bulk_create": 1,  # "bulk" alone twice, and once inside bulk_create
        "self": 2, "x1": 2,  # Self and self; x1 and _x1, whose parts (x, 1) are too short alone
        "query": 1, "set": 1, "queryset": 1,
    }
    # An identifier starts at a letter or _, and is ASCII: 2to3 holds to3; é splits café.
    assert words("2to3 42 café".encode()) == words("2to3 42 café") == {"to": 1, "to3": 1, "caf": 1}


def test_the_cycle_collector_is_back_on_after_a_refresh(tmp_path):
    root = tmp_path / "shop"
    make_repo(root, SHOP)
    repo_map = new_map(root, tmp_path)
    assert gc.isenabled() and repo_map.refresh() and gc.isenabled()
    gc.disable()  # and left off when it was off
    try:
        (root / "shop/cart.py").write_text("X = 1\n")
        assert repo_map.refresh() and not gc.isenabled()
    finally:
        gc.enable()


def linked_modules() -> dict[str, str]:
    """Modules that call each other, and a generic name `run` defined in 13 of them (one more
    than rank.MAX_DEFINERS, so it links nothing until one stops defining it)."""
    files = {f"app/mod_{k:02}.py": f"def step_{k}(x):\n    return step_{(k + 1) % 14}(x) + run(x)\n\n\n"
                                   f"def run(x):\n    return x\n" for k in range(13)}
    files["app/mod_13.py"] = "def step_13(x):\n    return step_0(run(x))\n"
    files["app/main.py"] = "from app.mod_00 import step_0\n\n\ndef main():\n    return step_0(1) + helper(2)\n"
    return files


def postings(index: Index) -> dict[str, list[tuple[str, int]]]:
    """Each term's files, in their order, with its count in each."""
    held = {term: index.postings(term) for term in {*index.terms, *(t for bag in index.overlay.values() for t in bag)}}
    return {term: [(index.paths[f], int(c)) for f, c in zip(files, counts, strict=True)]
            for term, (files, counts) in held.items() if len(files)}


def assert_same_ranking(patched: Index, built: Index) -> None:
    assert patched.paths == built.paths and patched.definers == built.definers
    edges = lambda ix: {(a, b): w for a, b, w in zip(*(part.tolist() for part in ix.edges()))}  # noqa: E731
    assert edges(patched) == pytest.approx(edges(built))
    # In the order PageRank's matrix is built in: by the file referred to, then the one referring.
    src, dst, _ = patched.edges()
    keys = dst.astype(np.int64) * len(patched.paths) + src
    assert np.all(np.diff(keys) > 0)
    assert postings(patched) == postings(built)
    assert patched.tag_count == built.tag_count
    for task in ("step_3 fails", "run helper main", "a task about x and y"):
        assert np.allclose(patched.bm25(task), built.bm25(task))
        personal = built.mentioned(task) + 1e-3
        assert np.allclose(patched.pagerank(personal), built.pagerank(personal))
        assert patched.rank(task) == built.rank(task)


@pytest.mark.parametrize("edits, reads_every_body", [
    ({"app/mod_05.py": "def step_5(x):\n    return step_9(x) * 2\n"}, False),  # new references, one def gone
    ({"app/mod_13.py": "def step_13(x):\n    return step_0(run(x))\n\n\ndef helper(y):\n    return y\n\n\n"
                       "def step_5(x):\n    return x\n"}, False),  # names other files use: step_5 gains a definer
    ({"app/mod_02.py": "def step_2(x):\n    return step_3(x)\n"}, False),  # `run`: 13 definers -> 12, links appear
    ({"app/mod_07.py": "def x():\n    return 1\n", "app/main.py": "def main():\n    return x()\n"},
     True),  # two files; a name with no term to look it up by
    ({"app/mod_04.py": "", "app/mod_06.py": "def step_6(q):\n    return q\n"}, False),  # emptied
    # Files that come or go (None: deleted), numbered anew: one first in path order, one amid the others.
    ({"app/mod_05b.py": "def step_5(x):\n    return helper(x)\n\n\ndef helper(y):\n    return y\n"}, False),
    ({"app/mod_09.py": None}, False),  # step_9 loses its definer, `run` falls to 12 and links
    ({"app/mod_03.py": None, "app/a_first.py": "def step_3(x):\n    return run(x)\n",
      "app/mod_11.py": "def step_11(x):\n    return step_12(x)\n"}, False),  # one goes, one comes, one edited
], ids=["references", "new-definer", "generic-name", "untermed-name", "emptied", "added", "deleted",
        "added-deleted-edited"])
def test_an_index_patched_after_an_edit_ranks_as_one_built_afresh(tmp_path, edits, reads_every_body):
    root = tmp_path / "repo"
    make_repo(root, linked_modules())
    new_map(root, tmp_path).refresh()
    repo_map = new_map(root, tmp_path)  # a new process: the index from the cache, no bodies read
    repo_map.refresh()
    for path, text in edits.items():
        if text is None:
            (root / path).unlink()
        else:
            (root / path).write_text(text)
    assert repo_map.refresh()
    patched = repo_map.index
    assert patched is not None
    # Patched, not built: only the files that may refer to a renamed name were read.
    assert all(s.has_body for s in repo_map.ordered) == reads_every_body
    repo_map.cache.load_bodies(repo_map.ordered)
    repo_map.cache.load_heads(repo_map.ordered)
    assert_same_ranking(patched, Index.build(repo_map.ordered))
    repo_map.close()


def test_files_taken_in_chunks_and_in_any_order_build_the_same_index(tmp_path, monkeypatch):
    """Postings are put in place a chunk of files at a time, in the order the files were taken
    in; taken out of the order they are numbered in, each term's are sorted after."""
    root = tmp_path / "repo"
    make_repo(root, linked_modules())
    repo_map = new_map(root, tmp_path)
    repo_map.refresh()
    sources = list(repo_map.ordered)
    repo_map.cache.load_bodies(sources)
    repo_map.cache.load_heads(sources)
    whole = Index.build(sources)  # one chunk
    monkeypatch.setattr(rank, "CHUNK_POSTINGS", 8)  # a chunk of a few files
    builder = rank.IndexBuilder()
    for source in sources[5:] + sources[:5][::-1]:
        builder.add(source)
    assert len(builder.chunks) > 3
    paths, languages = [s.path for s in sources], [s.language for s in sources]
    for index in (Index.build(sources), builder.finish(paths, languages)):
        assert_same_ranking(index, whole)  # terms numbered as they came, so rows in another order
        assert np.array_equal(index.lengths, whole.lengths) and np.array_equal(index.definitions, whole.definitions)


@pytest.mark.parametrize("fold_at", [None, 3], ids=["patched", "folded"])
def test_edits_turn_after_turn_rank_as_an_index_built_afresh(tmp_path, monkeypatch, fold_at):
    """Each edit's words are kept beside the postings until they hold OVERLAY_FILES files, then
    taken into them; files that come are numbered after the postings took in the overlay. The
    edges of the files whose edges changed are kept beside the others (Index.patch), folded in
    past `fold_at` of them, and when files come."""
    monkeypatch.setattr(rank, "OVERLAY_FILES", 2)  # what a 100,000-file tree reaches after 500 edits
    if fold_at is not None:  # what a 100,000-file tree reaches after many edits
        monkeypatch.setattr(rank, "FOLD_MIN_EDGES", fold_at)
        monkeypatch.setattr(rank, "FOLD_SHARE", 10**9)
    root = tmp_path / "repo"
    make_repo(root, linked_modules())
    repo_map = new_map(root, tmp_path)
    repo_map.refresh()
    turns = [{"app/mod_05.py": "def step_5(x):\n    return step_9(x) * 2\n"},
             {"app/mod_06.py": "def step_6(q):\n    return quick(q)\n"},  # a term new to the index
             {"app/mod_05.py": "def step_5(x):\n    return run(x)\n"},  # the overlay's own file again
             {"app/mod_07.py": "def seventh():\n    return 7\n"},  # past OVERLAY_FILES: taken in
             {"app/mod_08.py": "def step_8(x):\n    return x\n", "app/b_new.py": "def newcomer():\n    pass\n"}]
    patches = []
    for edits in turns:
        write_files(root, edits)
        assert repo_map.refresh()
        repo_map.cache.load_bodies(repo_map.ordered)
        repo_map.cache.load_heads(repo_map.ordered)
        assert_same_ranking(repo_map.index, Index.build(repo_map.ordered))
        assert len(repo_map.index.overlay) <= 2
        patches.append(None if repo_map.index.patch is None else len(repo_map.index.patch[0]))
    # Kept turn after turn (the first edit changes the definers of `run`, so the edges of every
    # file using it), or folded in past the limit.
    if fold_at is None:
        assert None not in patches and patches[0] > 100
    else:
        assert None in patches and all(size is None or size <= fold_at for size in patches)
    repo_map.close()


def test_secret_files_are_listed_by_name_and_never_shown(tmp_path):
    root = tmp_path / "shop"
    secrets = {".env": "STRIPE_SECRET_KEY=sk_live_map0123456789abcdefghij\n",
               "certs/server.key": "-----BEGIN PRIVATE KEY-----\nMAPKEYMATERIAL\n",
               "settings.py": 'API_TOKEN = "map-token-0123456789"\n'}
    make_repo(root, {**SHOP, **secrets})
    # Ranked first (named by the task, and the only files of a tiny repository) and with room to
    # be shown whole: still only named.
    repo_map = RepoMap(root, cache_dir=tmp_path / "cache", secret_files=(".env", "*.key", "settings.py"))
    text = repo_map.render("STRIPE_SECRET_KEY env server key API_TOKEN settings", focus=[".env", "settings.py"],
                           budget=4000).text
    for name in (".env", "server.key", "settings.py"):
        assert name in text
    for value in ("sk_live_map", "MAPKEYMATERIAL", "map-token"):
        assert value not in text
    assert "class Cart" in text  # the rest of the map is as before


def test_a_new_process_after_an_edit_patches_the_saved_index(tmp_path):
    root = tmp_path / "repo"
    make_repo(root, linked_modules())
    first = new_map(root, tmp_path)
    first.refresh()
    first.close()
    (root / "app/mod_05.py").write_text("def step_5(x):\n    return step_9(x) * 2\n")
    second = new_map(root, tmp_path)
    assert second.refresh() and second.stats.parsed == 1
    patched = second.index
    assert patched is not None
    # Patched from the index the first process saved: most files' bodies were never read.
    assert not all(s.has_body for s in second.ordered)
    second.cache.load_bodies(second.ordered)
    second.cache.load_heads(second.ordered)
    assert_same_ranking(patched, Index.build(second.ordered))
    second.close()
    third = new_map(root, tmp_path)  # and the patched index was saved at close
    assert third.refresh() is False and third.index is not None
    assert not any(s.has_body for s in third.ordered)


def test_the_index_splices_arrays_as_numpy_inserts_and_deletes():
    """The slice-joined insert and delete that patch the index, against numpy's own."""
    from agent.repomap.rank import _deleted, _inserted

    rng = np.random.default_rng(7)
    for size, k in [(0, 0), (1, 1), (50, 0), (50, 3), (1000, 200)]:
        array = rng.integers(0, 99, size).astype(np.int32)
        at = np.sort(rng.integers(0, size + 1, k))
        values = rng.integers(0, 99, k).astype(np.int32)
        assert np.array_equal(_inserted(array, at, values), np.insert(array, at, values))
        gone = np.unique(rng.integers(0, size, k)) if size else np.zeros(0, dtype=np.int64)
        assert np.array_equal(_deleted(array, gone), np.delete(array, gone))


def test_pagerank_s_product_is_the_dense_one_by_numpy_and_by_scipy():
    """rank._spread's matrix, numpy's Flow for a small graph and scipy's past NUMPY_FLOW_EDGES,
    against the dense matrix it stands for: files with no edges in or out among them."""
    from agent.repomap.rank import Flow, _spread

    rng = np.random.default_rng(3)
    for n, m in [(1, 0), (5, 0), (6, 9), (40, 300), (200, 50)]:
        keys = np.unique(rng.integers(0, n, m) * n + rng.integers(0, n, m))  # by dst, then src
        src, dst = (keys % n).astype(np.int32), (keys // n).astype(np.int32)
        weight = rng.random(len(keys)) + 0.1
        dense = np.zeros((n, n))
        out = np.bincount(src, weights=weight, minlength=n)
        dense[dst, src] = weight / out[src]
        rank = rng.random(n).astype(np.float32)
        for numpy_up_to, kind in ((len(src), Flow), (len(src) - 1, None)):
            matrix, weights_out = _spread(src, dst, weight, n, numpy_up_to=numpy_up_to)
            assert kind is None or isinstance(matrix, kind)
            assert np.allclose(matrix @ rank, dense @ rank, atol=1e-5)
            assert np.allclose(weights_out, out)


def test_the_planner_takes_what_a_plain_loop_over_the_files_would():
    """render._fitting, found a run at a time, against the loop it stands for."""
    from agent.repomap.render import _fitting

    def loop(costs: list[float], room: float, refused: set[int], extra: float) -> tuple[list[int], float]:
        taken, used = [], 0.0
        for i, cost in enumerate(costs):
            if used + cost + extra <= room and i not in refused:
                taken.append(i)
                used += cost + extra
                extra = 0.0
        return taken, used

    rng = np.random.default_rng(11)
    for _ in range(300):
        n = int(rng.integers(0, 60))
        costs = [float(c) if c < 40 else float("inf") for c in rng.integers(1, 50, n)]
        refused = set(rng.choice(n, min(n, int(rng.integers(0, 5))), replace=False).tolist()) if n else set()
        room, extra = float(rng.integers(0, 400)), float(rng.choice([0, 5]))
        assert _fitting(np.array(costs), room, refused.__contains__, extra) == loop(costs, room, refused, extra)


def test_references_linked_a_run_at_a_time_make_the_same_edges():
    """rank._linked turns references into edges a run at a time (memory); runs of any length
    give the edges of one run, summed where runs share a pair."""
    from agent.repomap.rank import _linked

    rng = np.random.default_rng(5)
    n, names = 40, 30
    counts = rng.integers(0, 4, names)  # definers of each name (none: nothing defines it)
    starts = np.concatenate(([0], np.cumsum(counts)))
    targets = np.concatenate([np.sort(rng.choice(n, c, replace=False)) for c in counts])
    private = rng.random(names) < 0.3
    by = np.sort(rng.integers(0, n, 500))
    ref_names = rng.integers(0, names, 500)
    uses = rng.integers(1, 5, 500).astype(np.float64)
    whole = _linked(by, ref_names, uses, starts, targets, private, n)
    assert len(whole[0]) > 50
    for run in (1, 7, 64, 499):
        parts = _linked(by, ref_names, uses, starts, targets, private, n, run=run)
        assert np.array_equal(parts[0], whole[0]) and np.array_equal(parts[1], whole[1])
        assert np.allclose(parts[2], whole[2])
