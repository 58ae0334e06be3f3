"""``python -m autograder export otter OUT_DIR``: the assignment for otter-grader on Gradescope.

Writes::

    OUT_DIR/student/batchnorm_gradclip_exercise.ipynb   what students get (with exercise_utils.py)
    OUT_DIR/autograder.zip                              the Gradescope autograder (otter generate)

The zip holds one otter test file per hidden check (``tests/check_<section>_<nn>.py``, points equal
to ours). Each test case calls ``autograder.platforms.runtime.assert_check_passed("<number>")``: the
first one grades the submitted notebook once with our isolated grader, every test then reads its
own verdict, so otter's score is our score. The bonus checks are extra credit
(``otter_extra_credit``): their points add to the score, not to the maximum, which is 100 as on
GitHub. The grader itself (package with the hidden checks, the reference solution,
``exercise_utils.py``) travels at the zip's root, which Gradescope extracts into
``/autograder/source``: the tests, run from ``/autograder/submission``, find it at
``../source``. ``requirements.txt`` (otter puts it into ``environment.yml``) lists what
Gradescope must install, with PyTorch's CPU wheels: the grading image has no GPU, and the
default (CUDA) build of torch would add its NVIDIA libraries to it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from autograder.grading.results import BONUS_TAG, TestResult
from autograder.paths import ASSIGNMENT_DIR, REPO_ROOT, SOLUTION_PATH

PACKAGE_DIR = REPO_ROOT / "autograder"
EXERCISE_UTILS = ASSIGNMENT_DIR / "exercise_utils.py"
PUBLIC_TESTS = ASSIGNMENT_DIR / "tests"  # what the notebook's check("...") cells run
OTTER_IGNORE_TAG = "otter_ignore"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# Where the tests find the grader: the zip's root, extracted into /autograder/source, seen from
# the submission directory the tests run in (/autograder/submission; ``otter run`` replicates
# the layout in a temporary directory). The folder has no __init__.py: otter puts __init__.py
# files into the directories above the submission, which would give pytest wrong module names
# for the hidden checks.
GRADER_PATH = "../source"
# What of this package the zip ships: grading and the sandbox, the runtime the tests call, the
# plugin otter loads, and the top-level modules they import (nothing of GitHub delivery,
# authoring or the scoreboard)
ZIP_PACKAGES = ("grading", "sandbox")
ZIP_MODULES = (
    "__init__.py",
    "paths.py",
    "files.py",
    "platforms/__init__.py",
    "platforms/runtime.py",
    "platforms/otter_extra_credit.py",
)
EXTRA_CREDIT_PLUGIN = "autograder.platforms.otter_extra_credit.BonusAsExtraCredit"

# What the grader needs at grading time, beyond what otter installs itself.
RUNTIME_REQUIREMENTS = ("torch", "torchvision", "numpy", "matplotlib", "pytest", "tqdm")
NOTEBOOK_REQUIREMENTS = ("nbformat", "ipython")
# PyTorch's CPU wheels: its own index (PyPI's Linux torch is the CUDA build, with several GB of
# NVIDIA packages). An extra index: everything else still comes from PyPI. The ``=`` form is
# one item of environment.yml's pip list, which conda writes into a requirements file and
# mamba passes to pip as an argument; both read it.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CPU_WHEELS = ("torch", "torchvision")  # published there as VERSION+cpu for x86-64 Linux

OTTER_CONFIG = {
    "lang": "python",
    "show_stdout": False,  # the student's own prints are in our feedback where they matter
    "show_hidden": True,
    "pdf": False,
    "zips": False,
}

TEST_FILE_TEMPLATE = '''\
"""Check {number} ({points:g} points{extra}): run by the course's grader, not defined in this
file."""

from otter.test_files import test_case

OK_FORMAT = False

name = {name!r}
points = {points!r}


@test_case(points={points!r}, hidden=False)
def check_{ident}():
    import sys
    from pathlib import Path

    grader = str(Path({grader_path!r}).resolve())  # the zip's root, beside the submission
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


def otter_test_name(check: TestResult) -> str:
    """The name otter gives the check's test (and Gradescope shows)."""
    return f"{check.number} {check.name}"


