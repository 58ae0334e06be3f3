"""Grading one submission: from the student's file to a ``GradingResult`` and its formats.

* ``command``         the ``grade`` command (thin glue over ``runner``)
* ``pool``            grading servers (``serve``) reused across gradings, for many submissions
* ``batch_command``   the ``grade-batch`` command (many submissions through a ``pool``)
* ``runner``          the edition to grade, the sandbox, the hidden checks under pytest, the result
* ``submission``      finding the file(s) to grade; ``notebook_script`` turns a notebook into one
* ``plugin``          the pytest plugin: metadata from ``markers``, outcomes to ``TestResult``s
* ``checks/``         the hidden checks (one module per function tag) and their fixtures
* ``feedback``        how a check fails: expected, got, hint, and the root ``Cause``
* ``results``         the result model (``TestResult``, ``GradingResult``), cleaned and capped text
* ``gradescope``      the results JSON (Gradescope's schema) and the summary for the student
* ``table``           the terminal table
* ``data``            Fashion-MNIST for the accuracy checks (decoded once, cached)
* ``settings``        the numbers the checks depend on (accuracy run, thresholds, time limits)

Depends on ``autograder.sandbox`` (never the other way round), and on nothing that delivers
results (``github``, ``scoreboard``, ``platforms``).
"""
