"""A notebook submission gets exactly the scores of the same code handed in as a .py.

Also the home of the three submissions the platform tests share (reference, template, one
realistic mistake), in each form, and of our own grades for them (graded once per session).
"""

from __future__ import annotations

import functools
import html
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.authoring.notebooks import REFERENCE_NOTEBOOK_PATH
from autograder.authoring.template import strip_markers
from autograder.paths import REPO_ROOT, SOLUTION_PATH, TEMPLATE_PATH
from tests.leaks import hidden_check_leaks, hidden_check_source_lines

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
    from autograder.authoring.notebooks import notebook_from_source, student_notebook

    if kind == "template":
        return student_notebook()
    return notebook_from_source(script_text(kind))


def write_notebook(nb, folder: Path) -> Path:
    from autograder.authoring.notebooks import notebook_text
    from autograder.sandbox.names import EXERCISE_NOTEBOOK

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / EXERCISE_NOTEBOOK
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


def test_leak_detection_finds_a_planted_check():
    import nbformat

    from autograder.paths import CHECKS_DIR

    check_lines = hidden_check_source_lines()
    check = sorted(CHECKS_DIR.glob("check_*.py"))[0].read_text(encoding="utf-8")
    body = [ln.strip() for ln in check.splitlines() if ln.strip() in check_lines]
    assert len(body) >= 10
    nb = notebook("template")
    assert hidden_check_leaks({"clean.ipynb": nbformat.writes(nb)}) == []
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", name="stdout", text=body[3] + "\n")]
    found = hidden_check_leaks({"leaky.ipynb": nbformat.writes(nb)})
    assert found and body[3] in found[0]
    page = f"<pre><span>{html.escape(body[4][:10])}</span>{html.escape(body[4][10:])}</pre>"
    assert hidden_check_leaks({"feedback.html": page})


def test_the_mistake_is_realistic():
    assert _WRONG in script_text("wrong") and _RIGHT not in script_text("wrong")
    compile(script_text("wrong"), "wrong.py", "exec")


@pytest.fixture(scope="module")
def notebook_results(tmp_path_factory) -> dict[str, dict]:
    """The runtime's grade of the three submissions as notebooks."""
    from autograder.platforms.runtime import grade_to_json

    out = {}
    for kind in KINDS:
        folder = tmp_path_factory.mktemp(f"nb-{kind}")
        path = write_notebook(notebook(kind), folder)
        out[kind] = grade_to_json(submission=path, out=folder / "results.json")
    return out


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("kind", KINDS)
def test_notebook_scores_equal_script_scores(kind: str, notebook_results: dict[str, dict]):
    ours, theirs = our_results(kind), notebook_results[kind]
    assert theirs["extra_data"]["grading_status"] == "graded", theirs["output"]
    assert scores_by_check(theirs) == scores_by_check(ours)
    assert (theirs["score"], theirs["max_score"]) == (ours["score"], ours["max_score"])
    note = "Note: Graded the code cells of batchnorm_gradclip_exercise.ipynb"
    assert theirs["output"].count(note) == 1, theirs["output"]
    if kind == "reference":
        assert ours["score"] > ours["max_score"] - 1e-9, "the reference must get full marks"
    elif kind == "template":
        assert ours["score"] == 0
    else:
        assert 0 < ours["score"] < ours["max_score"], "the mistake must cost some points"
        lost = {t["tags"][0] for t in ours["tests"] if t["status"] == "failed"}
        assert "compute_grad_norm" in lost


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_grade_command_accepts_a_notebook_directory(tmp_path: Path):
    nb = notebook("wrong")
    nb.cells.insert(1, __import__("nbformat").v4.new_code_cell("%matplotlib inline"))
    folder = tmp_path / "submission"
    write_notebook(nb, folder)
    results = grade_cli(folder, tmp_path / "results.json")
    assert scores_by_check(results) == scores_by_check(our_results("wrong"))
    note = "`%matplotlib inline` is IPython syntax"
    assert results["output"].count(note) == 1, "the note about the magic, once"


