"""The student's written answers to the analysis questions, read from the graded commit.

Two places, one per edition:

* ``ANSWERS.md`` (the ``.py`` edition): one heading per question, ``## Q1. ...`` (any level,
  ``Q1``, ``Q 1`` or ``Question 1``, followed by anything); the answer is the text under it, up
  to the next question or the next heading of the same or a higher level;
* the notebook's markdown cells that start with ``**Answer Q1.**`` (the release tags them
  ``answer``; a cell whose tag was lost still counts, a tagged cell without the marker does not).

The template's placeholder ``_Your answer here._`` and the lines the released ``ANSWERS.md``
already had under a question (the question itself, instructions) are not part of an answer; what
is left empty is no answer. Each answer is cleaned and capped (``clean_text``, 5,000 characters).
The source read first is the graded edition's (the notebook's cells when only the notebook was
graded, ``ANSWERS.md`` otherwise), the other when the first holds no answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from autograder.grading.results import clean_text
from autograder.sandbox.names import EXERCISE_FILE, EXERCISE_NOTEBOOK

ANSWERS_FILE = "ANSWERS.md"
PLACEHOLDER = "_Your answer here._"
MAX_ANSWER_CHARS = 5_000
MAX_QUESTIONS = 50  # answers kept per student (Q numbers above 999 are not questions)
MAX_MARKDOWN_BYTES = 1_000_000  # an ANSWERS.md larger than this is not read
MAX_NOTEBOOK_BYTES = 50_000_000

_QUESTION_HEADING = re.compile(r"^(#{1,6})\s+(?:Q|Question)\s*(\d{1,3})\b", re.IGNORECASE)
_HEADING = re.compile(r"^(#{1,6})\s")
_FENCE = re.compile(r"^\s*(```|~~~)")
_ANSWER_MARK = re.compile(
    r"^\s*\*\*\s*Answer\s+Q\s*(\d{1,3})\s*[.:]?\s*\*\*\s*[.:]?", re.IGNORECASE
)


@dataclass
class Answers:
    """What a student answered: ``{"Q1": "text", ...}`` and where it was read from."""

    answers: dict[str, str] = field(default_factory=dict)
    source: str | None = None  # ANSWERS.md or the notebook's name; None: no answer anywhere


def markdown_sections(text: str) -> dict[str, str]:
    """The raw text under each question heading of a markdown file (joined when repeated)."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    level = 0
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        question = None if in_fence else _QUESTION_HEADING.match(line)
        heading = None if in_fence else _HEADING.match(line)
        if question:
            key = f"Q{int(question.group(2))}"
            current = sections.setdefault(key, [])
            if current:
                current.append("")
            level = len(question.group(1))
        elif heading and current is not None and len(heading.group(1)) <= level:
            current = None
        elif current is not None:
            current.append(line)
    return {key: "\n".join(lines) for key, lines in sections.items()}


def _answer_text(raw: str, template_lines: set[str] = frozenset()) -> str:
    kept = [
        line.replace(PLACEHOLDER, "")
        for line in raw.splitlines()
        if not (line.strip() and line.strip() in template_lines)
    ]
    return "\n".join(kept).strip()


def parse_answers_markdown(text: str, *, template: str | None = None) -> dict[str, str]:
    """The answers of an ``ANSWERS.md``; ``template`` is the released one (its lines are not
    answers)."""
    released = markdown_sections(template) if template else {}
    answers = {}
    for key, raw in markdown_sections(text).items():
        template_lines = {ln.strip() for ln in released.get(key, "").splitlines() if ln.strip()}
        answer = _answer_text(raw, template_lines)
        if answer:
            answers[key] = answer
    return answers


def parse_notebook_answers(raw: bytes) -> dict[str, str]:
    """The answers of a notebook's ``**Answer Qn.**`` markdown cells (ValueError: not a
    notebook)."""
    try:
        notebook = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a notebook: {exc}") from exc
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise ValueError("not a notebook: no list of cells")
    found: dict[str, list[str]] = {}
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            text = "".join(part for part in source if isinstance(part, str))
        elif isinstance(source, str):
            text = source
        else:
            continue
        mark = _ANSWER_MARK.match(text)
        if not mark:
            continue
        answer = _answer_text(text[mark.end() :])
        if answer:
            found.setdefault(f"Q{int(mark.group(1))}", []).append(answer)
    return {key: "\n\n".join(parts) for key, parts in found.items()}


def _finish(answers: dict[str, str]) -> dict[str, str]:
    ordered = sorted(answers.items(), key=lambda kv: int(kv[0][1:]))[:MAX_QUESTIONS]
    return {key: clean_text(text, limit=MAX_ANSWER_CHARS) for key, text in ordered}


def _read(path: Path, limit: int) -> bytes | None:
    try:
        if not path.is_file() or path.stat().st_size > limit:
            return None
        return path.read_bytes()
    except OSError:
        return None


def collect_answers(
    repo: Path, *, graded: Sequence[str] = (EXERCISE_FILE,), template: str | None = None
) -> Answers:
    """The answers in the checked-out repository ``repo``; ``graded`` names the graded
    edition(s), ``template`` is the released ``ANSWERS.md`` (if the release has one)."""
    markdown = (ANSWERS_FILE, MAX_MARKDOWN_BYTES)
    notebook = (EXERCISE_NOTEBOOK, MAX_NOTEBOOK_BYTES)
    order = [notebook, markdown] if list(graded) == [EXERCISE_NOTEBOOK] else [markdown, notebook]
    for name, limit in order:
        raw = _read(repo / name, limit)
        if raw is None:
            continue
        if name == ANSWERS_FILE:
            answers = parse_answers_markdown(raw.decode("utf-8", "replace"), template=template)
        else:
            try:
                answers = parse_notebook_answers(raw)
            except ValueError:
                continue
        if answers:
            return Answers(_finish(answers), name)
    return Answers()
