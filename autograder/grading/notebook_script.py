"""From a submitted notebook back to a gradable script.

``notebook_to_script()`` keeps the code cells a student wrote, removes IPython-only syntax
(magics, shell escapes, ``get_ipython()`` calls) and says so in notes for the feedback, and
returns a plain Python module that the grader treats like a ``.py`` submission, with a map back
to the notebook's cells for the feedback (``NotebookScript.translate``). The other direction,
from the solution to the notebooks students get, is ``autograder.authoring.notebooks``.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.grading.gradescope import LEFT_OUT_OF_GRADING, REMOVED_FOR_GRADING
from autograder.sandbox import wording
from autograder.sandbox.names import EXERCISE_FILE, EXERCISE_NOTEBOOK

# Code cells with one of these tags run in Jupyter only, never during grading: jupytext's
# notebook-only cells (the experiment at the end), otter-grader's ignored cells, and the cell of
# the nbgrader edition that imports the checker.
NOTEBOOK_ONLY_TAGS: tuple[str, ...] = ("active-ipynb", "otter_ignore", "bngc-grader")
# Tag that marks the cells which run the experiment (train on Fashion-MNIST, show the figure).
EXPERIMENT_TAG = "active-ipynb"
# Cell magics whose body is ordinary Python that runs once: the body is kept for grading.
_PYTHON_BODY_CELL_MAGICS = ("time", "capture")

# Functions that run the experiment (train on Fashion-MNIST, draw the figure): called at the top
# level of a graded cell, they run every time the notebook is graded.
EXPERIMENT_CALLS: tuple[str, ...] = (
    "main",
    "compare_runs",
    "fashion_mnist_loaders",
    "load_fashion_mnist",
    "prepare_fashion_mnist",
    "plot_runs",
)

NOTEBOOKS_EXTRA = "pip install -e '.[notebooks]'"


class NotebookError(ValueError):
    """The notebook cannot be read or holds no code; the message says what is wrong."""


class NotebookSupportMissing(RuntimeError):
    """The grader's environment lacks the [notebooks] extra (a problem of the grader's setup)."""


def require(module: str) -> Any:
    """Import ``module`` of the [notebooks] extra; ``NotebookSupportMissing`` if not installed."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.split(".")[0]
        if exc.name is None or exc.name.split(".")[0] != top:
            raise  # something inside the package is missing: not ours to explain
        raise NotebookSupportMissing(
            f"notebooks need the grader's [notebooks] extra, and {top} is not installed in "
            f"this environment ({sys.executable}): {NOTEBOOKS_EXTRA}"
        ) from None


# --------------------------------------------------------------------------------------------
# From a submitted notebook back to a script
# --------------------------------------------------------------------------------------------


