"""The public tests students get: they pass on every correct solution, fail on the template with
the reason, catch the corpus's mistakes, run on the edition the student works in, and run in a
notebook through check()."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.paths import ASSIGNMENT_DIR, REPO_ROOT, SOLUTION_PATH, TEMPLATE_PATH

PUBLIC_TESTS = ASSIGNMENT_DIR / "tests"
NOTEBOOK = "batchnorm_gradclip_exercise.ipynb"
REFERENCE_NOTEBOOK = SOLUTION_PATH.with_suffix(".ipynb")
TEMPLATE_NOTEBOOK = TEMPLATE_PATH.with_suffix(".ipynb")
# What scripts/public_tests_coverage.py measured (all 44 of the corpus's single mistakes): a floor
# that a weaker public test would break.
MISTAKES_CAUGHT_AT_LEAST = 44


def run_public_tests(
    *, exercise: Path | None = None, folder: Path = ASSIGNMENT_DIR
) -> subprocess.CompletedProcess:
    """``pytest tests`` in ``folder``, on ``exercise`` (BNGC_EXERCISE) or the edition it picks."""
    env = {k: v for k, v in os.environ.items() if k != "BNGC_EXERCISE"}
    if exercise is not None:
        env["BNGC_EXERCISE"] = str(exercise)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests"],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        check=False,
    )


def summary_line(proc: subprocess.CompletedProcess) -> str:
    """pytest's last line without its ``=`` decoration, e.g. "29 passed in 9.41s"."""
    return proc.stdout.strip().splitlines()[-1].strip("= ")


def student_folder(tmp_path: Path, *, py: Path | None, notebook: Path | None) -> Path:
    """A student's folder as released: tests/, exercise_utils.py and the given editions."""
    folder = tmp_path / "student"
    shutil.copytree(PUBLIC_TESTS, folder / "tests")
    shutil.copyfile(ASSIGNMENT_DIR / "exercise_utils.py", folder / "exercise_utils.py")
    if py is not None:
        shutil.copyfile(py, folder / TEMPLATE_PATH.name)
    if notebook is not None:
        shutil.copyfile(notebook, folder / NOTEBOOK)
    return folder


@pytest.mark.slow
def test_public_tests_pass_on_the_reference_in_under_30_cpu_seconds():
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = run_public_tests(exercise=SOLUTION_PATH)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert summary_line(proc).startswith("29 passed"), summary_line(proc)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 30, f"the public tests took {cpu:.1f} s of CPU time (torch's import included)"


@pytest.mark.slow
def test_public_tests_fail_on_the_template_with_the_hint():
    proc = run_public_tests(exercise=TEMPLATE_PATH)
    assert proc.returncode == 1
    summary = summary_line(proc)
    assert " passed" not in summary and "3 skipped" in summary, summary  # the bonus is skipped
    for name in ("add_batchnorm", "compute_grad_norm", "clip_gradients", "compare_runs"):
        assert f"{name} is not implemented yet. Hint:" in proc.stdout, name


@pytest.mark.slow
def test_the_notebook_is_tested_when_it_is_the_edition_worked_on(tmp_path: Path):
    folder = student_folder(tmp_path, py=TEMPLATE_PATH, notebook=REFERENCE_NOTEBOOK)
    nb = json.loads((folder / NOTEBOOK).read_text())
    # what a student's notebook may hold: a magic, a shell escape, a cell magic
    first_code = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code")
    extra = ["%matplotlib inline\n!pip list\nx = 1", "%%bash\necho hello", "%time y = 2"]
    for offset, source in enumerate(extra, start=1):
        cell = {"cell_type": "code", "execution_count": None, "id": f"extra-{offset}"}
        nb["cells"].insert(first_code + offset, {**cell, "metadata": {}, "outputs": []})
        nb["cells"][first_code + offset]["source"] = source
    (folder / NOTEBOOK).write_text(json.dumps(nb))
    proc = run_public_tests(folder=folder)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert f"exercise: {NOTEBOOK}" in proc.stdout
    assert summary_line(proc).startswith("29 passed"), summary_line(proc)


@pytest.mark.slow
def test_the_py_is_tested_when_the_notebook_is_untouched(tmp_path: Path):
    folder = student_folder(tmp_path, py=SOLUTION_PATH, notebook=TEMPLATE_NOTEBOOK)
    proc = run_public_tests(folder=folder)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert f"exercise: {TEMPLATE_PATH.name}\n" in proc.stdout


@pytest.mark.slow
def test_both_finished_editions_are_tested(tmp_path: Path):
    folder = student_folder(tmp_path, py=SOLUTION_PATH, notebook=REFERENCE_NOTEBOOK)
    proc = run_public_tests(folder=folder)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert summary_line(proc).startswith("58 passed"), summary_line(proc)
    assert f"exercise: {TEMPLATE_PATH.name} and {NOTEBOOK}\n" in proc.stdout


