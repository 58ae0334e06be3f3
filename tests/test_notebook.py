"""The notebook edition: generated from the solution, current, runnable, and gradable as a .py."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="notebook support needs the [notebooks] extra")
pytest.importorskip("jupytext", reason="notebook support needs the [notebooks] extra")

from autograder.authoring.notebooks import (  # noqa: E402
    REFERENCE_NOTEBOOK_PATH,
    STUDENT_NOTEBOOK_PATH,
    stale_notebooks,
)
from autograder.grading.data import exercise_utils  # noqa: E402
from autograder.grading.notebook_script import (  # noqa: E402
    EXPERIMENT_TAG,
    NotebookSupportMissing,
    notebook_to_script,
    read_notebook,
    strip_ipython,
)
from autograder.grading.submission import (  # noqa: E402
    SubmissionNotFound,
    find_submission,
    prepared_submission,
)
from autograder.paths import ASSIGNMENT_DIR, REPO_ROOT, SOLUTION_PATH, TEMPLATE_PATH  # noqa: E402

CHECKED_NAMES = tuple(exercise_utils().CHECKED_NAMES)  # check("...") accepts these
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


def test_stale_check_flags_a_changed_solution(tmp_path: Path):
    """Edits of the solution file make the committed notebooks stale (the check can fail)."""
    text = SOLUTION_PATH.read_text(encoding="utf-8")
    narrative = "# ## Run the experiment\n"
    solution_only = "    return torch.linalg.vector_norm(per_tensor, ord=norm_type).item()\n"
    assert text.count(narrative) == 1 and text.count(solution_only) == 1
    solution = tmp_path / SOLUTION_PATH.name

    solution.write_text(text, encoding="utf-8")
    assert stale_notebooks(solution=solution) == []

    # a markdown cell: both notebooks carry the narrative
    solution.write_text(text.replace(narrative, "# ## Run the experiment now\n"), "utf-8")
    assert stale_notebooks(solution=solution) == [STUDENT_NOTEBOOK_PATH, REFERENCE_NOTEBOOK_PATH]

    # a line of a solution block: only the reference notebook holds it
    changed = solution_only.replace(".item()", ".item()  # the total norm")
    solution.write_text(text.replace(solution_only, changed), "utf-8")
    assert stale_notebooks(solution=solution) == [REFERENCE_NOTEBOOK_PATH]


def test_notebooks_have_narrative_and_the_experiment_cells():
    for path in (STUDENT_NOTEBOOK_PATH, REFERENCE_NOTEBOOK_PATH):
        nb = read_notebook(path)
        nbformat.validate(nb)
        kinds = [c.cell_type for c in nb.cells]
        assert kinds.count("markdown") >= 6, f"{path.name}: the lesson's narrative is missing"
        experiment = [c for c in nb.cells if EXPERIMENT_TAG in c.metadata.get("tags", [])]
        assert any("main([" in c.source for c in experiment), "no cell runs the experiment"
        assert any("Image(" in c.source for c in experiment), "no cell shows the figure inline"
        checks = [c.source.splitlines()[-1] for c in experiment if "check(" in c.source]
        assert checks == [f'check("{name}")' for name in CHECKED_NAMES], "a check cell is missing"
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
    assert "check(" not in extracted.source
    # two runs of the experiment with their figures, and one check(...) cell per function
    assert extracted.skipped_cells == 4 + len(CHECKED_NAMES)
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
    assert find_submission(tmp_path) == tmp_path / REFERENCE_NOTEBOOK_PATH.name
    shutil.copy(SOLUTION_PATH, tmp_path)
    assert find_submission(tmp_path) == tmp_path / SOLUTION_PATH.name
    with prepared_submission(tmp_path / SOLUTION_PATH.name) as prepared:
        assert prepared.path == tmp_path / SOLUTION_PATH.name and not prepared.is_notebook
        assert prepared.notes == ()
    (tmp_path / SOLUTION_PATH.name).unlink()
    (tmp_path / REFERENCE_NOTEBOOK_PATH.name).unlink()
    with pytest.raises(SubmissionNotFound, match=r"no batchnorm_gradclip_exercise\.py \(or"):
        find_submission(tmp_path)
    with pytest.raises(SubmissionNotFound, match="does not exist"):
        find_submission(tmp_path / "missing")


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


def _notebook_data_root(tmp_path: Path) -> Path:
    """The Fashion-MNIST root the notebook will use, prepared; skip when there is none.

    ``$FASHION_MNIST_ROOT`` when set (the kernel inherits it), else ``tmp_path/data`` filled from
    Debian's dataset-fashion-mnist: the skip condition is the data the notebook then reads.
    """
    sys.path.insert(0, str(ASSIGNMENT_DIR))
    try:
        import exercise_utils
    finally:
        sys.path.remove(str(ASSIGNMENT_DIR))
    root = Path(os.environ.get("FASHION_MNIST_ROOT") or tmp_path / "data")
    try:
        return exercise_utils.prepare_fashion_mnist(root, download=False)
    except exercise_utils.FashionMNISTUnavailable as exc:
        pytest.skip(f"Fashion-MNIST is not on this machine: {exc}")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_reference_notebook_runs_top_to_bottom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    nbclient = pytest.importorskip("nbclient")
    root = _notebook_data_root(tmp_path)
    shutil.copy(REFERENCE_NOTEBOOK_PATH, tmp_path)
    shutil.copy(ASSIGNMENT_DIR / "exercise_utils.py", tmp_path)
    shutil.copytree(ASSIGNMENT_DIR / "tests", tmp_path / "tests")  # check() runs them
    nb = read_notebook(tmp_path / REFERENCE_NOTEBOOK_PATH.name)
    monkeypatch.setenv("FASHION_MNIST_ROOT", str(root))  # the kernel inherits it
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "baseline" in text and "regularized" in text and "figure saved to" in text
    assert "the baseline run diverged" in text, "the unstable preset did not make it diverge"
    passed = re.findall(r"^(\w+): (\d+) of (\d+) public tests passed$", text, re.MULTILINE)
    assert [name for name, _, _ in passed] == list(CHECKED_NAMES), text[-3000:]
    assert all(ok == total for _, ok, total in passed), "a check cell reports a failed test"
    images = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    assert len(images) == 2, "the two figures are not shown inline"
    for folder in ("runs", "runs_unstable"):
        assert (tmp_path / folder / "runs.png").stat().st_size > 10_000
        assert set(json.loads((tmp_path / folder / "metrics.json").read_text())) == {
            "max_norm",
            "baseline",
            "regularized",
        }


def test_feedback_line_numbers_point_into_the_notebook(tmp_path: Path):
    nb = read_notebook(REFERENCE_NOTEBOOK_PATH)
    nb.cells.insert(1, nbformat.v4.new_code_cell("from __future__ import annotations\n%time x = 1"))
    path = tmp_path / "batchnorm_gradclip_exercise.ipynb"
    nbformat.write(nb, path)
    with prepared_submission(path) as prepared:
        lines = prepared.path.read_text().splitlines()
    # code cells count from the top, markdown cells do not: the new cell (after the title) is
    # code cell 1, the imports code cell 2, add_batchnorm code cell 3
    target = next(i for i, line in enumerate(lines, 1) if line.startswith("def add_batchnorm"))
    assert nb.cells[4].source.startswith("def add_batchnorm")
    assert [c.cell_type for c in nb.cells[:5]].count("code") == 3
    message = f"at line {target + 2} of batchnorm_gradclip_exercise.py: model = copy.deepcopy"
    assert prepared.translate(message) == (
        "at line 3 of code cell 3 (the one starting with `def add_batchnorm(model: nn.Sequential)"
        " -> nn.S…`) in batchnorm_gradclip_exercise.ipynb: model = copy.deepcopy"
    )
    assert prepared.translate("line 1 of other.py") == "line 1 of other.py"
    assert "code cell 1 (the one starting with `from __future__ import annotations`), line 2" in (
        " ".join(prepared.notes)
    )
    # line numbers inside a cell survive removed magics and moved __future__ imports
    script = prepared.script
    new = [i for i, line in enumerate(lines, 1) if script.locate(i) and script.locate(i)[0] == 1]
    assert [script.locate(i)[1] for i in new] == [1, 2]
    assert lines[0].startswith('"""') and lines[1] == "from __future__ import annotations"
    # the .py is translated as it is
    with prepared_submission(SOLUTION_PATH) as plain:
        assert plain.translate(message) == message