@dataclass
class NotebookScript:
    """The gradable module extracted from a notebook, and what was changed on the way.

    Cells are named as a student can find them: "code cell K (the one starting with `...`)",
    K counting the notebook's code cells from the top (markdown cells do not count; Jupyter
    shows no cell numbers, and its ``[n]`` execution counts change on every run).
    """

    source: str
    notes: list[str] = field(default_factory=list)
    code_cells: int = 0
    skipped_cells: int = 0
    # line of ``source`` (from 1) -> (code cell number, line in that cell), for the student's code
    line_map: dict[int, tuple[int, int]] = field(default_factory=dict)
    # code cell number -> its first non-blank line, for every code cell of the notebook
    cell_starts: dict[int, str] = field(default_factory=dict)
    # graded code cells that call an experiment function (EXPERIMENT_CALLS) at top level
    experiment_cells: list[int] = field(default_factory=list)
    # names that only cells skipped for grading (tagged active-ipynb, ...) define
    skipped_names: set[str] = field(default_factory=set)

    def locate(self, line: int) -> tuple[int, int] | None:
        """Where line ``line`` of the extracted module comes from: (code cell, line in it)."""
        return self.line_map.get(line)

    def cell_label(self, cell: int) -> str:
        """``code cell K (the one starting with `def clip_gradients(...`)``."""
        start = self.cell_starts.get(cell, "")
        return f"code cell {cell}" + (
            f" (the one starting with `{_short(start, 48)}`)" if start else ""
        )

    def translate(self, text: str, *, notebook: str = EXERCISE_NOTEBOOK) -> str:
        """Feedback about the extracted module, rewritten for the notebook the student sees.

        "line L of batchnorm_gradclip_exercise.py" becomes "line M of code cell K (the one
        starting with ...) of the notebook"; advice for scripts (``if __name__ ==
        '__main__':``) becomes advice for notebooks; an import that failed in a cell that runs
        the experiment, or on a name only a skipped cell defines, says so.
        """
        if not text:
            return text

        def where(match: re.Match[str]) -> str:
            found = self.line_map.get(int(match.group(1)))
            if found is None:
                return match.group(0)
            return f"line {found[1]} of {self.cell_label(found[0])} in {notebook}"

        text = _LINE_REFERENCE.sub(where, text)
        import_failed = bool(_MAIN_GUARD_ADVICE.search(text) or _IMPORT_FAILED.search(text))
        text = _MAIN_GUARD_ADVICE.sub(lambda _: self._experiment_advice(), text, count=1)
        for pattern, words in _SCRIPT_WORDS:
            text = pattern.sub(words, text)
        text = text.replace(EXERCISE_FILE, notebook)
        if import_failed and self.experiment_cells and _EXPERIMENT_ADVICE_MARK not in text:
            text += "\n  " + self._experiment_advice()
        missing = _NAME_ERROR.search(text) if import_failed else None
        if missing and missing.group(1) in self.skipped_names:
            text += (
                f"\n  `{missing.group(1)}` is defined only in a cell that is not graded "
                f"(tagged {' or '.join(NOTEBOOK_ONLY_TAGS[:2])}): a graded cell cannot use it."
            )
        return text

    def _experiment_advice(self) -> str:
        cells = ", ".join(self.cell_label(c) for c in self.experiment_cells)
        which = f"Here: {cells}. " if cells else ""
        return (
            f"{_EXPERIMENT_ADVICE_MARK} (calls main(...) or compare_runs(...), or loads the "
            f"data, at the top level) runs every time the notebook is graded. {which}Give such "
            f"a cell the tag `{EXPERIMENT_TAG}`, as the experiment cells at the end have: "
            "tagged cells are not graded (JupyterLab and Notebook 7: the gear icon in the right "
            "sidebar; classic Notebook: View > Cell Toolbar > Tags). Or remove the cell before "
            "you submit."
        )


_LINE_REFERENCE = re.compile(rf"line (\d+) of {re.escape(EXERCISE_FILE)}")


def _phrase(words: str) -> re.Pattern[str]:
    """``words`` (one of ``autograder.sandbox.wording``'s phrases) as whole words."""
    return re.compile(rf"\b{re.escape(words)}\b")


# The sandbox's advice for a script whose import hangs, and its descriptions of a failed import
_MAIN_GUARD_ADVICE = re.compile(re.escape(wording.MAIN_GUARD_ADVICE) + r"\.?")
_IMPORTING = _phrase(wording.IMPORTING)
_NOT_IMPORTED = _phrase(wording.NOT_IMPORTED)
_IMPORT_FAILED = re.compile(f"{_IMPORTING.pattern}|{_NOT_IMPORTED.pattern}")
# The grader's words for a script, and what they mean for a notebook
_MISSING_NAME = re.escape(wording.MISSING_NAME).replace(re.escape("{name}"), r"(\w+)")
_SCRIPT_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (_IMPORTING, "running your graded code cells"),
    (_NOT_IMPORTED, "your graded code cells could not run"),
    (
        re.compile(rf"\b{_MISSING_NAME}"),
        rf"your graded code cells do not define \1 (did you rename or delete it, or tag its cell"
        rf" {EXPERIMENT_TAG}?)",
    ),
    (_phrase(wording.DOES_YOUR_FILE_CALL), "does your code call"),
    (_phrase(wording.AT_IMPORT_TIME), "when its cells run"),
)
_NAME_ERROR = re.compile(r"NameError\b.*?name '(\w+)' is not defined")
_EXPERIMENT_ADVICE_MARK = "In a notebook, a cell that runs the experiment"


