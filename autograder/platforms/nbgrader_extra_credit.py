"""An nbgrader preprocessor: the bonus checks' points as nbgrader's extra credit.

nbgrader's maximum is the sum of its graded cells' points, and a cell's autograded score may
not exceed them. Its own notion of points beyond the maximum is a grade's ``extra_credit``,
which its gradebook adds to the score (``Grade.score = auto_score + extra_credit``) and not to
the maximum. So the exported notebook's bonus cells are worth 0 points (the maximum is 100, as
on GitHub), each displays the points its check earned as ``EXTRA_CREDIT_MIME`` data
(``runtime.nbgrader_check``), and this preprocessor, run by ``nbgrader autograde`` after it
saved the autograded scores, stores them as those cells' extra credit. The exported
``nbgrader_config.py`` appends it to ``c.Autograde.autograde_preprocessors``.
"""

from __future__ import annotations

import math
from typing import Any

from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor

from autograder.platforms.runtime import EXTRA_CREDIT_MIME


def extra_credit(cell: Any) -> float | None:
    """The points a bonus cell displayed (the last, if several), or None."""
    points = None
    for output in cell.get("outputs", []):
        data = output.get("data", {}) if output.get("output_type") == "display_data" else {}
        value = data.get(EXTRA_CREDIT_MIME, {})
        raw = value.get("points") if isinstance(value, dict) else None
        if isinstance(raw, (int, float)) and not isinstance(raw, bool) and math.isfinite(raw):
            points = max(0.0, float(raw))
    return points


class SaveExtraCredit(NbGraderPreprocessor):  # type: ignore[misc]  # nbgrader has no types
    """Store each graded cell's displayed bonus points as its grade's ``extra_credit``."""

    def preprocess(self, nb: Any, resources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        ids = resources["nbgrader"]
        with Gradebook(ids["db_url"]) as gradebook:
            for cell in nb.cells:
                points = extra_credit(cell) if utils.is_grade(cell) else None
                if points is None:
                    continue
                grade = gradebook.find_grade(
                    cell.metadata["nbgrader"]["grade_id"],
                    ids["notebook"],
                    ids["assignment"],
                    ids["student"],
                )
                grade.extra_credit = points
                gradebook.db.commit()
        return nb, resources
