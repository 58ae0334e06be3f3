"""Grading one submission: the edition(s) to grade, the sandbox, the hidden checks, the result.

The hidden checks (``grading/checks``) run under pytest in this process, which never imports the
submission: they ask a sandboxed student process (``autograder.sandbox``) to call the
student's functions and compute every verdict here, against the reference solution loaded here.
``grade_and_write`` is what the ``grade`` command (``grading.command``) and the platforms'
grading process (``platforms.runtime``) call: a results file is always written.
"""

from __future__ import annotations

import contextlib
import io
import os
import resource
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from autograder import __version__
from autograder.files import write_json_atomic
from autograder.grading.gradescope import to_gradescope
from autograder.grading.results import (
    COULD_NOT_GRADE,
    GRADED,
    GRADER_ERROR,
    GradingResult,
    TestResult,
    not_graded,
)
from autograder.grading.settings import GRADER_THREADS, TRAINING_MODES
from autograder.grading.submission import SubmissionNotFound, choose_editions, prepared_submission
from autograder.grading.timeline import Timeline
from autograder.paths import ASSIGNMENT_DIR, CHECKS_DIR, EXERCISE_UTILS_PATH
from autograder.sandbox.client import Sandbox, become_subreaper, kill_descendants
from autograder.sandbox.isolation import Limits

if TYPE_CHECKING:  # pytest, torch and the plugin are imported once the student processes run
    from autograder.grading.plugin import GradingPlugin

# Where the grader's data may live, besides --data-root: hidden from the student process
DEFAULT_DATA_LOCATIONS = (ASSIGNMENT_DIR / "data", Path("/usr/share/datasets"))


def data_locations(data_root: str | None) -> tuple[Path, ...]:
    """Every place the grader reads Fashion-MNIST (and its decoded cache) from."""
    places = [*DEFAULT_DATA_LOCATIONS]
    for given in (data_root, os.environ.get("FASHION_MNIST_ROOT")):
        if given:
            places.append(Path(given).expanduser())
    return tuple(places)


@contextlib.contextmanager
def own_address_space_capped(megabytes: int) -> Iterator[None]:
    """Lower this process's soft address-space limit to ``megabytes`` (0: leave it) meanwhile.

    Never raised above what it was; restored afterwards (a caller that runs the command in its
    own process keeps its limit). Only the soft limit: a student process may be given more.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    wanted = megabytes << 20
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    lower = megabytes > 0 and (soft == resource.RLIM_INFINITY or wanted < soft)
    if lower:
        resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
    try:
        yield
    finally:
        if lower:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """torch's intra-op threads of this process set to ``threads`` meanwhile."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run_checks(plugin: GradingPlugin, *, select: str | None, checks_dir: Path) -> None:
    import pytest

    args = [
        "-c",
        str(checks_dir / "pytest.ini"),
        "--rootdir",
        str(checks_dir),
        "-p",
        "no:cacheprovider",
        # its clean-up runs a full garbage collection over torch's objects (0.25 s a grading),
        # to report exceptions nobody could raise, in a report nobody reads
        "-p",
        "no:unraisableexception",
        "-q",
        "--no-header",
        "--tb=no",
        "-W",
        "ignore::DeprecationWarning",
        str(checks_dir),
    ]
    if select:
        args += ["-k", select]
    # pytest's own report is not for anyone's eyes (it could quote hidden check source); the
    # pytest plugins installed beside the grader are not loaded: the checks need none, one could
    # reorder or time them, and finding and importing them cost 1.2 s on a busy machine
    with contextlib.redirect_stdout(io.StringIO()), pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        code = pytest.main(args, plugins=[plugin])
    if code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        raise RuntimeError(f"pytest could not run the hidden checks (exit code {code})")


def check_catalogue(*, checks_dir: Path = CHECKS_DIR) -> list[TestResult]:
    """Every hidden check as a failed, not-run entry (names, numbers, tags and points)."""
    from autograder.grading.plugin import GradingPlugin

    plugin = GradingPlugin(sandbox=None, collect_only=True)  # type: ignore[arg-type]
    _run_checks(plugin, select=None, checks_dir=checks_dir)
    return [
        TestResult(name=m.name, number=m.number, tag=m.tag, max_score=m.points, outcome="failed")
        for m in plugin.catalogue()
    ]


