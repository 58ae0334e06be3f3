"""``python -m autograder export nbgrader COURSE_DIR``: the assignment as an nbgrader course.

Writes::

    COURSE_DIR/nbgrader_config.py
    COURSE_DIR/source/<assignment>/batchnorm_gradclip_exercise.ipynb
    COURSE_DIR/source/<assignment>/exercise_utils.py

The source notebook is the solution file's notebook edition with nbgrader's metadata: every cell
holding a ``### BEGIN SOLUTION`` region is an autograded-answer cell (nbgrader's own markers, so
``nbgrader generate_assignment`` makes the student version), and a final section holds one
read-only test cell per hidden check, worth our points. A test cell only names its check and
calls ``autograder.export.runtime.nbgrader_check("<number>")``: the first one grades the
submitted notebook once with our isolated grader, each cell then prints that check's feedback and
returns its score, which nbgrader reads as the cell's (partial) credit. The checks' source never
enters the notebook or the feedback; the grader must be installed where notebooks are autograded
(not in the students' environment).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from autograder.export.otter import EXERCISE_UTILS, ExportError
from autograder.paths import SOLUTION_PATH
from autograder.results import TestResult
from autograder.template import BEGIN, END, HINT

ASSIGNMENT_NAME = "batchnorm_gradclip"
COURSE_ID = "deep-learning-pytorch"
# Grading a submission takes 10-60 s in the first test cell; nbgrader's default is 30 s a cell.
CELL_TIMEOUT_S = 900
# The cell that imports the checker (not graded itself, not part of the student's module).
GRADER_CELL_TAG = "bngc-grader"

CONFIG_TEMPLATE = """\
# nbgrader configuration for the course holding the BatchNorm & gradient clipping assignment.
# Written by `python -m autograder export nbgrader`; edit freely (course id, exchange, ...).
c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = {course_id!r}
# The first test cell grades the whole notebook with the course's grader (10-60 s).
c.Execute.timeout = {timeout}
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
"""

GRADER_CELL = """\
# The course's grader runs the checks below when your notebook is autograded. The checks
# themselves are not in this notebook; on your own machine these cells only say so.
import os

try:
    from autograder.export.runtime import nbgrader_check as _check
except ModuleNotFoundError:
    if os.environ.get("NBGRADER_EXECUTION") == "autograde":
        raise

    def _check(number):
        print(f"check {number} runs when your notebook is autograded")
"""

EXPERIMENT_GUARD = 'if os.environ.get("NBGRADER_EXECUTION") != "autograde":  # not while grading\n'


def _nbgrader_metadata(
    grade_id: str, *, solution: bool, grade: bool, locked: bool, points: float | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return meta


def hints_as_comments(solution_source: str) -> str:
    """Our ``### HINT:`` lines as plain comments, so nbgrader keeps them for the students."""
    out = []
    for line in solution_source.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("###") and stripped not in (BEGIN, END):
            indent = line[: len(line) - len(line.lstrip())]
            body = stripped.replace(HINT, "# Hint:", 1) if stripped.startswith(HINT) else stripped
            line = indent + ("#" + body[3:] if body.startswith("###") else body) + "\n"
        out.append(line)
    return "".join(out)


def guard_experiment(source: str) -> str:
    """An experiment cell that does nothing while nbgrader autogrades (it trains a model)."""
    import ast

    lines = source.rstrip("\n").split("\n")
    tree = ast.parse(source)
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr) and not _calls(last.value, "main"):  # still show the value
        start, end = last.lineno - 1, last.end_lineno or last.lineno
        expr = "\n".join(lines[start:end])
        lines[start:end] = [f"display({expr})"]
        lines.insert(0, "from IPython.display import display")
    body = "\n".join(("    " + line) if line.strip() else "" for line in lines)
    return "import os\n\n" + EXPERIMENT_GUARD + body + "\n"


def _calls(node: Any, name: str) -> bool:
    import ast

    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name


def _sort_key(check: TestResult) -> list[int]:
    return [int(p) for p in check.number.split(".")]


def test_cell_source(check: TestResult) -> str:
    return (
        f"# Check {check.number} ({check.max_score:g} points): {check.name}\n"
        f'_check("{check.number}")'
    )


