"""otter-grader: the exported autograder zip gives, under `otter run`, exactly our scores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("otter", reason="otter-grader is not installed (pip install -e '.[otter]')")
pytest.importorskip("nbformat", reason="notebook support needs the [notebooks] extra")

from autograder.grading.results import BONUS_TAG
from autograder.grading.runner import check_catalogue
from autograder.paths import REPO_ROOT
from autograder.platforms.otter import (
    EXTRA_CREDIT_PLUGIN,
    OTTER_IGNORE_TAG,
    TORCH_CPU_INDEX,
    ExportError,
    export_otter,
    otter_edition,
    otter_test_name,
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
        "tests",  # the public tests, which the notebook's check("...") cells run
    ]
    public = sorted(p.name for p in (student / "tests").iterdir())
    assert public == ["conftest.py", "test_public.py"]
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
    # the grader at the zip's root: /autograder/source on Gradescope, where the plugin is
    # imported from, and ../source for the tests, run in /autograder/submission
    assert "autograder/grading/checks/conftest.py" in names
    assert "autograder/platforms/runtime.py" in names
    shipped = {n.split("/")[1] for n in names if n.startswith("autograder/")}
    assert shipped == {"__init__.py", "paths.py", "files.py", "grading", "sandbox", "platforms"}
    platforms = {n.split("/")[2] for n in names if n.startswith("autograder/platforms/")}
    assert platforms == {"__init__.py", "runtime.py", "otter_extra_credit.py"}
    assert "solutions/batchnorm_gradclip_exercise.py" in names
    assert not any(n.startswith("files/") for n in names)
    catalogue = check_catalogue()
    bonus = [otter_test_name(c) for c in catalogue if c.tag == BONUS_TAG]
    assert bonus and config["plugins"] == [{EXTRA_CREDIT_PLUGIN: {"tests": bonus}}]
    # PyTorch's CPU wheels on Gradescope: its index, and pins only its CPU builds match
    import yaml  # otter's own dependency

    deps = yaml.safe_load(environment)["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert f"--extra-index-url={TORCH_CPU_INDEX}" in pip
    assert any(p.startswith("torch==") and "+cpu" in p for p in pip)
    assert any(p.startswith("torchvision==") and "+cpu" in p for p in pip)
    assert any(p.startswith("nbformat==") for p in pip)
    assert len(tests) == len(catalogue)
    for check in catalogue:
        assert any(f"assert_check_passed({check.number!r})" in s for s in sources), check.number
        assert any(f"points = {float(check.max_score)!r}" in s for s in sources)
    # the test files name the checks; their source stays in the grader
    shown = dict(zip(tests, sources, strict=True))
    for path in sorted(student.rglob("*")):
        if path.is_file():
            shown[f"student/{path.relative_to(student)}"] = path.read_text(encoding="utf-8")
    assert hidden_check_leaks(shown) == []


def test_requirements_take_torch_from_the_cpu_wheel_index():
    """Whatever build is installed here (2.14.1+cu130 from PyPI, +cpu from PyTorch's index),
    Gradescope gets the CPU build of the same version: the index first, ``+cpu`` pins on the
    x86-64 machines it grades on, the public version elsewhere; the rest from PyPI."""
    from packaging.requirements import Requirement

    versions = {"torch": "2.14.1+cu130", "torchvision": "0.29.1+cpu"}
    text = requirements_text(version=lambda name: versions.get(name, "1.2.3"))
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[0] == f"--extra-index-url={TORCH_CPU_INDEX}"
    reqs = [Requirement(line) for line in lines[1:]]
    x86 = {"platform_machine": "x86_64"}
    arm = {"platform_machine": "aarch64"}

    def pins(env: dict[str, str]) -> dict[str, str]:
        return {
            r.name: str(r.specifier) for r in reqs if r.marker is None or r.marker.evaluate(env)
        }

    assert pins(x86)["torch"] == "==2.14.1+cpu" and pins(x86)["torchvision"] == "==0.29.1+cpu"
    assert pins(arm)["torch"] == "==2.14.1" and pins(arm)["torchvision"] == "==0.29.1"
    assert pins(x86)["nbformat"] == pins(arm)["nbformat"] == "==1.2.3"
    assert "cu130" not in text


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
        "from autograder.platforms import command\n"
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


def test_the_plugin_is_importable_where_gradescope_runs_otter(export: Path, tmp_path: Path):
    """Gradescope runs ``python /autograder/source/run_otter.py``: the zip's root is first on
    the grading process's path, and the plugin must come from there, not from elsewhere."""
    source = tmp_path / "autograder" / "source"
    with zipfile.ZipFile(export / "autograder.zip") as zf:
        zf.extractall(source)
    probe = source / "probe.py"
    probe.write_text(
        "import importlib, json\n"
        f"module, _, name = {EXTRA_CREDIT_PLUGIN!r}.rpartition('.')\n"
        "plugin = getattr(importlib.import_module(module), name)\n"
        "print(json.dumps(importlib.import_module(plugin.__module__).__file__))\n"
    )
    proc = subprocess.run(
        [sys.executable, str(probe)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    path = json.loads(proc.stdout)
    assert Path(path).is_relative_to(source), path


def otter_run(zip_path: Path, submission: Path, out_dir: Path) -> tuple[dict, float]:
    """``otter run -a autograder.zip SUBMISSION``: its results.json and the seconds it took.

    Otter imports the extra credit plugin from the installed package, as on an instructor's
    machine: here, the package under test (``PYTHONPATH``), whatever else is installed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "otter", "run", "-a", str(zip_path), "-o", str(out_dir)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    started = time.monotonic()
    proc = subprocess.run(
        [*cmd, "--no-logo", str(submission)],
        cwd=submission.parent,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env=env,
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
    # the same maximum as ours (100): the bonus tests are extra credit, worth 0 points
    possible = sum(t.get("max_score", 0) or 0 for t in theirs["tests"])
    assert possible == pytest.approx(ours["max_score"]) == 100
    bonus = {c.number for c in check_catalogue() if c.tag == BONUS_TAG}
    for test in theirs["tests"]:
        if test["name"].split(" ", 1)[0] in bonus:
            assert test["max_score"] == 0
    # otter's own verdict, not only its agreement with ours
    assert len(_otter_scores(theirs)) == len(check_catalogue())
    if kind == "reference":
        full = sum(c.max_score for c in check_catalogue())  # 110: full marks and the bonus
        assert total == pytest.approx(full), "the reference must get full marks"
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
        assert f"assignment/data/{archive.name}" in names
    # a second export into the same directory is refused, and says how to proceed, on stderr
    capsys.readouterr()
    assert main(["export", "otter", str(tmp_path / "out")]) == 2
    said = capsys.readouterr()
    assert said.out == "" and "export otter: error:" in said.err and "--force" in said.err
