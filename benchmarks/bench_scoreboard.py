"""How long building the scoreboard takes for a large class (default: 300 students, 4 rounds).

    .venv/bin/python benchmarks/bench_scoreboard.py [--students 300] [--rounds 4] [--keep DIR]

Reports, in seconds: writing the synthetic results (not part of the board), the first build
(ingest every round into a new gradebook, then render the site), a rebuild with nothing new
(the idempotent path an instructor runs after each grading round), and, each measured on its
own after the rebuild, the three steps a build consists of: a third ingest of every round
(nothing new), loading the board from the database, and rendering the site into a fresh
directory. Each is given as wall time and as this process's CPU time: the build runs in one
process and one thread, so on a busy machine the CPU time is closer to what it would take on
an idle one than the wall time is (not equal to it: caches and memory bandwidth are shared
too). The load average at the start and end is printed, and so are the numbers of
submissions and check results in the gradebook.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.scoreboard.command import build_scoreboard, ingest
from autograder.scoreboard.db import Gradebook
from autograder.scoreboard.model import Board
from autograder.scoreboard.site import write_site
from tests.fixtures.synthetic_class import make_synthetic_class

Timings = dict[str, "tuple[float, float] | int"]  # (wall, CPU) seconds, or a count


@contextmanager
def timed(times: Timings, name: str) -> Iterator[None]:
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    times[name] = (time.perf_counter() - wall, time.process_time() - cpu)


def bench(root: Path, students: int, rounds: int) -> Timings:
    times: Timings = {}
    with timed(times, "write synthetic results (not part of the board)"):
        made = make_synthetic_class(root / "class", students=students, rounds=rounds, seed=3)

    db = root / "gradebook.sqlite3"
    with timed(times, "first build: ingest all rounds + site"):
        report = build_scoreboard(results_dir=made.round_dirs, out_dir=root / "site", db_path=db)
    assert report.students == students, report.summary()

    with timed(times, "rebuild, nothing new (idempotent ingest + site)"):
        again = build_scoreboard(results_dir=made.round_dirs, out_dir=root / "site", db_path=db)
    assert again.added == 0

    with Gradebook(db) as gb:
        with timed(times, "separately: ingest all rounds again (nothing new)"):
            for d in made.round_dirs:
                ingest(gb, d)
        with timed(times, "separately: load the board from the database"):
            board = Board(gb.students())
        submissions = gb.count("submissions")
        check_results = gb.count("test_results")
    assert submissions == sum(len(r.history) for r in board.students)
    with timed(times, "separately: render pages, figures, CSV (fresh dir)"):
        write_site(board, root / "site2")
    times["submissions in the gradebook"] = submissions
    times["check results in the gradebook"] = check_results
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--keep", type=Path, help="keep the class and site in this directory")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        times = bench(args.keep, args.students, args.rounds)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            times = bench(Path(tmp), args.students, args.rounds)
    print(
        f"scoreboard benchmark: {args.students} students, {args.rounds} grading rounds "
        f"({os.cpu_count()} CPUs, load average {load_before:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end)"
    )
    print(f"  {'':<52} {'wall':>8}   {'CPU':>8}")
    for name, value in times.items():
        if isinstance(value, tuple):
            print(f"  {name:<52} {value[0]:8.2f} s {value[1]:8.2f} s")
        else:
            print(f"  {name:<52} {value:8d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