def grade_submission(
    *,
    submission: str | Path,
    limits: Limits | None = None,
    isolation: str = "auto",
    data_root: str | None = None,
    select: str | None = None,
    checks_dir: Path = CHECKS_DIR,
    timeline: Timeline | None = None,
    training: str = "shared",
) -> GradingResult:
    """Grade ``submission``: the exercise file (``.py`` or ``.ipynb``) or a directory holding it.

    A directory holding both editions is graded by the one that differs from the released
    template; when both differ, both are graded and the higher score counts (with a note).
    ``timeline`` (if given) records where the time goes (``autograder grade --profile``);
    ``training`` is one of ``TRAINING_MODES``.
    """
    if training not in TRAINING_MODES:
        raise ValueError(f"training must be one of {TRAINING_MODES}, not {training!r}")
    started = time.monotonic()
    result = GradingResult(grader_version=__version__, submission=str(submission))
    try:
        editions = choose_editions(submission)
    except SubmissionNotFound as exc:
        _not_found(result, exc, checks_dir)
        result.execution_time = time.monotonic() - started
        return result
    run = _Run(
        limits=limits or Limits(),
        isolation=isolation,
        data_root=data_root,
        select=select,
        checks_dir=checks_dir,
        timeline=timeline if timeline is not None else Timeline(),
        training=training,
    )
    graded = [_grade_edition(path, run) for path in editions.files]
    # the higher score counts; of equal ones, a graded one, then the first (the .py)
    result = max(graded, key=lambda r: (r.score, r.status == GRADED, -graded.index(r)))
    notes = [editions.note] if editions.note else []
    if editions.both:
        other = next(r for r in graded if r is not result)
        notes = [
            f"{editions.note} {Path(result.submission).name} scored {result.score:g}, "
            f"{Path(other.submission).name} {other.score:g}."
        ]
        result.extra["other_edition"] = {
            "submission": other.submission,
            "score": other.score,
            "status": other.status,
        }
    result.extra["submission_notes"] = notes + list(result.extra.get("submission_notes", []))
    result.execution_time = time.monotonic() - started
    return result


@dataclass(frozen=True)
class _Run:
    """How a grading runs (``grade_submission``'s options), the same for every edition."""

    limits: Limits
    isolation: str
    data_root: str | None
    select: str | None
    checks_dir: Path
    timeline: Timeline
    training: str


def _not_found(result: GradingResult, exc: SubmissionNotFound, checks_dir: Path) -> None:
    """``result`` for a submission that is not there: could not grade, every check not run."""
    result.status, result.reason = COULD_NOT_GRADE, str(exc)
    result.tests = check_catalogue(checks_dir=checks_dir)
    for t in result.tests:
        t.output = f"Not run: {exc}"


def _grade_edition(path: Path, run: _Run) -> GradingResult:
    """Grade one exercise file (a notebook is turned into the .py it stands for)."""
    result = GradingResult(grader_version=__version__, submission=str(path))
    try:
        with prepared_submission(path) as prepared:
            _grade_file(prepared.path, result, run)
            for t in result.tests:
                t.output = prepared.translate(t.output)
            result.reason = prepared.translate(result.reason)
            result.extra["submission_notes"] = list(prepared.notes)
            result.submission = str(prepared.original)
    except SubmissionNotFound as exc:
        _not_found(result, exc, run.checks_dir)
    return result


