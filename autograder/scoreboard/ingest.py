"""Read a results directory written by ``grade-repos``: one ``<student>.json`` per student.

Each file is the grader's results.json (CONTRACT.md section 3) plus the keys ``student``,
``repo``, ``commit``, ``committed_at``, ``late``, ``tampered``, ``error``, ``grader_version`` and
``graded_at`` (CONTRACT section 4), and, from later versions of grade-repos, ``run_id``,
``deadline``, the late policy's ``raw_score``, ``late_days`` and ``penalty`` (``score`` is then
after the penalty), and the written ``answers`` with their ``answers_source``; files without
them are read as before. A file that cannot be read is reported as a ``Problem`` and skipped;
it never stops the others: whatever goes wrong with one file (bad JSON, NaN or Infinity where a
number belongs, nesting deep enough to exhaust the decoder, an unexpected exception) is caught
here and reported with its exception type.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from autograder.grading.gradescope import from_gradescope
from autograder.grading.results import (
    COULD_NOT_GRADE,
    GRADER_ERROR,
    STATUSES,
    GradingResult,
    clean_text,
)
from autograder.scoreboard.model import Problem, Submission, utc

# Largest results file we read: a real one is a few tens of KB (feedback and captured output).
MAX_FILE_BYTES = 20 * 1024 * 1024
# Deepest nesting of arrays/objects we accept: a real results file is 4 levels deep.
MAX_DEPTH = 32
# What is kept of one written answer, and how many answers (grade-repos caps them at 5,000).
MAX_ANSWER_CHARS = 5_000
MAX_ANSWERS = 50


def read_results_dir(
    results_dir: Path, *, fallback_run_id: str = ""
) -> tuple[list[Submission], list[Problem]]:
    """Every ``*.json`` file directly in ``results_dir`` (sorted), parsed, plus the problems.

    ``fallback_run_id`` is the run of files that do not name theirs (written before
    grade-repos had ``run_id``); by default, the directory's own path.
    """
    submissions: list[Submission] = []
    problems: list[Problem] = []
    fallback = fallback_run_id or str(results_dir)
    for path in sorted(Path(results_dir).glob("*.json")):
        if path.name.startswith("."):
            continue  # a temporary file of an atomic write in progress
        sub, file_problems = read_results_file(path, fallback_run_id=fallback)
        problems.extend(file_problems)
        if sub is not None:
            submissions.append(sub)
    return submissions, problems


def read_results_file(
    path: Path, *, fallback_run_id: str = ""
) -> tuple[Submission | None, list[Problem]]:
    """One results file: the submission (or None when skipped) and any problems found.

    Never raises (short of ``KeyboardInterrupt``): a file that cannot be used is a skipped
    ``Problem`` saying why.
    """
    source = str(path)
    try:
        return _read_results_file(path, source, fallback_run_id or str(Path(path).parent))
    except Exception as exc:  # one file must never stop the board; say what happened
        return None, [Problem(source, f"could not be read: {type(exc).__name__}: {exc}")]


def _read_results_file(
    path: Path, source: str, fallback_run_id: str
) -> tuple[Submission | None, list[Problem]]:
    try:
        raw = path.read_bytes()
        fallback_time = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
    except OSError as exc:
        return None, [Problem(source, f"cannot read the file: {exc.strerror or exc}")]
    if len(raw) > MAX_FILE_BYTES:
        return None, [Problem(source, f"file too large ({len(raw)} bytes)")]
    try:
        data = json.loads(
            raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float
        )
    except UnicodeDecodeError as exc:
        return None, [Problem(source, f"not UTF-8 text: {exc.reason}")]
    except json.JSONDecodeError as exc:
        return None, [Problem(source, f"not valid JSON (truncated or partial?): {exc}")]
    except _NonFinite as exc:
        return None, [Problem(source, f"not valid JSON: {exc}")]
    except RecursionError:
        return None, [Problem(source, f"not valid JSON: nested more than {MAX_DEPTH} levels deep")]
    try:
        check_json_values(data)
        return parse_submission(
            data,
            source=source,
            fallback_student=path.stem,
            fallback_time=fallback_time,
            fallback_run_id=fallback_run_id,
        )
    except ValueError as exc:
        return None, [Problem(source, str(exc))]


class _NonFinite(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    """``json.loads`` hook: Python accepts ``NaN``/``Infinity``, JSON (and a score) does not."""
    raise _NonFinite(f"{name} is not a number JSON allows (a score must be finite)")


def _finite_float(text: str) -> float:
    """``json.loads`` hook: a literal too large for a float (``1e999``) would read as infinity."""
    value = float(text)
    if not math.isfinite(value):
        raise _NonFinite(f"non-finite number {value!r} ({text} overflows; a score must be finite)")
    return value


def check_json_values(data: Any) -> None:
    """ValueError unless ``data`` is at most ``MAX_DEPTH`` arrays/objects deep.

    Iterative, so that no input can exhaust the stack. (Non-finite numbers never get this far:
    the ``json.loads`` hooks above reject them.)
    """
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth >= MAX_DEPTH:
                raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)


def parse_submission(
    data: Any,
    *,
    source: str = "",
    fallback_student: str = "",
    fallback_time: datetime | None = None,
    fallback_run_id: str = "",
) -> tuple[Submission, list[Problem]]:
    """A ``Submission`` from one decoded results file; raises ValueError when unusable.

    Missing optional keys are tolerated with a warning (a ``Problem`` with ``skipped=False``).
    """
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, found {type(data).__name__}")
    warnings: list[str] = []
    student = data.get("student", fallback_student)
    if not isinstance(student, str) or not student.strip():
        raise ValueError("no student name ('student' key missing or empty)")
    student = student.strip()
    if "student" not in data:
        warnings.append(f"no 'student' key; named after the file: {student!r}")

    error = data.get("error")
    if error is not None and not isinstance(error, str):
        error = json.dumps(error)
    error = error or None

    if error and not data.get("tests"):
        # a row that could not be graded may carry no tests at all
        extra = data.get("extra_data")
        extra = extra if isinstance(extra, dict) else {}
        result = GradingResult(
            tests=[],
            status=str(extra.get("grading_status") or COULD_NOT_GRADE),
            reason=str(extra.get("reason") or error),
            grader_version=str(extra.get("grader_version", "")),
        )
    else:
        try:
            result = from_gradescope(data)  # ValueError when the tests are malformed
        except (TypeError, AttributeError, KeyError) as exc:  # e.g. extra_data not an object
            raise ValueError(f"malformed results: {type(exc).__name__}: {exc}") from exc
        _check_finite(result)
    if result.status not in STATUSES:
        warnings.append(
            f"unknown grading status {result.status!r} (expected one of {', '.join(STATUSES)}); "
            f"read as {GRADER_ERROR!r}: no verdict on the student's code"
        )
        result.status = GRADER_ERROR
    late_days, penalty = _late_policy(data, warnings)
    if data.get("tests"):
        _check_totals(data, result, penalty, warnings)

    graded_at = _parse_time(data.get("graded_at"), "graded_at", warnings)
    if graded_at is None:
        if fallback_time is None:
            raise ValueError("no usable 'graded_at' time")
        graded_at = fallback_time
        warnings.append("no usable 'graded_at'; used the file's modification time")
    committed_at = _parse_time(data.get("committed_at"), "committed_at", warnings)

    tampered = data.get("tampered") or []
    if isinstance(tampered, str):
        tampered = [tampered]
    if not isinstance(tampered, list):
        warnings.append("'tampered' is not a list of paths; shown as is")
        tampered = [json.dumps(tampered)]

    late = data.get("late", False)
    if not isinstance(late, bool):
        warnings.append(f"'late' is not true/false ({late!r}); read as {bool(late)}")
        late = bool(late)

    grader_version = str(data.get("grader_version") or result.grader_version or "")
    run_id = data.get("run_id")
    if run_id is not None and (not isinstance(run_id, (str, int)) or not str(run_id).strip()):
        warnings.append(f"'run_id' is not a run's name ({run_id!r}); ignored")
        run_id = None
    answers, answers_source = _answers(data, warnings)
    sub = Submission(
        student=student,
        result=result,
        graded_at=graded_at,
        repo=_text(data.get("repo")),
        commit=_text(data.get("commit")),
        committed_at=committed_at,
        late=late,
        tampered=tuple(str(p) for p in tampered),
        error=error,
        grader_version=grader_version,
        source_file=source,
        fingerprint=fingerprint(data),
        run_id=str(run_id).strip() if run_id is not None else fallback_run_id,
        deadline=_parse_time(data.get("deadline"), "deadline", warnings),
        late_days=late_days,
        penalty=penalty,
        answers=answers,
        answers_source=answers_source,
    )
    return sub, [Problem(source, w, skipped=False) for w in warnings]


def fingerprint(data: Any) -> str:
    """A hash of a results file's content, independent of key order and whitespace."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_time(value: str) -> datetime:
    """An ISO-8601 timestamp (``Z`` accepted) as an aware UTC datetime; ValueError if not."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    return utc(datetime.fromisoformat(text))


def _parse_time(value: Any, key: str, warnings: list[str]) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        warnings.append(f"'{key}' is not an ISO-8601 string: {value!r}")
        return None
    try:
        return parse_time(value)
    except ValueError:
        warnings.append(f"'{key}' is not an ISO-8601 time: {value!r}")
        return None


def _check_finite(result: GradingResult) -> None:
    """Totals a gradebook can store (``from_gradescope`` already refuses non-finite numbers)."""
    for key, total in (("score", result.score), ("max_score", result.max_score)):
        if not math.isfinite(total):  # finite scores whose sum overflows
            raise ValueError(f"the tests' total {key} is not a finite number")


def _check_totals(
    data: dict[str, Any], result: GradingResult, penalty: float | None, warnings: list[str]
) -> None:
    """Warn when the file's stated totals disagree with its tests (the tests win): ``score``
    is their sum, less the late penalty when there is one (never below 0), and ``raw_score``
    their sum."""
    expected = result.score if not penalty else max(0.0, result.score - penalty)
    stated = data.get("score")
    try:
        stated = float(stated)
    except (TypeError, ValueError):
        warnings.append(f"top-level 'score' is not a number ({stated!r}); used the tests' sum")
        return
    after = " less the late penalty" if penalty else ""
    if abs(stated - expected) > 1e-6:
        warnings.append(
            f"top-level score {stated:g} differs from the sum of its tests{after} "
            f"{expected:g}; the tests are used"
        )
    raw = data.get("raw_score")
    if raw is not None and (
        not isinstance(raw, (int, float)) or abs(float(raw) - result.score) > 1e-6
    ):
        warnings.append(
            f"'raw_score' {raw!r} differs from the sum of its tests {result.score:g}; "
            "the tests are used"
        )


def _late_policy(data: dict[str, Any], warnings: list[str]) -> tuple[int | None, float | None]:
    """``(late_days, penalty)`` of grade-repos' late policy; ``(None, None)`` without one."""
    if "penalty" not in data and "late_days" not in data:
        return None, None
    days, penalty = data.get("late_days", 0), data.get("penalty", 0)
    if isinstance(days, bool) or not isinstance(days, (int, float)) or days < 0:
        warnings.append(f"'late_days' is not a number of days ({days!r}); read as 0")
        days = 0
    if isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or penalty < 0:
        warnings.append(f"'penalty' is not a number of points ({penalty!r}); read as 0")
        penalty = 0
    return int(days), float(penalty)


def _answers(data: dict[str, Any], warnings: list[str]) -> tuple[dict[str, str], str]:
    """The written answers (``{"Q1": text}``, cleaned and capped) and where they came from."""
    answers = data.get("answers")
    source = clean_text(data.get("answers_source") or "", limit=300)
    if answers is None:
        return {}, source
    if not isinstance(answers, dict):
        warnings.append("'answers' is not an object of question -> text; ignored")
        return {}, source
    out = {}
    for key, text in list(answers.items())[:MAX_ANSWERS]:
        if text is None:
            continue
        out[clean_text(key, limit=100)] = clean_text(text, limit=MAX_ANSWER_CHARS)
    if len(answers) > MAX_ANSWERS:
        warnings.append(f"{len(answers)} answers; the first {MAX_ANSWERS} are kept")
    return out, source


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def problems_text(problems: Iterable[Problem]) -> str:
    """Problems as lines for the command's output."""
    lines = []
    for p in problems:
        kind = "skipped" if p.skipped else "warning"
        lines.append(f"  {kind}: {p.source}: {p.message}")
    return "\n".join(lines)
