"""The pytest plugin that turns hidden checks into ``TestResult``s.

It runs in the trusted grader process. It reads each check's metadata from its markers
(``@points``, ``tag``), orders checks by section, numbers them, and converts outcomes into
feedback: a ``CheckFailed`` carries its own text; a ``SandboxError`` says why the student's code
could not answer; anything else is a grader bug, reported to the student as such with the
traceback kept for the instructor. Pytest's own failure output (which would show hidden check
source) is never used.
"""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from autograder.grading.feedback import CheckFailed
from autograder.grading.results import TAGS, TestResult
from autograder.grading.settings import TRAINER_PROBES
from autograder.grading.timeline import Timeline
from autograder.sandbox import wording
from autograder.sandbox.client import Sandbox, SandboxError, SubmissionDoesNotImport

INTERNAL_ERROR = (
    "The grader could not evaluate this check because of an error in the grader itself, not in "
    "your code. Your instructor has been notified; the check is counted as failed for now."
)


PASSED = "Passed."

# The sections whose probes the trainer runs (``TRAINER_PROBES``): their checks run after the
# others (numbered and reported in order), so the grader has work while compare_runs runs
RUN_LAST = ("compare_runs", "accuracy")


def linked_feedback(failure: CheckFailed, number: str, summary: str) -> str:
    """A failed check's feedback pointing at check ``number``, which names its root cause."""
    return (
        f"Expected: {failure.expected}\nGot: {failure.got}\n"
        f"Hint: same cause as check {number} ({summary}): fix that first."
    )


def not_imported_feedback(exc: SubmissionDoesNotImport) -> str:
    """What every check says when the submission could not be imported."""
    return f"Not run: {wording.NOT_IMPORTED}. {exc}"


@dataclass
class CheckMeta:
    name: str
    number: str
    tag: str
    points: float


