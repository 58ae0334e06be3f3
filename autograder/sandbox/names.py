"""The assignment's names, as both sides of the sandbox (and every command) use them.

The student's file and notebook, the module name the submission is imported as, and the names it
must define (CONTRACT section 1). Standard library only: the student process imports this too.
"""

from __future__ import annotations

MODULE_NAME = "batchnorm_gradclip_exercise"
EXERCISE_FILE = f"{MODULE_NAME}.py"
EXERCISE_NOTEBOOK = f"{MODULE_NAME}.ipynb"
EDITIONS = (EXERCISE_FILE, EXERCISE_NOTEBOOK)  # what a release ships for students to edit
REQUIRED_NAMES = ("add_batchnorm", "compute_grad_norm", "clip_gradients", "compare_runs")
BONUS_NAMES = ("ManualBatchNorm1d",)
EXERCISE_UTILS_FILE = "exercise_utils.py"  # shipped beside the exercise

# Imported by the student process in the background once the submission is (worker.AheadImport)
AHEAD_MODULE = "torch._dynamo"
