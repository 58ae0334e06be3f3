"""Former home of the platform exports (now ``autograder.platforms``).

Kept for one module: ``autograder.export.runtime``, which the otter zips and nbgrader notebooks
generated before the move import (and run with ``python -m``).
"""
