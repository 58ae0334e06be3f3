"""Find the file(s) to grade from what the user passed on the command line.

A submission is the exercise file ``batchnorm_gradclip_exercise.py``, the notebook
``batchnorm_gradclip_exercise.ipynb``, or a directory holding one or both of them. The release
ships both editions; ``choose_editions`` picks the one the student worked in: the one that
differs from the released template, or both when both differ (``grade`` then keeps the higher
score and says so). The grader always grades a Python module; for a notebook,
``prepared_submission`` writes that module from the notebook's code cells into a temporary
directory and reports what it had to change (IPython magics, shell escapes) as notes for the
student's feedback::

    with prepared_submission(path) as prepared:
        result = grade(prepared.path)           # always a .py named batchnorm_gradclip_exercise.py
        feedback_notes = prepared.notes         # empty for a .py submission
        feedback = prepared.translate(feedback)  # points into the notebook's cells

Grading a notebook needs the [notebooks] extra (nbformat, IPython); without it,
``prepared_submission`` raises ``notebook_script.NotebookSupportMissing``, a problem of the grader's
environment, not of the submission.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.paths import TEMPLATE_PATH
from autograder.sandbox.names import EXERCISE_FILE, EXERCISE_NOTEBOOK

# Where a release records what it shipped (written by ``authoring.manifest``)
MANIFEST_PATH = ".github/autograder-manifest.json"

if TYPE_CHECKING:
    from autograder.grading.notebook_script import NotebookScript

NOTEBOOK_SUFFIX = ".ipynb"


class SubmissionNotFound(Exception):
    """No gradable file at the given path; the message says what was expected."""


@dataclass(frozen=True)
class Editions:
    """The exercise files to grade at a submission path, and why, for the student's feedback."""

    files: tuple[Path, ...]
    note: str = ""

    @property
    def both(self) -> bool:
        return len(self.files) > 1


def choose_editions(path: str | Path, *, template_hashes: Iterable[str] = ()) -> Editions:
    """The edition(s) to grade at ``path`` (CONTRACT section 4).

    A file is graded as it is. In a directory holding both editions, an edition is untouched
    when it is the released template: its SHA-256 is one of ``template_hashes`` or of those the
    release manifest in the directory records (``released_template_hashes``), or its code equals
    the template's that ships with this grader (for a notebook: its code cells, so that running
    the untouched notebook does not count as work). Untouched editions are not graded, unless
    both are.
    """
    found = find_submission(path)
    folder = Path(path)
    if not folder.is_dir():
        return Editions((found,))
    py, nb = folder / EXERCISE_FILE, folder / EXERCISE_NOTEBOOK
    if not (py.is_file() and nb.is_file()):
        return Editions((found,))
    known = set(template_hashes) | set(released_template_hashes(folder))
    py_changed = _sha256(py) not in known and _code_of(py) != _code_of(TEMPLATE_PATH)
    nb_changed = _sha256(nb) not in known and _notebook_changed(nb)
    if py_changed and nb_changed:
        return Editions(
            (py, nb),
            f"Both {EXERCISE_FILE} and {EXERCISE_NOTEBOOK} differ from the released template: "
            "both were graded and the higher score counts.",
        )
    if nb_changed:
        return Editions(
            (nb,), f"Graded {EXERCISE_NOTEBOOK}: {EXERCISE_FILE} is the released template."
        )
    if py_changed:
        return Editions(
            (py,), f"Graded {EXERCISE_FILE}: {EXERCISE_NOTEBOOK} is the released template."
        )
    return Editions(
        (py,),
        f"Both {EXERCISE_FILE} and {EXERCISE_NOTEBOOK} are the released template as it was: "
        f"graded {EXERCISE_FILE}.",
    )