def _with_cell(kind: str, source: str, *, after: str) -> object:
    """The notebook of ``kind`` with a code cell ``source`` after the cell holding ``after``."""
    import nbformat

    nb = notebook(kind)
    index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and after in c.source)
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return nb


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_removed_shell_escape_that_broke_the_import_is_named(tmp_path: Path):
    """`!pip install x` then `import x`: the summary shows the note and says it may be why."""
    from autograder.platforms.runtime import grade_to_json

    nb = _with_cell(
        "reference", "!pip install bngc-helpers\nimport bngc_helpers", after="import torch"
    )
    path = write_notebook(nb, tmp_path / "submission")
    data = grade_to_json(submission=path, out=tmp_path / "results.json")
    assert data["extra_data"]["grading_status"] == "could_not_grade", data["output"]
    output = data["output"]
    assert "ModuleNotFoundError" in output and "line 2 of code cell 2" in output
    assert output.count("`!pip install bngc-helpers` is IPython syntax") == 1
    assert "may be why your code did not run" in output


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_cell_that_runs_the_experiment_gets_notebook_advice(tmp_path: Path):
    """A graded cell trains at top level: importing times out, and the advice fits a notebook."""
    from autograder.grading.gradescope import to_gradescope
    from autograder.grading.runner import grade_submission
    from autograder.sandbox.isolation import Limits

    experiment = (
        "import torch\n"
        "batches = [(torch.randn(32, 784), torch.randint(0, 10, (32,)))] * 50\n"
        "histories = compare_runs(make_mlp, batches, batches, epochs=10_000)"
    )
    nb = _with_cell("reference", experiment, after="def make_mlp")
    path = write_notebook(nb, tmp_path / "submission")
    # a quarter of the usual time limits: the import is meant to time out
    result = grade_submission(submission=path, limits=Limits(timeout_scale=0.25))
    assert result.status == "could_not_grade", result.reason
    reason = result.reason
    assert "did not finish within" in reason, reason
    assert "__name__" not in reason and "`active-ipynb`" in reason
    assert "(the one starting with `import torch`)" in reason
    assert reason in to_gradescope(result)["output"]
    assert all("__name__" not in t.output for t in result.tests)
    # the sandbox's and the plugin's words for a script are all rewritten (sandbox/wording.py)
    assert "your file" not in reason
    assert all("your file" not in t.output for t in result.tests)


def test_could_not_grade_summary_shows_the_notes():
    from autograder.grading.gradescope import summary_text
    from autograder.grading.results import COULD_NOT_GRADE, GRADED, GRADER_ERROR, GradingResult

    notes = [
        "Graded the code cells of batchnorm_gradclip_exercise.ipynb (9 cells).",
        "code cell 2 (the one starting with `ip = get_ipython()`), line 1: `ip = get_ipython()`"
        " is IPython syntax (magic, shell command or get_ipython()) and was removed for grading.",
    ]
    result = GradingResult(status=COULD_NOT_GRADE, reason="NameError: name 'ip' is not defined")
    result.extra["submission_notes"] = notes
    text = summary_text(result)
    assert text.startswith("Could not grade your submission: NameError")
    assert all(f"Note: {n}" in text for n in notes)
    assert "may be why your code did not run" in text
    # nothing removed: the notes, no hint
    result.extra["submission_notes"] = notes[:1]
    assert "may be why" not in summary_text(result) and notes[0] in summary_text(result)
    # a grader error is not the student's doing: no hint about their lines
    result.status, result.extra["submission_notes"] = GRADER_ERROR, notes
    assert "may be why" not in summary_text(result) and notes[1] in summary_text(result)
    result.status = GRADED
    assert summary_text(result).count("Note: ") == 2


def test_harmless_removals_give_no_hint_when_the_notebook_cannot_be_graded():
    """`%matplotlib inline`, help and a `%%time` line cannot be why the code did not run."""
    import nbformat

    from autograder.grading.gradescope import summary_text
    from autograder.grading.notebook_script import notebook_to_script
    from autograder.grading.results import COULD_NOT_GRADE, GradingResult

    def summary(*cells: str) -> str:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        notes = notebook_to_script(nb).notes
        result = GradingResult(status=COULD_NOT_GRADE, reason="NameError: name 'x' is not defined")
        result.extra["submission_notes"] = notes
        return summary_text(result)

    harmless = summary("%matplotlib inline\nimport torch", "torch.nn?", "%%time\ny = x + 1")
    assert "`%matplotlib inline` is IPython syntax" in harmless
    assert "`torch.nn?` is IPython syntax" in harmless and "`%%time`" in harmless
    assert "may be why" not in harmless
    # what the code may have needed still gets the hint, also next to a harmless removal
    for risky in ("x = !ls", "%time x = 1", "ip = get_ipython()", "%%capture x\nprint(1)"):
        said = summary("%matplotlib inline", risky, "print(x)")
        assert "may be why your code did not run" in said, risky


def test_a_failed_grading_is_not_repeated_by_every_test_cell(monkeypatch: pytest.MonkeyPatch):
    from autograder.platforms import runtime

    calls = []

    def failing(submission: Path, **kwargs) -> dict:
        calls.append(submission)
        raise runtime.GradingFailed("the grader exited with status 1 without results")

    monkeypatch.setattr(runtime, "_results", None)
    monkeypatch.setattr(runtime, "_failure", None)
    monkeypatch.setattr(runtime, "locate_submission", lambda: Path("submission.ipynb"))
    monkeypatch.setattr(runtime, "grade_in_subprocess", failing)
    for number in ("1.1", "1.2", "2.1"):
        with pytest.raises(runtime.GradingFailed, match="without results"):
            runtime.nbgrader_check(number)
    with pytest.raises(runtime.GradingFailed, match="without results"):
        runtime.assert_check_passed("1.1")
    assert calls == [Path("submission.ipynb")], "graded more than once"