class _Node(dict):
    """A JSON object of a notebook read as plain JSON, with nbformat's attribute access
    (``nb.cells``, ``cell.metadata``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _nodes(value: Any) -> Any:
    if isinstance(value, dict):
        return _Node((k, _nodes(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_nodes(v) for v in value]
    return value


def _plain_v4(data: Any) -> _Node | None:
    """A v4 notebook from its JSON, sources joined into strings; None if not a v4 notebook.

    Reading v4 as JSON spares the grader nbformat's import (its schema validator costs about
    1.7 s); other versions go through nbformat, which converts them.
    """
    if not isinstance(data, dict) or data.get("nbformat") != 4:
        return None
    cells = data.get("cells")
    if isinstance(cells, list):
        for cell in cells:
            if isinstance(cell, dict) and isinstance(cell.get("source"), list):
                parts = cell["source"]
                if all(isinstance(part, str) for part in parts):
                    cell["source"] = "".join(parts)
    return _nodes(data)


def read_notebook(path: str | Path) -> Any:
    """Read and validate an ``.ipynb`` (any v4 minor version); raise ``NotebookError``."""
    path = Path(path)
    unreadable = (
        f"{path.name} is not a readable Jupyter notebook ({{}}); save it again from Jupyter, "
        "or submit the .py file instead"
    )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotebookError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NotebookError(unreadable.format(f"{type(exc).__name__}: {exc}")) from None
    try:
        nb = _plain_v4(json.loads(text))
    except (ValueError, RecursionError) as exc:
        raise NotebookError(unreadable.format(f"{type(exc).__name__}: {exc}")) from None
    if nb is None:  # an older format: nbformat converts it
        nbformat = require("nbformat")
        try:
            nb = nbformat.reads(text, as_version=4)
        except Exception as exc:  # unknown nbformat versions, ...
            raise NotebookError(unreadable.format(f"{type(exc).__name__}: {exc}")) from None
    if not isinstance(nb.get("cells"), list):
        raise NotebookError(f"{path.name} has no list of cells: it is not a Jupyter notebook")
    for number, cell in enumerate(nb.cells, start=1):
        problem = _cell_problem(cell)
        if problem:
            raise NotebookError(
                f"cell {number} of {path.name} is malformed ({problem}); save the notebook "
                "again from Jupyter, or submit the .py file instead"
            )
    return nb


def _cell_problem(cell: Any) -> str:
    """What makes a cell unusable for grading ("" when nothing): the shapes the rest of this
    module reads, which nbformat's reader does not enforce."""
    if not isinstance(cell, dict):
        return "not an object"
    if not isinstance(cell.get("cell_type"), str):
        return "no cell_type"
    if not isinstance(cell.get("source", ""), str):
        return "its source is not text"
    metadata = cell.get("metadata", {})
    if not isinstance(metadata, dict):
        return "its metadata is not an object"
    tags = metadata.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return "its tags are not a list of strings"
    nbgrader = metadata.get("nbgrader", {})
    if not isinstance(nbgrader, dict):
        return "its nbgrader metadata is not an object"
    return ""


def is_graded_code_cell(cell: Any) -> bool:
    """Whether a cell's code belongs to the graded module.

    Not graded: markdown and raw cells, notebook-only cells (``NOTEBOOK_ONLY_TAGS``), and
    nbgrader's read-only test cells (they call the grader; grading them would recurse).
    """
    if cell.get("cell_type") != "code":
        return False
    metadata = cell.get("metadata") or {}
    if set(metadata.get("tags") or ()) & set(NOTEBOOK_ONLY_TAGS):
        return False
    nbg = metadata.get("nbgrader") or {}
    return not (nbg.get("grade") and not nbg.get("solution"))


def notebook_to_script(nb: Any, *, name: str = EXERCISE_NOTEBOOK) -> NotebookScript:
    """The Python module to grade for notebook ``nb`` (an nbformat v4 notebook node).

    Graded code cells are concatenated in order, each under a ``# %% code cell K`` comment (K
    counts the notebook's code cells from 1). IPython-only syntax is replaced by ``pass``
    statements and each removal is reported in ``notes``; ``from __future__`` imports move to
    the top, where Python requires them.
    """
    script = NotebookScript(source="")
    future: list[str] = []
    parts: list[tuple[int, str]] = []  # (code cell number, code with as many lines as the cell)
    uses_display = False
    number = 0
    graded_names: set[str] = set()
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        number += 1
        source = _cell_source(cell)
        script.cell_starts[number] = next(
            (ln.strip() for ln in source.split("\n") if ln.strip()), ""
        )
        if not is_graded_code_cell(cell):
            script.skipped_cells += 1
            script.skipped_names |= _top_level_names(source)
            continue
        script.code_cells += 1
        code, notes = strip_ipython(source, where=script.cell_label(number))
        script.notes.extend(notes)
        code, cell_future = _pop_future_imports(code)
        future.extend(f for f in cell_future if f not in future)
        uses_display = uses_display or _calls_display(code)
        if _calls_experiment(code):
            script.experiment_cells.append(number)
        graded_names |= _top_level_names(code)
        parts.append((number, code.rstrip()))
    if script.code_cells == 0:
        raise NotebookError(f"{name} has no code cells to grade")
    script.skipped_names -= graded_names
    out = [f'"""Code cells of {name}, extracted for grading."""']
    out.extend(future)
    if uses_display:
        out.append(
            "from IPython.display import display  # Jupyter provides display() without import"
        )
    for number, code in parts:
        out += ["", "", f"# %% code cell {number}"]
        for i, line in enumerate(code.split("\n"), start=1):
            out.append(line)
            script.line_map[len(out)] = (number, i)
    script.source = "\n".join(out) + "\n"
    return script


