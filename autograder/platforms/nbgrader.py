"""``python -m autograder export nbgrader COURSE_DIR``: the assignment as an nbgrader course.

Writes::

    COURSE_DIR/nbgrader_config.py
    COURSE_DIR/source/<assignment>/batchnorm_gradclip_exercise.ipynb
    COURSE_DIR/source/<assignment>/exercise_utils.py

The source notebook is the solution file's notebook edition with nbgrader's metadata: every cell
holding a ``### BEGIN SOLUTION`` region is an autograded-answer cell (nbgrader's own markers, so
``nbgrader generate_assignment`` makes the student version), and a final section holds one
read-only test cell per hidden check, worth our points. A test cell only names its check and
calls ``autograder.platforms.runtime.nbgrader_check("<number>")``: the first one grades the
submitted notebook once with our isolated grader, each cell then prints that check's feedback and
returns its score, which nbgrader reads as the cell's (partial) credit. The bonus checks' cells
are worth 0 points and their points become nbgrader's extra credit (``nbgrader_extra_credit``,
enabled by the exported configuration), so that nbgrader's maximum is 100, as on GitHub. The
checks' source never enters the notebook or the feedback; the grader must be installed where
notebooks are autograded (not in the students' environment).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from autograder.authoring.template import BEGIN, END, HINT
from autograder.grading.results import BONUS_TAG, TestResult, check_order
from autograder.paths import SOLUTION_PATH
from autograder.platforms.otter import EXERCISE_UTILS, ExportError, copy_public_tests

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
{extra_credit}"""

# The bonus checks' points as extra credit (0-point cells; the maximum stays 100).
EXTRA_CREDIT_PREPROCESSOR = "autograder.platforms.nbgrader_extra_credit.SaveExtraCredit"
EXTRA_CREDIT_CONFIG = f"""\
# The bonus checks are extra credit: their cells are worth 0 points (the maximum is the
# regular checks' 100) and this records the points they earned as nbgrader's extra credit.
c.Autograde.autograde_preprocessors.append({EXTRA_CREDIT_PREPROCESSOR!r})
"""

