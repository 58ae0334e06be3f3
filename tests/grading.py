"""Run the grader's command line on submissions, the way CI and instructors do."""

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


def grade_sources(
    sources: dict[str, str], workdir: Path, *, jobs: int = 2, **kwargs
) -> dict[str, Graded]:
    """Write each source as <workdir>/<name>/batchnorm_gradclip_exercise.py and grade them all."""

    def one(name: str) -> tuple[str, Graded]:
        folder = workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "batchnorm_gradclip_exercise.py").write_text(sources[name])
        return name, grade(folder, workdir / f"{name}.json", **kwargs)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return dict(pool.map(one, sorted(sources)))
