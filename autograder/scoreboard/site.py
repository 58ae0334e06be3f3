"""The static HTML site over a ``Board``: index, one page per student, the class view.

Every page is self-contained: CSS and JavaScript are inlined, nothing is fetched from the network
(figures are PNG files next to the pages). Templates are rendered by Jinja2 with autoescaping,
so every student-controlled string is escaped; a Content-Security-Policy allows only our own
inline script (by hash) as a second line of defence.

The site directory
------------------
The scoreboard only ever removes what it wrote itself. Each build records the files it wrote in
``SITE_DIR/.scoreboard-manifest.json``; the next build removes those it no longer writes (the
page of a student who left the gradebook, a figure without data) and leaves anything else in
the directory alone. A non-empty directory without that manifest is someone else's: it is
refused (``SiteError``) and nothing in it is touched.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from autograder.files import write_json_atomic
from autograder.grading.results import COULD_NOT_GRADE, GRADED, GRADER_ERROR, TAGS, TestResult
from autograder.scoreboard.exports import grade, write_lms_csv, write_test_matrix
from autograder.scoreboard.figures import FIGURE_NAMES, write_figures
from autograder.scoreboard.model import NEEDS_HELP_BELOW, Board, Submission, login_key

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"

FLAG_LABELS = {
    "full-marks": "full marks",
    "needs-help": "needs help",
    "late": "late",
    "penalty": "late penalty",
    "extension": "extension",
    "tampered": "tampered",
    "similar": "similar code",
    "could-not-grade": "could not grade",
    "grader-error": "grader error",
    "no-commit": "nothing graded",
    "manual": "manual points",
}
FILTERS = [
    ("needs-help", "needing help"),
    ("full-marks", "with full marks"),
    ("late", "late"),
    ("penalty", "with a late penalty"),
    ("extension", "with an extension"),
    ("tampered", "tampered"),
    ("similar", "flagged by the similarity report"),
    ("could-not-grade", "could not grade (no file, or it does not import)"),
    ("no-commit", "nothing graded (repository problems)"),
    ("grader-error", "grader errors"),
    ("manual", "with manual points"),
]
STATUS_LABELS = {
    GRADED: "graded",
    COULD_NOT_GRADE: "could not grade (no submission, or it does not import)",
    GRADER_ERROR: "grader error (not the student's fault)",
}

_SAFE_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_SAFE_URL = re.compile(r"^https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_HEX = re.compile(r"^[0-9a-fA-F]{7,40}$")
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9_.-]")

MANIFEST = ".scoreboard-manifest.json"
GENERATOR = "bngc-autograder scoreboard"
# The only paths a manifest may name (anything else in it is ignored, never deleted).
_OWNED = re.compile(
    r"^(index\.html|class\.html|students/[A-Za-z0-9_.-]+\.html|figures/[A-Za-z0-9_.-]+\.png"
    r"|exports/[A-Za-z0-9_.-]+\.csv)$"
)


class SiteError(RuntimeError):
    """The site directory cannot be used (someone else's directory, a file, a broken manifest)."""


@dataclass(frozen=True)
class SiteFiles:
    index: Path
    class_page: Path
    student_pages: dict[str, Path]
    lms_csv: Path
    matrix_csv: Path
    figures: list[Path]
    removed: list[Path] = field(default_factory=list)  # files of earlier builds removed


def student_slug(student: str) -> str:
    """A file name for a student's page: the lower-case login when safe, else a sanitised name
    and a hash. Logins differing only in case get the same slug (they are the same student, and
    would collide on a case-insensitive file system)."""
    key = login_key(student)
    safe = _UNSAFE_FILENAME.sub("_", key).strip("._") or "student"
    if safe == key and len(safe) <= 100:
        return safe
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]
    return f"{safe[:60]}-{digest}"


def unique_slugs(students: list[str]) -> dict[str, str]:
    """``student_slug`` for each student, made unique ignoring case (``-2``, ``-3``, ...)."""
    slugs: dict[str, str] = {}
    taken: set[str] = set()
    for student in students:
        base = slug = student_slug(student)
        n = 2
        while slug.lower() in taken:
            slug, n = f"{base}-{n}", n + 1
        taken.add(slug.lower())
        slugs[student] = slug
    return slugs


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


