"""How long grading one submission takes, as a ratio to `python -c "import torch"` in the same run.

Targets (issue #16): the reference at most 2.5x the torch import, the template at most 2x.
Each command runs --repeat times, in interleaved rounds (one of each per round, so that a busy
moment of the machine touches every row alike); the figure is the median, with the CPU time
of the whole process tree (user + system, as the kernel counts it for waited-for children).

    .venv/bin/python benchmarks/bench_grading.py [--repeat 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of ``cmd`` (CPU of the children the kernel accounted to it)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--isolation", default="auto")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp()) / "results.json"
    grade = [sys.executable, "-m", "autograder", "grade", "--quiet", "--out", str(out)]
    grade += ["--isolation", args.isolation]
    reference = "solutions/batchnorm_gradclip_exercise.py"
    template = "assignment/batchnorm_gradclip_exercise.py"
    rows: dict[str, tuple[list[str], str]] = {
        "python -c 'import torch'": ([sys.executable, "-c", "import torch"], ""),
        "grade the reference": ([*grade, reference], "<= 2.5x"),
        "grade the template": ([*grade, template], "<= 2x"),
        "reference, --training separate": ([*grade, reference, "--training", "separate"], ""),
        "solutions/ (both editions)": ([*grade, "solutions"], ""),
    }
    timed([*grade, reference])  # warm the file cache and the data cache once
    walls: dict[str, list[float]] = {name: [] for name in rows}
    cpus: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(args.repeat):
        for name, (cmd, _) in rows.items():
            wall, cpu = timed(cmd)
            walls[name].append(wall)
            cpus[name].append(cpu)
    base = statistics.median(walls["python -c 'import torch'"])
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}; {args.repeat} rounds")
    print(f"{'what':<32} {'wall s':>7} {'ratio':>6} {'CPU s':>6}  target")
    figures = {}
    for name, (_, target) in rows.items():
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        figures[name] = {"wall": round(wall, 2), "ratio": round(wall / base, 2), "cpu": cpu}
        print(f"{name:<32} {wall:>7.2f} {wall / base:>5.1f}x {cpu:>6.1f}  {target}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
