"""Where things are in this repository."""

from __future__ import annotations

from pathlib import Path

from autograder.sandbox.names import EXERCISE_FILE, EXERCISE_UTILS_FILE

REPO_ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT_DIR = REPO_ROOT / "assignment"
SOLUTIONS_DIR = REPO_ROOT / "solutions"
CHECKS_DIR = Path(__file__).resolve().parent / "grading" / "checks"

TEMPLATE_PATH = ASSIGNMENT_DIR / EXERCISE_FILE
SOLUTION_PATH = SOLUTIONS_DIR / EXERCISE_FILE
# shipped beside the exercise file; the grader puts its own copy beside every submission
EXERCISE_UTILS_PATH = ASSIGNMENT_DIR / EXERCISE_UTILS_FILE
