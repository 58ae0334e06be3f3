"""Which mistakes of the corpus the public tests catch, and whether every correct variant passes.

Runs the students' public tests (``assignment/tests``) on every correct variant and every single
mistake of ``tests/submissions`` (``corpus.ENTRIES``, each entry's ``source``), each written to
a folder of its own beside a copy of ``exercise_utils.py`` as a student has it. A mistake is
caught when at least one public test fails (or errors) on it. All runs share one Python process
(``pytest.main`` once per entry), so torch is imported once::

    .venv/bin/python scripts/public_tests_coverage.py                 # summary and missed mistakes
    .venv/bin/python scripts/public_tests_coverage.py --json out.json # also every entry's verdict

Exit status 1 when a correct variant fails a public test.
"""

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from autograder.paths import ASSIGNMENT_DIR, EXERCISE_FILE  # noqa: E402
from tests.submissions.corpus import ENTRIES, Entry  # noqa: E402

PUBLIC_TESTS = ASSIGNMENT_DIR / "tests"
KINDS = ("correct", "mistake")


@dataclass(eq=False)  # pytest keeps its plugins in a set: hashed by identity
class Outcomes:
    """A pytest plugin that notes the outcome of every public test."""

    failed: list[str] = field(default_factory=list)
    passed: int = 0
    skipped: int = 0

    def pytest_runtest_logreport(self, report: object) -> None:
        name = report.nodeid.split("::")[-1]
        if report.outcome == "failed" and name not in self.failed:
            self.failed.append(name)
        elif report.when == "call" and report.outcome == "passed":
            self.passed += 1
        elif report.outcome == "skipped":
            self.skipped += 1


@dataclass(frozen=True)
class Verdict:
    """What the public tests said about one corpus entry."""

    name: str
    kind: str
    description: str
    passed: int
    skipped: int
    failed: tuple[str, ...]
    pytest_status: int

    @property
    def caught(self) -> bool:
        return bool(self.failed) or self.pytest_status not in (0, 5)


def public_tests_on(entry: Entry, workdir: Path) -> Verdict:
    """Run the public tests on ``entry``'s source, written to ``workdir``."""
    import pytest

    folder = workdir / entry.name
    folder.mkdir()
    (folder / EXERCISE_FILE).write_text(entry.source, encoding="utf-8")
    shutil.copyfile(ASSIGNMENT_DIR / "exercise_utils.py", folder / "exercise_utils.py")
    outcomes = Outcomes()
    os.environ["BNGC_EXERCISE"] = str(folder / EXERCISE_FILE)
    args = [str(PUBLIC_TESTS), "-q", "-p", "no:cacheprovider"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        status = pytest.main(args, plugins=[outcomes])
    return Verdict(
        name=entry.name,
        kind=entry.kind,
        description=entry.description,
        passed=outcomes.passed,
        skipped=outcomes.skipped,
        failed=tuple(outcomes.failed),
        pytest_status=int(status),
    )


def report(verdicts: list[Verdict]) -> str:
    """The summary: correct variants that fail, mistakes caught, the mistakes missed."""
    correct = [v for v in verdicts if v.kind == "correct"]
    mistakes = [v for v in verdicts if v.kind == "mistake"]
    failing = [v for v in correct if v.caught]
    caught = [v for v in mistakes if v.caught]
    lines = [
        f"correct variants failing a public test: {len(failing)} of {len(correct)}",
        f"mistakes caught by the public tests: {len(caught)} of {len(mistakes)}",
    ]
    lines += [f"  FAILS {v.name}: {', '.join(v.failed)}" for v in failing]
    missed = [v for v in mistakes if not v.caught]
    if missed:
        lines.append("mistakes that pass every public test:")
        lines += [f"  {v.name}: {v.description}" for v in missed]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--json", type=Path, default=None, help="write every verdict here")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ASSIGNMENT_DIR))  # as `python -m pytest tests` from assignment/
    started = time.perf_counter()
    verdicts = []
    with tempfile.TemporaryDirectory() as tmp:
        for entry in ENTRIES:
            if entry.kind in args.kinds:
                verdicts.append(public_tests_on(entry, Path(tmp)))
    seconds = time.perf_counter() - started
    print(report(verdicts))
    print(f"({len(verdicts)} entries in {seconds:.0f} s, load average {os.getloadavg()[0]:.1f})")
    if args.json:
        rows = [{**asdict(v), "caught": v.caught} for v in verdicts]
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 1 if any(v.kind == "correct" and v.caught for v in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
