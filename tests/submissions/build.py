"""Build submission files from the reference by swapping whole top-level definitions."""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass, field

from autograder.authoring.template import build_template, strip_markers
from autograder.paths import SOLUTION_PATH

REFERENCE = strip_markers(SOLUTION_PATH.read_text(encoding="utf-8"))
TEMPLATE = build_template(SOLUTION_PATH.read_text(encoding="utf-8"))

SECTIONS = ("add_batchnorm", "compute_grad_norm", "clip_gradients", "compare_runs", "accuracy")


@dataclass(frozen=True)
class Case:
    """A submission and what grading it must show."""

    name: str
    description: str
    replace: dict[str, str] = field(default_factory=dict)  # top-level name -> new definition
    prepend: str = ""  # module-level code run right after the imports
    breaks: frozenset[str] = frozenset()  # tags that must lose points
    may_break: frozenset[str] = frozenset()  # tags that may lose points as a consequence
    base: str = "reference"  # or "template"
    hint: str = ""  # regex the feedback of the failed checks under ``breaks`` must match

    def source(self) -> str:
        return build_source(
            REFERENCE if self.base == "reference" else TEMPLATE, self.replace, self.prepend
        )


def _spans(tree: ast.Module, names: set[str]) -> dict[str, tuple[int, int]]:
    """0-based start (decorators included) and end line of each named top-level definition."""
    spans = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in names:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            spans[node.name] = (start - 1, node.end_lineno)
    return spans


def definition(source: str, name: str) -> str:
    """The text of the top-level function or class ``name`` of ``source``."""
    spans = _spans(ast.parse(source), {name})
    if name not in spans:
        raise KeyError(f"no top-level definition of {name!r} in the source")
    start, end = spans[name]
    return "".join(source.splitlines(keepends=True)[start:end])


def build_source(base: str, replace: dict[str, str], prepend: str = "") -> str:
    """``base`` with the top-level definitions named in ``replace`` swapped for new text, and
    ``prepend`` inserted after the imports."""
    tree = ast.parse(base)
    lines = base.splitlines(keepends=True)
    spans = _spans(tree, set(replace))
    missing = set(replace) - set(spans)
    if missing:
        raise KeyError(f"no top-level definition of {sorted(missing)} in the base source")
    for name, (start, end) in sorted(spans.items(), key=lambda kv: -kv[1][0]):
        lines[start:end] = [textwrap.dedent(replace[name]).strip("\n") + "\n"]
    text = "".join(lines)
    if prepend:
        anchor = "import torch.nn.functional as F\n"
        if anchor not in text:
            raise KeyError("import anchor not found")
        text = text.replace(anchor, anchor + "\n" + textwrap.dedent(prepend).strip("\n") + "\n", 1)
    return text