GRADER_CELL = """\
# The course's grader runs the checks below when your notebook is autograded. The checks
# themselves are not in this notebook; on your own machine these cells only say so.
import os

try:
    from autograder.platforms.runtime import nbgrader_check as _check
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
    shows_itself = any(_calls(last.value, name) for name in ("main", "check")) if last else True
    if isinstance(last, ast.Expr) and not shows_itself:  # still show the value
        start, end = last.lineno - 1, last.end_lineno or last.lineno
        expr = "\n".join(lines[start:end])
        lines[start:end] = [f"display({expr})"]
        lines.insert(0, "from IPython.display import display")
    body = "\n".join(("    " + line) if line.strip() else "" for line in lines)
    return "import os\n\n" + EXPERIMENT_GUARD + body + "\n"


def _calls(node: Any, name: str) -> bool:
    import ast

    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name


def test_cell_source(check: TestResult) -> str:
    worth = (
        f"extra credit, up to {check.max_score:g} points"
        if check.tag == BONUS_TAG
        else f"{check.max_score:g} points"
    )
    return f'# Check {check.number} ({worth}): {check.name}\n_check("{check.number}")'


def cell_points(check: TestResult) -> float:
    """What nbgrader counts a check's cell as worth: its points, 0 for a bonus check (its
    points are extra credit, see the module docstring)."""
    return 0.0 if check.tag == BONUS_TAG else float(check.max_score)


def source_notebook(checks: list[TestResult], *, solution_source: str | None = None) -> Any:
    """nbgrader's source notebook: solution regions, the experiment, one test cell per check.

    ``solution_source`` is the solution file's text (default: the reference solution).
    """
    from autograder.authoring.notebooks import notebook_from_source
    from autograder.grading.notebook_script import EXPERIMENT_TAG, require

    nbformat = require("nbformat")

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
    for check in sorted(checks, key=lambda c: check_order(c.tag, c.number)):
        grade_id = "check-" + check.number.replace(".", "-")
        cell = nbformat.v4.new_code_cell(test_cell_source(check), id=grade_id)
        cell.metadata = {
            "nbgrader": _nbgrader_metadata(
                grade_id, solution=False, grade=True, locked=True, points=cell_points(check)
            )
        }
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def config_text(*, course_id: str = COURSE_ID, timeout: int = CELL_TIMEOUT_S) -> str:
    return CONFIG_TEMPLATE.format(
        course_id=course_id, timeout=timeout, extra_credit="\n" + EXTRA_CREDIT_CONFIG
    )


# The classes whose ``timeout`` nbgrader's autograde cell execution takes, most specific first
# (traitlets applies a parent class's setting to ``Execute`` unless ``Execute`` has its own).
_TIMEOUT_CLASSES = ("Execute", "ExecutePreprocessor", "NotebookClient")


def configured_timeout(config_source: str) -> tuple[bool, object]:
    """The cell timeout an nbgrader config sets: ``(found, value)``.

    Reads the file's statements without running it: comments, such as the commented default
    ``# c.Execute.timeout = 30`` that ``nbgrader generate_config`` and ``quickstart`` write, do
    not count. ``value`` is the assigned literal (an int; ``None`` or ``-1`` mean no limit), or
    the source text of an expression that is not a literal. The last assignment to the most
    specific class wins, as in traitlets. Raises ``ExportError`` when the file is not Python.
    """
    import ast

    try:
        tree = ast.parse(config_source)
    except SyntaxError as exc:
        raise ExportError(
            f"nbgrader_config.py is not valid Python (line {exc.lineno}: {exc.msg}): fix it, "
            "then export again (nothing was written)"
        ) from None
    found: dict[str, tuple[int, object]] = {}  # class -> (line, value) of its last assignment
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets, value_node = node.targets, node.value
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and node.value is not None:
            targets, value_node = [node.target], node.value
        else:
            continue
        for target in targets:
            owner = target.value if isinstance(target, ast.Attribute) else None
            if not (
                isinstance(owner, ast.Attribute)
                and target.attr == "timeout"
                and owner.attr in _TIMEOUT_CLASSES
                and isinstance(owner.value, ast.Name)
                and owner.value.id == "c"
            ):
                continue
            try:
                value = ast.literal_eval(value_node)
            except ValueError:
                value = ast.unparse(value_node)
            if isinstance(node, ast.AugAssign):
                value = ast.unparse(node)  # relative to a value we do not know
            if node.lineno >= found.get(owner.attr, (0, None))[0]:
                found[owner.attr] = (node.lineno, value)
    for name in _TIMEOUT_CLASSES:
        if name in found:
            return True, found[name][1]
    return False, None


def config_addition(config_source: str, *, assignment: str) -> str:
    """What to append to an existing course's config: the cell timeout grading needs, and the
    extra credit of the bonus checks.

    No timeout when the config already allows ``CELL_TIMEOUT_S`` or more, no limit, or a value
    we cannot read (an expression: the instructor's decision); no extra credit line when the
    config already names our preprocessor.
    """
    addition = ""
    found, value = configured_timeout(config_source)
    enough = found and (
        value is None
        or isinstance(value, str)
        or (isinstance(value, int | float) and (value <= 0 or value >= CELL_TIMEOUT_S))
    )
    if not enough:
        was = f"it was {value!r}" if found else "nbgrader's default is 30 s"
        addition += (
            f"\n# added for {assignment}: its first test cell grades the whole notebook (10-60 "
            f"s, more on a busy machine); {was}\n"
            f"c.Execute.timeout = {CELL_TIMEOUT_S}\n"
        )
    if EXTRA_CREDIT_PREPROCESSOR not in config_source:
        addition += f"\n# added for {assignment}\n" + EXTRA_CREDIT_CONFIG
    return addition


def export_nbgrader(
    *, course_dir: Path, assignment: str = ASSIGNMENT_NAME, force: bool = False
) -> list[Path]:
    """Write (or add this assignment to) the nbgrader course at ``course_dir``."""
    from autograder.authoring.notebooks import notebook_text
    from autograder.grading.runner import check_catalogue
    from autograder.sandbox.names import EXERCISE_NOTEBOOK

    if not re.fullmatch(r"[A-Za-z0-9_\-]+", assignment):
        raise ExportError(f"assignment name {assignment!r}: use letters, digits, '-' and '_'")
    course_dir = Path(course_dir).resolve()
    source_dir = course_dir / "source" / assignment
    if source_dir.exists() and any(source_dir.iterdir()) and not force:
        raise ExportError(f"{source_dir} exists: pass --force to replace it")
    config = course_dir / "nbgrader_config.py"
    # an existing course keeps its configuration, plus the cell timeout grading needs; read it
    # before anything is written or replaced, so that a broken one loses nothing
    addition = ""
    if config.exists():
        addition = config_addition(config.read_text(encoding="utf-8"), assignment=assignment)
    checks = check_catalogue()
    if not checks:
        raise ExportError("the grader has no checks to export")
    nb = source_notebook(checks)
    if source_dir.exists() and any(source_dir.iterdir()):
        shutil.rmtree(source_dir)  # --force (checked above)
    source_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if not config.exists():
        config.write_text(config_text(), encoding="utf-8")
        written.append(config)
    elif addition:
        with config.open("a", encoding="utf-8") as f:
            f.write(addition)
        written.append(config)
    notebook = source_dir / EXERCISE_NOTEBOOK
    notebook.write_text(notebook_text(nb), encoding="utf-8")
    shutil.copy(EXERCISE_UTILS, source_dir / EXERCISE_UTILS.name)
    written += [notebook, source_dir / EXERCISE_UTILS.name, *copy_public_tests(source_dir)]
    return written
