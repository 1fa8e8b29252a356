"""Tags from small real snippets, one per language: each query finds definitions and references."""

from __future__ import annotations

import pytest

from agent.repomap.languages import language_of
from agent.repomap.tags import extract, query, reference_lines

# language: (file name, source, definitions it must find, references it must find)
SNIPPETS = {
    "python": ("m.py", "class Shape(Base):\n    def area(self):\n        return compute(self.w)\n", {"Shape", "area"}, {"Base", "compute"}),
    "javascript": ("m.js", "class Shape extends Base {\n  area() { return compute(this.w); }\n}\nfunction helper() { return new Shape(); }\n", {"Shape", "area", "helper"}, {"Base", "compute"}),
    "typescript": ("m.ts", "interface Sized { size(): number }\nclass Box implements Sized {\n  size(): number { return measure(this); }\n}\ntype Id = string;\n", {"Sized", "Box", "size", "Id"}, {"measure"}),
    "tsx": ("m.tsx", "function Button(props: Props) {\n  return <div onClick={handle}>{label(props)}</div>;\n}\n", {"Button"}, {"label", "Props"}),
    "go": ("m.go", "package m\n\ntype Server struct{}\n\nfunc (s *Server) Start() error {\n\treturn listen(s)\n}\n\nfunc listen(s *Server) error { return nil }\n", {"Server", "Start", "listen"}, {"listen", "Server"}),
    "rust": ("m.rs", "struct Point { x: i32 }\ntrait Norm { fn norm(&self) -> f64; }\nimpl Norm for Point {\n    fn norm(&self) -> f64 { sqrt_of(self.x) }\n}\n", {"Point", "Norm", "norm"}, {"sqrt_of", "Point"}),
    "java": ("M.java", "class Shape extends Base {\n  double area() { return Util.compute(w); }\n}\n", {"Shape", "area"}, {"Base", "compute"}),
    "c": ("m.c", "struct point { int x; };\nint add(int a, int b) { return helper(a) + b; }\n", {"point", "add"}, {"helper"}),
    "cpp": ("m.cpp", "namespace geo {\nclass Shape { public: double area(); };\ndouble Shape::area() { return compute(1); }\n}\n", {"geo", "Shape", "area"}, {"compute"}),
    "csharp": ("M.cs", "class Shape : Base {\n  public double Area() { return Compute(1); }\n}\n", {"Shape", "Area"}, {"Base", "Compute"}),
    "ruby": ("m.rb", "class Shape < Base\n  def area\n    compute(w)\n  end\nend\n", {"Shape", "area"}, {"Base", "compute"}),
    "php": ("m.php", "<?php\nclass Shape extends Base {\n  function area() { return compute($this->w); }\n}\n", {"Shape", "area"}, {"Base", "compute"}),
    "kotlin": ("m.kt", "class Shape : Base() {\n  fun area(): Double { return compute(w) }\n}\n", {"Shape", "area"}, {"Base", "compute"}),
    "swift": ("m.swift", "class Shape: Base {\n  func area() -> Double { return compute(w) }\n}\n", {"Shape", "area"}, {"Base", "compute"}),
    "scala": ("m.scala", "class Shape extends Base {\n  def area(): Double = compute(w)\n}\nobject Main\n", {"Shape", "area", "Main"}, {"Base", "compute"}),
    "bash": ("m.sh", "deploy() {\n  build_image \"$1\"\n}\ndeploy prod\n", {"deploy"}, {"build_image", "deploy"}),
    "lua": ("m.lua", "local M = {}\nfunction M.area(s)\n  return compute(s.w)\nend\nfunction helper() end\n", {"area", "helper"}, {"compute"}),
}


@pytest.mark.parametrize("language", sorted(SNIPPETS))
def test_definitions_and_references(language):
    name, source, defs, refs = SNIPPETS[language]
    assert language_of(name) == language
    tags = extract(source.encode(), language)
    assert defs <= {n for n, _ in tags.defs}
    assert refs <= set(tags.refs)


def test_lines_and_signatures():
    source = b'X = 1\n\nclass A(B):\n    """An A.\n\n    More."""\n\n    def f(self,\n          y):\n        return g(y) + g(2)\n'
    tags = extract(source, "python")
    assert ("A", 3) in tags.defs and ("f", 8) in tags.defs and tags.refs["g"] == 2
    assert reference_lines(source, "python", "g") == [10, 10]
    assert tags.signatures == ["X = 1", "class A(B):", '    """An A.', "    def f(self,", "          y):"]


def test_signatures_are_the_lines_tree_sitter_counts():
    # Form feeds, U+2028 in a string and CRLF endings: lines end at "\n" alone, as rows do.
    source = 'import os\n\x0c\ndef first(a):\r\n    return a\r\n\x0c\nS = """\u2028"""\nclass Second:\n    """Doc."""\n'.encode()
    tags = extract(source, "python")
    assert tags.defs == [("first", 3), ("S", 6), ("Second", 7)]
    assert tags.signatures == ["def first(a):", 'S = """\u2028"""', "class Second:", '    """Doc."""']


def test_each_query_is_compiled_once_per_language():
    query.cache_clear()
    for _ in range(3):
        for language, (_, source, _, _) in SNIPPETS.items():
            extract(source.encode(), language)
    assert query.cache_info().misses == len(SNIPPETS)


def test_syntax_errors_still_yield_tags():
    tags = extract(b"def ok(a):\n    return a\n\ndef broken(:\n    pass\n\nclass Fine:\n    pass\n", "python")
    assert {"ok", "Fine"} <= {n for n, _ in tags.defs}


def test_a_definition_is_not_a_use_of_its_name():
    # Rust's query takes every type name for a use: the one in `struct Point` is not.
    source = SNIPPETS["rust"][1].encode()
    assert extract(source, "rust").refs["Point"] == 1
    assert reference_lines(source, "rust", "Point") == [3]
