"""A class graded in one go: every student of a roster (or of a shard) in parallel, into one
results folder; or, as the first of two steps, every repository fetched into a clones folder.

The results folder holds, per student, ``<student>.json`` (kept as it was when the previous
result still stands: ``reuse``), ``feedback/<student>.md`` (what the student reads),
``submissions/<student>/`` (the graded edition(s), for ``similarity``) and ``heads/<student>.json``
(the head last fetched, for the workflow's plan); and ``summary.csv``."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from autograder.authoring.manifest import Manifest
from autograder.files import write_json_atomic, write_text_atomic
from autograder.github.deadlines import LatePolicy, parse_deadline
from autograder.github.feedback import FEEDBACK_DIR, render_feedback
from autograder.github.git import Git, RepoError
from autograder.github.results_dir import SUBMISSIONS_DIR, write_summary
from autograder.github.reuse import load_previous, write_head
from autograder.github.roster import RosterRow, read_roster, select_shard
from autograder.github.student import RepoResult, StudentGrader, could_not_grade_results, now
from autograder.grading.pool import GraderPool
from autograder.grading.results import GRADER_ERROR
from autograder.sandbox.isolation import ISOLATIONS


@dataclass
class BatchResult:
    rows: list[RepoResult]
    out_dir: Path
    summary: Path
    seconds: float

    @property
    def errors(self) -> list[RepoResult]:
        return [r for r in self.rows if r.error]

    @property
    def reused(self) -> list[RepoResult]:
        return [r for r in self.rows if r.reused]


def _rows_of(roster: str | os.PathLike | Sequence[RosterRow], shard: str | None) -> list[RosterRow]:
    rows = read_roster(roster) if isinstance(roster, str | os.PathLike) else list(roster)
    return select_shard(rows, shard)


def _check_jobs(jobs: int) -> None:
    if jobs < 1:
        raise ValueError("--jobs must be at least 1")


def grade_repos(
    *,
    roster: str | os.PathLike | Sequence[RosterRow],
    out_dir: str | os.PathLike,
    deadline: str | datetime | None = None,
    jobs: int = 1,
    shard: str | None = None,
    token: str | None = None,
    git_host: str = "github.com",
    isolation: str = "auto",
    clones: str | os.PathLike | None = None,
    grader_command: Sequence[str] | None = None,
    grade_timeout: float = 1800.0,
    workdir: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = None,
    late_policy: LatePolicy | None = None,
    previous: str | os.PathLike | None = None,
    force: bool = False,
    run_id: str | None = None,
) -> BatchResult:
    """Grade every student of ``roster`` (a CSV path or parsed rows) into ``out_dir``.

    Raises RosterError for an unusable roster or shard, ValueError for a bad deadline, job count
    or isolation; problems of single repositories end up in their rows. ``isolation`` is passed
    to every ``grade``; unless it is ``auto``, results graded any other way are refused (a grader
    error row). ``clones`` grades from the folder written by ``fetch_repos`` instead of cloning.
    ``workdir`` keeps the clones for inspection (default: a temporary folder removed at the end).

    A student's result in ``previous`` (default: ``out_dir`` itself) that still stands for the
    commit to grade is kept as it is (copied when ``previous`` is another folder); ``force``
    regrades everyone. New results carry ``run_id`` (default: the batch's start, UTC ISO-8601).

    With the default grader (no ``grader_command``), students are graded by a ``GraderPool`` of
    ``jobs`` grading servers, started as the first students need them: the grader's process is
    reused across students, each student's code still runs in fresh sandboxed processes.
    """
    from autograder.authoring.release import build_release
    from autograder.github.answers import ANSWERS_FILE

    rows = _rows_of(roster, shard)
    when = parse_deadline(deadline) if isinstance(deadline, str) else deadline
    _check_jobs(jobs)
    if isolation not in ISOLATIONS:
        raise ValueError(f"--isolation must be one of {', '.join(ISOLATIONS)}")
    if clones is not None and not Path(clones).is_dir():
        raise ValueError(f"--clones {clones}: no such folder (run grade-repos --fetch-only first)")
    if previous is not None and not Path(previous).is_dir():
        raise ValueError(f"--previous {previous}: no such folder of results")
    release = build_release()
    manifest = Manifest.from_files(release)
    answers_template = release.get(ANSWERS_FILE)
    grader = StudentGrader(
        manifest=manifest,
        originals={p: release[p] for p in manifest.files},
        git=Git(
            token=token,
            git_host=git_host,
            clones=Path(clones) if clones is not None else None,
        ),
        deadline=when,
        grade_timeout=grade_timeout,
        isolation=isolation,
        late_policy=late_policy or LatePolicy(),
        run_id=run_id or now(),
        force=force,
        answers_template=answers_template.decode("utf-8", "replace") if answers_template else None,
    )
    if grader_command is not None:
        grader.grader_command = tuple(grader_command)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    earlier = Path(previous) if previous is not None else out
    say = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    started = time.monotonic()
    results: list[RepoResult] = []  # appended to on this thread only, as futures complete
    tmp = None if workdir else tempfile.TemporaryDirectory(prefix="grade-repos-")
    root = Path(workdir) if workdir else Path(tmp.name)  # type: ignore[union-attr]
    servers = contextlib.ExitStack()
    if grader_command is None:
        grader.pool = servers.enter_context(
            GraderPool(
                workers=jobs,
                isolation=isolation,
                timeout=grade_timeout,
                env=grader.grader_env(),
            )
        )
    try:

        def one(row: RosterRow) -> RepoResult:
            work = root / row.student
            if work.exists():
                shutil.rmtree(work)
            work.mkdir(parents=True)
            try:
                res = grader.grade(row, work, previous=load_previous(earlier, row.student))
            finally:
                if not workdir:
                    shutil.rmtree(work, ignore_errors=True)
            target = out / f"{row.student}.json"
            try:
                if not res.reused:
                    write_json_atomic(res.to_json(), target)
                elif earlier.resolve() != out.resolve():
                    shutil.copy2(earlier / target.name, target)  # as it was, byte for byte
                write_outputs(out, res)
            except OSError as exc:  # the row stays in summary.csv, with this error
                note = f"could not write {target}: {exc}"
                res.error = f"{res.error}; {note}" if res.error else f"grader_error: {note}"
            return res

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(one, row): row for row in rows}
            for fut in as_completed(futures):
                row = futures[fut]
                try:
                    res = fut.result()
                except Exception as exc:  # e.g. the work folder cannot be made: keep going
                    res = RepoResult(
                        student=row.student,
                        repo=row.display_repo,
                        results=could_not_grade_results(str(exc), status=GRADER_ERROR),
                        error=f"grader_error: {exc!r}",
                        graded_at=now(),
                    )
                results.append(res)
                n = len(results)
                note = f"error: {res.error}" if res.error else "ok"
                note = f"kept: {res.note}" if res.reused else note
                flags = (" late" if res.late else "") + (" tampered" if res.tampered else "")
                say(
                    f"[{n}/{len(rows)}] {res.student}: {res.score:g}/{res.max_score:g}{flags} "
                    f"({res.details.get('seconds', 0):.1f} s) {note}"
                )
    finally:
        servers.close()
        if tmp is not None:
            tmp.cleanup()
    results.sort(key=lambda r: r.student.lower())
    summary = write_summary(out, [r.to_json() for r in results])
    return BatchResult(
        rows=results, out_dir=out, summary=summary, seconds=time.monotonic() - started
    )


def write_outputs(out: Path, res: RepoResult) -> None:
    """What goes beside ``<student>.json``: the feedback, the graded file(s) and the head seen.

    The graded files replace what ``submissions/<student>/`` held; a student without a graded
    file keeps no old one there. Raises OSError when something cannot be written.
    """
    student = res.student
    write_text_atomic(out / FEEDBACK_DIR / f"{student}.md", render_feedback(res.to_json()))
    kept = out / SUBMISSIONS_DIR / student
    if kept.exists() and not res.reused:
        shutil.rmtree(kept)
    for name, data in res.files.items():
        kept.mkdir(parents=True, exist_ok=True)
        (kept / name).write_bytes(data)
    head = res.details.get("head_commit")
    if head:
        write_head(out, student, head=str(head), commit=res.commit, at=now())


@dataclass
class FetchResult:
    clones_dir: Path
    fetched: list[str]  # students whose repository is in clones_dir/<student>.git
    failed: dict[str, str]  # student -> why (also in clones_dir/<student>.error)
    seconds: float


def fetch_repos(
    *,
    roster: str | os.PathLike | Sequence[RosterRow],
    clones_dir: str | os.PathLike,
    shard: str | None = None,
    jobs: int = 1,
    token: str | None = None,
    git_host: str = "github.com",
    progress: Callable[[str], None] | None = None,
) -> FetchResult:
    """Clone every repository of ``roster`` into ``clones_dir/<student>.git`` (bare clones).

    The first half of grading in two steps: this one has the network and the token and runs no
    student code; ``grade_repos(clones=clones_dir)`` then grades without either. A repository
    that cannot be cloned gets ``<student>.error`` with the reason, which grading turns into the
    student's error row; the batch goes on.
    """
    rows = _rows_of(roster, shard)
    _check_jobs(jobs)
    folder = Path(clones_dir)
    folder.mkdir(parents=True, exist_ok=True)
    git = Git(token=token, git_host=git_host)
    say = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    started = time.monotonic()
    fetched: list[str] = []
    failed: dict[str, str] = {}

    def one(row: RosterRow) -> str | None:
        dest = folder / f"{row.student}.git"
        error_file = folder / f"{row.student}.error"
        for old in (dest, error_file):
            if old.is_dir():
                shutil.rmtree(old)
            elif old.exists():
                old.unlink()
        try:
            git.fetch(row, dest, bare=True)
        except RepoError as exc:
            shutil.rmtree(dest, ignore_errors=True)
            error_file.write_text(f"{exc}\n", encoding="utf-8")
            return str(exc)
        return None

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(one, row): row for row in rows}
        for n, fut in enumerate(as_completed(futures), 1):
            row = futures[fut]
            try:
                error = fut.result()
            except OSError as exc:  # the clones folder itself is the problem: say so, go on
                error = f"could not fetch into {folder}: {exc}"
            if error:
                failed[row.student] = error
            else:
                fetched.append(row.student)
            say(f"[{n}/{len(rows)}] {row.student}: " + (f"error: {error}" if error else "fetched"))
    return FetchResult(
        clones_dir=folder,
        fetched=sorted(fetched, key=str.lower),
        failed=dict(sorted(failed.items())),
        seconds=time.monotonic() - started,
    )
