"""Under CI, every tool the suite depends on is present: a missing one fails here, loudly.

Tests that need a tool skip on a developer machine without it; in CI (``CI=true``) such a skip
would hide a broken setup, so this module turns each missing tool into a failure.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from autograder.paths import REPO_ROOT
from autograder.sandbox.isolation import bwrap_problem
from tests.tools import find_tool, skip_or_fail


def _requirements() -> dict[str, str | None]:
    """What the suite needs, each mapped to why it is missing (None when present)."""
    actionlint = REPO_ROOT / "tools" / "actionlint" / "node_modules" / "@tktco" / "node-actionlint"
    return {
        "bubblewrap": bwrap_problem(),
        "chromium": None if Path("/usr/bin/chromium").exists() else "/usr/bin/chromium missing",
        "node": None if shutil.which("node") else "node is not on PATH",
        "actionlint (npm)": None if actionlint.is_dir() else f"{actionlint} missing (npm ci)",
        "playwright": None if importlib.util.find_spec("playwright") else "pip extra [dev]",
        "zizmor": None if find_tool("zizmor") else "pip extra [dev]",
        "Fashion-MNIST (Debian)": None
        if Path("/usr/share/datasets/fashion-mnist").is_dir()
        else "apt-get install dataset-fashion-mnist",
        "otter-grader": None if importlib.util.find_spec("otter") else "pip extra [otter]",
        "nbgrader": None if importlib.util.find_spec("nbgrader") else "pip extra [nbgrader]",
    }


@pytest.mark.parametrize("tool", sorted(_requirements()))
def test_tool_is_available_in_ci(tool):
    problem = _requirements()[tool]
    message = f"CI lacks {tool}: {{problem}}; .ci/run and scripts/setup.sh must install it"
    skip_or_fail(problem, ci_message=message)