def _fmt_delta(value: timedelta | None) -> str:
    """How far from the deadline: ``2 d 3 h 5 min after``, ``40 min before``, ``on time``."""
    if value is None:
        return ""
    seconds = int(abs(value.total_seconds()))
    if seconds < 60:
        return "at the deadline"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    parts = [f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "min")) if n]
    return " ".join(parts) + (" after" if value.total_seconds() > 0 else " before")


def ordered_answers(answers: dict[str, str]) -> list[tuple[str, str]]:
    """The answers by question: Q2 before Q10 (by the number in the key, then the key)."""

    def key(item: tuple[str, str]) -> tuple[int, str]:
        digits = "".join(ch for ch in item[0] if ch.isdigit())
        return (int(digits) if digits else 10**9, item[0])

    return sorted(answers.items(), key=key)


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        score=_fmt_score,
        mean=_fmt_mean,
        wbr=_wbr,
        pct=_fmt_pct,
        when=_fmt_when,
        iso=_fmt_iso,
        delta=_fmt_delta,
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
        grade=grade,
        ordered_answers=ordered_answers,
        GRADED=GRADED,
    )
    return env


def previous_build(out_dir: Path) -> set[str]:
    """The files an earlier build wrote into ``out_dir`` (relative paths; none if it is new).

    Raises ``SiteError`` when ``out_dir`` is not ours to write: a file, or a non-empty
    directory without the scoreboard's manifest. Nothing is changed in either case.
    """
    out_dir = Path(out_dir)
    if not out_dir.exists() and not out_dir.is_symlink():
        return set()
    if not out_dir.is_dir():
        raise SiteError(f"{out_dir} exists and is not a directory")
    manifest = out_dir / MANIFEST
    if not manifest.exists():
        if any(out_dir.iterdir()):
            raise SiteError(
                f"{out_dir} is not empty and was not written by the scoreboard (no {MANIFEST}); "
                "give a new or empty directory (nothing was changed)"
            )
        return set()
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        if data.get("generator") != GENERATOR or not isinstance(data.get("files"), list):
            raise ValueError("not a scoreboard manifest")
    except (OSError, ValueError, AttributeError) as exc:
        raise SiteError(
            f"{manifest} cannot be read ({exc}); the scoreboard does not know which files in "
            f"{out_dir} are its own. Remove the directory (or that file) and rebuild"
        ) from exc
    return {f for f in data["files"] if isinstance(f, str) and _OWNED.match(f)}


def _write_manifest(out_dir: Path, files: set[str]) -> None:
    write_json_atomic({"generator": GENERATOR, "files": sorted(files)}, out_dir / MANIFEST)


def write_site(board: Board, out_dir: Path) -> SiteFiles:
    """Render the whole site into ``out_dir``; files of earlier builds no longer written are
    removed (see the module's docstring); raises ``SiteError`` for a directory not ours."""
    out_dir = Path(out_dir)
    earlier = previous_build(out_dir)
    env = environment()
    slugs = unique_slugs([row.student for row in board.students])
    planned = {
        "index.html",
        "class.html",
        "exports/lms_grades.csv",
        "exports/test_matrix.csv",
        *(f"students/{slug}.html" for slug in slugs.values()),
        *(f"figures/{name}" for name in FIGURE_NAMES),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    # first claim every file this build may write, so that an interrupted build can be rerun
    _write_manifest(out_dir, earlier | planned)
    students_dir = out_dir / "students"
    students_dir.mkdir(exist_ok=True)

    pages: dict[str, Path] = {}

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
    written = {p.relative_to(out_dir).as_posix() for p in [*pages.values(), index, class_page]}
    written |= {"exports/lms_grades.csv", "exports/test_matrix.csv"}
    written |= {f.file for f in figures}
    _write_manifest(out_dir, written)
    removed = []
    kept = {rel.lower() for rel in written}  # X.html is x.html on a case-insensitive disk
    for rel in sorted(r for r in (earlier | planned) - written if r.lower() not in kept):
        path = out_dir / rel
        if path.is_file() or path.is_symlink():  # never a directory
            path.unlink()
            removed.append(path)
    return SiteFiles(
        index=index,
        class_page=class_page,
        student_pages=pages,
        lms_csv=lms,
        matrix_csv=matrix,
        figures=[out_dir / f.file for f in figures],
        removed=removed,
    )
