"""Autograder for the "Batch Normalization and Gradient Clipping" assignment.

Commands (``python -m autograder COMMAND --help``), one module each:

* ``grade``        grade one submission into a Gradescope ``results.json``   (``grade.py``)
* ``template``     regenerate the student template from the reference        (``template.py``)
* ``release``      write the student repository                              (``release.py``)
* ``grade-repos``  grade every student repository of a roster                (``grade_repos.py``)
* ``post-statuses`` post scores as GitHub commit statuses                    (``post_statuses.py``)
* ``scoreboard``   gradebook database and static HTML scoreboard             (``scoreboard/``)
* ``export``       otter-grader and nbgrader editions                        (``export/``)
"""

from importlib import metadata

try:
    __version__ = metadata.version("bngc-autograder")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
