"""An otter-grader plugin: the bonus checks as extra credit, so that the maximum is 100.

Otter adds up the points of every test file into the assignment's maximum ("possible"), so
the bonus checks would make it 110. Gradescope, where otter's results go, has no notion of a
bonus test: the assignment is out of the points the instructor sets, and the results hold each
test's ``score`` and ``max_score``. Our bonus tests therefore report the points earned with a
maximum of 0 (extra credit: they add to the score, never to the maximum), which this plugin
does after grading: the tests named in its configuration keep their score and lose their
possible points. ``autograder.platforms.otter`` lists the bonus tests in ``otter_config.json``:

    "plugins": [{"autograder.platforms.otter_extra_credit.BonusAsExtraCredit":
                 {"tests": ["6.1 bonus: ...", ...]}}]

Otter imports the plugin in its grading process: the zip ships this package at its root
(``/autograder/source`` on Gradescope, the directory ``run_otter.py`` runs from), and ``otter
run`` on an instructor's machine imports the installed package.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from otter.plugins import AbstractOtterPlugin


class BonusAsExtraCredit(AbstractOtterPlugin):
    """After grading: each configured test keeps its score, with 0 points possible."""

    def after_grading(self, results: Any) -> None:
        for name in self.plugin_config.get("tests", []):
            if name not in results.results:
                continue  # a test otter did not run (e.g. removed since): nothing to move
            test_file = results.results[name]
            earned = test_file.score
            cases = [dataclasses.replace(tc, points=0) for tc in test_file.test_cases]
            test_file.test_cases = cases
            test_file.update_score(earned)
