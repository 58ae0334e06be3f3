"""The written answers: ``ANSWERS.md`` headings and the notebook's ``**Answer Qn.**`` cells, read
from the graded commit into the results (``answers``, ``answers_source``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from autograder.github import answers as gh_answers
from autograder.github import batch as gh_batch
from autograder.github import roster as gh_roster
from autograder.paths import EXERCISE_FILE, SOLUTION_PATH, SOLUTIONS_DIR
from autograder.sandbox.names import EXERCISE_NOTEBOOK
from tests.student_repos import BEFORE, DEADLINE, FAKE_GRADER, student_repo

TEMPLATE = """# Analysis questions

Answer each question under its heading.

## Q1. Learning speed

> Which run learns faster, and why?

_Your answer here._

## Q2. The clip threshold

_Your answer here._

## Q3. Divergence

_Your answer here._
"""

STUDENT = """# Analysis questions

Answer each question under its heading.

## Q1. Learning speed

> Which run learns faster, and why?

The regularized run: 83 % after one epoch against 78 %.

```text
## Q9 inside a code block is not a question
```

### My numbers

| run | acc |
|---|---|
| baseline | 78 % |

## Q2. The clip threshold

_Your answer here._

# Appendix

Notes that answer nothing.

### q 3: divergence (my own heading)

Step 40: the norm takes off.
"""


def test_markdown_answers_leave_out_the_template() -> None:
    answers = gh_answers.parse_answers_markdown(STUDENT, template=TEMPLATE)
    assert list(answers) == ["Q1", "Q3"]  # Q2 is the placeholder only: no answer
    assert answers["Q1"].startswith("The regularized run: 83 % after one epoch")
    assert "Which run learns faster" not in answers["Q1"]  # the released question
    assert "## Q9 inside a code block" in answers["Q1"] and "| baseline | 78 % |" in answers["Q1"]
    assert answers["Q3"] == "Step 40: the norm takes off."
    assert "Appendix" not in "".join(answers.values())


def test_markdown_without_a_template_and_repeated_questions() -> None:
    text = "## Question 1\nfirst part\n## Q1 (continued)\nsecond part\n## Q2.\n_Your answer here._"
    assert gh_answers.parse_answers_markdown(text) == {"Q1": "first part\n\nsecond part"}
    assert gh_answers.parse_answers_markdown("no headings at all\n") == {}


def notebook(*cells: tuple[str, str | list[str], list[str]]) -> bytes:
    return json.dumps(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {},
            "cells": [
                {"cell_type": kind, "metadata": {"tags": tags}, "source": source}
                for kind, source, tags in cells
            ],
        }
    ).encode()


def test_notebook_answers() -> None:
    raw = notebook(
        ("markdown", "**Q1. Learning speed.** Which run learns faster?", []),
        ("markdown", ["**Answer Q1.**\n", "\n", "The regularized one."], ["answer"]),
        ("markdown", "**Answer Q2.**\n\n_Your answer here._", ["answer"]),
        ("markdown", "**Answer Q3**: lost its tag, still an answer", []),
        ("markdown", "A tagged cell without the marker", ["answer"]),
        ("code", "# **Answer Q4.** in a code cell", []),
    )
    assert gh_answers.parse_notebook_answers(raw) == {
        "Q1": "The regularized one.",
        "Q3": "lost its tag, still an answer",
    }


def test_answers_are_cleaned_and_capped(tmp_path: Path) -> None:
    long = "x" * 9_000
    (tmp_path / "ANSWERS.md").write_text(f"## Q1\n{long}\n## Q2\nbell \x07 and \x1b[31mred\n")
    found = gh_answers.collect_answers(tmp_path)
    assert found.source == "ANSWERS.md"
    assert (
        found.answers["Q1"].startswith("x" * 5_000)
        and "[... 4000 characters cut]" in (found.answers["Q1"])
    )
    assert "\x07" not in found.answers["Q2"] and "\x1b" not in found.answers["Q2"]


def test_the_graded_edition_decides_where_answers_are_read(tmp_path: Path) -> None:
    (tmp_path / "ANSWERS.md").write_text("## Q1\nfrom the markdown file\n")
    (tmp_path / EXERCISE_NOTEBOOK).write_bytes(
        notebook(("markdown", "**Answer Q1.** from the notebook", ["answer"]))
    )
    by_py = gh_answers.collect_answers(tmp_path, graded=[EXERCISE_FILE])
    assert by_py.answers == {"Q1": "from the markdown file"} and by_py.source == "ANSWERS.md"
    by_nb = gh_answers.collect_answers(tmp_path, graded=[EXERCISE_NOTEBOOK])
    assert by_nb.answers == {"Q1": "from the notebook"} and by_nb.source == EXERCISE_NOTEBOOK
    (tmp_path / "ANSWERS.md").write_text(TEMPLATE)  # untouched: the notebook's answers count
    assert gh_answers.collect_answers(tmp_path, template=TEMPLATE).source == EXERCISE_NOTEBOOK


def test_missing_or_broken_sources_give_no_answers(tmp_path: Path) -> None:
    assert gh_answers.collect_answers(tmp_path) == gh_answers.Answers({}, None)
    (tmp_path / EXERCISE_NOTEBOOK).write_text("{not json")
    (tmp_path / "ANSWERS.md").mkdir()  # not a file
    assert gh_answers.collect_answers(tmp_path) == gh_answers.Answers({}, None)


def test_grade_repos_collects_the_answers_of_the_graded_commit(tmp_path: Path) -> None:
    solution = SOLUTION_PATH.read_bytes()
    answers_md = b"## Q1. Speed\nBatch norm learns faster.\n## Q2. Threshold\nAbove the median.\n"
    student_repo(tmp_path, "md", [(BEFORE, {EXERCISE_FILE: solution, "ANSWERS.md": answers_md})])
    nb = (SOLUTIONS_DIR / EXERCISE_NOTEBOOK).read_bytes()
    cells = json.loads(nb)
    cells["cells"].append(
        {"cell_type": "markdown", "metadata": {"tags": ["answer"]}, "source": "**Answer Q2.** Yes"}
    )
    student_repo(
        tmp_path,
        "nb",
        [(BEFORE, {EXERCISE_FILE: None, EXERCISE_NOTEBOOK: json.dumps(cells).encode()})],
    )
    script = tmp_path / "fake_grader.py"
    script.write_text(FAKE_GRADER, encoding="utf-8")
    out = tmp_path / "out"
    gh_batch.grade_repos(
        roster=gh_roster.parse_roster(
            f"student,repo\nmd,{tmp_path / 'repos/md.git'}\nnb,{tmp_path / 'repos/nb.git'}\n"
        ),
        out_dir=out,
        deadline=DEADLINE,
        grader_command=[sys.executable, str(script)],
        progress=lambda msg: None,
    )
    md = json.loads((out / "md.json").read_text())
    assert md["answers"] == {"Q1": "Batch norm learns faster.", "Q2": "Above the median."}
    assert md["answers_source"] == "ANSWERS.md"
    nb_row = json.loads((out / "nb.json").read_text())
    assert nb_row["answers"] == {"Q2": "Yes"} and nb_row["answers_source"] == EXERCISE_NOTEBOOK
    assert (
        "| Written answers | Q1, Q2 (from `ANSWERS.md`) |" in (out / "feedback/md.md").read_text()
    )
