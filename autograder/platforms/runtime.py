"""What otter-grader's test files and nbgrader's test cells call at grading time.

Both platforms execute the student's notebook in a Jupyter kernel, then run their tests in that
same kernel. Our tests do not look at the kernel's variables: the first one grades the submitted
file with our grader in a fresh process (``python -m autograder.platforms.runtime FILE --out JSON``,
which isolates the student's code in the sandbox as ``autograder grade`` does), and every test
then reads its own check's verdict from that one result. The platform's score for a check is
therefore exactly our score for it, and the check's source never reaches the kernel, the
notebook or the feedback: only the check's name and our student-facing feedback do.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import autograder
from autograder.grading.process import end_with_students_on_sigterm, run_grading_process
from autograder.grading.results import BONUS_TAG
from autograder.sandbox.names import EXERCISE_FILE, EXERCISE_NOTEBOOK

# How long the grading process may take. Clearly below nbgrader's cell timeout (the exported
# config sets 900 s: autograder.platforms.nbgrader.CELL_TIMEOUT_S), so that a grading that hangs
# ends with our message, not with nbgrader's "CellTimeoutError". Grading takes 10-60 s; the
# slowest legitimate case (every probe of a slow submission timing out) stays well under this.
GRADING_TIMEOUT_S = 600.0

# How a bonus check's nbgrader cell gives its points (nbgrader_extra_credit stores them as
# extra credit): display data of this type, ``{"check": "6.1", "points": 3.0}``.
EXTRA_CREDIT_MIME = "application/vnd.bngc.extra-credit+json"

_results: dict[str, Any] | None = None  # the results JSON of this kernel's submission
_failure: GradingFailed | None = None  # why grading it failed, if it did (not retried)


class GradingFailed(RuntimeError):
    """Our grader did not produce results (not a verdict on the student's code)."""


def locate_submission(directory: str | Path | None = None) -> Path:
    """The submitted file in ``directory`` (default: the working directory of the kernel).

    The exercise notebook or script by name first (both: the directory itself, and ``grade``
    grades the edition that differs from the released template); otherwise the only ``.ipynb``
    there (Gradescope keeps the name the student uploaded), otherwise the only ``.py``.
    """
    directory = Path.cwd() if directory is None else Path(directory)
    named = [directory / n for n in (EXERCISE_NOTEBOOK, EXERCISE_FILE) if (directory / n).is_file()]
    if len(named) == 2:
        return directory
    if named:
        return named[0]
    for pattern in ("*.ipynb", "*.py"):
        found = [p for p in sorted(directory.glob(pattern)) if p.name != "__init__.py"]
        if len(found) == 1:
            return found[0]
    raise GradingFailed(f"no {EXERCISE_NOTEBOOK} or {EXERCISE_FILE} in {directory}")


def grade_in_subprocess(submission: Path, *, timeout: float = GRADING_TIMEOUT_S) -> dict[str, Any]:
    """Grade ``submission`` in a fresh Python process; return the results JSON as a dict."""
    package_parent = Path(autograder.__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="bngc-results-") as tmp:
        out = Path(tmp) / "results.json"
        cmd = [sys.executable, "-m", "autograder.platforms.runtime", str(submission.resolve())]
        try:
            proc = run_grading_process(
                [*cmd, "--out", str(out)],
                cwd=package_parent,  # the same grader package as this one
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise GradingFailed(
                f"the grader did not finish within {timeout:.0f} s (it normally takes under a "
                "minute); the machine may be overloaded: regrade this submission"
            ) from None
        if not out.is_file():
            raise GradingFailed(
                f"the grader exited with status {proc.returncode} without results:\n"
                f"{proc.stdout[-2000:]}{proc.stderr[-4000:]}"
            )
        return json.loads(out.read_text(encoding="utf-8"))


def results() -> dict[str, Any]:
    """The results of this kernel's submission, graded on first use.

    Graded once: when that fails, every later call raises the same ``GradingFailed`` at once
    (each test cell would otherwise wait for a grading of its own).
    """
    global _results, _failure
    if _failure is not None:
        raise _failure
    if _results is None:
        try:
            _results = grade_in_subprocess(locate_submission())
        except GradingFailed as exc:
            _failure = exc
            raise
    return _results


def check_result(number: str) -> dict[str, Any]:
    """The results entry of check ``number`` (e.g. ``"1.3"``)."""
    data = results()
    for test in data["tests"]:
        if test.get("number") == number:
            return test
    reason = data.get("extra_data", {}).get("reason") or data.get("output", "")
    raise GradingFailed(f"check {number} was not run: {reason}")


def feedback(test: dict[str, Any]) -> str:
    """What a student reads about one check."""
    head = f"{test['number']} {test['name']}: {test['score']:g}/{test['max_score']:g}"
    return head + (f"\n{test['output']}" if test.get("output") else "")


def assert_check_passed(number: str) -> None:
    """For otter's test cases: raise ``AssertionError`` (our feedback) unless the check passed."""
    test = check_result(number)
    if test["status"] != "passed":
        raise AssertionError(feedback(test))


def nbgrader_check(number: str) -> float | None:
    """For nbgrader's test cells: print the check's feedback, return its score.

    The feedback is the check's number, name and score, then (for a failed check) what to fix.
    The returned float is the cell's value, which nbgrader records as the cell's (partial)
    credit; nothing goes to stderr, which nbgrader would score 0. A bonus check's cell is worth
    0 points (extra credit): it returns nothing and displays its points as
    ``EXTRA_CREDIT_MIME`` data, which ``nbgrader_extra_credit`` stores as the cell's extra
    credit. When grading failed (no results), ``GradingFailed`` is raised: nbgrader scores the
    cell 0 and shows its message.
    """
    test = check_result(number)
    print(feedback(test))
    if BONUS_TAG in (test.get("tags") or []):
        from IPython.display import display

        display({EXTRA_CREDIT_MIME: {"check": number, "points": float(test["score"])}}, raw=True)
        return None
    return float(test["score"])


# --------------------------------------------------------------------------------------------
# The grading process
# --------------------------------------------------------------------------------------------


def grade_to_json(*, submission: str | Path, out: str | Path) -> dict[str, Any]:
    """Grade a ``.py`` or ``.ipynb`` submission as ``autograder grade`` does; write ``out``.

    The notes about a notebook (its removed magics, ...) are part of the summary, once.
    """
    from autograder.grading.gradescope import to_gradescope
    from autograder.grading.runner import grade_and_write

    return to_gradescope(grade_and_write(submission=submission, out=out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.platforms.runtime")
    parser.add_argument("submission", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    end_with_students_on_sigterm()  # run_grader's SIGTERM, when grading took too long
    from autograder.grading.runner import own_address_space_capped
    from autograder.grading.settings import GRADER_MEMORY_MB

    with own_address_space_capped(GRADER_MEMORY_MB):  # as `autograder grade` does
        data = grade_to_json(submission=args.submission, out=args.out)
    return 1 if data.get("extra_data", {}).get("grading_status") == "grader_error" else 0


if __name__ == "__main__":
    sys.exit(main())
