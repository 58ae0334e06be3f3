"""Tiny decorators that attach grading metadata to hidden checks (like gradescope-utils' @weight).

    pytestmark = tag("clip_gradients")      # every check of the module

    @points(4)
    def check_bound_holds(sandbox): ...
        \"\"\"clip_gradients: the bound holds afterwards\"\"\"   # the name students see

The first line of the docstring is the name students see; numbers ("3.1") come from the tag's
section and the order of definition.
"""

from __future__ import annotations

import pytest

from autograder.grading.results import TAGS


def points(value: float) -> pytest.MarkDecorator:
    """How many points the check is worth (0 for informational integrity checks)."""
    if value < 0:
        raise ValueError("points must be >= 0")
    return pytest.mark.points(float(value))


def tag(name: str) -> pytest.MarkDecorator:
    """The one function tag the check belongs to (CONTRACT.md section 3)."""
    if name not in TAGS:
        raise ValueError(f"unknown tag {name!r}; expected one of {TAGS}")
    return pytest.mark.tag(name)
