"""The public tests students get pass on the reference and fail, with a reason, on the template."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from autograder.paths import ASSIGNMENT_DIR, SOLUTION_PATH, TEMPLATE_PATH


def run_public_tests(exercise) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(ASSIGNMENT_DIR / "tests"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "BNGC_EXERCISE": str(exercise)},
        cwd=ASSIGNMENT_DIR,
        check=False,
    )


@pytest.mark.slow
def test_public_tests_pass_on_the_reference():
    proc = run_public_tests(SOLUTION_PATH)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "9 passed" in proc.stdout


@pytest.mark.slow
def test_public_tests_fail_on_the_template():
    proc = run_public_tests(TEMPLATE_PATH)
    assert proc.returncode == 1
    assert "8 failed, 1 skipped" in proc.stdout
    assert "NotImplementedError" in proc.stdout
