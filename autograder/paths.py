"""Where things are in this repository."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT_DIR = REPO_ROOT / "assignment"
SOLUTIONS_DIR = REPO_ROOT / "solutions"
CHECKS_DIR = Path(__file__).resolve().parent / "grading" / "checks"

EXERCISE_FILE = "batchnorm_gradclip_exercise.py"
TEMPLATE_PATH = ASSIGNMENT_DIR / EXERCISE_FILE
SOLUTION_PATH = SOLUTIONS_DIR / EXERCISE_FILE
# shipped beside the exercise file; the grader puts its own copy beside every submission
EXERCISE_UTILS_PATH = ASSIGNMENT_DIR / "exercise_utils.py"
