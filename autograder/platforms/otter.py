"""``python -m autograder export otter OUT_DIR``: the assignment for otter-grader on Gradescope.

Writes::

    OUT_DIR/student/batchnorm_gradclip_exercise.ipynb   what students get (with exercise_utils.py)
    OUT_DIR/autograder.zip                              the Gradescope autograder (otter generate)

The zip holds one otter test file per hidden check (``tests/check_<section>_<nn>.py``, points equal
to ours). Each test case calls ``autograder.platforms.runtime.assert_check_passed("<number>")``: the
first one grades the submitted notebook once with our isolated grader, every test then reads its
own verdict, so otter's score is our score. The grader itself (package with the hidden checks,
the reference solution, ``exercise_utils.py``) travels in the zip's ``files/``, which otter copies
next to the submission; ``requirements.txt`` lists what Gradescope must install.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from autograder.grading.results import TestResult
from autograder.paths import ASSIGNMENT_DIR, REPO_ROOT, SOLUTION_PATH

PACKAGE_DIR = REPO_ROOT / "autograder"
EXERCISE_UTILS = ASSIGNMENT_DIR / "exercise_utils.py"
OTTER_IGNORE_TAG = "otter_ignore"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# The grader's folder in the zip's files/ (otter copies it into the submission directory). A
# folder of its own, without __init__.py: otter puts __init__.py files in the directories above,
# which would give pytest wrong module names for the hidden checks.
GRADER_DIR = "bngc_grader"
# What of this package the zip ships: grading and the sandbox, the runtime the tests call, and
# the top-level modules they import (nothing of GitHub delivery, authoring or the scoreboard)
ZIP_PACKAGES = ("grading", "sandbox")
ZIP_MODULES = (
    "__init__.py",
    "paths.py",
    "files.py",
    "platforms/__init__.py",
    "platforms/runtime.py",
)

# What the grader needs at grading time, beyond what otter installs itself.
RUNTIME_REQUIREMENTS = ("torch", "torchvision", "numpy", "matplotlib", "pytest", "tqdm")
NOTEBOOK_REQUIREMENTS = ("nbformat", "ipython")

OTTER_CONFIG = {
    "lang": "python",
    "show_stdout": False,  # the student's own prints are in our feedback where they matter
    "show_hidden": True,
    "pdf": False,
    "zips": False,
}

TEST_FILE_TEMPLATE = '''\
"""Check {number} ({points:g} points): run by the course's grader, not defined in this file."""

from otter.test_files import test_case

OK_FORMAT = False

name = {name!r}
points = {points!r}


@test_case(points={points!r}, hidden=False)
def check_{ident}():
    import sys
    from pathlib import Path

    grader = str(Path({grader_dir!r}).resolve())  # otter copied it beside the submission
    if grader not in sys.path:
        sys.path.insert(0, grader)
    from autograder.platforms.runtime import assert_check_passed

    assert_check_passed({number!r})
