"""The similarity report's files, in an output directory that is ours alone.

* ``pairs.csv``: every pair of students, most similar first (``PAIR_COLUMNS``; fractions in
  [0, 1]; ``flagged`` is ``yes`` or ``no``);
* ``reference_copies.csv``: the students whose file is (near-)verbatim the reference solution
  (``REFERENCE_COLUMNS``), with the evidence;
* ``similarity.json``: per student the highest similarity, its partner and the flags, for the
  scoreboard (shape in docs/similarity.md); written first, it also marks the directory as ours;
* ``index.html``: the report; ``pairs/pair-NNNN.html``: a side-by-side view of each listed pair,
  matched regions highlighted. No script, no network resource (a Content-Security-Policy forbids
  both), every student-controlled string escaped by Jinja's autoescaping.

A non-empty directory without our ``similarity.json`` is someone else's and is refused
(``OutputDirError``); in ours, only these files are rewritten and pair pages of an earlier run
that are no longer listed are removed.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from autograder.files import atomic_writer, write_json_atomic, write_text_atomic
from autograder.similarity.collect import Document, Skipped
from autograder.similarity.compare import (
    MIN_MATCHED_TOKENS,
    Comparison,
    StudentPair,
    counted_characters,
)
from autograder.similarity.reference import ReferenceMatch

GENERATOR = "bngc-autograder similarity"
JSON_FILE = "similarity.json"
PAIRS_CSV = "pairs.csv"
REFERENCE_CSV = "reference_copies.csv"
INDEX_HTML = "index.html"
PAIRS_DIR = "pairs"
_PAIR_PAGE = re.compile(r"^pair-\d{4,}\.html$")
PAIR_COLUMNS = (
    "student_a", "student_b", "similarity", "a_in_b", "b_in_a", "matched_tokens", "flagged",
    "file_a", "file_b",
)  # fmt: skip
REFERENCE_COLUMNS = ("student", "file", "evidence", "reference_similarity", "marker_lines")
# Pairs listed in index.html with a side-by-side page: every flagged pair, and at least the
# TOP_PAIRS most similar ones, MAX_LISTED in all (pairs.csv always has every pair).
TOP_PAIRS = 50
MAX_LISTED = 300
# Unmatched lines shown around each matched region of a side-by-side view.
CONTEXT_LINES = 3
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


class OutputDirError(RuntimeError):
    """The output directory is not ours to write (someone else's, or a file)."""


@dataclass(frozen=True)
class StudentSummary:
    """What the scoreboard shows for one student (one entry of ``similarity.json``)."""

    student: str
    files: list[str]
    partner: str | None  # the most similar other student (None: no code in common with anyone)
    highest: float | None  # similarity with ``partner`` (None: nobody to compare with)
    flagged: bool  # a pair of this student is flagged
    reference: ReferenceMatch

    def to_json(self) -> dict[str, object]:
        return {
            "files": self.files,
            "highest_similarity": _fraction(self.highest),
            "partner": self.partner,
            "flagged": self.flagged,
            "reference_similarity": _fraction(self.reference.score.similarity),
            "reference_markers": self.reference.markers,
            "reference_copy": self.reference.copied,
        }


@dataclass
class ReportInput:
    """Everything the report shows."""

    results_dir: Path
    comparison: Comparison
    references: dict[str, ReferenceMatch]
    skipped: list[Skipped]
    threshold: float
    reference_threshold: float

    def flagged(self, pair: StudentPair) -> bool:
        return pair.score.flagged(self.threshold)

    def students(self) -> list[StudentSummary]:
        """One summary per compared student, sorted by name."""
        files: dict[str, list[str]] = {}
        for doc in self.comparison.documents:
            files.setdefault(doc.student, []).append(doc.file)
        best: dict[str, StudentPair] = {}
        flagged: set[str] = set()
        for pair in self.comparison.pairs:  # most similar first: the first seen is the best
            for student in (pair.student_a, pair.student_b):
                best.setdefault(student, pair)
                if self.flagged(pair):
                    flagged.add(student)
        summaries = []
        for student in sorted(files):
            pair = best.get(student)
            partner = None
            if pair is not None and pair.score.matched > 0:
                partner = pair.student_b if pair.student_a == student else pair.student_a
            summaries.append(
                StudentSummary(
                    student=student,
                    files=files[student],
                    partner=partner,
                    highest=pair.score.similarity if pair else None,
                    flagged=student in flagged,
                    reference=self.references[student],
                )
            )
        return summaries

    def listed_pairs(self) -> list[StudentPair]:
        """The pairs with a side-by-side page: flagged or among the most similar, if any match."""
        flagged = sum(self.flagged(p) for p in self.comparison.pairs)
        count = min(max(flagged, TOP_PAIRS), MAX_LISTED)
        return [p for p in self.comparison.pairs[:count] if p.score.matched > 0]


@dataclass
class ReportFiles:
    """What was written."""

    out_dir: Path
    written: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)

    @property
    def index(self) -> Path:
        return self.out_dir / INDEX_HTML