def released_template_hashes(folder: str | Path) -> list[str]:
    """The SHA-256 of the released editions, from the release manifest in ``folder`` (its
    ``templates``, see ``authoring.manifest``); none when there is no readable manifest. An
    untouched edition is recognised by them even when this grader's template has moved on."""
    try:
        data = json.loads((Path(folder) / MANIFEST_PATH).read_text(encoding="utf-8"))
        templates = data["templates"]
        return [str(v) for v in templates.values() if isinstance(v, str)][:16]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _code_of(path: Path) -> str:
    """A Python file's text with line endings and trailing spaces normalised."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(line.rstrip() for line in text.splitlines()).strip()


def _notebook_code(path: Path) -> str | None:
    """The graded code of a notebook, normalised; None when it cannot be read here."""
    from autograder.grading.notebook_script import (
        NotebookError,
        NotebookSupportMissing,
        notebook_to_script,
        read_notebook,
    )

    try:
        source = notebook_to_script(read_notebook(path), name=path.name).source
    except (NotebookError, NotebookSupportMissing, OSError, ValueError):
        return None
    return "\n".join(line.rstrip() for line in source.splitlines()).strip()


def _notebook_changed(path: Path) -> bool:
    """Whether a notebook's code differs from the released student notebook's (when the code
    cannot be read, e.g. without the [notebooks] extra, it counts as changed)."""
    mine = _notebook_code(path)
    template = _notebook_code(TEMPLATE_PATH.with_suffix(NOTEBOOK_SUFFIX))
    return mine is None or template is None or mine != template


def find_submission(path: str | Path) -> Path:
    """The submitted ``.py`` or ``.ipynb`` file at ``path`` (a file or a directory)."""
    path = Path(path)
    if path.is_dir():
        for name in (EXERCISE_FILE, EXERCISE_NOTEBOOK):
            candidate = path / name
            if candidate.is_file():
                return candidate
        raise SubmissionNotFound(
            f"no {EXERCISE_FILE} (or {EXERCISE_NOTEBOOK}) in {path}: submit the exercise file at "
            "the top of your repository"
        )
    if path.is_file():
        if path.suffix not in (".py", NOTEBOOK_SUFFIX):
            raise SubmissionNotFound(
                f"{path} is neither a Python file nor a notebook ({EXERCISE_FILE} or "
                f"{EXERCISE_NOTEBOOK} expected)"
            )
        return path
    raise SubmissionNotFound(f"{path} does not exist")


@dataclass(frozen=True)
class PreparedSubmission:
    """What to grade: ``path`` is always a Python module named ``batchnorm_gradclip_exercise.py``.

    ``original`` is the file the student handed in (the same as ``path`` for a ``.py``), and
    ``notes`` are sentences for the student about what was changed to grade it. ``script`` is,
    for a notebook, the extracted module with its map back to the notebook's cells.
    """

    path: Path
    original: Path
    notes: tuple[str, ...] = field(default=())
    script: NotebookScript | None = field(default=None, compare=False)

    @property
    def is_notebook(self) -> bool:
        return self.original.suffix == NOTEBOOK_SUFFIX

    def translate(self, text: str) -> str:
        """Feedback ``text`` rewritten for the notebook the student handed in: "line L of
        batchnorm_gradclip_exercise.py" points to the notebook's code cell, advice for scripts
        becomes advice for notebooks. Unchanged for a ``.py`` submission."""
        if self.script is None:
            return text
        return self.script.translate(text, notebook=self.original.name)


@contextmanager
def prepared_submission(
    path: str | Path, *, workdir: str | Path | None = None
) -> Iterator[PreparedSubmission]:
    """Yield the ``PreparedSubmission`` for ``path``; clean up what was written on exit.

    For a notebook, the extracted module is written to ``workdir`` (which must exist and is left
    in place) or to a temporary directory removed on exit. Raises ``SubmissionNotFound`` when
    there is nothing to grade at ``path``, including a notebook that cannot be read (the message
    says why, in words for the student), and ``NotebookSupportMissing`` for a notebook when the
    [notebooks] extra is not installed.
    """
    original = find_submission(path)
    if original.suffix != NOTEBOOK_SUFFIX:
        yield PreparedSubmission(path=original, original=original)
        return

    from autograder.grading.notebook_script import NotebookError, notebook_to_script, read_notebook

    try:
        script = notebook_to_script(read_notebook(original), name=original.name)
    except NotebookError as exc:
        raise SubmissionNotFound(str(exc)) from None
    cell_notes = [f"Graded the code cells of {original.name} ({script.code_cells} cells)."]
    cell_notes.extend(script.notes)
    own_dir = workdir is None
    target_dir = Path(tempfile.mkdtemp(prefix="bngc-notebook-")) if own_dir else Path(workdir)
    try:
        target = target_dir / EXERCISE_FILE
        target.write_text(script.source, encoding="utf-8")
        yield PreparedSubmission(
            path=target, original=original, notes=tuple(cell_notes), script=script
        )
    finally:
        if own_dir:
            shutil.rmtree(target_dir, ignore_errors=True)