'''


class ExportError(RuntimeError):
    """The export cannot be written (existing output, missing tool); the message says why."""


def otter_edition(nb: object) -> object:
    """``nb`` with its experiment cells marked for otter to skip while grading (in place)."""
    from autograder.authoring.notebooks import with_tags
    from autograder.grading.notebook_script import EXPERIMENT_TAG

    nb.cells = [
        with_tags(c, [OTTER_IGNORE_TAG]) if EXPERIMENT_TAG in c.metadata.get("tags", []) else c
        for c in nb.cells
    ]
    return nb


def test_file_name(check: TestResult) -> str:
    section, _, index = check.number.partition(".")
    return f"check_{int(section)}_{int(index or 0):02d}.py"


def test_file_source(check: TestResult) -> str:
    """An otter exception-based test file for one of our checks (names and points only)."""
    return TEST_FILE_TEMPLATE.format(
        number=check.number,
        name=f"{check.number} {check.name}",
        points=float(check.max_score),
        ident=check.number.replace(".", "_"),
        grader_dir=GRADER_DIR,
    )


def public_version(version: str) -> str:
    """``version`` without its PEP 440 local label: ``2.14.1+cpu`` -> ``2.14.1``.

    PyPI has no local versions (``+cpu``, ``+cu121`` come from PyTorch's own index), so a pin
    with one cannot be installed on Gradescope.
    """
    return version.split("+", 1)[0]


def requirements_text(*, version: Callable[[str], str] = metadata.version) -> str:
    """Pinned to the versions this export was made and tested with (as published on PyPI).

    ``version(name)`` gives an installed distribution's version (``importlib.metadata``'s).
    """
    lines = ["# installed by otter's setup.sh on Gradescope"]
    for name in (*RUNTIME_REQUIREMENTS, *NOTEBOOK_REQUIREMENTS):
        try:
            lines.append(f"{name}=={public_version(version(name))}")
        except metadata.PackageNotFoundError:
            lines.append(name)
    return "\n".join(lines) + "\n"


def _prepare_out_dir(out_dir: Path, *, force: bool) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        if not force:
            raise ExportError(f"{out_dir} is not empty: choose another directory or pass --force")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)


def fashion_mnist_archives() -> list[Path]:
    """The four Fashion-MNIST ``.gz`` files on this machine ($FASHION_MNIST_ROOT or Debian's)."""
    folders = [Path(p) for p in (os.environ.get("FASHION_MNIST_ROOT"),) if p]
    folders += [Path(p) / "FashionMNIST" / "raw" for p in folders] + [DEBIAN_FASHION_MNIST]
    for folder in folders:
        found = [folder / f"{name}.gz" for name in FASHION_MNIST_FILES]
        if all(f.is_file() for f in found):
            return found
    raise ExportError(
        "--with-data: the four Fashion-MNIST .gz files are in neither $FASHION_MNIST_ROOT nor "
        f"{DEBIAN_FASHION_MNIST} (sudo apt-get install dataset-fashion-mnist)"
    )


def _stage_grader(stage: Path, *, with_data: bool = False) -> list[str]:
    """Copy what the grader needs under ``stage``; return the paths for otter's ``files``."""
    root = stage / GRADER_DIR
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for package in ZIP_PACKAGES:
        shutil.copytree(PACKAGE_DIR / package, root / "autograder" / package, ignore=ignore)
    for module in ZIP_MODULES:
        (root / "autograder" / module).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PACKAGE_DIR / module, root / "autograder" / module)
    (root / "solutions").mkdir()
    shutil.copy(SOLUTION_PATH, root / "solutions" / SOLUTION_PATH.name)
    (root / "assignment").mkdir()
    shutil.copy(EXERCISE_UTILS, root / "assignment" / EXERCISE_UTILS.name)
    if with_data:  # exercise_utils.py finds the .gz files in data/ beside it, offline
        (root / "assignment" / "data").mkdir()
        for archive in fashion_mnist_archives():
            shutil.copy(archive, root / "assignment" / "data" / archive.name)
    return [GRADER_DIR]


def export_otter(*, out_dir: Path, force: bool = False, with_data: bool = False) -> list[Path]:
    """Write the student notebook and ``autograder.zip`` for otter-grader into ``out_dir``.

    ``with_data`` puts Fashion-MNIST (30 MB) into the zip, so that grading on Gradescope needs
    no download.
    """
    from autograder.grading.notebook_script import require

    # first: otter.generate imports nbformat itself, and its ModuleNotFoundError is not ours to
    # explain below (NotebookSupportMissing says which extra to install)
    nbformat = require("nbformat")
    try:
        from otter.generate import main as otter_generate
        from otter.utils import chdir
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("otter"):
            raise
        raise ExportError(
            "otter-grader is not installed: pip install -e '.[otter,notebooks]'"
        ) from None

    from autograder.authoring.notebooks import notebook_text, student_notebook
    from autograder.grading.runner import check_catalogue
    from autograder.sandbox.names import EXERCISE_NOTEBOOK

    out_dir = Path(out_dir).resolve()
    if with_data:
        fashion_mnist_archives()  # fail before writing anything
    _prepare_out_dir(out_dir, force=force)
    checks = sorted(check_catalogue(), key=lambda c: [int(p) for p in c.number.split(".")])
    if not checks:
        raise ExportError("the grader has no checks to export")

    student_dir = out_dir / "student"
    student_dir.mkdir()
    notebook = student_dir / EXERCISE_NOTEBOOK
    nb = otter_edition(student_notebook())
    nbformat.validate(nb)
    notebook.write_text(notebook_text(nb), encoding="utf-8")
    shutil.copy(EXERCISE_UTILS, student_dir / EXERCISE_UTILS.name)

    zip_path = out_dir / "autograder.zip"
    with tempfile.TemporaryDirectory(prefix="bngc-otter-") as tmp:
        stage = Path(tmp)
        tests = stage / "tests"
        tests.mkdir()
        for check in checks:
            (tests / test_file_name(check)).write_text(test_file_source(check), encoding="utf-8")
        (stage / "otter_config.json").write_text(json.dumps(OTTER_CONFIG, indent=2) + "\n")
        (stage / "requirements.txt").write_text(requirements_text(), encoding="utf-8")
        files = _stage_grader(stage, with_data=with_data)
        with chdir(stage):
            otter_generate(
                tests_dir="tests",
                output_path=str(zip_path),
                config="otter_config.json",
                requirements="requirements.txt",
                no_environment=True,
                files=files,
                python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
            )
    return [notebook, student_dir / EXERCISE_UTILS.name, zip_path]
