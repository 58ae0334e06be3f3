"""The notebook edition: generated from the solution, current, runnable, and gradable as a .py."""

from __future__ import annotations

import ast
import json
import os
import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="notebook support needs the [notebooks] extra")
pytest.importorskip("jupytext", reason="notebook support needs the [notebooks] extra")

from autograder.notebook import (  # noqa: E402
    EXPERIMENT_TAG,
    REFERENCE_NOTEBOOK_PATH,
    STUDENT_NOTEBOOK_PATH,
    notebook_to_script,
    read_notebook,
    stale_notebooks,
    strip_ipython,
)
from autograder.paths import ASSIGNMENT_DIR, SOLUTION_PATH, TEMPLATE_PATH  # noqa: E402
from autograder.submission import (  # noqa: E402
    SubmissionNotFound,
    prepared_submission,
    resolve_submission,
)

GRADED_NAMES = (
    "add_batchnorm",
    "compute_grad_norm",
    "clip_gradients",
    "compare_runs",
    "ManualBatchNorm1d",
    "make_mlp",
    "main",
)


def _definitions(source: str) -> dict[str, str]:
    """Top-level function/class name -> its AST dump (comments and layout do not count)."""
    tree = ast.parse(source)
    return {
        node.name: ast.dump(node)
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.ClassDef)
    }


def test_committed_notebooks_are_current():
    stale = stale_notebooks()
    assert not stale, (
        f"{[str(p) for p in stale]} differ from the solution file: run "
        "`python -m autograder export notebooks` and commit the result"
    )


def test_notebooks_have_narrative_and_the_experiment_cells():
    for path in (STUDENT_NOTEBOOK_PATH, REFERENCE_NOTEBOOK_PATH):
        nb = read_notebook(path)
        nbformat.validate(nb)
        kinds = [c.cell_type for c in nb.cells]
        assert kinds.count("markdown") >= 6, f"{path.name}: the lesson's narrative is missing"
        experiment = [c for c in nb.cells if EXPERIMENT_TAG in c.metadata.get("tags", [])]
        assert any("main([" in c.source for c in experiment), "no cell runs the experiment"
        assert any("Image(" in c.source for c in experiment), "no cell shows the figure inline"
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
        assert "__name__" not in "".join(c.source for c in nb.cells if c.cell_type == "raw")


def test_student_notebook_holds_no_solution_and_reference_no_markers():
    student = "".join(c.source for c in read_notebook(STUDENT_NOTEBOOK_PATH).cells)
    reference = "".join(c.source for c in read_notebook(REFERENCE_NOTEBOOK_PATH).cells)
    for marker in ("### BEGIN SOLUTION", "### END SOLUTION", "### HINT"):
        assert marker not in student and marker not in reference
    assert student.count("raise NotImplementedError(") >= 6
    assert "torch.linalg.vector_norm(per_tensor" in reference
    assert "torch.linalg.vector_norm(per_tensor" not in student


@pytest.mark.parametrize(
    ("notebook", "script"),
    [(REFERENCE_NOTEBOOK_PATH, SOLUTION_PATH), (STUDENT_NOTEBOOK_PATH, TEMPLATE_PATH)],
    ids=["reference", "template"],
)
def test_extracted_script_defines_what_the_py_defines(notebook: Path, script: Path):
    extracted = notebook_to_script(read_notebook(notebook))
    assert extracted.notes == []
    ours, theirs = _definitions(extracted.source), _definitions(script.read_text())
    for name in GRADED_NAMES:
        assert ours[name] == theirs[name], f"{name} differs between {notebook.name} and the .py"
    # the experiment cells are not part of the graded module
    assert "__file__ =" not in extracted.source and "Image(" not in extracted.source
    assert extracted.skipped_cells == 2
    compile(extracted.source, "extracted.py", "exec")


def test_magics_and_shell_escapes_are_stripped_with_notes():
    code, notes = strip_ipython("import torch\n!pip install torch\nx = 1\n%time y = 2\n")
    assert "pip" not in code.replace("# removed for grading: !pip install torch", "")
    assert code.splitlines()[0] == "import torch" and "x = 1" in code
    assert len(notes) == 2 and "line 2" in notes[0] and "line 4" in notes[1]
    compile(code, "cell", "exec")

    code, notes = strip_ipython("if True:\n    files = !ls\n    print(files)\n")
    assert code.splitlines()[1].strip().startswith("pass") and "print(files)" in code
    compile(code, "cell", "exec")

    code, notes = strip_ipython("%%bash\nrm -rf /\n", where="cell 7")
    assert code == "# %%bash\n# rm -rf /\n" and "cell 7" in notes[0] and "%%bash" in notes[0]

    code, notes = strip_ipython("%%time\nz = 3\nw = z + 1\n")
    assert "z = 3" in code and "w = z + 1" in code and "%%time" in notes[0]

    code, notes = strip_ipython("get_ipython().run_line_magic('matplotlib', 'inline')\nq = 1\n")
    assert "q = 1" in code and "get_ipython" in notes[0]
    compile(code, "cell", "exec")

    plain = "def f(a):\n    return a % 2  # 100% plain Python\n"
    assert strip_ipython(plain) == (plain, [])