def _grade_file(path: Path, result: GradingResult, run: _Run) -> None:
    """Run the hidden checks against the Python file ``path``; fill in ``result``.

    With ``training="separate"``, two student processes run the submission, under the same
    rules: one answers the checks' probes in turn, the other (the trainer) runs compare_runs'
    two runs for sections 4 and 5 (``checks/training.py``); with ``"shared"``, one process
    does all. The student processes import torch while the grader imports pytest and torch.
    """

    def sandbox(lane: str, *, ahead: bool) -> Sandbox:
        return Sandbox(
            path,
            limits=run.limits,
            isolation=run.isolation,
            hidden=data_locations(run.data_root),
            companions=(EXERCISE_UTILS_PATH,),
            lane=lane,
            record=run.timeline.add,
            ahead=ahead,
        )

    # the process that runs compare_runs imports torch._dynamo ahead (Sandbox.ahead), unless
    # --select may leave compare_runs out
    separate = run.training == "separate"
    student = sandbox("student", ahead=not separate and not run.select)
    trainer = sandbox("trainer", ahead=True) if separate else None
    try:
        student.begin()
        if trainer is not None and not run.select:  # with --select: only if a check asks
            trainer.begin()
        with run.timeline.span("import pytest, torch and the checks' helpers"):
            from autograder.grading.plugin import GradingPlugin
        plugin = GradingPlugin(
            sandbox=student,
            trainer=trainer,
            context={"data_root": run.data_root, "timeout_scale": run.limits.timeout_scale},
            timeline=run.timeline,
        )
        with _torch_threads(GRADER_THREADS):
            _run_checks(plugin, select=run.select, checks_dir=run.checks_dir)
    finally:
        student.close()
        if trainer is not None:
            trainer.close()
    result.tests = plugin.test_results()
    result.isolation = student.isolation
    if student.isolation_note:
        result.extra["isolation_note"] = student.isolation_note
    result.student_output = student.student_output()
    trainer_output = trainer.student_output() if trainer is not None else ""
    if trainer_output.strip():
        result.student_output += (
            f"\n--- output of the process that trained compare_runs' models ---\n{trainer_output}"
        )
    tampered = student.tampered | (trainer.tampered if trainer is not None else set())
    result.extra["tampered_torch"] = sorted(tampered)
    result.extra["process_starts"] = student.starts
    if trainer is not None:
        result.extra["trainer_process_starts"] = trainer.starts
    import_error = student.import_error  # the trainer alone failing fails only its checks
    if import_error is not None:
        result.status, result.reason = COULD_NOT_GRADE, str(import_error)
    elif plugin.internal_errors:
        result.status = GRADER_ERROR
        result.reason = f"{len(plugin.internal_errors)} check(s) hit an error in the grader."
        result.traceback = "\n\n".join(plugin.internal_errors)
    else:
        result.status = GRADED


def grader_failure(submission: str, exc: BaseException, elapsed: float) -> GradingResult:
    """The result written when grading itself crashed: 0 points, visibly not the student's fault."""
    result = not_graded(
        status=GRADER_ERROR,
        reason=f"{type(exc).__name__}: {exc}",
        output="The grader failed before it could finish; this is not a verdict on your code. "
        "Your instructor has the details and will regrade.",
        submission=submission,
        grader_version=__version__,
        traceback="".join(traceback.format_exception(exc)),
    )
    result.execution_time = elapsed
    return result


def grade_and_write(
    *,
    submission: str | Path,
    out: str | Path | None,
    limits: Limits | None = None,
    isolation: str = "auto",
    data_root: str | None = None,
    select: str | None = None,
    timeline: Timeline | None = None,
    training: str = "shared",
) -> GradingResult:
    """Grade ``submission`` as a command does, and write its results JSON to ``out`` (if given).

    The student's processes, orphans included, are killed when grading ends; a crash of the
    grader itself becomes ``grader_failure``'s result. The result returned and written is cleaned
    (``GradingResult.cleaned``), and a results file is always written (``write_results``).
    Used by ``autograder grade`` and by the platforms' grading process
    (``autograder.platforms.runtime``).
    """
    started = time.monotonic()
    timeline = timeline if timeline is not None else Timeline()
    become_subreaper()  # orphans of the student process become ours, and are killed below
    try:
        result = grade_submission(
            submission=submission,
            limits=limits,
            isolation=isolation,
            data_root=data_root,
            select=select,
            timeline=timeline,
            training=training,
        )
    except Exception as exc:
        result = grader_failure(str(submission), exc, time.monotonic() - started)
    finally:
        kill_descendants()
        timeline.note_cpu()
    result = result.cleaned()
    # written last, after every student process is gone: nothing can overwrite it
    if out:
        with timeline.span("write the results"):
            write_results(result, out)
    return result


def write_results(result: GradingResult, out: str | Path) -> None:
    """Write ``result`` as results JSON; if that fails, a grader-error result saying why.

    So a results file is written whatever the result holds.
    """
    try:
        write_json_atomic(to_gradescope(result), out)
    except Exception as exc:
        failure = grader_failure(result.submission, exc, result.execution_time)
        write_json_atomic(to_gradescope(failure), out)