def test_file_source(check: TestResult) -> str:
    """An otter exception-based test file for one of our checks (names and points only)."""
    return TEST_FILE_TEMPLATE.format(
        number=check.number,
        name=otter_test_name(check),
        points=float(check.max_score),
        extra=", extra credit" if check.tag == BONUS_TAG else "",
        ident=check.number.replace(".", "_"),
        grader_path=GRADER_PATH,
    )


def otter_config(checks: list[TestResult]) -> dict[str, object]:
    """``otter_config.json``: our settings, and the plugin that makes the bonus extra credit."""
    bonus = [otter_test_name(c) for c in checks if c.tag == BONUS_TAG]
    plugins = [{EXTRA_CREDIT_PLUGIN: {"tests": bonus}}] if bonus else []
    return {**OTTER_CONFIG, "plugins": plugins}


def public_version(version: str) -> str:
    """``version`` without its PEP 440 local label: ``2.14.1+cpu`` -> ``2.14.1``.

    PyPI has no local versions (``+cpu``, ``+cu121`` come from PyTorch's own index), so a pin
    with one cannot be installed on Gradescope.
    """
    return version.split("+", 1)[0]


def requirements_text(*, version: Callable[[str], str] = metadata.version) -> str:
    """Pinned to the versions this export was made and tested with, torch and torchvision as
    PyTorch's CPU builds (``VERSION+cpu`` from its CPU index, on x86-64 Linux, which
    Gradescope runs; elsewhere the public version, which that index also serves).

    ``version(name)`` gives an installed distribution's version (``importlib.metadata``'s).
    """
    lines = [
        "# installed by otter's setup.sh on Gradescope; torch from PyTorch's CPU wheels",
        f"--extra-index-url={TORCH_CPU_INDEX}",
    ]
    for name in (*RUNTIME_REQUIREMENTS, *NOTEBOOK_REQUIREMENTS):
        try:
            pinned = public_version(version(name))
        except metadata.PackageNotFoundError:
            lines.append(name)
            continue
        if name in CPU_WHEELS:
            lines.append(f'{name}=={pinned}+cpu; platform_machine == "x86_64"')
            lines.append(f'{name}=={pinned}; platform_machine != "x86_64"')
        else:
            lines.append(f"{name}=={pinned}")
    return "\n".join(lines) + "\n"


def _prepare_out_dir(out_dir: Path, *, force: bool) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        if not force:
            raise ExportError(f"{out_dir} is not empty: choose another directory or pass --force")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)


def copy_public_tests(folder: Path) -> list[Path]:
    """Put the public tests beside the notebook (``folder/tests/``): its ``check("...")``
    cells run them, as ``pytest tests`` does beside the script. Returns the files written."""
    target = folder / "tests"
    target.mkdir(exist_ok=True)
    written = []
    for path in sorted(PUBLIC_TESTS.glob("*.py")):
        written.append(Path(shutil.copy(path, target / path.name)))
    return written


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


def _stage_grader(root: Path, *, with_data: bool = False) -> None:
    """Copy what the grader needs under ``root`` (the zip's root, once added to it)."""
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


def _add_to_zip(zip_path: Path, root: Path) -> None:
    """Every file under ``root`` into the zip, at the same relative path (otter's ``files``
    would put them under ``files/``, which Gradescope does not put on the grading process's
    path: the plugin must be importable there)."""
    with zipfile.ZipFile(zip_path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            zf.write(path, arcname=path.relative_to(root).as_posix())


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
    public_tests = copy_public_tests(student_dir)

    zip_path = out_dir / "autograder.zip"
    with tempfile.TemporaryDirectory(prefix="bngc-otter-") as tmp:
        stage = Path(tmp)
        tests = stage / "tests"
        tests.mkdir()
        for check in checks:
            (tests / test_file_name(check)).write_text(test_file_source(check), encoding="utf-8")
        config = otter_config(checks)
        (stage / "otter_config.json").write_text(json.dumps(config, indent=2) + "\n")
        (stage / "requirements.txt").write_text(requirements_text(), encoding="utf-8")
        with chdir(stage):
            otter_generate(
                tests_dir="tests",
                output_path=str(zip_path),
                config="otter_config.json",
                requirements="requirements.txt",
                no_environment=True,
                files=[],
                python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
            )
        grader = stage / "grader"
        _stage_grader(grader, with_data=with_data)
        _add_to_zip(zip_path, grader)
    return [notebook, student_dir / EXERCISE_UTILS.name, *public_tests, zip_path]
