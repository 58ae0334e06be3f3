"""The grader's words for the submission as a Python file, in one place.

The sandbox (``client``, and ``probes`` inside the student process) and the pytest plugin build
their messages from these phrases, and ``grading.notebook_script`` rewrites the same phrases for a
notebook submission ("importing your file" becomes "running your graded code cells"). A
phrase changed here changes both sides at once.

Mounted into the student process with the rest of this package: standard library only, and
nothing from the rest of ``autograder``.
"""

from __future__ import annotations

# what the student process does first: "Your code raised X while importing your file: ..."
IMPORTING = "importing your file"
# what every check says when the file did not import: "Not run: your file could not be imported."
NOT_IMPORTED = "your file could not be imported"
AT_IMPORT_TIME = "at import time"
DOES_YOUR_FILE_CALL = "does your file call"
# the script's remedy for work done at import time (meaningless in a notebook)
MAIN_GUARD_ADVICE = "Put such code under `if __name__ == '__main__':`"
# a name the grader needs is missing; "{name}" is the name
MISSING_NAME = "your file does not define {name} (did you rename or delete it?)"


def import_timed_out(seconds: float) -> str:
    """Importing the submission did not finish within ``seconds``."""
    return (
        f"{IMPORTING} did not finish within {seconds:.0f} s: does it train a model or wait for "
        f"input {AT_IMPORT_TIME}? {MAIN_GUARD_ADVICE}"
    )


def process_ended(status: int | None) -> str:
    """The student process ended (with ``status``) before it had imported the submission."""
    return (
        f"the process ended while {IMPORTING} (status {status}); {DOES_YOUR_FILE_CALL} "
        f"sys.exit/os._exit or exit() {AT_IMPORT_TIME}?"
    )


def missing_name(name: str) -> str:
    """The submission does not define ``name``."""
    return MISSING_NAME.format(name=name)
