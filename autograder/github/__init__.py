"""Delivery through GitHub: a class's repositories graded, scores and feedback posted back.

* commands: ``grade_repos`` (``grade-repos``), ``plan_grading`` (``plan-grading``),
  ``post_feedback`` (``post-feedback``), ``post_statuses`` (``post-statuses``)
* ``roster``         who is where (a CSV or an organisation), their deadlines, shards
* ``deadlines``      ISO-8601 deadlines and the late policy (days graded late, penalty per day)
* ``git``            clone with the token as a header, list heads, pick the commit by the deadline
* ``student``        one student's grading: clone, restore protected files, grade in a subprocess
* ``reuse``          incremental grading: when a previous result still stands; the grader's hash
* ``planning``       the workflow's first job: who has something new, how many shards
* ``batch``          a whole class in parallel, or fetch-only (the step that holds the token)
* ``answers``        the written answers (``ANSWERS.md``, the notebook's answer cells)
* ``feedback``       ``feedback/<student>.md``, what a student reads, and the score's wording
* ``results_dir``    ``<student>.json`` and ``summary.csv`` in the results folder
* ``issues``         the student's "Autograder feedback" issue; ``statuses`` commit statuses
* ``api``            the GitHub REST calls (PyGithub)
* ``options``        the options shared by the commands that talk to GitHub

Grades by running ``python -m autograder grade`` in a subprocess per student; never imports
the grader itself (nor torch). Depends on ``authoring`` (the release's protected files).
"""
