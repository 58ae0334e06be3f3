"""Grade the reference, the template and one wrong submission on every platform; time each.

    .venv/bin/python benchmarks/bench_platforms.py [--kinds reference,wrong] [--json OUT]

Platforms: ``autograder grade`` on the .py and on the notebook edition (the same command line,
a fresh process each), ``otter run`` with the exported autograder zip, and ``nbgrader
autograde`` of the exported course. Prints one row per submission: the score on each platform
and the seconds it took to grade one submission there (wall clock, this machine, whatever else
is running on it), and the machine's load average (1 minute) before each submission and at the
end, so that numbers taken on a busy machine can be told from those of a quiet one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.test_nbgrader import _api, submission_notebook  # noqa: E402
from tests.test_notebook_grading import (  # noqa: E402
    KINDS,
    grade_cli,
    notebook,
    script_text,
    write_notebook,
)
from tests.test_otter import otter_run  # noqa: E402


def bench(kinds: list[str], work: Path) -> list[dict]:
    import nbformat

    from autograder.platforms.nbgrader import ASSIGNMENT_NAME, export_nbgrader
    from autograder.platforms.otter import export_otter, otter_edition
    from autograder.sandbox.names import EXERCISE_NOTEBOOK

    export_otter(out_dir=work / "otter")
    course = work / "course"
    export_nbgrader(course_dir=course)
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    api = _api(course)
    assert api.generate_assignment(ASSIGNMENT_NAME)["success"]
    rows = []
    for kind in kinds:
        row: dict = {"submission": kind, "load_before": os.getloadavg()[0]}
        folder = work / kind
        folder.mkdir()
        (folder / "batchnorm_gradclip_exercise.py").write_text(script_text(kind))
        started = time.monotonic()
        row["grade_py"] = grade_cli(folder, work / f"{kind}.json")["score"]
        row["grade_py_s"] = time.monotonic() - started

        nb_path = write_notebook(notebook(kind), work / f"{kind}-nb")
        started = time.monotonic()  # the same command line as the .py: a fresh process each
        row["grade_ipynb"] = grade_cli(nb_path, work / f"{kind}-nb.json")["score"]
        row["grade_ipynb_s"] = time.monotonic() - started

        otter_nb = write_notebook(otter_edition(notebook(kind)), work / f"{kind}-otter")
        results, seconds = otter_run(work / "otter" / "autograder.zip", otter_nb, work / "o")
        row["otter"] = sum(t.get("score", 0) or 0 for t in results["tests"])
        row["otter_s"] = seconds

        sub = course / "submitted" / kind / ASSIGNMENT_NAME
        sub.mkdir(parents=True)
        nbformat.write(submission_notebook(course, kind), sub / EXERCISE_NOTEBOOK)
        started = time.monotonic()
        assert api.autograde(ASSIGNMENT_NAME, kind)["success"]
        row["nbgrader_s"] = time.monotonic() - started
        row["nbgrader"] = api.get_submission(ASSIGNMENT_NAME, kind)["score"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def _load() -> str:
    """The 1, 5 and 15 minute load averages, as `uptime` shows them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    # nbgrader's gradebook code warns about its own SQLAlchemy usage; not ours to fix
    warnings.filterwarnings("ignore", message="Object of type <Submitted")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    print(f"cpus {os.cpu_count()}, load average at the start {_load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bngc-bench-platforms-") as tmp:
        rows = bench(args.kinds.split(","), Path(tmp))
    head = f"{'submission':<10} {'grade .py':>14} {'grade .ipynb':>14} {'otter run':>14} "
    print("\n" + head + f"{'nbgrader':>14} {'load':>6}")
    for r in rows:
        cells = [
            f"{r[k]:>6g} ({r[k + '_s']:>4.0f}s)"
            for k in ("grade_py", "grade_ipynb", "otter", "nbgrader")
        ]
        line = f"{r['submission']:<10} " + " ".join(f"{c:>14}" for c in cells)
        print(line + f" {r['load_before']:>6.2f}")
    print(f"load average at the end {_load()}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
