"""Whether files a student can read (exported notebooks, otter's test files, nbgrader's feedback
pages) show the hidden checks: their function names or any of their distinctive source lines.

Built on the release's own definitions (``autograder.authoring.release``: ``hidden_check_lines``,
``public_idioms``, ``file_lines``), and stricter than ``release.find_leaks``: one shared line is
a leak here (nothing of a check belongs in these files), and the lines a reader sees include a
notebook's outputs and an HTML page's text.
"""

from __future__ import annotations

import ast
import functools
import html
import json
import re

from autograder.authoring import release
from autograder.paths import CHECKS_DIR

# Shorter lines than the release looks for (40 characters): these files carry no code of ours
# that could share them by chance. A docstring's first line is a check's name, shown on purpose.
MIN_LINE_LENGTH = 30
# Hidden check function names this long are distinctive (12 characters and more).
MIN_NAME_LENGTH = 12


@functools.cache
def hidden_check_names() -> frozenset[str]:
    """Names of the functions in the hidden checks' source."""
    names = set()
    for path in sorted(CHECKS_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and len(node.name) >= MIN_NAME_LENGTH:
                names.add(node.name)
    return frozenset(names)


@functools.cache
def hidden_check_source_lines() -> frozenset[str]:
    """The hidden checks' distinctive source lines (``release.hidden_check_lines``)."""
    lines = release.hidden_check_lines(CHECKS_DIR, min_length=MIN_LINE_LENGTH)
    return frozenset(s for s in lines if not s.startswith('"""'))


def readable_lines(name: str, text: str) -> set[str]:
    """The stripped lines a reader sees in a file: a notebook's cell sources and outputs, an
    HTML page without its tags (nbconvert splits highlighted code into spans), else the text."""
    if name.endswith(".ipynb"):
        outputs = []
        for cell in json.loads(text)["cells"]:
            for out in cell.get("outputs", []):
                outputs.append("".join(out.get("text", "")))
                outputs += [
                    "".join(v) for v in out.get("data", {}).values() if isinstance(v, str | list)
                ]
                outputs += out.get("traceback", [])
        sources = release.file_lines(name, text.encode("utf-8"))
        return sources | {line.strip() for line in "\n".join(outputs).splitlines()}
    if name.endswith(".html"):
        text = html.unescape(re.sub(r"<[^>]*>", "", text))
    return release.file_lines(name, text.encode("utf-8"))


def hidden_check_leaks(files: dict[str, str]) -> list[str]:
    """Hidden check function names, or any distinctive line of the hidden checks' source, in
    ``files`` (name -> text); lines that public code has too (``release.public_idioms``) are
    idioms, not leaks."""
    names, check_lines = hidden_check_names(), hidden_check_source_lines()
    problems = []
    for name, text in sorted(files.items()):
        problems += [
            f"{name}: hidden check {n}" for n in sorted(names) if re.search(rf"\b{n}\b", text)
        ]
        shared = check_lines & readable_lines(name, text)
        shown = shared - release.public_idioms(frozenset(shared))
        problems += [f"{name}: hidden check line {s!r}" for s in sorted(shown)]
    return problems
