"""A notebook submission gets exactly the scores of the same code handed in as a .py.

Also the home of the three submissions the platform tests share (reference, template, one
realistic mistake), in each form, and of our own grades for them (graded once per session).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.paths import REPO_ROOT, SOLUTION_PATH, TEMPLATE_PATH
from autograder.template import strip_markers

pytest.importorskip("nbformat", reason="notebook support needs the [notebooks] extra")
pytest.importorskip("jupytext", reason="notebook support needs the [notebooks] extra")

KINDS = ("reference", "template", "wrong")

# The mistake: the total gradient norm computed as the SUM of the per-tensor norms.
_RIGHT = "    return torch.linalg.vector_norm(per_tensor, ord=norm_type).item()\n"
_WRONG = "    return per_tensor.sum().item()  # sum of the per-tensor norms\n"


def solution_text(kind: str) -> str:
    """The solution-file text (with markers) a submission of ``kind`` is made from."""
    text = SOLUTION_PATH.read_text(encoding="utf-8")
    if kind == "wrong":
        assert text.count(_RIGHT) == 1, "the reference changed: update the mistake"
        text = text.replace(_RIGHT, _WRONG)
    return text


def script_text(kind: str) -> str:
    """The .py a student of ``kind`` hands in."""
    if kind == "template":
        return TEMPLATE_PATH.read_text(encoding="utf-8")
    return strip_markers(solution_text(kind))


def notebook(kind: str):
    """The notebook edition a student of ``kind`` hands in (an nbformat node)."""
    from autograder.notebook import notebook_from_source, student_notebook

    if kind == "template":
        return student_notebook()
    return notebook_from_source(script_text(kind))


def write_notebook(nb, folder: Path) -> Path:
    from autograder.notebook import NOTEBOOK_FILE, notebook_text

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / NOTEBOOK_FILE
    path.write_text(notebook_text(nb), encoding="utf-8")
    return path


@functools.cache
def _workdir() -> Path:
    """One folder for the session's shared gradings (removed when the session ends)."""
    import atexit
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="bngc-platform-tests-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def grade_cli(submission: Path, out: Path) -> dict:
    """``python -m autograder grade SUBMISSION --out OUT --quiet``; the results JSON."""
    cmd = [sys.executable, "-m", "autograder", "grade", str(submission), "--out", str(out)]
    proc = subprocess.run(
        [*cmd, "--quiet"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


@functools.cache
def our_results(kind: str) -> dict:
    """Our grade of the .py submission of ``kind`` (graded once per test session)."""
    folder = _workdir() / f"py-{kind}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SOLUTION_PATH.name).write_text(script_text(kind), encoding="utf-8")
    return grade_cli(folder, _workdir() / f"py-{kind}.json")


def scores_by_check(results: dict) -> dict[str, float]:
    return {t["number"]: t["score"] for t in results["tests"]}


def test_the_mistake_is_realistic():
    assert _WRONG in script_text("wrong") and _RIGHT not in script_text("wrong")
    compile(script_text("wrong"), "wrong.py", "exec")


@pytest.fixture(scope="module")
def notebook_results(tmp_path_factory) -> dict[str, dict]:
    """The runtime's grade of the reference and the wrong submission as notebooks."""
    from autograder.export.runtime import grade_to_json

    out = {}
    for kind in ("reference", "wrong"):
        folder = tmp_path_factory.mktemp(f"nb-{kind}")
        path = write_notebook(notebook(kind), folder)
        out[kind] = grade_to_json(submission=path, out=folder / "results.json")
    return out


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("kind", ["reference", "wrong"])
def test_notebook_scores_equal_script_scores(kind: str, notebook_results: dict[str, dict]):
    ours, theirs = our_results(kind), notebook_results[kind]
    assert theirs["extra_data"]["grading_status"] == "graded", theirs["output"]
    assert scores_by_check(theirs) == scores_by_check(ours)
    assert (theirs["score"], theirs["max_score"]) == (ours["score"], ours["max_score"])
    assert "Graded the code cells of batchnorm_gradclip_exercise.ipynb" in theirs["output"]
    if kind == "reference":
        assert ours["score"] > ours["max_score"] - 1e-9, "the reference must get full marks"
    else:
        assert 0 < ours["score"] < ours["max_score"], "the mistake must cost some points"
        lost = {t["tags"][0] for t in ours["tests"] if t["status"] == "failed"}
        assert "compute_grad_norm" in lost


def _cli_routes_notebooks() -> bool:
    import inspect

    import autograder.grade

    return "prepared_submission" in inspect.getsource(autograder.grade)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(
    not _cli_routes_notebooks(),
    reason="autograder/grade.py does not route notebooks through prepared_submission yet",
)
def test_grade_command_accepts_a_notebook_directory(tmp_path: Path):
    nb = notebook("wrong")
    nb.cells.insert(1, __import__("nbformat").v4.new_code_cell("%matplotlib inline"))
    folder = tmp_path / "submission"
    write_notebook(nb, folder)
    results = grade_cli(folder, tmp_path / "results.json")
    assert scores_by_check(results) == scores_by_check(our_results("wrong"))
    assert "%matplotlib inline" in results["output"], "the note about the magic is missing"


def test_a_broken_notebook_is_reported_not_crashed(tmp_path: Path):
    from autograder.export.runtime import grade_to_json

    path = tmp_path / "batchnorm_gradclip_exercise.ipynb"
    path.write_text('{"cells": [')
    data = grade_to_json(submission=path, out=tmp_path / "results.json")
    assert json.loads((tmp_path / "results.json").read_text()) == data
    assert data["extra_data"]["grading_status"] == "could_not_grade"
    assert "not a readable Jupyter notebook" in data["output"]
    assert data["score"] == 0 and data["tests"]
    assert all("not a readable Jupyter notebook" in t["output"] for t in data["tests"])
    assert path.read_text() == '{"cells": ['
