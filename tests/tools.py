"""What the tests need from the machine: skip without it on a developer machine, fail under CI.

In CI (``CI=true``) a skipped test would hide a broken setup, so a missing tool is a failure
there; elsewhere the tests that need it skip with the reason.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest


def in_ci() -> bool:
    """Whether the tests run in CI (read at call time, so tests can monkeypatch ``CI``)."""
    return os.environ.get("CI", "").lower() == "true"


def skip_or_fail(
    problem: str | None, *, ci_message: str | None = None, ci: bool | None = None
) -> None:
    """Nothing when ``problem`` is None; else skip, or under CI fail.

    ``ci_message`` is the failure's text, with ``{problem}`` replaced; ``ci`` overrides
    ``in_ci()`` (for the tests of this very rule).
    """
    if problem is None:
        return
    if in_ci() if ci is None else ci:
        template = ci_message or "{problem}; CI=true, so this is a failure, not a skip"
        pytest.fail(template.format(problem=problem))
    pytest.skip(problem)


def find_tool(name: str) -> str | None:
    """A command from this interpreter's environment (the venv's bin), else from PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)
