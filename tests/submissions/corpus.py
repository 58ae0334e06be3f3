"""The whole corpus of student submissions, and what grading each one must show.

Three kinds of entries: correct variants (full marks in every section), do-nothing stubs (0 in
every section) and single mistakes (points lost under one function's tag, and nowhere else but
``accuracy``, with a hint that names the cause). ``problems`` lists every way a grading misses
its entry's expectation; the tests assert there are none, and the report prints them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.submissions.correct import CORRECT, Variant
from tests.submissions.stubs import STUBS
from tests.submissions.wrong import WRONG

# Points per section (README, "The hidden checks"); bonus points come on top of the 100.
SECTION_POINTS: dict[str, float] = {
    "add_batchnorm": 28.0,
    "compute_grad_norm": 18.0,
    "clip_gradients": 18.0,
    "compare_runs": 24.0,
    "accuracy": 12.0,
    "bonus": 10.0,
}
MAX_SCORE = 100.0
HIDDEN_SOURCE_MARKERS = ("def check_", "autograder/grading/checks", "pytestmark")


@dataclass(frozen=True)
class Entry:
    """One submission of the corpus and what its grading must show."""

    name: str
    kind: str  # "correct", "stub" or "mistake"
    description: str
    source: str
    styles: tuple[tuple[str, str], ...] = ()  # correct: (function or "prelude", style)
    bonus: bool = True  # correct: implements the bonus
    breaks: frozenset[str] = frozenset()  # mistake: the tag that must lose points
    may_break: frozenset[str] = frozenset()  # mistake: tags that may lose points too
    hint: str = ""  # mistake: regex the feedback of its failed checks must match

    def owed(self) -> set[str]:
        """The sections in which a correct variant must get full marks."""
        return set(SECTION_POINTS) if self.bonus else set(SECTION_POINTS) - {"bonus"}


def _from_variant(v: Variant) -> Entry:
    return Entry(
        name=v.name,
        kind="correct",
        description=", ".join(f"{f}: {s}" for f, s in v.styles),
        source=v.source,
        styles=v.styles,
        bonus=v.bonus,
    )


ENTRIES: list[Entry] = (
    [_from_variant(v) for v in CORRECT]
    + [Entry(s.name, "stub", s.description, s.source()) for s in STUBS]
    + [
        Entry(
            c.name,
            "mistake",
            c.description,
            c.source(),
            breaks=c.breaks,
            may_break=c.may_break,
            hint=c.hint,
        )
        for c in WRONG
    ]
)


def of_kind(kind: str) -> list[Entry]:
    return [e for e in ENTRIES if e.kind == kind]


def scores_by_tag(results: dict) -> dict[str, float]:
    """Points per section (0 for a section that has no check in the results)."""
    totals = dict.fromkeys(SECTION_POINTS, 0.0)
    for t in results.get("tests", []):
        if t["tags"][0] in totals:
            totals[t["tags"][0]] += t["score"]
    return totals


def lost_tags(results: dict) -> set[str]:
    got = scores_by_tag(results)
    return {tag for tag, full in SECTION_POINTS.items() if got[tag] < full}


def failed_checks(results: dict, tags: set[str] | None = None) -> list[dict]:
    return [
        t
        for t in results.get("tests", [])
        if t["status"] == "failed" and (tags is None or t["tags"][0] in tags)
    ]


def problems(entry: Entry, results: dict, returncode: int | None) -> list[str]:
    """Every way the grading ``results`` (and the command's exit status, if known) miss
    ``entry``."""
    found = []
    if returncode not in (0, None):
        found.append(f"the grader exited with status {returncode}")
    status = results.get("extra_data", {}).get("grading_status")
    if status != "graded":
        found.append(f"grading status {status!r}, not 'graded'")
    for t in results.get("tests", []):
        leaked = [m for m in HIDDEN_SOURCE_MARKERS if m in t["output"]]
        if leaked:
            found.append(f"check {t['number']} shows hidden source ({', '.join(leaked)})")
    for t in failed_checks(results):
        out = t["output"]
        if not (
            ("Expected:" in out and "Got:" in out and "Hint:" in out) or "Your code raised" in out
        ):
            found.append(f"check {t['number']} failed without Expected/Got/Hint")
    got = scores_by_tag(results)
    lost = lost_tags(results)
    if entry.kind == "correct":
        if lost & entry.owed():
            found.append("lost points in " + ", ".join(sorted(lost & entry.owed())))
        want = MAX_SCORE + (SECTION_POINTS["bonus"] if entry.bonus else 0.0)
        if results.get("score") != want:
            found.append(f"score {results.get('score')}, not {want:g}")
    elif entry.kind == "stub":
        earned = {tag: points for tag, points in got.items() if points > 0}
        if earned:
            found.append("earned " + ", ".join(f"{t} {p:g}" for t, p in earned.items()))
        if results.get("score") != 0.0:
            found.append(f"score {results.get('score')}, not 0")
    else:
        if not entry.breaks <= lost:
            found.append("lost no points in " + ", ".join(sorted(entry.breaks - lost)))
        extra = lost - entry.breaks - entry.may_break
        if extra:
            found.append("also lost points in " + ", ".join(sorted(extra)))
        feedback = "\n".join(t["output"] for t in failed_checks(results, set(entry.breaks)))
        if feedback and not re.search(entry.hint, feedback, re.IGNORECASE | re.DOTALL):
            found.append(
                f"no failed {'/'.join(sorted(entry.breaks))} check names the cause (/{entry.hint}/)"
            )
    return found
