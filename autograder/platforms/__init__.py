"""Exports of the assignment for other platforms: the notebook edition, otter-grader, nbgrader.

Each platform has its own module with a keyword-only entry function (``export_otter``,
``export_nbgrader``); ``command`` is the thin ``python -m autograder export ...`` glue.
"""