def _notebook_with(cells: list[str], *, at: int | None = None):
    nb = read_notebook(REFERENCE_NOTEBOOK_PATH)
    for i, source in enumerate(cells):
        cell = nbformat.v4.new_code_cell(source)
        if at is None:
            nb.cells.append(cell)
        else:
            nb.cells.insert(at + i, cell)
    return nb


def test_experiment_cells_get_notebook_advice_not_script_advice():
    """A graded cell that runs the experiment: advice to tag it, never `if __name__ == ...`."""
    import types

    from autograder.grading.plugin import not_imported_feedback
    from autograder.sandbox import probes, wording
    from autograder.sandbox.client import StudentCodeError, SubmissionDoesNotImport

    nb = _notebook_with(
        [
            "histories = compare_runs(make_mlp, train_loader, val_loader)",
            "def later():\n    main([])  # inside a function: runs only when called",
            "print(Image)",
        ]
    )
    script = notebook_to_script(nb)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert script.experiment_cells == [len(code_cells) - 2]
    assert "Image" in script.skipped_names and "compare_runs" not in script.skipped_names
    # what the sandbox says when importing a script hangs (autograder/sandbox/client.py)
    hang = str(
        SubmissionDoesNotImport({"type": "TimeoutError", "message": wording.import_timed_out(80)})
    )
    said = script.translate(hang)
    assert "__name__" not in said and "import time" not in said
    assert f"`{EXPERIMENT_TAG}`" in said and "code cell" in said
    assert "the one starting with `histories = compare_runs(make_mlp" in said
    assert "your file" not in said
    crashed = str(
        SubmissionDoesNotImport({"type": "NameError", "message": "name 'Image' is not defined"})
    )
    said = script.translate(crashed)
    assert "while running your graded code cells" in said
    assert "`Image` is defined only in a cell that is not graded" in said
    ended = {"type": "ProcessEnded", "message": wording.process_ended(3)}
    said = script.translate(str(SubmissionDoesNotImport(ended)))
    assert "does your code call sys.exit" in said and "when its cells run?" in said
    assert "your file" not in said and "import time" not in said
    # the grader's other words for a script: what every check says (autograder/plugin.py), ...
    helpers = {"type": "ModuleNotFoundError", "message": "No module named 'helpers'"}
    said = script.translate(not_imported_feedback(SubmissionDoesNotImport(helpers)))
    assert said.startswith("Not run: your graded code cells could not run.")
    assert "only batchnorm_gradclip_exercise.ipynb is graded" in said and "your file" not in said
    said = script.translate("Only batchnorm_gradclip_exercise.py is graded.")  # wherever it is
    assert "Only batchnorm_gradclip_exercise.ipynb is graded." in said
    # ... and what a probe says of a missing name (autograder/sandbox/probes.py)
    with pytest.raises(probes.MissingName) as missing:
        probes.student(types.SimpleNamespace(), "clip_gradients")
    said = script.translate(str(missing.value))
    assert f"or tag its cell {EXPERIMENT_TAG}?" in said and "your file" not in said
    error = {"type": "MissingName", "message": str(missing.value)}
    said = script.translate(str(StudentCodeError("clip_gradients", error)))
    assert "your graded code cells do not define clip_gradients" in said
    # feedback that has nothing to do with importing is left alone
    assert script.translate("expected 4.0, got 5.0") == "expected 4.0, got 5.0"
    # without an experiment cell, the advice is still about notebooks
    plain = notebook_to_script(read_notebook(REFERENCE_NOTEBOOK_PATH))
    assert plain.experiment_cells == []
    said = plain.translate(hang)
    assert "__name__" not in said and f"`{EXPERIMENT_TAG}`" in said and "Here:" not in said


