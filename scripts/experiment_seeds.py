"""The student's experiment over several seeds: does it tell the same story every time?

Runs ``python batchnorm_gradclip_exercise.py`` (the reference by default) for each preset and
seed, reads the ``metrics.json`` each run writes, and prints a markdown table: the final
validation accuracy of both runs, the share of steps on which clipping was active, the largest
gradient norm of each run, and the median and 95th percentile of the regularized run's norms
(the numbers the clip threshold is chosen from, in the "no-clipping" preset)::

    .venv/bin/python scripts/experiment_seeds.py          # every preset, seeds 0, 1, 2
    .venv/bin/python scripts/experiment_seeds.py --seeds 0 1 2 3 4 --presets defaults

The table in assignment/README.md and docs/experiment.md comes from this script.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from autograder.grading.data import exercise_utils  # noqa: E402
from autograder.paths import SOLUTION_PATH  # noqa: E402

# preset name -> the flags it adds to the exercise's command line
PRESETS: dict[str, tuple[str, ...]] = {
    "defaults": (),
    "unstable": ("--unstable",),
    "no-clipping": ("--max-norm", "1e9"),
    "unstable-no-clipping": ("--unstable", "--max-norm", "1e9"),
}


@dataclass(frozen=True)
class SeedRun:
    """What one run of the experiment (one preset, one seed) showed."""

    preset: str
    seed: int
    max_norm: float
    baseline_acc: float | None  # final validation accuracy (None: not finite)
    regularized_acc: float | None
    clipped_share: float  # of the regularized run's steps
    baseline_max_norm: float  # inf when a norm was not finite
    regularized_max_norm: float
    regularized_median: float
    regularized_p95: float
    seconds: float


def _largest(norms: list[float | None]) -> float:
    """The largest gradient norm; inf when one was not finite (``null`` in metrics.json)."""
    return math.inf if any(n is None for n in norms) else max(norms, default=math.nan)


def read_run(preset: str, seed: int, metrics: dict, seconds: float) -> SeedRun:
    """A ``SeedRun`` from the ``metrics.json`` of one run."""
    utils = exercise_utils()
    base, reg = metrics["baseline"], metrics["regularized"]
    reg_norms = [math.inf if n is None else n for n in reg["grad_norm"]]
    return SeedRun(
        preset=preset,
        seed=seed,
        max_norm=metrics["max_norm"],
        baseline_acc=base["val_acc"][-1],
        regularized_acc=reg["val_acc"][-1],
        clipped_share=utils.clipped_steps(reg_norms, metrics["max_norm"]) / len(reg_norms),
        baseline_max_norm=_largest(base["grad_norm"]),
        regularized_max_norm=_largest(reg["grad_norm"]),
        regularized_median=utils.percentile(reg_norms, 50),
        regularized_p95=utils.percentile(reg_norms, 95),
        seconds=seconds,
    )


def run_experiment(
    *, exercise: Path, preset: str, seed: int, out: Path, data_root: str | None
) -> SeedRun:
    """Run the exercise's command line once; raise ``RuntimeError`` with its output if it fails."""
    cmd = [sys.executable, str(exercise), *PRESETS[preset], "--seed", str(seed), "--out", str(out)]
    if data_root:
        cmd += ["--data-root", data_root]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    return read_run(preset, seed, metrics, seconds)


def _pct(value: float | None) -> str:
    return "not finite" if value is None else f"{value:.1%}"


def _norm(value: float) -> str:
    return "inf/nan" if not math.isfinite(value) else f"{value:.3g}"


def table(runs: list[SeedRun]) -> str:
    """The markdown table of ``runs``."""
    lines = [
        "| preset | seed | val acc baseline | val acc regularized | steps clipped "
        "| max norm baseline | max norm regularized | median / p95 regularized | time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        clip = f"{r.clipped_share:.1%} (at {r.max_norm:g})"
        lines.append(
            f"| {r.preset} | {r.seed} | {_pct(r.baseline_acc)} | {_pct(r.regularized_acc)} "
            f"| {clip} | {_norm(r.baseline_max_norm)} | {_norm(r.regularized_max_norm)} "
            f"| {r.regularized_median:.2f} / {r.regularized_p95:.2f} | {r.seconds:.0f} s |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--presets", nargs="+", choices=tuple(PRESETS), default=list(PRESETS), metavar="PRESET"
    )
    parser.add_argument("--exercise", type=Path, default=SOLUTION_PATH, help="the file to run")
    parser.add_argument("--data-root", default=os.environ.get("FASHION_MNIST_ROOT"))
    parser.add_argument("--out", type=Path, default=None, help="keep every run's files here")
    args = parser.parse_args(argv)
    if not args.exercise.is_file():
        parser.error(f"--exercise {args.exercise} is not a file")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        out_root = args.out or Path(tmp)
        for preset in args.presets:
            for seed in args.seeds:
                out = out_root / f"{preset}-seed{seed}"
                try:
                    run = run_experiment(
                        exercise=args.exercise,
                        preset=preset,
                        seed=seed,
                        out=out,
                        data_root=args.data_root,
                    )
                except RuntimeError as exc:
                    print(exc, file=sys.stderr)
                    return 1
                print(f"{preset}, seed {seed}: {run.seconds:.0f} s", file=sys.stderr)
                runs.append(run)
    load = os.getloadavg()[0]
    print(table(runs))
    print(f"\n(load average {load:.1f} on {os.cpu_count()} cores at the end)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