# ----------------------------------------------------------------------------- the directory


def earlier_pair_pages(out_dir: Path) -> list[Path]:
    """The pair pages of an earlier report in ``out_dir`` (none if it is new or empty).

    Raises ``OutputDirError`` when ``out_dir`` is not ours: a file, or a non-empty directory
    without our ``similarity.json``. Nothing is changed in either case.
    """
    out_dir = Path(out_dir)
    if not out_dir.exists() and not out_dir.is_symlink():
        return []
    if not out_dir.is_dir():
        raise OutputDirError(f"--out {out_dir} exists and is not a directory")
    marker = out_dir / JSON_FILE
    if not _is_ours(marker):
        if any(out_dir.iterdir()):
            raise OutputDirError(
                f"--out {out_dir} is not empty and holds no similarity report of ours (no "
                f"{JSON_FILE} written by this command): give a new or empty directory "
                "(nothing was changed)"
            )
        return []
    pages = out_dir / PAIRS_DIR
    if not pages.is_dir() or pages.is_symlink():
        return []
    return sorted(p for p in pages.iterdir() if _PAIR_PAGE.match(p.name) and p.is_file())


def _is_ours(marker: Path) -> bool:
    if marker.is_symlink() or not marker.is_file():
        return False
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("generator") == GENERATOR


# ----------------------------------------------------------------------------- writing