def _with_a_magic(source: Path, path: Path) -> None:
    """Copy notebook ``source`` to ``path`` with an IPython line magic in its first code cell."""
    nb = json.loads(source.read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    cell["source"] = "%matplotlib inline\n" + text
    path.write_text(json.dumps(nb), encoding="utf-8")


def test_without_the_notebooks_extra_grading_a_notebook_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A v4 notebook of plain Python needs no extra (it is read as JSON); IPython syntax needs
    IPython, and a grader without it says what to install."""
    for name in ("nbformat", "IPython", "IPython.core.inputtransformer2"):
        monkeypatch.setitem(sys.modules, name, None)  # `import ...` fails
    path = tmp_path / "batchnorm_gradclip_exercise.ipynb"
    shutil.copy(REFERENCE_NOTEBOOK_PATH, path)
    with prepared_submission(path) as prepared:
        assert "def add_batchnorm" in prepared.path.read_text()
    _with_a_magic(REFERENCE_NOTEBOOK_PATH, path)
    missing = pytest.raises(NotebookSupportMissing, match=r"pip install -e '\.\[notebooks\]'")
    with missing, prepared_submission(path):
        pass
    # a .py needs no extra
    with prepared_submission(SOLUTION_PATH) as prepared:
        assert prepared.path == SOLUTION_PATH


def test_grade_without_the_notebooks_extra_is_a_grader_error(tmp_path: Path):
    """`autograder grade x.ipynb` where nbformat is missing: exit 1, a message, a results file."""
    path = tmp_path / "batchnorm_gradclip_exercise.ipynb"
    _with_a_magic(REFERENCE_NOTEBOOK_PATH, path)
    out = tmp_path / "results.json"
    code = (
        "import sys; sys.modules['IPython'] = None\n"
        "from autograder.cli import main\n"
        f"sys.exit(main(['grade', {str(path)!r}, '--out', {str(out)!r}, '--quiet']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "pip install -e '.[notebooks]'" in proc.stderr
    assert "ModuleNotFoundError" not in proc.stderr
    data = json.loads(out.read_text())
    assert data["extra_data"]["grading_status"] == "grader_error"
    assert "[notebooks]" in data["extra_data"]["reason"]
    assert "not your fault" in data["output"]


def test_export_notebooks_without_jupytext_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    from autograder.cli import main

    before = {p: p.read_bytes() for p in (STUDENT_NOTEBOOK_PATH, REFERENCE_NOTEBOOK_PATH)}
    monkeypatch.setitem(sys.modules, "jupytext", None)
    assert main(["export", "notebooks"]) == 2
    said = capsys.readouterr()
    assert said.out == ""
    assert "export notebooks: error:" in said.err and "pip install -e '.[notebooks]'" in said.err
    assert {p: p.read_bytes() for p in before} == before, "nothing may be written"


def test_export_notebooks_command(capsys: pytest.CaptureFixture[str]):
    from autograder.cli import main

    assert main(["export", "notebooks", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def _squash(text: str) -> str:
    return " ".join(text.split())


def test_analysis_questions_are_the_same_in_the_notebook_readme_and_answers():
    """One list of questions; ANSWERS.md and the notebook's answer cells have one place per
    question, in the format the answers are collected by (docs/experiment.md)."""
    question = re.compile(r"\*\*(Q\d+)\. (.+?)\.\*\* (.+)", re.DOTALL)
    cells = [c for c in read_notebook(STUDENT_NOTEBOOK_PATH).cells if c.cell_type == "markdown"]
    in_notebook, answer_cells = {}, []
    for cell, following in zip(cells, [*cells[1:], None], strict=True):
        m = question.fullmatch(cell.source.strip())
        if m:
            in_notebook[m.group(1)] = (m.group(2), _squash(m.group(3)))
            answer_cells.append(following)
    assert list(in_notebook) == ["Q1", "Q2", "Q3", "Q4", "Q5"]
    for number, cell in zip(in_notebook, answer_cells, strict=True):
        assert cell is not None and "answer" in cell.metadata.get("tags", []), number
        assert cell.source.splitlines()[0] == f"**Answer {number}.**", number

    readme = (ASSIGNMENT_DIR / "README.md").read_text(encoding="utf-8")
    in_readme = {
        m.group(1): (m.group(2), _squash(m.group(3)))
        for m in re.finditer(r"^\*\*(Q\d+)\. (.+?)\.\*\* (.+?)(?:\n\n|\Z)", readme, re.M | re.S)
    }
    assert in_readme == in_notebook

    answers = (ASSIGNMENT_DIR / "ANSWERS.md").read_text(encoding="utf-8")
    sections = re.split(r"^## (Q\d+)\. (.+)$", answers, flags=re.MULTILINE)[1:]
    in_answers = {}
    for number, title, body in zip(sections[::3], sections[1::3], sections[2::3], strict=True):
        quoted = [line[2:] for line in body.splitlines() if line.startswith("> ")]
        in_answers[number] = (title, _squash(" ".join(quoted)))
        assert "_Your answer here._" in body, number
    assert in_answers == in_notebook