def test_notebook_submission_with_magics_grades_the_rest(tmp_path: Path):
    nb = read_notebook(REFERENCE_NOTEBOOK_PATH)
    nb.cells.insert(1, nbformat.v4.new_code_cell("%matplotlib inline\n!pip install torch"))
    nb.cells.append(nbformat.v4.new_code_cell("%%bash\necho hi"))
    nb.cells.append(nbformat.v4.new_code_cell("display(add_batchnorm(make_mlp()))"))
    path = tmp_path / "batchnorm_gradclip_exercise.ipynb"
    nbformat.write(nb, path)
    with prepared_submission(tmp_path) as prepared:
        assert prepared.is_notebook and prepared.original == path
        assert prepared.path.name == "batchnorm_gradclip_exercise.py"
        source = prepared.path.read_text()
        notes = " ".join(prepared.notes)
        namespace: dict = {"__name__": "submission"}
        exec(compile(source, str(prepared.path), "exec"), namespace)
    assert not prepared.path.exists(), "the temporary script must be removed on exit"
    assert "%matplotlib" in notes and "!pip install torch" in notes and "%%bash" in notes
    assert callable(namespace["compute_grad_norm"]) and callable(namespace["add_batchnorm"])


def test_directory_resolution(tmp_path: Path):
    shutil.copy(REFERENCE_NOTEBOOK_PATH, tmp_path)
    with pytest.raises(SubmissionNotFound, match="notebook"):
        resolve_submission(tmp_path)
    shutil.copy(SOLUTION_PATH, tmp_path)
    assert resolve_submission(tmp_path) == tmp_path / SOLUTION_PATH.name
    with prepared_submission(tmp_path) as prepared:
        assert prepared.path == tmp_path / SOLUTION_PATH.name and not prepared.is_notebook
        assert "graded the .py" in prepared.notes[0]
    with prepared_submission(tmp_path / SOLUTION_PATH.name) as prepared:
        assert prepared.notes == ()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a readable Jupyter notebook"),
        (json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), "no code"),
        (json.dumps({"nbformat": 99}), "not a readable Jupyter notebook"),
    ],
    ids=["not-json", "no-code-cells", "unknown-version"],
)
def test_broken_notebook_is_a_clear_error(tmp_path: Path, content: str, message: str):
    path = tmp_path / "batchnorm_gradclip_exercise.ipynb"
    path.write_text(content)
    with pytest.raises(SubmissionNotFound, match=message), prepared_submission(path):
        pass
    assert path.read_text() == content, "the submission must be left as it was"


def _fashion_mnist_available() -> bool:
    try:
        import sys

        sys.path.insert(0, str(ASSIGNMENT_DIR))
        from exercise_utils import DEBIAN_DIR
    except Exception:
        return False
    return DEBIAN_DIR.is_dir() or bool(os.environ.get("FASHION_MNIST_ROOT"))


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(not _fashion_mnist_available(), reason="Fashion-MNIST is not on this machine")
def test_reference_notebook_runs_top_to_bottom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    nbclient = pytest.importorskip("nbclient")
    shutil.copy(REFERENCE_NOTEBOOK_PATH, tmp_path)
    shutil.copy(ASSIGNMENT_DIR / "exercise_utils.py", tmp_path)
    nb = read_notebook(tmp_path / REFERENCE_NOTEBOOK_PATH.name)
    monkeypatch.setenv("FASHION_MNIST_ROOT", str(tmp_path / "data"))  # the kernel inherits it
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "baseline" in text and "regularized" in text and "figure saved to" in text
    images = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    assert images, "the figure is not shown inline"
    assert (tmp_path / "runs.png").stat().st_size > 10_000


def test_feedback_line_numbers_point_into_the_notebook(tmp_path: Path):
    nb = read_notebook(REFERENCE_NOTEBOOK_PATH)
    nb.cells.insert(1, nbformat.v4.new_code_cell("from __future__ import annotations\n%time x = 1"))
    path = tmp_path / "batchnorm_gradclip_exercise.ipynb"
    nbformat.write(nb, path)
    with prepared_submission(path) as prepared:
        lines = prepared.path.read_text().splitlines()
    # the cell numbers Jupyter shows: markdown-01 is cell 1, the new cell 2, the imports cell 3
    target = next(i for i, line in enumerate(lines, 1) if line.startswith("def add_batchnorm"))
    cell_lines = nb.cells[4].source.splitlines()
    assert cell_lines[0].startswith("def add_batchnorm")
    message = f"at line {target} of batchnorm_gradclip_exercise.py: def add_batchnorm"
    assert prepared.translate(message) == (
        "at cell 5, line 1 of batchnorm_gradclip_exercise.ipynb: def add_batchnorm"
    )
    assert prepared.translate("line 1 of other.py") == "line 1 of other.py"
    # line numbers inside a cell survive removed magics and moved __future__ imports
    cell2 = [i for i, line in enumerate(lines, 1) if prepared.line_map.get(i, (0, 0))[0] == 2]
    assert [prepared.line_map[i][1] for i in cell2] == [1, 2]
    assert lines[0].startswith('"""') and lines[1] == "from __future__ import annotations"


def test_export_notebooks_command(capsys: pytest.CaptureFixture[str]):
    from autograder.cli import main

    assert main(["export", "notebooks", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out
