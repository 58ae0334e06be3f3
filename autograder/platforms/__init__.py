"""The assignment on other platforms: Jupyter notebooks, otter-grader (Gradescope), nbgrader.

* ``command``   the ``export`` command (``notebooks``, ``otter``, ``nbgrader``)
* ``otter``     the student notebook and Gradescope's ``autograder.zip``: one otter test per check
* ``nbgrader``  an nbgrader course folder: one read-only autograded cell per check
* ``runtime``   what those tests and cells call: our grader in a process of its own, once per
  submission (shipped in the zip with ``grading/`` and ``sandbox/``)
* ``otter_extra_credit``     otter plugin: the bonus tests' points beyond the maximum (shipped)
* ``nbgrader_extra_credit``  nbgrader preprocessor: the bonus cells' points as extra credit
"""
