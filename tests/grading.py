"""Run the grader on submissions the way CI and instructors do: its command line
(``python -m autograder grade``), or a pool of grading servers (``grade-batch``, ``grade-repos``),
which grades exactly as the command does (``tests/test_pool.py`` compares the two)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from autograder.paths import REPO_ROOT


@dataclass
class Graded:
    results: dict
    returncode: int
    seconds: float
    stdout: str
    stderr: str
    out_path: Path

    @property
    def by_tag(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for t in self.results["tests"]:
            totals[t["tags"][0]] = totals.get(t["tags"][0], 0.0) + t["score"]
        return totals

    @property
    def max_by_tag(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for t in self.results["tests"]:
            totals[t["tags"][0]] = totals.get(t["tags"][0], 0.0) + t["max_score"]
        return totals

    def lost_tags(self) -> set[str]:
        return {tag for tag, m in self.max_by_tag.items() if self.by_tag.get(tag, 0.0) < m}


def grade(
    submission: Path,
    out: Path,
    *,
    isolation: str = "auto",
    env: dict[str, str] | None = None,
    timeout: float = 900,
    select: str | None = None,
) -> Graded:
    cmd = [sys.executable, "-m", "autograder", "grade", str(submission), "--out", str(out)]
    cmd += ["--quiet", "--isolation", isolation]
    if select:
        cmd += ["--select", select]
    started = time.monotonic()
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=REPO_ROOT,
        check=False,
    )
    seconds = time.monotonic() - started
    results = json.loads(out.read_text()) if out.exists() else {}
    return Graded(results, proc.returncode, seconds, proc.stdout, proc.stderr, out)


def write_sources(sources: dict[str, str], workdir: Path) -> dict[str, Path]:
    """Each source as <workdir>/<name>/batchnorm_gradclip_exercise.py; the folders by name."""
    folders = {}
    for name, source in sources.items():
        folder = workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "batchnorm_gradclip_exercise.py").write_text(source)
        folders[name] = folder
    return folders


def grade_sources(
    sources: dict[str, str], workdir: Path, *, jobs: int = 2, via: str = "command", **kwargs
) -> dict[str, Graded]:
    """Write each source as <workdir>/<name>/batchnorm_gradclip_exercise.py and grade them all,
    ``jobs`` at a time, ``via`` the command line (a process per submission) or a ``pool``."""
    folders = write_sources(sources, workdir)
    outs = {name: workdir / f"{name}.json" for name in folders}
    if via == "pool":
        return grade_in_pool(folders, outs, jobs=jobs, **kwargs)

    def one(name: str) -> tuple[str, Graded]:
        return name, grade(folders[name], outs[name], **kwargs)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return dict(pool.map(one, sorted(sources)))


def grade_in_pool(
    submissions: dict[str, Path],
    outs: dict[str, Path],
    *,
    jobs: int = 2,
    isolation: str = "auto",
    env: dict[str, str] | None = None,
    timeout: float = 900,
    select: str | None = None,
) -> dict[str, Graded]:
    """Grade each submission into ``outs[name]`` with a ``GraderPool`` of ``jobs`` servers.

    ``returncode`` and ``stderr`` are what ``autograder grade`` would have exited with and
    printed (``GradingReply``); a grading that did not complete has returncode -1.
    """
    from autograder.grading.pool import GraderPool, GradingFailed

    def one(name: str) -> tuple[str, Graded]:
        out = outs[name]
        started = time.monotonic()
        try:
            reply = pool.grade(submissions[name], out)
        except GradingFailed as exc:
            return name, Graded({}, -1, time.monotonic() - started, "", str(exc), out)
        results = json.loads(out.read_text())
        return name, Graded(results, reply.exit_status, reply.seconds, "", reply.stderr, out)

    with (
        GraderPool(
            workers=jobs,
            isolation=isolation,
            timeout=timeout,
            select=select,
            env={**os.environ, **(env or {})},
        ) as pool,
        ThreadPoolExecutor(max_workers=jobs) as threads,
    ):
        return dict(threads.map(one, sorted(submissions)))