def _parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except SyntaxError:
        return None


def _top_level_statements(tree: ast.AST) -> Iterable[ast.AST]:
    """Every node that runs when the module is imported (not inside a def, class or lambda)."""
    stack = list(ast.iter_child_nodes(tree))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            stack.extend(node.decorator_list if not isinstance(node, ast.Lambda) else ())
            continue
        if isinstance(node, ast.ClassDef):
            stack.extend(node.decorator_list)
            continue  # a class body runs at import, but an experiment call there is unlikely
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _calls_experiment(code: str) -> bool:
    """Whether the cell calls one of ``EXPERIMENT_CALLS`` when it runs (not in a def)."""
    tree = _parse(code)
    if tree is None:
        return False
    for node in _top_level_statements(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if called in EXPERIMENT_CALLS:
                return True
    return False


def _top_level_names(code: str) -> set[str]:
    """The names a cell binds at module level (assignments, defs, classes, imports)."""
    tree = _parse(code)
    if tree is None:
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        else:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.add(sub.id)
    return names


def _cell_source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def strip_ipython(
    source: str, *, where: str = "this cell", first_line: int = 1
) -> tuple[str, list[str]]:
    """Remove IPython-only syntax from one cell; return the plain code and notes about it.

    * a cell magic (``%%bash``, ``%%writefile``, ...) drops the whole cell, except ``%%time``
      and ``%%capture`` whose Python body is kept;
    * line magics (``%time``, ``%matplotlib``), shell escapes (``!pip``, ``x = !ls``), help
      (``obj?``) and explicit ``get_ipython()`` calls become ``pass`` statements.

    A note about what the code may have needed says ``REMOVED_FOR_GRADING``; one about what only
    affects Jupyter (``%matplotlib inline``, ``obj?``, the ``%%time`` line) says
    ``LEFT_OUT_OF_GRADING`` (the summary's could-not-grade hint is keyed on the difference).
    """
    notes: list[str] = []
    first = source.lstrip("\n").split("\n", 1)[0].strip()
    if first.startswith("%%"):
        magic = first[2:].split(maxsplit=1)[0] if len(first) > 2 else ""
        body = source.lstrip("\n").split("\n", 1)[1] if "\n" in source.strip("\n") else ""
        if magic in _PYTHON_BODY_CELL_MAGICS:
            # `%%capture out` binds `out`, which code after the cell may use
            binds = [arg for arg in first.split()[1:] if not arg.startswith("-")]
            if binds:
                notes.append(
                    f"{where}: the cell magic `{_short(first)}` was {REMOVED_FOR_GRADING}; its"
                    f" code was kept, but `{binds[0]}` is not set."
                )
            else:
                notes.append(
                    f"{where}: the cell magic `%%{magic}` was {LEFT_OUT_OF_GRADING}; its code"
                    " was kept."
                )
            code, more = strip_ipython(body, where=where, first_line=first_line + 1)
            return f"# {first}  (removed for grading)\n" + code, notes + more
        notes.append(
            f"{where}: the cell starts with the cell magic `{_short(first)}`, so the whole cell"
            f" was {REMOVED_FOR_GRADING} (only plain Python is graded)."
        )
        return "".join(f"# {line}" for line in source.splitlines(keepends=True)), notes
    if not _may_hold_ipython(source):
        return source, notes
    transformer = require("IPython.core.inputtransformer2").TransformerManager()
    transformed = transformer.transform_cell(source)
    original_lines = source.rstrip("\n").split("\n")
    lines = transformed.rstrip("\n").split("\n")
    same_shape = len(lines) == len(original_lines)
    try:
        spans = _statement_spans_calling_get_ipython(ast.parse(transformed))
    except SyntaxError:
        # The student's own syntax error: keep it for the grader to report, but still take out
        # the lines that are IPython syntax, so that the error shown is the student's own.
        spans = [
            (i, i)
            for i, line in enumerate(lines, start=1)
            if "get_ipython()" in line or re.match(r"\s*[!%]", line)
        ]
    for start, end in sorted(spans, reverse=True):
        shown = original_lines[start - 1] if same_shape else lines[start - 1]
        indent = re.match(r"\s*", lines[start - 1]).group(0)
        removed = [f"{indent}pass  # removed for grading: {_short(shown.strip())}"]
        lines[start - 1 : end] = removed + ["#"] * (end - start)  # keep the line numbers
        if same_shape and start == end and _jupyter_only(shown):
            what = (
                f"that only affects Jupyter (display, settings, help) and was {LEFT_OUT_OF_GRADING}"
            )
        else:
            what = f"(magic, shell command or get_ipython()) and was {REMOVED_FOR_GRADING}"
        where_line = f"{where}, line {start + first_line - 1}"
        notes.append(f"{where_line}: `{_short(shown.strip())}` is IPython syntax {what}.")
    notes.reverse()
    return "\n".join(lines) + "\n", notes


# Line magics that only change how Jupyter shows or loads things, and help (``obj?``): the
# graded code cannot have needed them (their notes get no "may be why" hint in the summary).
_JUPYTER_ONLY_MAGICS = frozenset(
    {"matplotlib", "config", "load_ext", "reload_ext", "autoreload", "precision", "xmode"}
    | {"pprint", "pinfo", "pinfo2", "pdoc", "pdef", "psource", "pfile"}
)
_LINE_MAGIC = re.compile(r"%(\w+)")
_HELP = re.compile(r"[\w.]+\?{1,2}|\?{1,2}[\w.]+")


def _jupyter_only(line: str) -> bool:
    """Whether a removed line, as the student wrote it, is a magic the graded code cannot need.

    ``%matplotlib inline``, ``%config ...``, help (``obj?``): yes. ``%time y = 2`` (it binds
    ``y``), ``%pip install x``, ``x = %config``, ``get_ipython()...`` calls: no.
    """
    line = line.strip()
    magic = _LINE_MAGIC.match(line)
    return (magic is not None and magic.group(1) in _JUPYTER_ONLY_MAGICS) or bool(
        _HELP.fullmatch(line)
    )


_IPYTHON_HINT = re.compile(r"^\s*[%!]|get_ipython|\?\s*$|=\s*[!%]", re.MULTILINE)


def _may_hold_ipython(source: str) -> bool:
    return bool(_IPYTHON_HINT.search(source))


def _statement_spans_calling_get_ipython(tree: ast.AST) -> list[tuple[int, int]]:
    """(first, last) line of each innermost statement that mentions ``get_ipython``."""
    spans: set[tuple[int, int]] = set()

    def visit(node: ast.AST, statement: ast.stmt | None) -> None:
        if isinstance(node, ast.stmt):
            statement = node
        if isinstance(node, ast.Name) and node.id == "get_ipython" and statement is not None:
            spans.add((statement.lineno, statement.end_lineno or statement.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, statement)

    visit(tree, None)
    # keep the innermost statements only (a removed `if` body must not also remove the `if`)
    return [
        span
        for span in spans
        if not any(o != span and span[0] <= o[0] and o[1] <= span[1] for o in spans)
    ]


def _pop_future_imports(code: str) -> tuple[str, list[str]]:
    """Take the ``from __future__ import ...`` lines out of a cell (they must come first)."""
    if "__future__" not in code:
        return code, []
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code, []
    lines = code.split("\n")
    found = []
    for node in reversed(tree.body):
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            found.append(ast.get_source_segment(code, node) or "")
            for i in range(node.lineno - 1, node.end_lineno or node.lineno):
                lines[i] = "# (moved to the top of the module) " + lines[i]
    return "\n".join(lines), [f for f in reversed(found) if f]


def _calls_display(code: str) -> bool:
    """Whether the code calls ``display(...)`` without defining or importing it."""
    if "display" not in code:
        return False
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    called = defined = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            called = called or node.func.id == "display"
        elif isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == "display":
            defined = True
        elif isinstance(node, ast.Import | ast.ImportFrom):
            defined = defined or any((a.asname or a.name) == "display" for a in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined = defined or node.id == "display"
    return called and not defined


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
