"""The grader as a process of its own, started and stopped so that no student process outlives it.

The student's processes run in sessions of their own (and double-forked ones are reparented to the
grading process, a subreaper), so only the grading process can find them: it is asked to stop
with SIGTERM, on which it kills them all (``end_with_students_on_sigterm``), and only after a
grace period is it killed outright. Used by grade-repos (a grading per student), the platforms'
runtime (one grading per notebook) and the tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

STOP_GRACE_S = 10.0  # how long a grading process asked to stop has to kill its students


def run_grading_process(
    cmd: Sequence[str],
    *,
    cwd: str | Path,
    timeout: float,
    env: Mapping[str, str] | None = None,
    grace: float = STOP_GRACE_S,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` (a grading command), output captured; ``TimeoutExpired`` after ``timeout``.

    On a timeout the process gets SIGTERM, then SIGKILL after ``grace`` seconds: either way it
    has exited when this returns or raises.
    """
    with subprocess.Popen(
        list(cmd),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,  # nothing on the caller's stderr (nbgrader scores that 0)
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.communicate(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()  # not communicate(): a survivor may hold the pipes open
            raise
    return subprocess.CompletedProcess(list(cmd), proc.returncode, stdout, stderr)


def end_with_students_on_sigterm() -> None:
    """Make SIGTERM kill every descendant of this (subreaper) process, then exit at once."""
    from autograder.sandbox.client import kill_descendants

    def stop(signum: int, frame: object) -> None:
        kill_descendants()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
