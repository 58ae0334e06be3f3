"""Write a realistic synthetic class (several grading rounds of results) for the scoreboard.

    python scripts/make_synthetic_class.py OUT_DIR [--students 36] [--rounds 4] [--seed 0]
        [--extensions N] [--late-policy DAYS PERCENT] [--submissions]
    python -m autograder scoreboard OUT_DIR/round-1 OUT_DIR/round-2 ... --out SITE --db GB

Refresh the catalogue of real checks and feedback from real results files of the grader
(the reference solution, the template, broken submissions):

    python scripts/make_synthetic_class.py --catalogue RESULTS.json [RESULTS.json ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.files import write_json_atomic
from tests.fixtures.synthetic_class import (
    CATALOGUE_PATH,
    LatePolicy,
    catalogue_from_files,
    make_synthetic_class,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", type=Path, help="where to write round-N/")
    parser.add_argument("--students", type=int, default=36)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hostile", action="store_true", help="add a student named <script>")
    parser.add_argument("--malformed", action="store_true", help="add broken results files")
    parser.add_argument(
        "--extensions", type=int, default=0, help="students with a deadline 4 days later"
    )
    parser.add_argument(
        "--late-policy",
        nargs=2,
        type=float,
        metavar=("DAYS", "PERCENT"),
        help="grade commits up to DAYS after the deadline, PERCENT off per started day",
    )
    parser.add_argument(
        "--submissions",
        action="store_true",
        help="write the last round's graded files (for `python -m autograder similarity`)",
    )
    parser.add_argument(
        "--catalogue",
        nargs="+",
        type=Path,
        metavar="RESULTS",
        help=f"rebuild {CATALOGUE_PATH.name} from these real results files and exit",
    )
    args = parser.parse_args(argv)
    if args.catalogue:
        catalogue = catalogue_from_files(sorted(args.catalogue))
        write_json_atomic(catalogue.to_json(), CATALOGUE_PATH)
        with_feedback = sum(bool(c.failure_outputs) for c in catalogue.checks)
        print(
            f"{CATALOGUE_PATH}: {len(catalogue.checks)} checks, "
            f"{with_feedback} with real failure feedback"
        )
        return 0
    if args.out_dir is None:
        parser.error("OUT_DIR is required (or --catalogue)")
    made = make_synthetic_class(
        args.out_dir,
        students=args.students,
        rounds=args.rounds,
        seed=args.seed,
        hostile=args.hostile,
        malformed=args.malformed,
        extensions=args.extensions,
        late_policy=LatePolicy(int(args.late_policy[0]), args.late_policy[1])
        if args.late_policy
        else None,
        submissions=args.submissions,
    )
    print(f"{len(made.students)} students, {len(made.round_dirs)} rounds:")
    for d in made.round_dirs:
        print(f"  {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
