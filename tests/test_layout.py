"""The package's layout holds: dependencies point one way, and commands start light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.cli import COMMANDS
from autograder.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "autograder"
# what each subpackage may import of the others (besides the top-level glue modules)
ALLOWED = {
    "sandbox": set(),
    "grading": {"sandbox"},
    "authoring": {"grading", "sandbox"},
    "github": {"authoring", "grading", "sandbox"},
    "platforms": {"authoring", "grading", "sandbox"},
    "scoreboard": {"grading"},
    "similarity": {"authoring", "grading", "sandbox"},
    "export": {"platforms"},
}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found.update(names if node.module == "autograder" else [node.module])
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("autograder.")}


def test_every_subpackage_is_known():
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()} == set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_dependencies_point_one_way(package: str):
    wrong = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        for module in _imports(path):
            other = module.split(".")[1]
            if (PACKAGE / other).is_dir() and other != package and other not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(REPO_ROOT)} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_the_sandbox_imports_nothing_outside_itself():
    """The student process mounts the sandbox package alone: only relative imports inside it."""
    for path in sorted((PACKAGE / "sandbox").glob("*.py")):
        assert not _imports(path), path.name


def test_no_command_imports_torch_or_matplotlib_before_it_runs():
    script = (
        "import sys\n"
        "from autograder.cli import build_parser\n"
        f"for name in {sorted(COMMANDS)!r}:\n"
        "    build_parser([name])\n"
        "heavy = sorted({'torch', 'matplotlib', 'pytest'} & set(sys.modules))\n"
        "print(','.join(heavy))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    assert proc.stdout.strip() == ""


def test_version_and_help_answer_without_loading_a_command():
    for args in (["--version"], ["--help"]):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "autograder", *args],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            check=False,
        )
        assert proc.returncode == 0
        loaded = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
        assert not any(m.startswith(("autograder.grading", "autograder.github")) for m in loaded)
        assert "torch" not in loaded
