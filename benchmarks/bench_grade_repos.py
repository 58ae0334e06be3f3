"""How long ``grade-repos`` takes per student, with 1 and with 2 parallel jobs.

    .venv/bin/python benchmarks/bench_grade_repos.py [--students 4] [--jobs 1,2]
        [--isolation auto|bwrap|process] [--json OUT]

Builds ``--students`` local bare repositories (half with the reference solution, half with the
untouched template, each with a commit after the deadline), grades them all with the real grader
(grade-repos's pool of ``--jobs`` grading servers; ``bench_batch.py`` compares it with a
``python -m autograder grade`` process per student) once per ``--jobs`` value, and prints
the wall time, the time per student, the speed-up over one job, the isolation the grader used
and the load average before and after each run. Not a test: timings on a shared machine vary;
the numbers are reported, not asserted (the tests prove that two jobs overlap, without clocks).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.authoring.release import build_release
from autograder.github.batch import grade_repos
from autograder.paths import EXERCISE_FILE, SOLUTION_PATH
from autograder.sandbox.isolation import ISOLATIONS

DEADLINE = "2026-11-01T12:00:00+00:00"


def _git(cwd: Path, *args: str, date: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    subprocess.run(
        ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.org", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
    )


def make_class(root: Path, n: int) -> Path:
    """``n`` bare repositories and their roster; returns the roster's path."""
    files = build_release()
    solution = SOLUTION_PATH.read_bytes()
    lines = ["student,repo"]
    for i in range(n):
        name = f"student{i:03d}"
        work = root / "work" / name
        work.mkdir(parents=True)
        _git(work, "init", "-q", "-b", "main", date="2026-10-20T10:00:00+00:00")
        for rel, data in files.items():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_bytes(data)
        _git(work, "add", "-A", date="2026-10-20T10:00:00+00:00")
        _git(work, "commit", "-qm", "template", date="2026-10-20T10:00:00+00:00")
        if i % 2 == 0:
            (work / EXERCISE_FILE).write_bytes(solution)
            _git(work, "commit", "-qam", "solution", date="2026-10-30T10:00:00+00:00")
        (work / "notes.txt").write_text("late\n")
        _git(work, "add", "notes.txt", date="2026-11-02T10:00:00+00:00")
        _git(work, "commit", "-qm", "after the deadline", date="2026-11-02T10:00:00+00:00")
        bare = root / "repos" / f"{name}.git"
        subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
        lines.append(f"{name},repos/{name}.git")
    roster = root / "roster.csv"
    roster.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return roster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--jobs", default="1,2", help="comma-separated job counts to time")
    parser.add_argument("--isolation", default="auto", choices=ISOLATIONS)
    parser.add_argument("--json", help="also write the measurements here")
    args = parser.parse_args(argv)
    measurements = []
    with tempfile.TemporaryDirectory(prefix="bench-grade-repos-") as tmp:
        root = Path(tmp)
        roster = make_class(root, args.students)
        for jobs in [int(j) for j in args.jobs.split(",")]:
            out = root / f"results-{jobs}"
            load_before = os.getloadavg()[0]
            start = time.perf_counter()
            batch = grade_repos(
                roster=roster,
                out_dir=out,
                deadline=DEADLINE,
                jobs=jobs,
                isolation=args.isolation,
                progress=lambda m: None,
            )
            wall = time.perf_counter() - start
            load_after = os.getloadavg()[0]
            isolation = sorted({str(r.isolation) for r in batch.rows})
            errors = [r.error for r in batch.rows if r.error]
            scores = sorted(r.score for r in batch.rows)
            measurements.append(
                {
                    "jobs": jobs,
                    "students": len(batch.rows),
                    "wall_seconds": round(wall, 2),
                    "seconds_per_student": round(wall / max(len(batch.rows), 1), 2),
                    "errors": errors,
                    "scores": scores,
                    "isolation": isolation,
                    "load_1min_before": round(load_before, 2),
                    "load_1min_after": round(load_after, 2),
                }
            )
            print(
                f"jobs={jobs}: {len(batch.rows)} students in {wall:.1f} s "
                f"= {wall / max(len(batch.rows), 1):.1f} s per student; scores {scores}; "
                f"isolation {', '.join(isolation)}; load {load_before:.1f} -> {load_after:.1f} "
                f"on {os.cpu_count()} CPUs" + (f"; errors: {errors}" if errors else ""),
                flush=True,
            )
    base = measurements[0]["wall_seconds"]
    for m in measurements[1:]:
        print(f"speed-up of {m['jobs']} jobs over {measurements[0]['jobs']}: "
              f"{base / m['wall_seconds']:.2f}x")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(measurements, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
