"""Copies of the reference solution, flagged by name.

Two signs, the first the strongest:

* marker lines: the solution file's ``### BEGIN SOLUTION`` / ``### END SOLUTION`` / ``### HINT:``
  comments exist only in the instructors' copy (the template and the released notebooks have
  none), so a submission that has them was copied from it;
* similarity: the submission's own code (template removed) matches the reference solution's at
  the reference threshold or more, measured as between two students. The markers are comments,
  which copydetect ignores: the score is the same with or without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from autograder.authoring.template import BEGIN, END, HINT, strip_markers
from autograder.paths import SOLUTION_PATH
from autograder.similarity.collect import Document
from autograder.similarity.compare import Fingerprint, Fingerprinter, Score

# Default --reference-threshold: a near-verbatim copy (renamed, reordered) of the reference
# scores 0.97; independent correct solutions score 0.35 or less against it.
REFERENCE_THRESHOLD = 0.8


def reference_code() -> str:
    """The reference solution as the students' notebooks show it: without its marker lines."""
    return strip_markers(SOLUTION_PATH.read_text(encoding="utf-8"))


def marker_lines(code: str) -> int:
    """How many lines of ``code`` are marker lines of the reference solution."""
    count = 0
    for line in code.splitlines():
        text = line.strip()
        count += text in (BEGIN, END) or text.startswith(HINT)
    return count


@dataclass(frozen=True)
class ReferenceMatch:
    """One student's document that is closest to the reference solution."""

    student: str
    file: str
    score: Score
    markers: int  # marker lines of the reference solution found in the file
    threshold: float

    @property
    def copied(self) -> bool:
        """Whether this is (near-)verbatim the reference solution."""
        return self.markers > 0 or self.score.flagged(self.threshold)

    @property
    def evidence(self) -> str:
        """Why it counts as a copy, in words for the report ("" when it does not)."""
        reasons = []
        if self.markers:
            reasons.append(
                f"{self.markers} marker line(s) of the reference solution "
                f"({BEGIN} / {END} / {HINT}), which only the instructors' copy has"
            )
        if self.score.flagged(self.threshold):
            reasons.append(f"{self.score.similarity:.0%} of its code matches the reference")
        return "; ".join(reasons)


def match_reference(
    documents: Sequence[Document],
    fingerprints: Sequence[Fingerprint],
    fingerprinter: Fingerprinter,
    *,
    threshold: float = REFERENCE_THRESHOLD,
) -> dict[str, ReferenceMatch]:
    """Each student's document closest to the reference (a copy first), by student."""
    reference = fingerprinter.fingerprint(reference_code())
    best: dict[str, ReferenceMatch] = {}
    for doc, fp in zip(documents, fingerprints, strict=True):
        match = ReferenceMatch(
            student=doc.student,
            file=doc.file,
            score=fingerprinter.score(fp, reference),
            markers=marker_lines(doc.code),
            threshold=threshold,
        )
        current = best.get(doc.student)
        if current is None or _rank(match) > _rank(current):
            best[doc.student] = match
    return best


def _rank(match: ReferenceMatch) -> tuple[bool, int, float]:
    return match.copied, match.markers, match.score.similarity
