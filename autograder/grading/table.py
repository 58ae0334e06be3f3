"""The terminal table of a grading: every check with its score, failed ones with their feedback."""

from __future__ import annotations

import textwrap

from autograder.grading.results import GRADED, GradingResult, check_order

# What the terminal table shows of one check's feedback (the results file has all of it)
TABLE_FEEDBACK_CHARS = 2_000


def render_table(result: GradingResult, *, width: int = 100, show_feedback: bool = True) -> str:
    """A plain-text table of every check, with the feedback of failed ones indented below.

    Texts are cleaned first (no terminal escapes); a feedback longer than
    ``TABLE_FEEDBACK_CHARS`` is cut, with a note.
    """
    result = result.cleaned()
    name_width = width - 30
    lines = [f"{'#':<5} {'check':<{name_width}} {'score':>9}  status", "-" * width]
    for t in sorted(result.tests, key=lambda t: check_order(t.tag, t.number)):
        name = t.name if len(t.name) <= name_width else t.name[: name_width - 1] + "…"
        lines.append(
            f"{t.number:<5} {name:<{name_width}} {t.score:>4g}/{t.max_score:<4g}  {t.status}"
        )
        if show_feedback and not t.passed and t.output:
            feedback = t.output
            if len(feedback) > TABLE_FEEDBACK_CHARS:
                feedback = (
                    feedback[:TABLE_FEEDBACK_CHARS]
                    + f"\n[... {len(feedback) - TABLE_FEEDBACK_CHARS} more characters: see the "
                    "results file]"
                )
            for para in feedback.splitlines():
                lines.extend(
                    textwrap.wrap(
                        para, width - 8, initial_indent="        ", subsequent_indent="          "
                    )
                    or [""]
                )
    lines.append("-" * width)
    total = result.score_line()
    lines.append(f"{'':<5} {'TOTAL':<{name_width}} {total}")
    if result.status != GRADED:
        lines.append(f"status: {result.status}: {result.reason}")
    lines.append(
        f"graded in {result.execution_time:.1f} s (isolation: {result.isolation or 'n/a'})"
    )
    return "\n".join(lines)
