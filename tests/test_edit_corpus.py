"""The edit benchmark's corpus as a test: no request may ever be applied in the wrong place."""

from __future__ import annotations

from tests.bench.edits import corpus, report, run_corpus


def test_the_edit_corpus_is_applied_correctly_and_never_wrongly():
    outcomes = run_corpus(corpus(files=4, per_shape=4))
    shapes = {o.shape for o in outcomes}
    assert len(shapes) == 12, shapes
    wrong = [o for o in outcomes if o.verdict == "wrong"]
    correct = sum(o.verdict == "correct" for o in outcomes) / len(outcomes)
    assert not wrong, report(outcomes)
    assert correct >= 0.95, report(outcomes)