@pytest.mark.slow
def test_a_broken_notebook_cell_points_at_the_cell(tmp_path: Path):
    folder = student_folder(tmp_path, py=TEMPLATE_PATH, notebook=REFERENCE_NOTEBOOK)
    nb = json.loads((folder / NOTEBOOK).read_text())
    cell = next(c for c in nb["cells"] if "".join(c["source"]).startswith("def compute_grad_norm"))
    cell["source"] = "".join(cell["source"]).replace(
        "    grads = [", "    raise RuntimeError('oops')\n    grads = [", 1
    )
    (folder / NOTEBOOK).write_text(json.dumps(nb))
    proc = run_public_tests(folder=folder)
    assert proc.returncode == 1
    assert f"{NOTEBOOK}, code cell" in proc.stdout and "RuntimeError: oops" in proc.stdout


CHECK_SCRIPT = """
import sys
sys.path.insert(0, {assignment!r})
import exercise_utils
namespace = {{"__name__": "notebook"}}
exec(open({exercise!r}).read(), namespace)
exercise_utils.check({name!r}, namespace)
"""


def run_check(name: str, exercise: Path) -> subprocess.CompletedProcess:
    """``check(name)`` in a fresh interpreter, on the functions ``exercise`` defines."""
    script = CHECK_SCRIPT.format(assignment=str(ASSIGNMENT_DIR), exercise=str(exercise), name=name)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=300
    )


@pytest.mark.slow
def test_check_runs_one_functions_tests_on_the_namespace(tmp_path: Path):
    proc = run_check("clip_gradients", SOLUTION_PATH)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "clip_gradients: 6 of 6 public tests passed", proc.stdout
    assert all(line.startswith("  PASS test_clip_gradients") for line in lines[1:]), proc.stdout

    wrong = tmp_path / "wrong.py"
    wrong.write_text(
        SOLUTION_PATH.read_text().replace(
            "                p.grad.detach().mul_(scale)",
            "                p.grad.detach().clamp_(-max_norm, max_norm)",
        )
    )
    assert wrong.read_text() != SOLUTION_PATH.read_text()
    proc = run_check("clip_gradients", wrong)
    assert proc.stdout.startswith("clip_gradients: 3 of 6 public tests passed (3 failed)")
    assert "  FAIL test_clip_gradients_scales_all_gradients_by_one_factor: " in proc.stdout
    assert "one common factor" in proc.stdout

    proc = run_check("ManualBatchNorm1d", TEMPLATE_PATH)
    assert proc.stdout.splitlines()[0].endswith("(3 skipped)"), proc.stdout
    proc = run_check("clip_grad", SOLUTION_PATH)
    assert "ValueError: check('clip_grad'): choose one of add_batchnorm" in proc.stderr


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_corpus_correct_variants_pass_and_mistakes_are_caught(tmp_path: Path):
    out = tmp_path / "coverage.json"
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "public_tests_coverage.py"), "--json", out],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    verdicts = json.loads(out.read_text())
    failing = [v["name"] for v in verdicts if v["kind"] == "correct" and v["caught"]]
    assert not failing, f"correct variants fail a public test: {failing}\n{proc.stdout}"
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    caught = [v for v in verdicts if v["kind"] == "mistake" and v["caught"]]
    assert len(caught) >= MISTAKES_CAUGHT_AT_LEAST, proc.stdout
    assert all(v["passed"] > 0 for v in verdicts if v["kind"] == "correct")


def test_public_tests_share_nothing_with_the_hidden_checks():
    from tests.leaks import hidden_check_leaks

    files = [*sorted(PUBLIC_TESTS.glob("*.py")), ASSIGNMENT_DIR / "exercise_utils.py"]
    shown = {str(p.relative_to(ASSIGNMENT_DIR)): p.read_text(encoding="utf-8") for p in files}
    assert "tests/test_public.py" in shown and "tests/conftest.py" in shown
    assert hidden_check_leaks(shown) == []


def test_check_without_the_tests_folder_says_so(tmp_path: Path, capsys):
    import importlib.util

    shutil.copyfile(ASSIGNMENT_DIR / "exercise_utils.py", tmp_path / "exercise_utils.py")
    spec = importlib.util.spec_from_file_location("copied_utils", tmp_path / "exercise_utils.py")
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    utils.check("add_batchnorm", {})
    missing = tmp_path / "tests" / "test_public.py"
    assert capsys.readouterr().out == (
        f"check('add_batchnorm'): the public tests are not here ({missing} is missing)\n"
    )
