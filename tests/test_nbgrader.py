"""nbgrader: the exported course autogrades with exactly our scores, and leaks no check source."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("nbgrader", reason="nbgrader is not installed (pip install -e '.[nbgrader]')")
nbformat = pytest.importorskip("nbformat", reason="notebook support needs the [notebooks] extra")

from autograder.authoring.template import strip_markers  # noqa: E402
from autograder.grading.notebook_script import notebook_to_script  # noqa: E402
from autograder.grading.results import BONUS_TAG  # noqa: E402
from autograder.grading.runner import check_catalogue  # noqa: E402
from autograder.platforms.nbgrader import (  # noqa: E402
    ASSIGNMENT_NAME,
    EXTRA_CREDIT_PREPROCESSOR,
    GRADER_CELL_TAG,
    export_nbgrader,
    source_notebook,
)
from autograder.platforms.otter import ExportError  # noqa: E402
from autograder.sandbox.names import EXERCISE_NOTEBOOK  # noqa: E402
from tests.leaks import hidden_check_leaks  # noqa: E402
from tests.test_notebook_grading import (  # noqa: E402
    KINDS,
    our_results,
    scores_by_check,
    solution_text,
)


def _api(course: Path):
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    config.CourseDirectory.root = str(course)
    return NbGraderAPI(config=config)


def submission_notebook(course: Path, kind: str):
    """The released notebook with its answer cells filled in as a student of ``kind`` would."""
    release = course / "release" / ASSIGNMENT_NAME / EXERCISE_NOTEBOOK
    nb = nbformat.read(release, as_version=4)
    if kind == "template":
        return nb
    answers = {
        c.metadata["nbgrader"]["grade_id"]: strip_markers(c.source)
        for c in source_notebook(check_catalogue(), solution_source=solution_text(kind)).cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> dict:
    """Export, generate the assignment, autograde the three submissions; gradebook scores."""
    root = tmp_path_factory.mktemp("nbgrader") / "course"
    export_nbgrader(course_dir=root)
    out: dict = {"root": root, "seconds": {}}
    with pytest.MonkeyPatch.context() as mp:
        # nbgrader creates its gradebook with the `alembic` command of this environment
        mp.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
        api = _api(root)
        generated = api.generate_assignment(ASSIGNMENT_NAME)
        assert generated["success"], generated["log"] + str(generated["error"])
        for kind in KINDS:
            folder = root / "submitted" / kind / ASSIGNMENT_NAME
            folder.mkdir(parents=True)
            nbformat.write(submission_notebook(root, kind), folder / EXERCISE_NOTEBOOK)
            started = time.monotonic()
            graded = api.autograde(ASSIGNMENT_NAME, kind)
            out["seconds"][kind] = time.monotonic() - started
            assert graded["success"], graded["log"] + str(graded["error"])
        feedback = api.generate_feedback(ASSIGNMENT_NAME, "wrong")
        assert feedback["success"], feedback["log"]
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
        for kind in KINDS:
            submission = gb.find_submission(ASSIGNMENT_NAME, kind)
            cells = {}
            for grade in gb.find_submission_notebook(
                EXERCISE_NOTEBOOK[:-6], ASSIGNMENT_NAME, kind
            ).grades:
                if grade.name.startswith("check-"):
                    cells[grade.name[len("check-") :].replace("-", ".")] = grade.score
            out[kind] = {"score": submission.score, "max": submission.max_score, "cells": cells}
    return out


def test_source_notebook_layout(tmp_path: Path):
    export_nbgrader(course_dir=tmp_path)
    config = (tmp_path / "nbgrader_config.py").read_text()
    assert "c.Execute.timeout = 900" in config
    nb = nbformat.read(tmp_path / "source" / ASSIGNMENT_NAME / EXERCISE_NOTEBOOK, as_version=4)
    meta = [c.metadata.get("nbgrader", {}) for c in nb.cells]
    answers = [m["grade_id"] for m in meta if m.get("solution")]
    assert answers == [
        "add_batchnorm",
        "compute_grad_norm",
        "clip_gradients",
        "compare_runs",
        "ManualBatchNorm1d",
    ]
    tests = [m for m in meta if m.get("grade") and not m.get("solution")]
    catalogue = check_catalogue()
    assert len(tests) == len(catalogue) and all(m["locked"] for m in tests)
    # the maximum is the regular checks' (100); the bonus cells are worth 0 (extra credit)
    assert sum(m["points"] for m in tests) == sum(
        c.max_score for c in catalogue if c.tag != BONUS_TAG
    )
    bonus = {"check-" + c.number.replace(".", "-") for c in catalogue if c.tag == BONUS_TAG}
    assert bonus and all(m["points"] == 0 for m in tests if m["grade_id"] in bonus)
    assert EXTRA_CREDIT_PREPROCESSOR in _effective_preprocessors(tmp_path)
    # the graded module of this notebook skips the checker and the test cells
    script = notebook_to_script(nb).source
    assert "_check(" not in script and "nbgrader_check" not in script
    assert any(GRADER_CELL_TAG in c.metadata.get("tags", []) for c in nb.cells)
    # a second export of the same assignment does not silently replace the instructor's work
    with pytest.raises(ExportError, match="--force"):
        export_nbgrader(course_dir=tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("kind", KINDS)
def test_autograde_scores_equal_ours(kind: str, course: dict):
    ours = our_results(kind)
    # a bonus cell's score is its extra credit (0 points of its own)
    assert course[kind]["cells"] == scores_by_check(ours)
    assert course[kind]["score"] == pytest.approx(ours["score"])
    # the same maximum as ours (100), the bonus on top
    assert course[kind]["max"] == pytest.approx(ours["max_score"]) == 100
    # nbgrader's own verdict, not only its agreement with ours
    if kind == "reference":
        bonus = sum(t["max_score"] for t in ours["tests"] if t["tags"] == [BONUS_TAG])
        assert course[kind]["score"] == pytest.approx(course[kind]["max"] + bonus), "full marks"
    elif kind == "template":
        assert course[kind]["score"] == 0
    else:
        assert 0 < course[kind]["score"] < course[kind]["max"]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_student_files_and_feedback_hold_no_check_source(course: dict):
    root: Path = course["root"]
    released = (root / "release" / ASSIGNMENT_NAME / EXERCISE_NOTEBOOK).read_text()
    assert "BEGIN SOLUTION" not in released and "per_tensor, ord=norm_type" not in released
    feedback = sorted((root / "feedback" / "wrong" / ASSIGNMENT_NAME).glob("*.html"))
    assert feedback
    autograded = (root / "autograded" / "wrong" / ASSIGNMENT_NAME / EXERCISE_NOTEBOOK).read_text()
    shown = {"release.ipynb": released, "autograded.ipynb": autograded}
    shown |= {p.name: p.read_text() for p in feedback}
    assert hidden_check_leaks(shown) == []
    # the student reads our feedback for the checks the mistake fails
    failed = [t for t in our_results("wrong")["tests"] if t["status"] == "failed"]
    assert failed
    outputs = json.dumps(nbformat.reads(autograded, as_version=4).cells)
    for test in failed:
        assert test["output"].splitlines()[0] in outputs
    assert "Traceback" not in outputs


def _effective_timeout(course: Path):
    """``Execute.timeout`` as nbgrader will see it: the config loaded by traitlets."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    return config.Execute.timeout if "timeout" in config.Execute else None


