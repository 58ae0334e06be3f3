"""Generate the student template from the reference solution (one source for both).

In ``solutions/batchnorm_gradclip_exercise.py`` every piece of solution code sits between

    ### HINT: one line that tells the student where to start
    ### BEGIN SOLUTION
    ...reference code...
    ### END SOLUTION

The template replaces each such block with a stub that raises ``NotImplementedError`` carrying
the hint, as nbgrader does with its solution regions. Everything else is copied verbatim, so the
docstrings, TODO fences and given code cannot drift apart.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from autograder.paths import SOLUTION_PATH, TEMPLATE_PATH

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
HINT = "### HINT:"
_DEF = re.compile(r"^\s*(?:def|class)\s+(\w+)")


class TemplateError(ValueError):
    """The solution file's markers are unbalanced or a block has no hint."""


def build_template(source: str) -> str:
    """Return the template text for the solution text ``source``."""
    out: list[str] = []
    lines = source.splitlines(keepends=True)
    enclosing: list[str] = []  # qualified names of the def/class lines seen so far
    top_class = ""
    hint: str | None = None
    in_solution = False
    for lineno, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not in_solution and (m := _DEF.match(line)):
            name = m.group(1)
            if not line[0].isspace():
                top_class = name if stripped.startswith("class") else ""
            elif top_class:
                name = f"{top_class}.{name}"
            enclosing.append(name)
        if stripped.startswith(HINT):
            hint = stripped[len(HINT) :].strip()
            continue
        if hint is not None and stripped.startswith("###") and stripped != BEGIN:
            hint += " " + stripped[3:].strip()  # continuation line of the hint
            continue
        if stripped == BEGIN:
            if in_solution:
                raise TemplateError(f"line {lineno}: nested {BEGIN}")
            if not hint:
                raise TemplateError(f"line {lineno}: {BEGIN} without a preceding {HINT} line")
            indent = line[: len(line) - len(line.lstrip())]
            where = enclosing[-1] if enclosing else "this part"
            message = f"{where} is not implemented yet. Hint: {hint}"
            out.append(f"{indent}# YOUR CODE HERE\n")
            out.append(_raise_statement(message, indent))
            in_solution, hint = True, None
            continue
        if stripped == END:
            if not in_solution:
                raise TemplateError(f"line {lineno}: {END} without {BEGIN}")
            in_solution = False
            continue
        if not in_solution:
            out.append(line)
    if in_solution:
        raise TemplateError(f"{BEGIN} without {END} at the end of the file")
    return "".join(out)


def _raise_statement(message: str, indent: str, width: int = 92) -> str:
    """``raise NotImplementedError("...")`` with the message split into lines that fit."""
    chunks, current = [], ""
    for word in message.split(" "):
        if current and len(indent) + 8 + len(current) + len(word) > width:
            chunks.append(current)
            current = ""
        current += word + " "
    chunks.append(current.rstrip())
    body = "".join(f"{indent}    {_quote(chunk)}\n" for chunk in chunks)
    return f"{indent}raise NotImplementedError(\n{body}{indent})\n"


def _quote(text: str) -> str:
    """A string literal as ruff format writes it (double quotes unless that needs escapes)."""
    if '"' in text and "'" not in text:
        return repr(text) if repr(text).startswith("'") else "'" + text + "'"
    return json.dumps(text, ensure_ascii=False)


def strip_markers(source: str) -> str:
    """The solution text without the marker and hint lines (what a reference reader sees)."""
    keep = []
    for line in source.splitlines(keepends=True):
        s = line.strip()
        if s.startswith("###"):
            continue
        keep.append(line)
    return "".join(keep)


def write_template(*, solution: Path = SOLUTION_PATH, out: Path = TEMPLATE_PATH) -> Path:
    """Regenerate the template file ``out`` from ``solution``; return ``out``."""
    text = build_template(solution.read_text(encoding="utf-8"))
    out.write_text(text, encoding="utf-8")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--solution", type=Path, default=SOLUTION_PATH)
    parser.add_argument("--out", type=Path, default=TEMPLATE_PATH)
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the committed template is out of date",
    )


def run(args: argparse.Namespace) -> int:
    if args.check:
        expected = build_template(args.solution.read_text(encoding="utf-8"))
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != expected:
            print(f"{args.out} is out of date: run `python -m autograder template`")
            return 1
        print(f"{args.out} is up to date")
        return 0
    print(f"wrote {write_template(solution=args.solution, out=args.out)}")
    return 0