def write_report(report: ReportInput, out_dir: Path) -> ReportFiles:
    """Write every file of the report into ``out_dir`` (see the module docstring)."""
    out_dir = Path(out_dir)
    earlier = earlier_pair_pages(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(out_dir)
    students = report.students()
    listed = report.listed_pairs()
    files.written.append(write_json_atomic(_json(report, students), out_dir / JSON_FILE))
    files.written.append(_write_csv(out_dir / PAIRS_CSV, PAIR_COLUMNS, _pair_rows(report)))
    copies = [s.reference for s in students if s.reference.copied]
    files.written.append(
        _write_csv(out_dir / REFERENCE_CSV, REFERENCE_COLUMNS, _reference_rows(copies))
    )
    env = _environment()
    counted: dict[Document, bytes] = {}  # what copydetect compares, per document shown
    pages = {pair: f"{PAIRS_DIR}/pair-{rank:04d}.html" for rank, pair in enumerate(listed, 1)}
    if pages:
        (out_dir / PAIRS_DIR).mkdir(exist_ok=True)
    for rank, (pair, page) in enumerate(pages.items(), 1):
        html = env.get_template("pair.html").render(
            pair=pair,
            rank=rank,
            views=_side_by_side(report.comparison, pair, counted),
            report=report,
        )
        files.written.append(write_text_atomic(out_dir / page, html))
    html = env.get_template("index.html").render(
        report=report,
        students=students,
        copies=copies,
        listed=listed,
        pages=pages,
        flagged_pairs=sum(report.flagged(p) for p in report.comparison.pairs),
        flagged_students=[s for s in students if s.flagged],
        generated=_now(),
        tool=f"copydetect {version('copydetect')}",
        min_matched=MIN_MATCHED_TOKENS,
    )
    files.written.append(write_text_atomic(out_dir / INDEX_HTML, html))
    keep = set(files.written)
    for page in earlier:
        if page not in keep:
            page.unlink()
            files.removed.append(page)
    return files


def _json(report: ReportInput, students: Sequence[StudentSummary]) -> dict[str, object]:
    return {
        "generator": GENERATOR,
        "generated_at": _now(),
        "tool": f"copydetect {version('copydetect')}",
        "threshold": report.threshold,
        "reference_threshold": report.reference_threshold,
        "min_matched_tokens": MIN_MATCHED_TOKENS,
        "students": {s.student: s.to_json() for s in students},
        "skipped": [{"student": s.student, "reason": s.reason} for s in report.skipped],
    }


def _pair_rows(report: ReportInput) -> list[list[str]]:
    return [
        [
            p.student_a,
            p.student_b,
            f"{p.score.similarity:.4f}",
            f"{p.score.a_in_b:.4f}",
            f"{p.score.b_in_a:.4f}",
            str(p.score.matched),
            "yes" if report.flagged(p) else "no",
            p.file_a,
            p.file_b,
        ]
        for p in report.comparison.pairs
    ]


def _reference_rows(copies: Sequence[ReferenceMatch]) -> list[list[str]]:
    return [
        [m.student, m.file, m.evidence, f"{m.score.similarity:.4f}", str(m.markers)] for m in copies
    ]


def _fraction(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _cell(text: str) -> str:
    """Neutralise spreadsheet formulas in a text cell (CSV injection), as the scoreboard does."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    with atomic_writer(path) as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([[_cell(cell) for cell in row] for row in rows])
    return path


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------- HTML


@dataclass(frozen=True)
class ViewLine:
    """One line of a side-by-side view, or a run of hidden lines (``number`` is None)."""

    number: int | None
    pieces: tuple[tuple[str, bool], ...] = ()  # (text, matched)
    hidden: int = 0


@dataclass(frozen=True)
class SideView:
    """One side of a pair's page: whose file, and its lines."""

    student: str
    file: str
    lines: list[ViewLine]


def _side_by_side(
    comparison: Comparison, pair: StudentPair, counted: dict[Document, bytes]
) -> tuple[SideView, SideView]:
    doc_a, fp_a = comparison.fingerprint_of(pair.student_a, pair.file_a)
    doc_b, fp_b = comparison.fingerprint_of(pair.student_b, pair.file_b)
    regions_a, regions_b = comparison.fingerprinter.regions(fp_a, fp_b)
    views = []
    for doc, regions in ((doc_a, regions_a), (doc_b, regions_b)):
        if doc not in counted:
            counted[doc] = counted_characters(doc.code)
        views.append(SideView(doc.student, doc.file, code_lines(doc.code, regions, counted[doc])))
    return views[0], views[1]


def code_lines(
    code: str,
    regions: Sequence[tuple[int, int]],
    counted: bytes,
    *,
    context: int = CONTEXT_LINES,
) -> list[ViewLine]:
    """``code`` as numbered lines of (text, matched) pieces; runs of lines farther than
    ``context`` lines from any match are folded into one ``ViewLine`` that counts them.

    Only what copydetect compares (``counted``, from ``counted_characters``) is marked: not the
    comments, docstrings and spaces inside a matched region."""
    matched = [False] * len(code)
    for start, end in regions:
        for i in range(max(start, 0), min(end, len(code))):
            matched[i] = bool(counted[i])
    lines: list[list[tuple[str, bool]]] = []
    pos = 0
    for text in code.splitlines(keepends=True):
        pieces: list[tuple[str, bool]] = []
        for offset, char in enumerate(text.rstrip("\r\n")):
            flag = matched[pos + offset]
            if pieces and pieces[-1][1] == flag:
                pieces[-1] = (pieces[-1][0] + char, flag)
            else:
                pieces.append((char, flag))
        lines.append(pieces)
        pos += len(text)
    near = [False] * len(lines)
    for i, pieces in enumerate(lines):
        if any(flag for _, flag in pieces):
            for j in range(max(0, i - context), min(len(lines), i + context + 1)):
                near[j] = True
    out: list[ViewLine] = []
    for i, pieces in enumerate(lines):
        if near[i]:
            out.append(ViewLine(i + 1, tuple(pieces)))
        elif out and out[-1].number is None:
            out[-1] = ViewLine(None, hidden=out[-1].hidden + 1)
        else:
            out.append(ViewLine(None, hidden=1))
    return out


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    css = (TEMPLATES_DIR / "report.css").read_text(encoding="utf-8")
    if "</" in css:
        raise ValueError("the inline stylesheet must not contain '</'")
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    env.globals.update(
        css=Markup(css),
        csp=(
            f"default-src 'none'; style-src 'sha256-{digest}'; img-src 'none'; "
            "base-uri 'none'; form-action 'none'"
        ),
    )
    env.filters["pct"] = lambda value: "—" if value is None else f"{value:.0%}"
    return env
