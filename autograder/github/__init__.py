"""Delivery through GitHub: a class's repositories graded, scores and feedback posted back.

* ``grade_repos``    the ``grade-repos`` command; ``post_statuses`` the ``post-statuses`` command
* ``roster``         who is where (a CSV, or an organisation's repositories), shards
* ``git``            clone with the token as a header, pick the commit by the deadline
* ``student``        one student's grading: clone, restore protected files, grade in a subprocess
* ``batch``          a whole class in parallel, or fetch-only (the step that holds the token)
* ``results_dir``    ``<student>.json`` and ``summary.csv`` in the results folder
* ``statuses``       commit statuses from the results; ``api`` the GitHub REST calls (PyGithub)
* ``options``        the options shared by the commands that talk to GitHub

Grades by running ``python -m autograder grade`` in a subprocess per student; never imports
the grader itself (nor torch). Depends on ``authoring`` (the release's protected files).
"""
