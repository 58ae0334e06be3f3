"""What otter-grader's test files and nbgrader's test cells call at grading time.

Both platforms execute the student's notebook in a Jupyter kernel, then run their tests in that
same kernel. Our tests do not look at the kernel's variables: the first one grades the submitted
file with our grader in a fresh process (``python -m autograder.export.runtime FILE --out JSON``,
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
import time
from pathlib import Path
from typing import Any

import autograder
from autograder.paths import EXERCISE_FILE
from autograder.submission import EXERCISE_NOTEBOOK

GRADING_TIMEOUT_S = 900.0

_results: dict[str, Any] | None = None  # the results JSON of this kernel's submission


class GradingFailed(RuntimeError):
    """Our grader did not produce results (not a verdict on the student's code)."""


def locate_submission(directory: str | Path | None = None) -> Path:
    """The submitted file in ``directory`` (default: the working directory of the kernel).

    The exercise notebook or script by name first; otherwise the only ``.ipynb`` there
    (Gradescope keeps the name the student uploaded), otherwise the only ``.py``.
    """
    directory = Path.cwd() if directory is None else Path(directory)
    for name in (EXERCISE_NOTEBOOK, EXERCISE_FILE):
        if (directory / name).is_file():
            return directory / name
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
        cmd = [sys.executable, "-m", "autograder.export.runtime", str(submission.resolve())]
        proc = subprocess.run(
            [*cmd, "--out", str(out)],
            cwd=package_parent,  # the same grader package as this one
            capture_output=True,  # nothing on the kernel's stderr (nbgrader scores that 0)
            text=True,
            timeout=timeout,
            check=False,
        )
        if not out.is_file():
            raise GradingFailed(
                f"the grader exited with status {proc.returncode} without results:\n"
                f"{proc.stdout[-2000:]}{proc.stderr[-4000:]}"
            )
        return json.loads(out.read_text(encoding="utf-8"))


def results() -> dict[str, Any]:
    """The results of this kernel's submission, graded on first use."""
    global _results
    if _results is None:
        _results = grade_in_subprocess(locate_submission())
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


def nbgrader_check(number: str) -> float:
    """For nbgrader's test cells: print the feedback of a failed check, return its score.

    nbgrader reads a number as the cell's (partial) score; nothing goes to stderr.
    """
    test = check_result(number)
    print(feedback(test))
    return float(test["score"])


# --------------------------------------------------------------------------------------------
# The grading process
# --------------------------------------------------------------------------------------------


def grade_to_json(*, submission: str | Path, out: str | Path) -> dict[str, Any]:
    """Grade a ``.py`` or ``.ipynb`` submission as ``autograder grade`` does; write ``out``."""
    from autograder.formats import to_gradescope, write_json_atomic
    from autograder.grade import check_catalogue, grade_submission, grader_failure
    from autograder.results import COULD_NOT_GRADE, GradingResult
    from autograder.sandbox.client import become_subreaper, kill_descendants
    from autograder.submission import SubmissionNotFound, prepared_submission

    started = time.monotonic()
    become_subreaper()
    notes: tuple[str, ...] = ()
    try:
        try:
            with prepared_submission(submission) as prepared:
                notes = prepared.notes
                result = grade_submission(submission=prepared.path)
            result.submission = str(prepared.original)
            for test in result.tests:  # point into the notebook, not the extracted module
                test.output = prepared.translate(test.output)
            result.reason = prepared.translate(result.reason)
        except SubmissionNotFound as exc:  # nothing gradable: every check says why
            result = GradingResult(tests=check_catalogue(), status=COULD_NOT_GRADE, reason=str(exc))
            result.submission = str(submission)
            for test in result.tests:
                test.output = f"Not run: {exc}"
    except Exception as exc:
        result = grader_failure(str(submission), exc, time.monotonic() - started)
    finally:
        kill_descendants()
    result.extra["submission_notes"] = list(notes)
    data = to_gradescope(result)
    if notes:
        data["output"] = data["output"] + "\n" + "\n".join(f"Note: {n}" for n in notes)
    write_json_atomic(data, out)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.export.runtime")
    parser.add_argument("submission", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    data = grade_to_json(submission=args.submission, out=args.out)
    return 1 if data.get("extra_data", {}).get("grading_status") == "grader_error" else 0


if __name__ == "__main__":
    sys.exit(main())
