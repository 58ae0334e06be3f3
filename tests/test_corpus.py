"""The corpus of student work, graded once by two grading servers (``GraderPool``: what
``grade-batch`` and ``grade-repos`` grade with; ``tests/test_pool.py`` shows that a server grades
exactly as ``python -m autograder grade`` does, and the reference, the template, the editions and
the hostile submissions are graded through that command line in their own tests).

Every correct variant gets full marks in every section, every do-nothing stub gets 0 in every
section, and every single mistake loses points only under its own function's tag (and
``accuracy``) with feedback that names the cause. What the entries are and what each must show:
tests/submissions/corpus.py; /work/notes/corpus_report.md is the same verdicts as a report
(``python -m tests.corpus_report``).
"""

from __future__ import annotations

import re

import pytest

from tests.grading import Graded, grade_sources
from tests.submissions.corpus import ENTRIES, SECTION_POINTS, of_kind, problems
from tests.submissions.correct import CORRECT, PRELUDES, STYLES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, Graded]:
    return grade_sources(
        {e.name: e.source for e in ENTRIES}, tmp_path_factory.mktemp("corpus"), jobs=2, via="pool"
    )


def _verdict(graded: dict[str, Graded], entry) -> list[str]:
    g = graded[entry.name]
    return problems(entry, g.results, g.returncode)


def test_corpus_is_large_and_names_are_unique():
    assert len(of_kind("correct")) >= 40
    assert len(of_kind("stub")) >= 8
    assert len(of_kind("mistake")) >= 30
    assert len({e.name for e in ENTRIES}) == len(ENTRIES)


def test_every_style_is_used_and_variants_differ():
    used = {(f, s) for v in CORRECT for f, s in v.styles}
    for function, styles in STYLES.items():
        assert {(function, s.name) for s in styles} <= used, function
    assert {("prelude", p.name) for p in PRELUDES} <= used
    assert len({v.source for v in CORRECT}) == len(CORRECT)
    assert 0 < sum(not v.bonus for v in CORRECT) < len(CORRECT) // 4  # a few skip the bonus


def test_every_mistake_has_one_section_and_a_hint():
    mistakes = of_kind("mistake")
    for e in mistakes:
        assert len(e.breaks) == 1 and e.may_break <= {"accuracy"}, e.name
        re.compile(e.hint)
        assert e.hint, e.name
    assert {tag for e in mistakes for tag in e.breaks} == set(SECTION_POINTS) - {"accuracy"}
    # compute_grad_norm mistakes graded with the template's clip_gradients, which calls them
    own_clip = [e for e in mistakes if e.name.endswith("_own_clip")]
    assert len(own_clip) >= 3
    assert all("total = compute_grad_norm(model, norm_type)" in e.source for e in own_clip)


@pytest.mark.parametrize("entry", of_kind("correct"), ids=lambda e: e.name)
def test_correct_variant_gets_full_marks(graded, entry):
    assert not _verdict(graded, entry), entry.description


@pytest.mark.parametrize("entry", of_kind("stub"), ids=lambda e: e.name)
def test_do_nothing_stub_scores_zero_everywhere(graded, entry):
    assert not _verdict(graded, entry), entry.description


@pytest.mark.parametrize("entry", of_kind("mistake"), ids=lambda e: e.name)
def test_mistake_costs_points_in_its_section_with_a_pointed_hint(graded, entry):
    assert not _verdict(graded, entry), entry.description
