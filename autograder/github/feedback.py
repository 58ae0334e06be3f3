"""What a student reads about their grading: ``DIR/feedback/<student>.md`` and its score wording.

``render_feedback`` turns one ``<student>.json`` of ``grade-repos`` into markdown: the score (main
and bonus apart, ``GradingResult.score_line``, and the late penalty), the graded commit and the
student's deadline, late and tampering notes, a table of every visible check with its points, and
each failed check's feedback (expected, got, hint). The same text is the body of the student's
"Autograder feedback" issue (``github.issues``).

Nothing else of the results reaches it: not the instructor's notes, tracebacks or what the
submission printed, not hidden checks (``visibility`` other than ``visible``), not the grader's own
words when it failed (a fixed note instead), not other students. Texts that come from the
student's code (feedback quoting an exception, file names) sit in fenced code blocks, where
GitHub renders no markup, links or @mentions.
"""

from __future__ import annotations

import re
from typing import Any

from autograder.github.results_dir import grading_status
from autograder.grading.gradescope import from_gradescope
from autograder.grading.results import COULD_NOT_GRADE, GRADED, GRADER_ERROR, clean_text

FEEDBACK_DIR = "feedback"
TITLE = "Autograder feedback"
# what a student reads when the grader (not their code) failed; the details are in the JSON
GRADER_ERROR_NOTE = "not graded yet: the grader had a problem (not your fault); it will be re-run"
MAX_CHECK_FEEDBACK_CHARS = 3_000  # of one failed check's feedback
MAX_BODY_CHARS = 60_000  # GitHub refuses issue bodies above 65,536 characters
MAX_LISTED_FILES = 20


