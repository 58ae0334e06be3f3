"""Incremental grading of a large class: what a round costs when 10 % of the students pushed.

    .venv/bin/python benchmarks/bench_incremental.py [--students 300] [--pushing 0.1]
        [--variants 12] [--jobs 2] [--isolation auto|bwrap|process] [--json OUT]

Builds ``--students`` local bare repositories from the corpus of real submissions
(``tests/submissions``: correct variants, do-nothing stubs, single mistakes), then:

1. *round 1*, the state a course is in after its first run: every student graded. Each student
   holds one of ``--variants`` submissions; each distinct file is graded once by the real grader
   and its results file replayed for the students who hold the very same file (grading is
   deterministic for a file; the results of each student are written by ``grade-repos`` itself,
   with their own commit, deadline and grader fingerprint). Timed, but not the round that counts.
2. *round 2*, what a scheduled run does: ``--pushing`` of the students push a new submission
   (each a different file of the corpus, not seen in round 1); ``plan-grading`` lists the 300
   heads against round 1's results and picks the students to grade; ``grade-repos`` grades them
   with the real grader (``--jobs``) from the plan's roster, reusing round 1 for the others.
3. *round 3*, an unchanged rerun: ``plan-grading`` again (nobody to grade), and ``grade-repos``
   over the whole roster (every repository cloned, nobody regraded: the cost of the local path).

Prints each step's wall time, the students graded and kept, and the load average around it; the
numbers feed the cost model in docs/github.md. Not a test: timings on a shared machine vary.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.authoring.release import build_release
from autograder.github.batch import grade_repos
from autograder.github.deadlines import parse_deadline
from autograder.github.planning import PLAN_ROSTER, plan_grading
from autograder.paths import EXERCISE_FILE
from autograder.sandbox.isolation import ISOLATIONS
from tests.submissions.corpus import ENTRIES, of_kind

DEADLINE = "2026-12-01T23:59:00+00:00"
ROUND1 = "2026-11-20T10:00:00+00:00"
ROUND2 = "2026-11-21T10:00:00+00:00"

# Grades a file once with the real grader and replays its results for the same file: round 1
REPLAY_GRADER = textwrap.dedent(
    """
    import hashlib, os, pathlib, shutil, subprocess, sys
    sub, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[3])
    cache = pathlib.Path(os.environ["REPLAY_CACHE"])
    key = hashlib.sha256((sub / "batchnorm_gradclip_exercise.py").read_bytes()).hexdigest()
    hit = cache / f"{key}.json"
    if not hit.exists():
        cmd = [sys.executable, "-m", "autograder", "grade", *sys.argv[1:]]
        code = subprocess.run(cmd).returncode
        if code != 0:
            sys.exit(code)
        shutil.copy(out, hit)
    shutil.copy(hit, out)
    """
)


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


def make_class(root: Path, n: int, sources: list[str]) -> Path:
    """``n`` bare repositories (the release, then student i's file ``sources[i % len]``)."""
    files = build_release()
    lines = ["student,repo"]
    for i in range(n):
        name = f"student{i:03d}"
        work = root / "work" / name
        work.mkdir(parents=True)
        _git(work, "init", "-q", "-b", "main", date=ROUND1)
        for rel, data in files.items():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_bytes(data)
        (work / EXERCISE_FILE).write_text(sources[i % len(sources)], encoding="utf-8")
        _git(work, "add", "-A", date=ROUND1)
        _git(work, "commit", "-qm", "my work", date=ROUND1)
        bare = root / "repos" / f"{name}.git"
        subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
        lines.append(f"{name},repos/{name}.git")
    roster = root / "roster.csv"
    roster.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return roster


def push(root: Path, student: str, source: str) -> None:
    work = root / "work" / student
    (work / EXERCISE_FILE).write_text(source, encoding="utf-8")
    _git(work, "commit", "-qam", "new work", date=ROUND2)
    _git(work, "push", "-q", str(root / "repos" / f"{student}.git"), "HEAD:main", date=ROUND2)


def timed(label: str, log: list[dict], fn, **extra) -> object:
    load = os.getloadavg()[0]
    started = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - started
    entry = {"step": label, "seconds": round(seconds, 2), "load_before": round(load, 2)}
    entry["load_after"] = round(os.getloadavg()[0], 2)
    entry.update({k: f(value) for k, f in extra.items()})
    log.append(entry)
    details = ", ".join(f"{k} {entry[k]}" for k in extra)
    print(
        f"{label}: {seconds:.1f} s ({details}; load {entry['load_before']} -> "
        f"{entry['load_after']} on {os.cpu_count()} CPUs)",
        flush=True,
    )
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--pushing", type=float, default=0.1, help="share pushing before round 2")
    parser.add_argument("--variants", type=int, default=12, help="distinct files in round 1")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--isolation", default="auto", choices=ISOLATIONS)
    parser.add_argument("--json", help="also write the measurements here")
    args = parser.parse_args(argv)
    pushers = round(args.students * args.pushing)
    correct, stubs, mistakes = of_kind("correct"), of_kind("stub"), of_kind("mistake")
    # round 1: a mix like a class's (a third correct, some stubs, the rest single mistakes)
    first = correct[: args.variants // 3] + stubs[:2] + mistakes[: args.variants]
    first = first[: args.variants]
    unseen = [e for e in ENTRIES if e not in first]
    if pushers > len(unseen):
        parser.error(f"--pushing: at most {len(unseen)} new submissions in the corpus")
    log: list[dict] = []
    deadline = parse_deadline(DEADLINE)
    with tempfile.TemporaryDirectory(prefix="bench-incremental-") as tmp:
        root = Path(tmp)
        roster = timed(
            "build the class",
            log,
            lambda: make_class(root, args.students, [e.source for e in first]),
        )
        replay = root / "replay.py"
        replay.write_text(REPLAY_GRADER, encoding="utf-8")
        cache = root / "replay-cache"
        cache.mkdir()
        os.environ["REPLAY_CACHE"] = str(cache)
        round1, round2 = root / "round1", root / "round2"

        def grade(out: Path, rows: Path, previous: Path | None, command=None, run_id: str = ""):
            kwargs = {"grader_command": command} if command else {}
            return grade_repos(
                roster=rows,
                out_dir=out,
                deadline=DEADLINE,
                jobs=args.jobs,
                isolation=args.isolation,
                previous=previous,
                run_id=run_id,
                progress=lambda m: None,
                **kwargs,
            )

        def summary(batch) -> dict:
            return {"graded": len(batch.rows) - len(batch.reused), "kept": len(batch.reused)}

        replay_cmd = [sys.executable, str(replay)]
        timed(
            "round 1: the whole class (each distinct file graded once, replayed for the rest)",
            log,
            lambda: grade(round1, roster, None, [*replay_cmd], "round-1"),
            students=lambda b: len(b.rows),
            errors=lambda b: len(b.errors),
        )
        students = [f"student{i * args.students // pushers:03d}" for i in range(pushers)]
        for student, entry in zip(students, unseen, strict=False):
            push(root, student, entry.source)
        plan_dir = root / "plan"
        timed(
            f"round 2: plan ({pushers} of {args.students} pushed; git ls-remote of every head)",
            log,
            lambda: plan_grading(
                roster=roster, previous_dir=round1, out_dir=plan_dir, deadline=deadline
            ),
            to_grade=lambda p: len(p.to_grade),
            shards=lambda p: p.shards,
        )
        batch = timed(
            "round 2: grade the plan's students with the real grader",
            log,
            lambda: grade(round2, plan_dir / PLAN_ROSTER, round1, None, "round-2"),
            graded=lambda b: summary(b)["graded"],
            kept=lambda b: summary(b)["kept"],
            errors=lambda b: len(b.errors),
        )
        graded_n = max(1, summary(batch)["graded"])
        log[-1]["seconds_per_student"] = round(log[-1]["seconds"] / graded_n, 2)
        print(f"  = {log[-1]['seconds_per_student']} s per student with {args.jobs} job(s)")
        merged = root / "merged"  # as the workflow's last job merges: the shard over round 1
        shutil.copytree(round1, merged)
        shutil.copytree(round2, merged, dirs_exist_ok=True)
        timed(
            "round 3: plan of an unchanged class",
            log,
            lambda: plan_grading(
                roster=roster, previous_dir=merged, out_dir=root / "plan3", deadline=deadline
            ),
            to_grade=lambda p: len(p.to_grade),
        )
        timed(
            "round 3: grade-repos over the whole unchanged class (every repository cloned)",
            log,
            lambda: grade(merged, roster, None, None, "round-3"),
            graded=lambda b: summary(b)["graded"],
            kept=lambda b: summary(b)["kept"],
        )
        kept = [
            p.name
            for p in round1.glob("*.json")
            if p.stem not in students and p.read_bytes() == (merged / p.name).read_bytes()
        ]
        print(
            f"{len(kept)} of {args.students - pushers} results of students who did not push are "
            "byte for byte those of round 1"
        )
        log.append({"step": "unchanged results kept byte for byte", "count": len(kept)})
    if args.json:
        Path(args.json).write_text(json.dumps(log, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