def test_the_grading_timeout_ends_before_the_platform_cell_timeout(tmp_path: Path):
    from autograder.platforms import runtime
    from autograder.platforms.nbgrader import CELL_TIMEOUT_S

    assert runtime.GRADING_TIMEOUT_S <= CELL_TIMEOUT_S - 120, "our message must win the race"
    submission = tmp_path / SOLUTION_PATH.name
    submission.write_text(script_text("reference"), encoding="utf-8")
    # grading takes several seconds at least (torch alone): one second is too short
    with pytest.raises(runtime.GradingFailed, match=r"did not finish within 1 s"):
        runtime.grade_in_subprocess(submission, timeout=1.0)


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (killed, not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.timeout(180)
def test_a_timed_out_grading_leaves_no_student_process(tmp_path: Path):
    """The student's processes run in sessions of their own: when the grading process is
    stopped for taking too long, they are stopped with it (what a hung `process`-isolation
    grading would otherwise leave running beside the kernel)."""
    from autograder.grading.process import run_grading_process

    pid_file = tmp_path / "student.pid"
    grading = (  # a grading process as runtime.main sets it up, whose student never finishes
        "import subprocess, sys, time\n"
        "from autograder.grading.process import end_with_students_on_sigterm\n"
        "from autograder.sandbox.client import become_subreaper\n"
        "become_subreaper()\n"
        "end_with_students_on_sigterm()\n"
        "student = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'],\n"
        "                           start_new_session=True)\n"
        f"open({str(pid_file)!r}, 'w').write(str(student.pid))\n"
        "time.sleep(600)\n"
    )
    # 30 s: time to import torch on a busy machine, as the grading process does first
    with pytest.raises(subprocess.TimeoutExpired):
        run_grading_process([sys.executable, "-c", grading], cwd=REPO_ROOT, timeout=30)
    student = int(pid_file.read_text())
    assert not _running(student), "the student's process outlived the grading"


def test_a_broken_notebook_is_reported_not_crashed(tmp_path: Path):
    from autograder.platforms.runtime import grade_to_json

    path = tmp_path / "batchnorm_gradclip_exercise.ipynb"
    path.write_text('{"cells": [')
    data = grade_to_json(submission=path, out=tmp_path / "results.json")
    assert json.loads((tmp_path / "results.json").read_text()) == data
    assert data["extra_data"]["grading_status"] == "could_not_grade"
    assert "not a readable Jupyter notebook" in data["output"]
    assert data["score"] == 0 and data["tests"]
    assert all("not a readable Jupyter notebook" in t["output"] for t in data["tests"])
    assert path.read_text() == '{"cells": ['


@pytest.mark.parametrize(
    ("field", "value"),
    [("tags", 5), ("tags", [1, "x"]), ("nbgrader", "yes")],
)
def test_a_notebook_with_malformed_cell_metadata_cannot_be_graded_and_says_why(
    tmp_path: Path, field: str, value: object
):
    from autograder.platforms.runtime import grade_to_json

    nb = json.loads(REFERENCE_NOTEBOOK_PATH.read_text(encoding="utf-8"))
    code = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code")
    nb["cells"][code]["metadata"][field] = value
    path = tmp_path / "batchnorm_gradclip_exercise.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    data = grade_to_json(submission=path, out=tmp_path / "results.json")
    assert data["extra_data"]["grading_status"] == "could_not_grade"
    assert f"cell {code + 1} of batchnorm_gradclip_exercise.ipynb is malformed" in data["output"]


def test_the_runtime_keeps_its_former_name_for_zips_and_notebooks_already_handed_out():
    import autograder.export.runtime as former
    from autograder.platforms import runtime

    assert former is runtime  # one module: patching either name patches both
    proc = subprocess.run(
        [sys.executable, "-m", "autograder.export.runtime", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert proc.returncode == 0 and "--out" in proc.stdout


def test_the_platforms_grade_the_edition_the_student_worked_in(tmp_path: Path):
    """With both editions beside each other, the runtime hands the folder to the grader, which
    grades the one that differs from the released template (CONTRACT section 4)."""
    from autograder.platforms.runtime import locate_submission

    shutil.copy(REFERENCE_NOTEBOOK_PATH, tmp_path)
    assert locate_submission(tmp_path) == tmp_path / REFERENCE_NOTEBOOK_PATH.name
    shutil.copy(TEMPLATE_PATH, tmp_path)
    assert locate_submission(tmp_path) == tmp_path
