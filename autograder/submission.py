"""Find the file to grade from what the user passed on the command line."""

from __future__ import annotations

from pathlib import Path

from autograder.paths import EXERCISE_FILE


class SubmissionNotFound(Exception):
    """No gradable file at the given path; the message says what was expected."""


def resolve_submission(path: str | Path) -> Path:
    """Return the Python file to grade.

    ``path`` is the exercise file itself or a directory holding ``batchnorm_gradclip_exercise.py``.
    """
    path = Path(path)
    if path.is_dir():
        candidate = path / EXERCISE_FILE
        if candidate.is_file():
            return candidate
        raise SubmissionNotFound(
            f"no {EXERCISE_FILE} in {path}: submit the exercise file at the top of your repository"
        )
    if path.is_file():
        if path.suffix != ".py":
            raise SubmissionNotFound(f"{path} is not a Python file ({EXERCISE_FILE} expected)")
        return path
    raise SubmissionNotFound(f"{path} does not exist")
