"""The code base stays clean under the ruff configuration in pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from autograder.paths import REPO_ROOT


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )


pytestmark = pytest.mark.skipif(
    shutil.which("ruff") is None and ruff("--version").returncode != 0, reason="ruff not installed"
)


def test_ruff_check():
    proc = ruff("check", ".")
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_ruff_format():
    proc = ruff("format", "--check", ".")
    assert proc.returncode == 0, proc.stdout[-4000:]