@dataclass(eq=False)  # pluggy keeps plugins in sets: identity hashing
class GradingPlugin:
    """Carries the sandboxes and shared state into the checks; collects their results.

    ``sandbox`` runs every probe but those of ``TRAINER_PROBES``, which run in ``trainer`` (a
    second student process under the same rules, started with the first, so that the accuracy
    checks' training runs while the other checks do); without a trainer, ``sandbox`` runs all.
    """

    sandbox: Sandbox
    context: dict[str, Any] = field(default_factory=dict)  # data_root, timeout_scale
    trainer: Sandbox | None = None
    timeline: Timeline = field(default_factory=Timeline)
    results: dict[str, TestResult] = field(default_factory=dict)
    internal_errors: list[str] = field(default_factory=list)
    collect_only: bool = False

    def __post_init__(self) -> None:
        self._meta: dict[str, CheckMeta] = {}
        self._order: list[str] = []
        self._memo: dict[str, tuple[bool, Any]] = {}
        self._caused: dict[str, CheckFailed] = {}  # nodeid -> its failure that named a cause

    def sandbox_for(self, probe: str) -> Sandbox:
        """The student process that runs ``probe``."""
        if probe in TRAINER_PROBES and self.trainer is not None:
            return self.trainer
        return self.sandbox

    # -- shared, memoised work (one probe call serves several checks) ---------------------------

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per grading; a raised error is re-raised for every later caller."""
        if key not in self._memo:
            try:
                self._memo[key] = (True, compute())
            except Exception as exc:
                self._memo[key] = (False, exc)
        ok, value = self._memo[key]
        if not ok:
            raise value
        return value

    # -- collection ----------------------------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_collection(self, session: pytest.Session) -> Any:
        with self.timeline.span("collect the hidden checks"):
            yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        meta = self._meta.get(item.nodeid)
        with self.timeline.span(f"check {meta.number} {meta.tag}" if meta else item.name):
            yield

    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        problems = []
        metas: list[tuple[int, int, pytest.Item, str, str, float]] = []
        for index, item in enumerate(items):
            tags = [m.args[0] for m in item.iter_markers("tag")]
            pts = [m.args[0] for m in item.iter_markers("points")]
            doc = (getattr(item.function, "__doc__", None) or "").strip().splitlines()
            if len(tags) != 1 or len(pts) != 1 or not doc:
                problems.append(f"{item.nodeid}: needs one tag, one @points and a docstring")
                continue
            metas.append((TAGS.index(tags[0]), index, item, doc[0].strip(), tags[0], pts[0]))
        if problems:
            raise pytest.UsageError("malformed hidden checks:\n" + "\n".join(problems))
        metas.sort(key=lambda m: (m[0], m[1]))
        counters: dict[int, int] = {}
        for section, _, item, name, tag, pts in metas:
            counters[section] = counters.get(section, 0) + 1
            number = f"{section}.{counters[section]}"
            self._meta[item.nodeid] = CheckMeta(name, number, tag, float(pts))
            self._order.append(item.nodeid)
        # run in report order, but the checks that wait for the trainer last
        metas.sort(key=lambda m: (m[4] in RUN_LAST, m[0], m[1]))
        items[:] = [] if self.collect_only else [m[2] for m in metas]

    # -- outcomes ------------------------------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Any:
        outcome = yield
        report = outcome.get_result()
        meta = self._meta.get(item.nodeid)
        if meta is None or item.nodeid in self.results:
            return
        if report.when == "call" and report.passed:
            self.results[item.nodeid] = self._result(meta, meta.points, PASSED)
        elif report.failed or report.skipped:
            self.results[item.nodeid] = self._failure(meta, call.excinfo)

    def _result(self, meta: CheckMeta, score: float, output: str, note: str = "") -> TestResult:
        return TestResult(
            name=meta.name,
            number=meta.number,
            tag=meta.tag,
            max_score=meta.points,
            score=score,
            output=output,
            instructor_note=note,
            outcome="passed" if output == PASSED else "failed",
        )

    def _failure(self, meta: CheckMeta, excinfo: pytest.ExceptionInfo | None) -> TestResult:
        exc = excinfo.value if excinfo is not None else None
        if isinstance(exc, CheckFailed):
            if exc.cause is not None:
                self._caused[self._nodeid(meta)] = exc
            return self._result(meta, 0.0, exc.feedback())
        if isinstance(exc, SubmissionDoesNotImport):
            return self._result(meta, 0.0, not_imported_feedback(exc))
        if isinstance(exc, SandboxError):
            return self._result(meta, 0.0, f"Could not run this check. {exc}")
        if isinstance(exc, pytest.skip.Exception):
            return self._result(meta, 0.0, f"Not run: {exc.msg}")
        trace = (
            "".join(traceback.format_exception(exc))[-6000:]
            if exc is not None
            else "no exception info"
        )
        self.internal_errors.append(f"{meta.number} {meta.name}:\n{trace}")
        return self._result(meta, 0.0, INTERNAL_ERROR, note=trace)

    def _nodeid(self, meta: CheckMeta) -> str:
        return next(n for n, m in self._meta.items() if m is meta)

    def test_results(self) -> list[TestResult]:
        """Every collected check, in report order; a check that never reported is failed.

        Checks that failed from one root cause are linked: the first says which other checks
        the same mistake costs, the others refer to the first.
        """
        out = []
        for nodeid in self._order:
            meta = self._meta[nodeid]
            result = self.results.get(nodeid) or self._result(
                meta, 0.0, "Not run: grading stopped before this check."
            )
            out.append(dataclasses.replace(result))  # the links below do not touch self.results
        by_cause: dict[str, list[tuple[CheckFailed, TestResult]]] = {}
        for nodeid, result in zip(self._order, out, strict=True):
            failure = self._caused.get(nodeid)
            if failure is not None and failure.cause is not None and not result.passed:
                by_cause.setdefault(failure.cause.key, []).append((failure, result))
        for group in by_cause.values():
            if len(group) < 2:
                continue
            (failure, first), rest = group[0], group[1:]
            summary = failure.cause.summary if failure.cause else ""
            others = ", ".join(r.number for _, r in rest)
            first.output += f"\nThis one mistake ({summary}) also fails check(s) {others}."
            for other, result in rest:
                result.output = linked_feedback(other, first.number, summary)
        return out

    def catalogue(self) -> list[CheckMeta]:
        """The collected checks' metadata (for listings and could-not-grade reports)."""
        return [self._meta[n] for n in self._order]
