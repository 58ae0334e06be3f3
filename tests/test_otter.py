"""otter-grader: the exported autograder zip gives, under `otter run`, exactly our scores."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("otter", reason="otter-grader is not installed (pip install -e '.[otter]')")
pytest.importorskip("nbformat", reason="notebook support needs the [notebooks] extra")

from autograder.grading.runner import check_catalogue
from autograder.platforms.otter import (
    GRADER_DIR,
    OTTER_IGNORE_TAG,
    ExportError,
    export_otter,
    otter_edition,
    requirements_text,
)
from tests.leaks import hidden_check_leaks
from tests.test_notebook_grading import (
    KINDS,
    notebook,
    our_results,
    scores_by_check,
    write_notebook,
)


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("otter") / "export"
    export_otter(out_dir=out)
    return out


def test_export_layout(export: Path):
    student = export / "student"
    assert sorted(p.name for p in student.iterdir()) == [
        "batchnorm_gradclip_exercise.ipynb",
        "exercise_utils.py",
    ]
    nb = json.loads((student / "batchnorm_gradclip_exercise.ipynb").read_text())
    text = json.dumps(nb)
    assert "BEGIN SOLUTION" not in text and "per_tensor, ord=norm_type" not in text
    experiment = [c for c in nb["cells"] if "active-ipynb" in c["metadata"].get("tags", [])]
    assert experiment and all(OTTER_IGNORE_TAG in c["metadata"]["tags"] for c in experiment)

    with zipfile.ZipFile(export / "autograder.zip") as zf:
        names = set(zf.namelist())
        config = json.loads(zf.read("otter_config.json"))
        tests = sorted(n for n in names if n.startswith("tests/"))
        sources = [zf.read(n).decode() for n in tests]
        environment = zf.read("environment.yml").decode()
    assert {"run_autograder", "setup.sh", "run_otter.py", "otter_config.json"} <= names
    assert config["lang"] == "python"
    assert f"files/{GRADER_DIR}/autograder/grading/checks/conftest.py" in names
    assert f"files/{GRADER_DIR}/autograder/platforms/runtime.py" in names
    shipped = {n.split("/")[3] for n in names if n.startswith(f"files/{GRADER_DIR}/autograder/")}
    assert shipped == {"__init__.py", "paths.py", "files.py", "grading", "sandbox", "platforms"}
    assert not any("otter.py" in n or "nbgrader.py" in n for n in names)  # only the runtime
    assert f"files/{GRADER_DIR}/solutions/batchnorm_gradclip_exercise.py" in names
    assert "torch==" in environment and "nbformat==" in environment
    catalogue = check_catalogue()
    assert len(tests) == len(catalogue)
    for check in catalogue:
        assert any(f"assert_check_passed({check.number!r})" in s for s in sources), check.number
        assert any(f"points = {float(check.max_score)!r}" in s for s in sources)
    # the test files name the checks; their source stays in the grader
    shown = dict(zip(tests, sources, strict=True))
    for path in sorted(student.iterdir()):
        shown[f"student/{path.name}"] = path.read_text(encoding="utf-8")
    assert hidden_check_leaks(shown) == []


def test_requirements_pin_versions_pypi_has():
    """A local version label (torch 2.14.1+cpu from PyTorch's index) is not on PyPI."""
    versions = {"torch": "2.14.1+cpu", "torchvision": "0.29.1+cu121"}
    text = requirements_text(version=lambda name: versions.get(name, "1.2.3"))
    pins = dict(line.split("==") for line in text.splitlines() if "==" in line)
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    assert pins["nbformat"] == "1.2.3" and "+" not in text


def test_export_refuses_a_non_empty_directory(tmp_path: Path):
    (tmp_path / "keep.txt").write_text("instructor's file")
    with pytest.raises(ExportError, match="not empty"):
        export_otter(out_dir=tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "instructor's file"


def test_export_otter_without_nbformat_is_a_clear_error(tmp_path: Path):
    """Without the [notebooks] extra: the advice on stderr and exit status 2, no traceback.

    In a fresh process, where otter.generate (which imports nbformat) is not imported yet; the
    `export` command's own parser and run() (the CLI's glue would import torch for nothing).
    """
    code = (
        "import argparse, sys; sys.modules['nbformat'] = None\n"
        "from autograder.export import command\n"
        "parser = argparse.ArgumentParser(prog='export'); command.add_arguments(parser)\n"
        f"sys.exit(command.run(parser.parse_args(['otter', {str(tmp_path / 'out')!r}])))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert "export otter: error:" in proc.stderr
    assert "pip install -e '.[notebooks]'" in proc.stderr
    assert not (tmp_path / "out").exists(), "nothing may be written"


def otter_run(zip_path: Path, submission: Path, out_dir: Path) -> tuple[dict, float]:
    """``otter run -a autograder.zip SUBMISSION``: its results.json and the seconds it took."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "otter", "run", "-a", str(zip_path), "-o", str(out_dir)]
    started = time.monotonic()
    proc = subprocess.run(
        [*cmd, "--no-logo", str(submission)],
        cwd=submission.parent,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    seconds = time.monotonic() - started
    results = out_dir / "results.json"
    assert proc.returncode == 0 and results.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(results.read_text()), seconds


@pytest.fixture(scope="module")
def otter_results(export: Path, tmp_path_factory) -> dict[str, dict]:
    out = {}
    for kind in KINDS:
        folder = tmp_path_factory.mktemp(f"otter-{kind}")
        path = write_notebook(otter_edition(notebook(kind)), folder / "submission")
        out[kind], _ = otter_run(export / "autograder.zip", path, folder / "results")
    return out


def _otter_scores(results: dict) -> dict[str, float]:
    """Check number -> score, from otter's test entries named "<number> <name>"."""
    scores = {}
    for test in results["tests"]:
        if "score" in test and test.get("max_score") is not None:
            scores[test["name"].split(" ", 1)[0]] = test["score"]
    return scores


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("kind", KINDS)
def test_otter_run_scores_equal_ours(kind: str, otter_results: dict[str, dict]):
    theirs, ours = otter_results[kind], our_results(kind)
    assert _otter_scores(theirs) == scores_by_check(ours)
    total = sum(t.get("score", 0) or 0 for t in theirs["tests"])
    assert total == pytest.approx(ours["score"])
    # otter's own verdict, not only its agreement with ours
    possible = sum(c.max_score for c in check_catalogue())  # bonus included, as otter counts
    assert len(_otter_scores(theirs)) == len(check_catalogue())
    if kind == "reference":
        assert total == pytest.approx(possible), "the reference must get full marks"
    elif kind == "template":
        assert total == 0
    else:
        assert 0 < total < possible, "the mistake must cost points"
        catalogue = {c.number: c for c in check_catalogue()}
        lost = {n for n, score in _otter_scores(theirs).items() if score < catalogue[n].max_score}
        assert "compute_grad_norm" in {catalogue[n].tag for n in lost}, lost
    failed = [t for t in ours["tests"] if t["status"] == "failed"]
    text = "\n".join(t.get("output", "") for t in theirs["tests"])
    for test in failed:  # our feedback reaches the student through otter
        assert test["output"].splitlines()[0] in text


def test_with_data_bundles_fashion_mnist(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from autograder.platforms.otter import fashion_mnist_archives

    try:
        archives = fashion_mnist_archives()
    except ExportError as exc:
        pytest.skip(str(exc))
    from autograder.cli import main

    assert main(["export", "otter", str(tmp_path / "out"), "--with-data"]) == 0
    with zipfile.ZipFile(tmp_path / "out" / "autograder.zip") as zf:
        names = set(zf.namelist())
    for archive in archives:
        assert f"files/{GRADER_DIR}/assignment/data/{archive.name}" in names
    # a second export into the same directory is refused, and says how to proceed, on stderr
    capsys.readouterr()
    assert main(["export", "otter", str(tmp_path / "out")]) == 2
    said = capsys.readouterr()
    assert said.out == "" and "export otter: error:" in said.err and "--force" in said.err
