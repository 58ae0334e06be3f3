"""Section 0: can the submission be graded at all, and does it leave PyTorch alone?"""

from __future__ import annotations

from autograder.grading.feedback import expect
from autograder.grading.markers import points, tag
from autograder.sandbox.names import REQUIRED_NAMES
from autograder.sandbox.wording import IMPORTING

pytestmark = tag("integrity")


@points(0)
def check_imports_and_defines_functions(grading):
    """The submission imports and defines the four required functions"""
    report = grading.sandbox.import_report()
    missing = [name for name in REQUIRED_NAMES if name not in report["defined"]]
    expect(
        not missing,
        expected="module-level definitions of " + ", ".join(REQUIRED_NAMES),
        got="missing: " + ", ".join(missing),
        hint="do not rename or remove the functions of the template; the grader imports them "
        "by name.",
    )


@points(0)
def check_leaves_torch_alone(grading):
    """The submission does not replace PyTorch functions at import time"""
    report = grading.sandbox.import_report()
    expect(
        not report["tampered"],
        expected=f"torch, torch.nn and torch.optim unchanged after {IMPORTING}",
        got="replaced: " + ", ".join(report["tampered"]),
        hint="do not assign to attributes of torch modules or classes (monkey-patching); your "
        "instructor sees this flag.",
    )
