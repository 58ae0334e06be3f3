"""Build submission files from the reference by swapping whole top-level definitions."""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass, field

from autograder.paths import SOLUTION_PATH
from autograder.template import build_template, strip_markers

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

    def source(self) -> str:
        return build_source(
            REFERENCE if self.base == "reference" else TEMPLATE, self.replace, self.prepend
        )


def build_source(base: str, replace: dict[str, str], prepend: str = "") -> str:
    tree = ast.parse(base)
    lines = base.splitlines(keepends=True)
    spans = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in replace:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            spans[node.name] = (start - 1, node.end_lineno)
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
