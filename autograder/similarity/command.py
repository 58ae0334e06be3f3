"""``python -m autograder similarity RESULTS_DIR --out OUT_DIR [--threshold T]``.

Compares the graded files that ``grade-repos`` keeps in ``RESULTS_DIR/submissions/<student>/``
pairwise (copydetect, the template's code as boilerplate), checks each against the reference
solution, and writes into ``OUT_DIR``: ``pairs.csv``, ``reference_copies.csv``,
``similarity.json`` and ``index.html`` with a side-by-side page per listed pair (see
``autograder.similarity.report``). Exit status 0, or 2 with one line saying what is wrong
(``RESULTS_DIR`` without ``submissions/``, an ``OUT_DIR`` that is not ours, a missing extra).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

from autograder.grading.notebook_script import NotebookSupportMissing
from autograder.similarity.collect import (
    SimilarityInputError,
    Skipped,
    collect_submissions,
    submissions_root,
    template_codes,
)
from autograder.similarity.compare import (
    PAIR_THRESHOLD,
    SimilaritySetupError,
    StudentPair,
    compare_documents,
    require_copydetect,
)
from autograder.similarity.reference import REFERENCE_THRESHOLD, ReferenceMatch, match_reference
from autograder.similarity.report import (
    OutputDirError,
    ReportFiles,
    ReportInput,
    earlier_pair_pages,
    write_report,
)


@dataclass
class SimilarityReport:
    """What one run found and wrote."""

    files: ReportFiles
    students: list[str]
    pairs: int
    flagged_pairs: list[StudentPair]
    reference_copies: list[ReferenceMatch]
    skipped: list[Skipped] = field(default_factory=list)
    threshold: float = PAIR_THRESHOLD
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            f"{len(self.students)} student(s) compared, {self.pairs} pair(s); "
            f"{len(self.flagged_pairs)} pair(s) at {self.threshold:.0%} similarity or more"
        ]
        if len(self.students) < 2:
            lines.append("fewer than two students could be compared: no pairs")
        lines += [
            f"  {p.student_a} ~ {p.student_b}: {p.score.similarity:.0%}"
            for p in self.flagged_pairs[:10]
        ]
        if len(self.flagged_pairs) > 10:
            lines.append(f"  ... and {len(self.flagged_pairs) - 10} more (pairs.csv)")
        names = ", ".join(m.student for m in self.reference_copies) or "none"
        lines.append(f"copies of the reference solution: {names}")
        if self.skipped:
            lines.append(f"{len(self.skipped)} skipped:")
            lines += [f"  {s.student}: {s.reason}" for s in self.skipped]
        lines.append(f"report: {self.files.index} ({self.seconds:.1f} s)")
        return "\n".join(lines)


def similarity_report(
    *,
    results_dir: str | PathLike[str],
    out_dir: str | PathLike[str],
    threshold: float = PAIR_THRESHOLD,
    reference_threshold: float = REFERENCE_THRESHOLD,
    progress: bool = False,
) -> SimilarityReport:
    """Compare the class in ``results_dir`` and write the report into ``out_dir``.

    Raises ``SimilarityInputError`` (no results directory or ``submissions/``),
    ``OutputDirError`` (``out_dir`` is not ours), ``SimilaritySetupError`` or
    ``NotebookSupportMissing`` (an extra is missing), ``ValueError`` (a threshold outside
    (0, 1]), all before anything is written.
    """
    for name, value in (("threshold", threshold), ("reference_threshold", reference_threshold)):
        if not 0 < value <= 1:
            raise ValueError(f"{name} must be in (0, 1], not {value}")
    start = time.perf_counter()
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    submissions_root(results_dir)
    earlier_pair_pages(out_dir)  # refuse someone else's directory before the long part
    require_copydetect()
    boilerplate = template_codes()
    collection = collect_submissions(results_dir)
    comparison = compare_documents(collection.documents, boilerplate=boilerplate, progress=progress)
    references = match_reference(
        comparison.documents,
        comparison.fingerprints,
        comparison.fingerprinter,
        threshold=reference_threshold,
    )
    report = ReportInput(
        results_dir=results_dir,
        comparison=comparison,
        references=references,
        skipped=collection.skipped,
        threshold=threshold,
        reference_threshold=reference_threshold,
    )
    files = write_report(report, out_dir)
    return SimilarityReport(
        files=files,
        students=collection.students,
        pairs=len(comparison.pairs),
        flagged_pairs=[p for p in comparison.pairs if report.flagged(p)],
        reference_copies=[m for _, m in sorted(references.items()) if m.copied],
        skipped=collection.skipped,
        threshold=threshold,
        seconds=time.perf_counter() - start,
    )


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(
            f"{text} is not a fraction in (0, 1]: give e.g. 0.6 for 60 %"
        )
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "results_dir",
        type=Path,
        metavar="RESULTS_DIR",
        help="the directory grade-repos wrote (its submissions/<student>/ folders are compared)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="OUT_DIR",
        help="where to write the report (a new or empty directory, or an earlier report)",
    )
    parser.add_argument(
        "--threshold",
        type=_fraction,
        default=PAIR_THRESHOLD,
        help=f"flag pairs at this similarity or more, in (0, 1] (default {PAIR_THRESHOLD})",
    )
    parser.add_argument(
        "--reference-threshold",
        type=_fraction,
        default=REFERENCE_THRESHOLD,
        help="flag a copy of the reference solution at this similarity to it or more "
        f"(default {REFERENCE_THRESHOLD}); its marker lines are always flagged",
    )


def run(args: argparse.Namespace) -> int:
    try:
        report = similarity_report(
            results_dir=args.results_dir,
            out_dir=args.out,
            threshold=args.threshold,
            reference_threshold=args.reference_threshold,
            progress=sys.stderr.isatty(),
        )
    except (
        SimilarityInputError,
        OutputDirError,
        SimilaritySetupError,
        NotebookSupportMissing,
    ) as exc:
        print(f"similarity: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0
