"""The static HTML site over a ``Board``: index, one page per student, the class view.

Every page is self-contained: CSS and JavaScript are inlined, nothing is fetched from the network
(figures are PNG files next to the pages). Templates are rendered by Jinja2 with autoescaping,
so every student-controlled string is escaped; a Content-Security-Policy allows only our own
inline script (by hash) as a second line of defence.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from autograder.results import TAGS, TestResult
from autograder.scoreboard.exports import write_lms_csv, write_test_matrix
from autograder.scoreboard.figures import write_figures
from autograder.scoreboard.model import NEEDS_HELP_BELOW, Board, Submission

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"

FLAG_LABELS = {
    "full-marks": "full marks",
    "needs-help": "needs help",
    "late": "late",
    "tampered": "tampered",
    "could-not-grade": "could not grade",
    "grader-error": "grader error",
    "error": "not graded",
}
FILTERS = [
    ("needs-help", "needing help"),
    ("full-marks", "with full marks"),
    ("late", "late"),
    ("tampered", "tampered"),
    ("could-not-grade", "not importable"),
    ("error", "not graded (repo errors)"),
]
STATUS_LABELS = {
    "graded": "graded",
    "could_not_grade": "could not grade (the submission does not import or is missing)",
    "grader_error": "grader error (not the student's fault)",
    "not_graded": "not graded",
}

_SAFE_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_SAFE_URL = re.compile(r"^https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_HEX = re.compile(r"^[0-9a-fA-F]{7,40}$")
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class SiteFiles:
    index: Path
    class_page: Path
    student_pages: dict[str, Path]
    lms_csv: Path
    matrix_csv: Path
    figures: list[Path]


def student_slug(student: str) -> str:
    """A file name for a student's page: the login when safe, else a sanitised name + hash."""
    safe = _UNSAFE_FILENAME.sub("_", student).strip("._") or "student"
    if safe == student and len(safe) <= 100:
        return safe
    digest = hashlib.sha256(student.encode("utf-8")).hexdigest()[:10]
    return f"{safe[:60]}-{digest}"


def repo_url(repo: str) -> str:
    """A link for a repository given as ``owner/name`` or a GitHub URL; empty if unsafe."""
    repo = repo.strip().removesuffix(".git")
    if _SAFE_REPO.match(repo):
        return f"https://github.com/{repo}"
    if _SAFE_URL.match(repo):
        return repo
    return ""


def commit_url(repo: str, commit: str) -> str:
    base = repo_url(repo)
    return f"{base}/commit/{commit}" if base and _HEX.match(commit) else ""


def ordered_tests(sub: Submission) -> list[TestResult]:
    def key(t: TestResult) -> tuple[int, list[int]]:
        section = TAGS.index(t.tag) if t.tag in TAGS else len(TAGS)
        return section, [int(p) if p.isdigit() else 0 for p in t.number.split(".")]

    return sorted(sub.result.tests, key=key)


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _fmt_score(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _wbr(text: str) -> Markup:
    """``text`` escaped, with line-break opportunities after underscores (long tag names)."""
    return Markup("_<wbr>").join(escape(part) for part in str(text).split("_"))


def _fmt_mean(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def _fmt_when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _fmt_iso(value: datetime | None) -> str:
    return "" if value is None else value.isoformat(timespec="seconds")


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        score=_fmt_score, mean=_fmt_mean, wbr=_wbr, pct=_fmt_pct, when=_fmt_when, iso=_fmt_iso
    )
    css = (STATIC_DIR / "scoreboard.css").read_text(encoding="utf-8")
    js = (STATIC_DIR / "scoreboard.js").read_text(encoding="utf-8")
    if "</" in js or "</" in css:
        raise ValueError("inline assets must not contain '</'")
    env.globals.update(
        css=Markup(css),
        js=Markup(js),
        csp=(
            "default-src 'none'; img-src 'self'; "
            f"style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; "
            "base-uri 'none'; form-action 'none'"
        ),
        FLAG_LABELS=FLAG_LABELS,
        FILTERS=FILTERS,
        STATUS_LABELS=STATUS_LABELS,
        NEEDS_HELP_BELOW=NEEDS_HELP_BELOW,
        repo_url=repo_url,
        commit_url=commit_url,
        ordered_tests=ordered_tests,
    )
    return env


def write_site(board: Board, out_dir: Path) -> SiteFiles:
    """Render the whole site into ``out_dir`` (student pages from older builds are removed)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = environment()
    students_dir = out_dir / "students"
    if students_dir.exists():
        shutil.rmtree(students_dir)  # pages of students no longer in the gradebook go away
    students_dir.mkdir()

    pages: dict[str, Path] = {}
    slugs = {row.student: student_slug(row.student) for row in board.students}

    def student_href(student: str) -> str:
        return "students/" + quote(slugs[student]) + ".html"

    student_template = env.get_template("student.html")
    for row in board.students:
        path = students_dir / f"{slugs[row.student]}.html"
        path.write_text(
            student_template.render(board=board, row=row, root="../", page="student"),
            encoding="utf-8",
        )
        pages[row.student] = path

    figures = write_figures(board, out_dir / "figures")
    index = out_dir / "index.html"
    index.write_text(
        env.get_template("index.html").render(
            board=board, root="", page="index", student_href=student_href
        ),
        encoding="utf-8",
    )
    class_page = out_dir / "class.html"
    class_page.write_text(
        env.get_template("class.html").render(
            board=board,
            root="",
            page="class",
            figures=figures,
            tag_stats=board.tag_stats(),
            check_stats=sorted(
                board.check_stats(), key=lambda s: s.rate if s.rate is not None else 2.0
            ),
            timeline=board.timeline(),
        ),
        encoding="utf-8",
    )
    lms = write_lms_csv(board, out_dir / "exports" / "lms_grades.csv")
    matrix = write_test_matrix(board, out_dir / "exports" / "test_matrix.csv")
    return SiteFiles(
        index=index,
        class_page=class_page,
        student_pages=pages,
        lms_csv=lms,
        matrix_csv=matrix,
        figures=[out_dir / f.file for f in figures],
    )