def _effective_preprocessors(course: Path) -> list[object]:
    """``Autograde.autograde_preprocessors`` as nbgrader will see them (its defaults and what
    the config appends)."""
    from nbgrader.converters import Autograde
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    config.CourseDirectory.root = str(course)
    return list(Autograde(config=config).autograde_preprocessors)


def test_existing_course_keeps_its_config(tmp_path: Path):
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'x'\n"
    )
    export_nbgrader(course_dir=tmp_path, assignment="hw3")
    config = (tmp_path / "nbgrader_config.py").read_text()
    assert config.startswith("c = get_config()\nc.CourseDirectory.course_id = 'x'\n")
    assert _effective_timeout(tmp_path) == 900
    preprocessors = _effective_preprocessors(tmp_path)
    assert preprocessors[-1] == EXTRA_CREDIT_PREPROCESSOR  # after SaveAutoGrades
    assert [p for p in preprocessors if p == EXTRA_CREDIT_PREPROCESSOR] == preprocessors[-1:]
    assert (tmp_path / "source" / "hw3" / EXERCISE_NOTEBOOK).is_file()


def test_generated_config_with_the_commented_default_gets_the_timeout(tmp_path: Path):
    """`nbgrader generate_config` writes `# c.Execute.timeout = 30`: a comment, no setting."""
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_config"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    generated = (tmp_path / "nbgrader_config.py").read_text()
    assert "# c.Execute.timeout = 30" in generated, "nbgrader's generated config changed"
    assert _effective_timeout(tmp_path) is None  # nbgrader's default (30 s) would apply
    export_nbgrader(course_dir=tmp_path)
    config = (tmp_path / "nbgrader_config.py").read_text()
    assert config.startswith(generated), "the instructor's config must be kept as it was"
    assert _effective_timeout(tmp_path) == 900
    # exporting a second assignment does not add the setting again
    export_nbgrader(course_dir=tmp_path, assignment="hw4")
    assert (tmp_path / "nbgrader_config.py").read_text() == config


