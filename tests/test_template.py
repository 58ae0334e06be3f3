"""The template is generated from the solution and must stay in sync with it."""

from __future__ import annotations

import ast

import pytest

from autograder.authoring.template import TemplateError, build_template, strip_markers
from autograder.paths import SOLUTION_PATH, TEMPLATE_PATH

STUDENT_API = ("add_batchnorm", "compute_grad_norm", "clip_gradients", "compare_runs")


def test_committed_template_is_up_to_date():
    expected = build_template(SOLUTION_PATH.read_text())
    assert TEMPLATE_PATH.read_text() == expected, "run `python -m autograder template`"


def test_template_keeps_the_api_and_stubs_every_answer():
    tree = ast.parse(TEMPLATE_PATH.read_text())
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    assert set(STUDENT_API) | {"ManualBatchNorm1d", "make_mlp", "main"} <= names
    text = TEMPLATE_PATH.read_text()
    for name in (*STUDENT_API, "ManualBatchNorm1d.__init__", "ManualBatchNorm1d.forward"):
        assert f"{name} is not implemented yet. Hint:" in text
    assert "BEGIN SOLUTION" not in text and "### HINT" not in text


def test_solution_has_no_stubs_and_markers_strip_cleanly():
    solution = SOLUTION_PATH.read_text()
    raises = [
        node
        for node in ast.walk(ast.parse(solution))
        if isinstance(node, ast.Raise) and "NotImplementedError" in ast.unparse(node)
    ]
    assert not raises
    stripped = strip_markers(solution)
    assert "###" not in stripped
    ast.parse(stripped)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n", "HINT"),
        ("def f():\n    ### HINT: x\n    ### BEGIN SOLUTION\n    return 1\n", "without"),
        ("def f():\n    return 1\n    ### END SOLUTION\n", "without"),
    ],
)
def test_malformed_markers_are_errors(source, message):
    with pytest.raises(TemplateError, match=message):
        build_template(source)
