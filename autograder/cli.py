"""Command-line glue: ``python -m autograder COMMAND ...``.

Each command lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int`` (exit status) around a keyword-only entry function that does the work.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from autograder import __version__

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "grade": ("autograder.grading.runner", "grade one submission and write a results.json"),
    "template": (
        "autograder.authoring.template",
        "regenerate the student template from the solution",
    ),
    "release": (
        "autograder.authoring.release",
        "write the student repository (template, public tests)",
    ),
    "grade-repos": ("autograder.github.grade_repos", "grade the repositories of a roster"),
    "post-statuses": (
        "autograder.github.post_statuses",
        "post the scores as GitHub commit statuses",
    ),
    "scoreboard": ("autograder.scoreboard.command", "build the gradebook and HTML scoreboard"),
    "export": ("autograder.platforms.command", "export for otter-grader or nbgrader"),
    "similarity": ("autograder.similarity.command", "compare the class's submissions: HTML + CSV"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Autograder for the BatchNorm & gradient clipping assignment.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # command not part of this installation
            raise
        command = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
