"""The documents to compare: the graded files under ``RESULTS_DIR/submissions/<student>/``.

Each student folder may hold ``batchnorm_gradclip_exercise.py`` and/or
``batchnorm_gradclip_exercise.ipynb`` (CONTRACT section 4); every edition present is one
``Document``. A notebook is compared by its graded code cells, as ``notebook_to_script`` extracts
them for grading (that needs the [notebooks] extra; the command checks for it first).

What cannot be compared is skipped with a note, never an error: a folder without an exercise
file, a binary or non-UTF-8 file, an unreadable notebook, a symbolic link, more than 256 KB of
code (ten times the reference solution), a file without code. Only a missing ``RESULTS_DIR`` or
``submissions/`` folder is an error (``SimilarityInputError``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from autograder.authoring.notebooks import STUDENT_NOTEBOOK_PATH
from autograder.grading.notebook_script import NotebookError, notebook_to_script, read_notebook
from autograder.paths import TEMPLATE_PATH
from autograder.sandbox.names import EDITIONS, EXERCISE_FILE, EXERCISE_NOTEBOOK

SUBMISSIONS_DIR = "submissions"

# A notebook with its outputs (figures) can be a few MB. The reference solution is 24 KB of code:
# ten times that is not a solution, and would only slow the comparison down (Pygments needs
# seconds for a pathological megabyte).
MAX_NOTEBOOK_BYTES = 20 * 2**20
MAX_CODE_BYTES = 256 * 2**10


class SimilarityInputError(ValueError):
    """RESULTS_DIR cannot be read as a results directory; the message says why."""


class UnreadableFile(ValueError):
    """One submitted file cannot be compared; the message says why, for the report."""


@dataclass(frozen=True)
class Document:
    """One submitted edition of one student: the Python code that is compared."""

    student: str
    file: str  # EXERCISE_FILE or EXERCISE_NOTEBOOK
    code: str


@dataclass(frozen=True)
class Skipped:
    """A student folder, or one file of it, that could not be compared."""

    student: str
    reason: str


@dataclass
class Collection:
    """Everything read from ``RESULTS_DIR/submissions``."""

    documents: list[Document] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def students(self) -> list[str]:
        """The students with at least one document, sorted."""
        return sorted({doc.student for doc in self.documents})


def template_codes() -> list[str]:
    """The code every student received: the template script and the template notebook's cells."""
    notebook = notebook_to_script(read_notebook(STUDENT_NOTEBOOK_PATH), name=EXERCISE_NOTEBOOK)
    return [TEMPLATE_PATH.read_text(encoding="utf-8"), notebook.source]


def submissions_root(results_dir: Path) -> Path:
    """``results_dir/submissions``; ``SimilarityInputError`` when either is missing."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        what = "is not a directory" if results_dir.exists() else "does not exist"
        raise SimilarityInputError(f"results directory {results_dir} {what}")
    root = results_dir / SUBMISSIONS_DIR
    if not root.is_dir():
        raise SimilarityInputError(
            f"{results_dir} has no {SUBMISSIONS_DIR}/ folder: grade-repos keeps each graded "
            f"file in {SUBMISSIONS_DIR}/<student>/; give the directory grade-repos wrote"
        )
    return root


def collect_submissions(results_dir: Path) -> Collection:
    """Read every student folder of ``results_dir/submissions`` (sorted by name)."""
    collection = Collection()
    for folder in sorted(submissions_root(results_dir).iterdir()):
        if folder.name.startswith("."):
            continue
        student = folder.name
        if folder.is_symlink() or not folder.is_dir():
            collection.skipped.append(Skipped(student, "not a student folder (a file or a link)"))
            continue
        present = [name for name in EDITIONS if _present(folder / name)]
        if not present:
            collection.skipped.append(
                Skipped(student, f"no {EXERCISE_FILE} or {EXERCISE_NOTEBOOK} in the folder")
            )
        for name in present:
            try:
                collection.documents.append(Document(student, name, read_code(folder / name)))
            except UnreadableFile as exc:
                reason = str(exc) if str(exc).startswith(name) else f"{name}: {exc}"
                collection.skipped.append(Skipped(student, reason))
    return collection


def read_code(path: Path) -> str:
    """The Python code of one submitted file; ``UnreadableFile`` says why there is none."""
    if path.is_symlink():
        raise UnreadableFile("a symbolic link, not a submitted file")
    if not path.is_file():
        raise UnreadableFile("not a regular file")
    notebook = path.suffix == ".ipynb"
    size = path.stat().st_size
    if size > (MAX_NOTEBOOK_BYTES if notebook else MAX_CODE_BYTES):
        raise UnreadableFile(f"{_kb(size)}, far larger than any solution")
    code = _notebook_code(path) if notebook else _script_code(path.read_bytes())
    if len(code.encode("utf-8")) > MAX_CODE_BYTES:
        raise UnreadableFile(
            f"{_kb(len(code.encode('utf-8')))} of code, far more than any solution"
        )
    # one newline convention, the one Pygments (copydetect's tokenizer) reports offsets in
    code = code.replace("\r\n", "\n").replace("\r", "\n")
    if not code.strip():
        raise UnreadableFile("empty: no code to compare")
    return code


def _kb(size: int) -> str:
    return f"{size / 2**10:,.0f} KB"


def _present(path: Path) -> bool:
    return path.is_symlink() or path.exists()  # a dangling link is present, and skipped


def _script_code(data: bytes) -> str:
    if b"\0" in data:
        raise UnreadableFile("a binary file, not Python source")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"not UTF-8 text (byte {exc.start})") from None


def _notebook_code(path: Path) -> str:
    with warnings.catch_warnings():  # nbformat's advice on old notebooks is not for this report
        warnings.simplefilter("ignore")
        try:
            nb = read_notebook(path)
        except NotebookError as exc:
            raise UnreadableFile(str(exc)) from None
        try:
            return notebook_to_script(nb, name=path.name).source
        except NotebookError as exc:
            raise UnreadableFile(str(exc)) from None
        except Exception as exc:  # a valid notebook with odd cells ("tags": 5): skip, never crash
            raise UnreadableFile(
                f"its code cells cannot be extracted ({type(exc).__name__}: {exc})"
            ) from None
