"""How long building the scoreboard takes for a large class (default: 300 students, 4 rounds).

    .venv/bin/python benchmarks/bench_scoreboard.py [--students 300] [--rounds 4] [--keep DIR]

Reports, in seconds: writing the synthetic results (not part of the board), the first build
(ingest every round into a new gradebook, then render the site), a rebuild with nothing new
(the idempotent path an instructor runs after each grading round), and the parts of a build.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.scoreboard.command import build_scoreboard, ingest
from autograder.scoreboard.db import Gradebook
from autograder.scoreboard.model import Board
from autograder.scoreboard.site import write_site
from autograder.scoreboard.synthetic import make_synthetic_class


def bench(root: Path, students: int, rounds: int) -> dict[str, float]:
    times: dict[str, float] = {}
    t = time.perf_counter()
    made = make_synthetic_class(root / "class", students=students, rounds=rounds, seed=3)
    times["write synthetic results (not part of the board)"] = time.perf_counter() - t

    db = root / "gradebook.sqlite3"
    t = time.perf_counter()
    report = build_scoreboard(results_dir=made.round_dirs, out_dir=root / "site", db_path=db)
    times["first build: ingest all rounds + site"] = time.perf_counter() - t
    assert report.students == students, report.summary()

    t = time.perf_counter()
    again = build_scoreboard(results_dir=made.round_dirs, out_dir=root / "site", db_path=db)
    times["rebuild, nothing new (idempotent ingest + site)"] = time.perf_counter() - t
    assert again.added == 0

    with Gradebook(db) as gb:
        t = time.perf_counter()
        for d in made.round_dirs:
            ingest(gb, d)
        times["  part: re-read and check every results file"] = time.perf_counter() - t
        t = time.perf_counter()
        board = Board(gb.students())
        times["  part: load the board from the database"] = time.perf_counter() - t
        submissions = sum(len(r.history) for r in board.students)
    t = time.perf_counter()
    write_site(board, root / "site2")
    times["  part: render pages, figures and CSV"] = time.perf_counter() - t
    times["submissions in the gradebook"] = submissions
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--keep", type=Path, help="keep the class and site in this directory")
    args = parser.parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        times = bench(args.keep, args.students, args.rounds)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            times = bench(Path(tmp), args.students, args.rounds)
    print(f"scoreboard benchmark: {args.students} students, {args.rounds} grading rounds")
    for name, value in times.items():
        shown = f"{value:8.2f} s" if isinstance(value, float) else f"{value:8d}"
        print(f"  {name:<52} {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