def _num(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def raw_score_line(data: dict[str, Any]) -> str:
    """``93/100: 83 + 10 bonus`` before any penalty (``GradingResult.score_line``), or the
    totals as written when the tests do not add up to them."""
    raw = _num(data.get("raw_score", data.get("score")))
    max_score = _num(data.get("max_score"))
    try:
        result = from_gradescope(data)
    except ValueError:
        result = None
    if result and result.tests and (result.score, result.max_score) == (raw, max_score):
        return result.score_line()
    return f"{raw:g}/{max_score:g}"


def score_text(data: dict[str, Any], *, short: bool = False) -> str:
    """The score as the student reads it, the late penalty included.

    ``73/100 after the late penalty (93/100: 83 + 10 bonus, minus 20 for 2 days late)``;
    ``short`` for a commit status: ``73/100 (93/100: 83 + 10 bonus, -20 late)``.
    """
    raw = raw_score_line(data)
    penalty = _num(data.get("penalty"))
    days = int(_num(data.get("late_days")))
    if not penalty and not days:
        return raw
    final = f"{_num(data.get('score')):g}/{_num(data.get('max_score')):g}"
    if short:
        return f"{final} ({raw}, -{penalty:g} late)" if penalty else f"{raw} ({days}d late)"
    late = f"{days} day{'s' if days != 1 else ''} late"
    if not penalty:
        return f"{raw} ({late}, no penalty)"
    return f"{final} after the late penalty ({raw}, minus {penalty:g} for {late})"


def _fenced(text: str) -> str:
    """``text`` in a code block whose fence no line of it can close."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _cell(text: str) -> str:
    """Our own short texts (check names) in a table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _code_span(text: str) -> str:
    safe = clean_text(text, limit=200).replace("`", "'").replace("\n", " ")
    return f"`{safe}`"


def _facts(data: dict[str, Any], status: str) -> list[str]:
    details = (data.get("extra_data") or {}).get("grade_repos") or {}
    commit = str(data.get("commit") or "")
    lines = ["| | |", "|---|---|"]
    if commit:
        when = str(data.get("committed_at") or "")
        lines.append(
            f"| Graded commit | {commit} ({_cell(when)}) |"
            if when
            else f"| Graded commit | {commit} |"
        )
    else:
        lines.append("| Graded commit | none |")
    deadline = data.get("deadline", details.get("deadline"))
    lines.append(
        f"| Deadline | {_cell(str(deadline))} |"
        if deadline
        else "| Deadline | none: the latest commit is graded |"
    )
    if data.get("graded_at"):
        lines.append(f"| Graded at | {_cell(str(data['graded_at']))} |")
    answers = data.get("answers") or {}
    if isinstance(answers, dict) and status != GRADER_ERROR:
        got = ", ".join(sorted(answers, key=lambda q: int(q[1:]) if q[1:].isdigit() else 0))
        source = data.get("answers_source") or ""
        lines.append(
            f"| Written answers | {_cell(got)} (from {_code_span(str(source))}) |"
            if got
            else "| Written answers | none found |"
        )
    return lines


def _notes(data: dict[str, Any], status: str) -> list[str]:
    details = (data.get("extra_data") or {}).get("grade_repos") or {}
    notes = []
    days = int(_num(data.get("late_days")))
    if days:
        penalty = _num(data.get("penalty"))
        notes.append(
            f"Your graded commit came {days} day{'s' if days != 1 else ''} after your deadline"
            + (f": {penalty:g} points were taken off." if penalty else ".")
        )
    late_commits = details.get("late_commits") or []
    if late_commits and data.get("commit"):
        notes.append(
            f"{len(late_commits)} commit(s) came after the last moment work is graded and were "
            "not graded."
        )
    tampered = [str(p) for p in data.get("tampered") or []]
    if tampered:
        listed = ", ".join(_code_span(p) for p in tampered[:MAX_LISTED_FILES])
        more = (
            f" and {len(tampered) - MAX_LISTED_FILES} more"
            if len(tampered) > MAX_LISTED_FILES
            else ""
        )
        notes.append(
            f"Protected files were changed ({listed}{more}): your instructor has been told, and "
            "the released versions were put back before grading."
        )
    if status == GRADER_ERROR:
        notes.append(f"This commit is {GRADER_ERROR_NOTE}.")
    return notes


def _checks_table(tests: list[dict[str, Any]]) -> list[str]:
    lines = ["| # | Check | Points | |", "|---|---|---:|:-:|"]
    for t in tests:
        mark = "✅" if t.get("status") == "passed" else "❌"
        points = f"{_num(t.get('score')):g}/{_num(t.get('max_score')):g}"
        number, name = _cell(str(t.get("number", ""))), _cell(str(t.get("name", "")))
        lines.append(f"| {number} | {name} | {points} | {mark} |")
    return lines


def _failed_checks(visible: list[dict[str, Any]], budget: int) -> list[str]:
    """Each failed check's feedback, as many as fit in ``budget`` characters."""
    failed = [t for t in visible if t.get("status") != "passed" and t.get("output")]
    parts = ["## What to fix", ""] if failed else []
    for t in failed:
        text = clean_text(str(t["output"]), limit=MAX_CHECK_FEEDBACK_CHARS)
        points = f"{_num(t.get('score')):g}/{_num(t.get('max_score')):g}"
        number, name = _cell(str(t.get("number", ""))), _cell(str(t.get("name", "")))
        block = [f"### {number} {name} ({points})", "", _fenced(text), ""]
        size = sum(len(p) + 1 for p in block)
        if size > budget:
            parts += ["_More checks failed than this page can hold: fix the ones above first._"]
            break
        parts += block
        budget -= size
    return parts


def render_feedback(data: dict[str, Any]) -> str:
    """The markdown a student reads about one grading (see the module's docstring)."""
    status = grading_status(data)
    parts = [f"# {TITLE}", "", f"**Score: {score_text(data)}**", ""]
    parts += [*_facts(data, status), ""]
    for note in _notes(data, status):
        parts += [f"> {note}", ""]
    summary = clean_text(str(data.get("output") or ""), limit=MAX_CHECK_FEEDBACK_CHARS)
    if status == COULD_NOT_GRADE:
        parts += ["## Why your work could not be graded", "", _fenced(summary), ""]
    elif status == GRADED:
        tests = [t for t in data.get("tests") or [] if isinstance(t, dict)]
        visible = [t for t in tests if t.get("visibility", "visible") == "visible"]
        if summary:
            parts += ["## Summary", "", _fenced(summary), ""]
        parts += ["## Checks", "", *_checks_table(visible), ""]
        parts += _failed_checks(visible, MAX_BODY_CHARS - sum(len(p) + 1 for p in parts))
    return "\n".join(parts).rstrip() + "\n"
