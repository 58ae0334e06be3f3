"""How long grading takes, as a ratio to `python -c "import torch"` measured in the same run.

Targets (issue #2): grading the reference at most 10x the torch import and under 45 s (aim 5x);
the template under 15 s. Each figure is the median of --repeat runs of the real command line.

    .venv/bin/python benchmarks/bench_grading.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - started


def median_time(cmd: list[str], repeat: int) -> float:
    return statistics.median(timed(cmd) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--isolation", default="auto")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp()) / "results.json"
    grade = [sys.executable, "-m", "autograder", "grade", "--quiet", "--out", str(out)]
    grade += ["--isolation", args.isolation]
    timed([*grade, "solutions"])  # warm the file cache and the data cache once
    torch_import = median_time([sys.executable, "-c", "import torch"], args.repeat)
    reference = median_time([*grade, "solutions"], args.repeat)
    template = median_time([*grade, "assignment"], args.repeat)
    rows = [
        ("python -c 'import torch'", torch_import, "", ""),
        ("grade the reference", reference, f"{reference / torch_import:.1f}x", "<= 10x, < 45 s"),
        ("grade the template", template, f"{template / torch_import:.1f}x", "< 15 s"),
    ]
    print(f"{'what':<28} {'seconds':>8} {'ratio':>7}  target")
    for what, seconds, ratio, target in rows:
        print(f"{what:<28} {seconds:>8.2f} {ratio:>7}  {target}")


if __name__ == "__main__":
    main()
