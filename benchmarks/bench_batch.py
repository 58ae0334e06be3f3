"""Students per minute: a grader process per submission, against a pool of grading servers.

    .venv/bin/python benchmarks/bench_batch.py [--submissions 12] [--jobs 2] [--rounds 1]
        [--isolation auto|bwrap|process] [--json OUT]

Grades the same submissions (the reference, the template, then entries of the test corpus of
every kind: correct variants, do-nothing stubs, single mistakes; ``--submissions 0``: the whole
corpus) both ways, side by side in one run:

* ``command``: ``python -m autograder grade SUBMISSION --out X`` in a process of its own per
  submission, ``--jobs`` at a time (what grade-repos did before the pool);
* ``pool``: ``python -m autograder grade-batch SUBMISSION... --jobs N`` (its process and its
  grading servers' start-up included).

Each round runs both, in alternating order (round 1: command first). It prints the wall time and
students per minute of each, the ratio, the load average before and after each, and whether
both ways gave identical results JSON (but for ``execution_time``) for every submission. Not a
test: timings on a shared machine vary; compare the ratio of runs made side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autograder.paths import EXERCISE_FILE  # noqa: E402
from autograder.sandbox.isolation import ISOLATIONS  # noqa: E402


def sample(count: int) -> dict[str, str]:
    """``count`` submissions by name (0: all): the reference, the template, then the corpus,
    its kinds interleaved."""
    from tests.submissions.build import REFERENCE, TEMPLATE
    from tests.submissions.corpus import of_kind

    kinds = [of_kind("correct"), of_kind("stub"), of_kind("mistake")]
    interleaved = []
    for i in range(max(len(k) for k in kinds)):
        interleaved += [k[i] for k in kinds if i < len(k)]
    chosen = {"reference": REFERENCE, "template": TEMPLATE}
    chosen.update({e.name: e.source for e in interleaved})
    names = list(chosen)[: count or None]
    return {name: chosen[name] for name in names}


def by_command(folders: dict[str, Path], out: Path, jobs: int, isolation: str) -> float:
    """Wall seconds to grade every folder with a ``grade`` process each, ``jobs`` at a time."""
    out.mkdir(parents=True)

    def one(name: str) -> None:
        cmd = [sys.executable, "-m", "autograder", "grade", str(folders[name])]
        cmd += ["--out", str(out / f"{name}.json"), "--quiet", "--isolation", isolation]
        subprocess.run(cmd, cwd=REPO, capture_output=True, check=False)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as threads:
        list(threads.map(one, folders))
    return time.perf_counter() - started


def by_pool(folders: dict[str, Path], out: Path, jobs: int, isolation: str) -> float:
    """Wall seconds for ``grade-batch`` to grade every folder with ``jobs`` grading servers."""
    cmd = [sys.executable, "-m", "autograder", "grade-batch", *map(str, folders.values())]
    cmd += ["--out-dir", str(out), "--jobs", str(jobs), "--quiet", "--isolation", isolation]
    started = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, capture_output=True, check=False)
    return time.perf_counter() - started


def differences(names: list[str], a: Path, b: Path) -> list[str]:
    """The names whose results JSON differ between folders ``a`` and ``b`` (or are missing),
    ``execution_time`` aside."""

    def load(path: Path) -> dict | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        data.pop("execution_time", None)
        return data

    found = []
    for name in names:
        first, second = load(a / f"{name}.json"), load(b / f"{name}.json")
        if first is None or first != second:
            found.append(name)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=12, help="how many (0: all)")
    parser.add_argument("--jobs", type=int, default=2, help="gradings at a time, both ways")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--isolation", default="auto", choices=ISOLATIONS)
    parser.add_argument("--json", help="also write the measurements here")
    args = parser.parse_args(argv)
    sources = sample(args.submissions)
    names = list(sources)
    n = len(names)
    print(
        f"{n} submissions, {args.jobs} at a time, isolation {args.isolation}, "
        f"{os.cpu_count()} CPUs",
        flush=True,
    )
    measurements = []
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        root = Path(tmp)
        folders = {}
        for name, source in sources.items():
            (root / "submissions" / name).mkdir(parents=True)
            (root / "submissions" / name / EXERCISE_FILE).write_text(source, encoding="utf-8")
            folders[name] = root / "submissions" / name
        for r in range(1, args.rounds + 1):
            ways = ["command", "pool"] if r % 2 else ["pool", "command"]
            seconds, loads = {}, {}
            for way in ways:
                out = root / f"round{r}-{way}"
                before = os.getloadavg()[0]
                run = by_command if way == "command" else by_pool
                seconds[way] = run(folders, out, args.jobs, args.isolation)
                loads[way] = (round(before, 2), round(os.getloadavg()[0], 2))
            differ = differences(names, root / f"round{r}-command", root / f"round{r}-pool")
            rate = {way: n / seconds[way] * 60 for way in seconds}
            ratio = seconds["command"] / seconds["pool"]
            for way in ("command", "pool"):
                print(
                    f"round {r} {way:<7}: {seconds[way]:7.1f} s = {rate[way]:5.2f} students/min "
                    f"({seconds[way] / n:5.1f} s each); load {loads[way][0]:.2f} -> "
                    f"{loads[way][1]:.2f}",
                    flush=True,
                )
            print(
                f"round {r}: the pool is {ratio:.2f}x as fast; results identical for "
                f"{n - len(differ)}/{n}" + (f" (differ: {', '.join(differ)})" if differ else ""),
                flush=True,
            )
            measurements.append(
                {
                    "round": r,
                    "order": ways,
                    "submissions": n,
                    "jobs": args.jobs,
                    "seconds": {k: round(v, 2) for k, v in seconds.items()},
                    "students_per_minute": {k: round(v, 2) for k, v in rate.items()},
                    "ratio": round(ratio, 2),
                    "load_1min": loads,
                    "differing": differ,
                }
            )
    if args.json:
        Path(args.json).write_text(json.dumps(measurements, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
