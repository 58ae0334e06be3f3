"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest


@pytest.fixture
def write_submission(tmp_path):
    """``write(text)``: the exercise file, holding ``text``, in this test's folder."""

    def write(text: str):
        path = tmp_path / "batchnorm_gradclip_exercise.py"
        path.write_text(text)
        return path

    return write