def source_notebook(checks: list[TestResult], *, solution_source: str | None = None) -> Any:
    """nbgrader's source notebook: solution regions, the experiment, one test cell per check.

    ``solution_source`` is the solution file's text (default: the reference solution).
    """
    import nbformat

    from autograder.notebook import EXPERIMENT_TAG, notebook_from_source

    if solution_source is None:
        solution_source = SOLUTION_PATH.read_text(encoding="utf-8")
    nb = notebook_from_source(hints_as_comments(solution_source))
    used: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if BEGIN in cell.source:
            match = re.search(r"^(?:def|class)\s+(\w+)", cell.source, re.MULTILINE)
            grade_id = match.group(1) if match else f"answer-{len(used) + 1}"
            used.add(grade_id)
            cell.metadata["nbgrader"] = _nbgrader_metadata(
                grade_id, solution=True, grade=False, locked=False
            )
        elif EXPERIMENT_TAG in cell.metadata.get("tags", []):
            cell.source = guard_experiment(cell.source)
    nb.cells.append(
        nbformat.v4.new_markdown_cell(
            "## Autograded checks\n\n"
            "Each cell below stands for one check of the course's grader and is worth its "
            "points. They run when your notebook is autograded (the checks themselves are not "
            "part of this notebook): make sure that every function above works, then submit.",
            id="markdown-checks",
        )
    )
    grader_cell = nbformat.v4.new_code_cell(GRADER_CELL.rstrip("\n"), id="code-grader")
    grader_cell.metadata = {
        "tags": [GRADER_CELL_TAG],
        "nbgrader": _nbgrader_metadata("grader", solution=False, grade=False, locked=True),
    }
    nb.cells.append(grader_cell)
    for check in sorted(checks, key=_sort_key):
        grade_id = "check-" + check.number.replace(".", "-")
        cell = nbformat.v4.new_code_cell(test_cell_source(check), id=grade_id)
        cell.metadata = {
            "nbgrader": _nbgrader_metadata(
                grade_id, solution=False, grade=True, locked=True, points=float(check.max_score)
            )
        }
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def config_text(*, course_id: str = COURSE_ID, timeout: int = CELL_TIMEOUT_S) -> str:
    return CONFIG_TEMPLATE.format(course_id=course_id, timeout=timeout)


def export_nbgrader(
    *, course_dir: Path, assignment: str = ASSIGNMENT_NAME, force: bool = False
) -> list[Path]:
    """Write (or add this assignment to) the nbgrader course at ``course_dir``."""
    from autograder.grade import check_catalogue
    from autograder.notebook import NOTEBOOK_FILE, notebook_text

    if not re.fullmatch(r"[A-Za-z0-9_\-]+", assignment):
        raise ExportError(f"assignment name {assignment!r}: use letters, digits, '-' and '_'")
    course_dir = Path(course_dir).resolve()
    source_dir = course_dir / "source" / assignment
    if source_dir.exists() and any(source_dir.iterdir()):
        if not force:
            raise ExportError(f"{source_dir} exists: pass --force to replace it")
        shutil.rmtree(source_dir)
    checks = check_catalogue()
    if not checks:
        raise ExportError("the grader has no checks to export")
    nb = source_notebook(checks)
    source_dir.mkdir(parents=True, exist_ok=True)
    written = []
    config = course_dir / "nbgrader_config.py"
    if not config.exists():
        config.write_text(config_text(), encoding="utf-8")
        written.append(config)
    elif "Execute.timeout" not in config.read_text(encoding="utf-8"):
        # an existing course keeps its configuration, plus the cell timeout grading needs
        with config.open("a", encoding="utf-8") as f:
            f.write(
                f"\n# added for {assignment}: grading takes longer than nbgrader's default 30 s\n"
            )
            f.write(f"c.Execute.timeout = {CELL_TIMEOUT_S}\n")
        written.append(config)
    notebook = source_dir / NOTEBOOK_FILE
    notebook.write_text(notebook_text(nb), encoding="utf-8")
    shutil.copy(EXERCISE_UTILS, source_dir / EXERCISE_UTILS.name)
    written += [notebook, source_dir / EXERCISE_UTILS.name]
    return written
