"""The notebook edition of the exercise, written from the solution file.

One source for everything: ``solutions/batchnorm_gradclip_exercise.py`` is written in jupytext's
percent format (``# %%`` code cells, ``# %% [markdown]`` narrative cells, ``tags=["active-ipynb"]``
cells that exist only in the notebook, ``tags=["active-py"]`` cells only in the script). From it:

* ``reference_notebook()``: the solution without the HINT/BEGIN/END markers
  (``solutions/batchnorm_gradclip_exercise.ipynb``);
* ``student_notebook()``: the student template, each solution block replaced by its stub
  (``assignment/batchnorm_gradclip_exercise.ipynb``).

Both are written without outputs and with stable cell ids, so that a committed notebook is
byte-for-byte what ``write_notebooks()`` produces (``stale_notebooks()`` checks it). Grading a
submitted notebook is ``autograder.grading.notebook_script``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from autograder.authoring.template import build_template, strip_markers
from autograder.grading.notebook_script import require
from autograder.paths import ASSIGNMENT_DIR, SOLUTION_PATH, SOLUTIONS_DIR
from autograder.sandbox.names import EXERCISE_NOTEBOOK

STUDENT_NOTEBOOK_PATH = ASSIGNMENT_DIR / EXERCISE_NOTEBOOK
REFERENCE_NOTEBOOK_PATH = SOLUTIONS_DIR / EXERCISE_NOTEBOOK
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python", "pygments_lexer": "ipython3"}

# --------------------------------------------------------------------------------------------
# From the percent-format source to notebooks
# --------------------------------------------------------------------------------------------


def notebook_from_source(source: str) -> Any:
    """An ``nbformat`` v4 notebook from a jupytext percent-format Python text."""
    jupytext = require("jupytext")
    nb = jupytext.reads(source, fmt="py:percent")
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    # script-only cells (the `if __name__ == "__main__":` guard) have no place in a notebook
    nb.cells = [c for c in nb.cells if "active-py" not in (c.metadata.get("tags") or [])]
    counters: dict[str, int] = {}
    for cell in nb.cells:
        tags = list(cell.metadata.get("tags") or [])
        cell.metadata = {"tags": tags} if tags else {}  # drop jupytext's layout hints
        counters[cell.cell_type] = counters.get(cell.cell_type, 0) + 1
        cell["id"] = f"{cell.cell_type}-{counters[cell.cell_type]:02d}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def reference_notebook(solution_source: str | None = None) -> Any:
    """The reference notebook: the solution without its HINT/BEGIN/END marker lines."""
    text = solution_source if solution_source is not None else _read(SOLUTION_PATH)
    return notebook_from_source(strip_markers(text))


def student_notebook(solution_source: str | None = None) -> Any:
    """The student notebook: the template, built from the solution as the ``.py`` template is."""
    text = solution_source if solution_source is not None else _read(SOLUTION_PATH)
    return notebook_from_source(build_template(text))


def notebook_text(nb: Any) -> str:
    """The exact file content written for ``nb`` (nbformat's JSON plus a final newline)."""
    nbformat = require("nbformat")
    nbformat.validate(nb)
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def expected_notebooks(*, solution: Path = SOLUTION_PATH) -> dict[Path, str]:
    """Committed notebook path -> the content it must have, given the solution file."""
    source = _read(solution)
    return {
        STUDENT_NOTEBOOK_PATH: notebook_text(student_notebook(source)),
        REFERENCE_NOTEBOOK_PATH: notebook_text(reference_notebook(source)),
    }


def write_notebooks(*, solution: Path = SOLUTION_PATH) -> list[Path]:
    """(Re)write the student and reference notebooks; return their paths."""
    written = []
    for path, text in expected_notebooks(solution=solution).items():
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_notebooks(*, solution: Path = SOLUTION_PATH) -> list[Path]:
    """The committed notebooks that differ from what ``write_notebooks`` would write."""
    stale = []
    for path, text in expected_notebooks(solution=solution).items():
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if current != text:
            stale.append(path)
    return stale


def _read(path: Path) -> str:
    return Path(path).read_text(encoding="utf-8")


def with_tags(cell: Any, tags: Iterable[str]) -> Any:
    """A copy of ``cell`` with ``tags`` added to its metadata (order kept, no duplicates)."""
    cell = copy.deepcopy(cell)
    current = list(cell.metadata.get("tags") or [])
    cell.metadata["tags"] = current + [t for t in tags if t not in current]
    return cell