@pytest.mark.parametrize(
    ("setting", "kept"),
    [
        ("c.Execute.timeout = 1800", True),
        ("c.Execute.timeout = None", True),
        ("c.ExecutePreprocessor.timeout = 1200", True),
        ("c.Execute.timeout = int(os.environ['NBG_TIMEOUT'])", True),
        ("c.Execute.timeout = 30", False),
        ("c.Execute.timeout = 1800\nc.Execute.timeout = 60", False),
    ],
)
def test_a_live_timeout_setting_is_respected_unless_too_short(
    tmp_path: Path, setting: str, kept: bool
):
    before = f"c = get_config()\n{setting}\n"
    (tmp_path / "nbgrader_config.py").write_text(before)
    export_nbgrader(course_dir=tmp_path)
    after = (tmp_path / "nbgrader_config.py").read_text()
    assert after.startswith(before)
    assert ("c.Execute.timeout = 900" not in after[len(before) :]) is kept, after
    assert EXTRA_CREDIT_PREPROCESSOR in after[len(before) :]  # the extra credit, always


def test_a_broken_config_is_a_clear_error_and_nothing_is_written(tmp_path: Path):
    broken = "c = get_config()\nc.Execute.timeout = (\n"
    (tmp_path / "nbgrader_config.py").write_text(broken)
    with pytest.raises(ExportError, match=r"not valid Python \(line 2"):
        export_nbgrader(course_dir=tmp_path)
    assert (tmp_path / "nbgrader_config.py").read_text() == broken
    assert not (tmp_path / "source").exists()


def test_a_bonus_cell_displays_its_points_as_extra_credit(monkeypatch, capsys):
    """A regular check's cell returns its score (nbgrader's partial credit); a bonus check's
    returns nothing (its 0-point cell gets full marks) and displays its points, which the
    preprocessor reads back from the executed cell."""
    from autograder.platforms import runtime
    from autograder.platforms.nbgrader_extra_credit import extra_credit

    tests = [
        {"number": "1.1", "name": "a", "score": 2.0, "max_score": 2.0, "status": "passed",
         "tags": ["add_batchnorm"]},
        {"number": "6.1", "name": "b", "score": 3.0, "max_score": 3.0, "status": "passed",
         "tags": [BONUS_TAG]},
    ]  # fmt: skip
    monkeypatch.setattr(runtime, "_results", {"tests": tests})
    monkeypatch.setattr(runtime, "_failure", None)
    assert runtime.nbgrader_check("1.1") == 2.0
    assert runtime.nbgrader_check("6.1") is None
    assert "6.1 b: 3/3" in capsys.readouterr().out
    cell = nbformat.v4.new_code_cell('_check("6.1")')
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="6.1 b: 3/3\n"),
        nbformat.v4.new_output(
            "display_data", data={runtime.EXTRA_CREDIT_MIME: {"check": "6.1", "points": 3.0}}
        ),
    ]
    assert extra_credit(cell) == 3.0
    cell.outputs = cell.outputs[:1]
    assert extra_credit(cell) is None  # grading failed, or not a bonus cell: nothing stored
    bad = nbformat.v4.new_output("display_data", data={runtime.EXTRA_CREDIT_MIME: {"points": "3"}})
    cell.outputs = [bad]
    assert extra_credit(cell) is None


def test_experiment_and_check_cells_are_guarded_without_displaying_none():
    from autograder.platforms.nbgrader import guard_experiment

    guarded = guard_experiment('check("add_batchnorm")\n')
    assert 'check("add_batchnorm")' in guarded and "display(" not in guarded
    shown = guard_experiment("Image(filename='runs/runs.png')\n")
    assert "display(Image(filename='runs/runs.png'))" in shown
