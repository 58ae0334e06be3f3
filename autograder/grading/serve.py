"""``python -m autograder.grading.serve --reply-fd N``: a grading server, one grader process reused
for many gradings (started by ``grading.pool.GraderPool``; not a command for people).

It pays the grader's start-up once (Python, torch, pytest, the hidden checks collected) and then
grades one submission per request. A request is one JSON line on stdin::

    {"id": "<nonce>", "submission": PATH, "out": PATH, "isolation": "auto",
     "limits": {...Limits fields...}, "data_root": null, "select": null}

and its reply one JSON line on the file descriptor ``--reply-fd`` (a pipe of the pool's, never
stdout, and not inherited by any process this one starts)::

    {"id": "<nonce>", "status": "graded", "score": 87.0, "max_score": 100.0, "seconds": 12.3,
     "out": PATH, "isolation": "bwrap", "isolation_note": "", "reason": "", "retire": false}

The reply repeats the request's nonce, which only the pool and this process know: nothing else can
answer in this server's name. Each grading is ``runner.grade_and_write``, exactly what
``autograder grade`` runs: fresh sandboxed student processes, all killed when it ends, a results
file always written, a crash of the grader turned into a grader-error result. No student code
ever runs in this process.

What a grading could leave behind for the next one is taken away or checked before the reply:

* the student processes: this server is their subreaper; every descendant is killed and reaped,
  and the reply waits until none is left (as root, the sandbox's uid is ``SANDBOX_ID_BASE`` + this
  server's pid, the same for all its gradings). One that cannot be made to go away in
  ``STUDENTS_GONE_S`` makes the server ask to be retired (``"retire": true``) after this reply.
* the grader's global state that a check may change: the random number generators (torch,
  ``random``, numpy), torch's grad mode, default dtype and thread count, the warning filters, the
  environment and the working folder are put back, before every grading, as they were after the
  warm-up, which is the state a fresh ``autograder grade`` process grades in; whether bubblewrap
  works is asked again (``bwrap_problem``), as a fresh process does.

Everything a grading computes (the pytest session, the plugin and its memo, the sandbox, the
reference solution the checks import, the data subsets) is made anew by ``grade_and_write`` for
each grading; only modules stay imported. SIGTERM kills the students and ends the server at
once (``end_with_students_on_sigterm``); end of input ends it after the current grading.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from autograder.grading.settings import GRADER_MEMORY_MB

STUDENTS_GONE_S = 10.0  # how long a grading's leftover processes get to die before a retirement


def descendants() -> list[int]:
    """Every descendant process of this one (zombies included), from ``/proc``."""
    me = os.getpid()
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], list(children.get(me, []))
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def reap_children() -> int:
    """Collect the exit status of every child that has ended (orphans adopted as subreaper
    included); return how many. Only called between gradings, when no ``Popen`` is waiting."""
    reaped = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped += 1


def students_gone(*, within: float = STUDENTS_GONE_S) -> bool:
    """Kill and reap every descendant until none is left; ``False`` if some remain after
    ``within`` seconds (a process stuck in the kernel)."""
    from autograder.sandbox.client import kill_descendants

    deadline = time.monotonic() + within
    while True:
        kill_descendants()
        reap_children()
        if not descendants():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


@dataclasses.dataclass
class GlobalState:
    """The process-wide state a check could change, as it was when captured (``capture``)."""

    torch_rng: Any
    python_rng: Any
    numpy_rng: Any
    grad_enabled: bool
    default_dtype: Any
    threads: int
    warning_filters: list
    environ: dict[str, str]
    cwd: str

    @classmethod
    def capture(cls) -> GlobalState:
        import torch

        numpy = sys.modules.get("numpy")
        return cls(
            torch_rng=torch.random.get_rng_state(),
            python_rng=random.getstate(),
            numpy_rng=numpy.random.get_state() if numpy is not None else None,
            grad_enabled=torch.is_grad_enabled(),
            default_dtype=torch.get_default_dtype(),
            threads=torch.get_num_threads(),
            warning_filters=list(warnings.filters),
            environ=dict(os.environ),
            cwd=str(Path.cwd()),
        )

    def restore(self) -> None:
        """Put every captured part back; forget whether bubblewrap works (asked again, as a
        fresh process asks it)."""
        import torch

        from autograder.sandbox.isolation import bwrap_problem

        bwrap_problem.cache_clear()

        torch.random.set_rng_state(self.torch_rng)
        random.setstate(self.python_rng)
        numpy = sys.modules.get("numpy")
        if numpy is not None and self.numpy_rng is not None:
            numpy.random.set_state(self.numpy_rng)
        torch.set_grad_enabled(self.grad_enabled)
        torch.set_default_dtype(self.default_dtype)
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        warnings.filters[:] = self.warning_filters
        os.environ.clear()
        os.environ.update(self.environ)
        os.chdir(self.cwd)


def warm_up() -> None:
    """Import what every grading needs (torch, pytest, the hidden checks, via a collect-only
    pytest run), so that the first request does not wait for it."""
    from autograder.grading.runner import check_catalogue

    check_catalogue()


def handle(request: dict[str, Any], *, grade: Callable[..., Any]) -> dict[str, Any]:
    """Grade what ``request`` asks with ``grade`` (``runner.grade_and_write``); the reply."""
    from autograder.sandbox.isolation import Limits

    started = time.monotonic()
    limits = Limits(**request.get("limits") or {})
    result = grade(
        submission=str(request["submission"]),
        out=str(request["out"]),
        limits=limits,
        isolation=str(request.get("isolation") or "auto"),
        data_root=request.get("data_root"),
        select=request.get("select"),
    )
    return {
        "status": result.status,
        "score": result.score,
        "max_score": result.max_score,
        "seconds": round(time.monotonic() - started, 3),
        "out": str(request["out"]),
        "isolation": result.isolation,
        "isolation_note": str(result.extra.get("isolation_note") or ""),
        "reason": result.reason,
    }


def serve(
    *,
    requests: IO[str],
    replies: IO[bytes],
    grader_memory_mb: int = GRADER_MEMORY_MB,
    recycle_after: int = 0,
) -> int:
    """Answer every request of ``requests`` on ``replies`` until the end of input (0) or until
    a grading left a process it could not kill, or ``recycle_after`` gradings (> 0) were done
    (both say ``"retire": true`` in the last reply). Returns the exit status."""
    from autograder.grading.process import end_with_students_on_sigterm
    from autograder.grading.runner import grade_and_write, own_address_space_capped
    from autograder.sandbox.client import become_subreaper

    become_subreaper()
    end_with_students_on_sigterm()
    done = 0
    with own_address_space_capped(grader_memory_mb):
        warm_up()
        baseline = GlobalState.capture()
        for line in requests:
            if not line.strip():
                continue
            request: Any = None
            try:
                request = json.loads(line)
                if not isinstance(request, dict) or not {"id", "submission", "out"} <= set(request):
                    raise ValueError("a request needs id, submission and out")
            except ValueError as exc:
                ident = request.get("id") if isinstance(request, dict) else None
                _send(replies, {"id": ident, "error": f"bad request: {exc}", "retire": True})
                return 2
            baseline.restore()
            try:
                reply = handle(request, grade=grade_and_write)
            except Exception as exc:  # only a request the grader cannot even start on
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            done += 1
            clean = students_gone()
            retire = not clean or (recycle_after > 0 and done >= recycle_after)
            reply.update(id=request["id"], gradings=done, students_gone=clean, retire=retire)
            _send(replies, reply)
            if retire:
                return 0
    return 0


def _send(replies: IO[bytes], reply: dict[str, Any]) -> None:
    replies.write(json.dumps(reply).encode("utf-8") + b"\n")
    replies.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.grading.serve")
    parser.add_argument("--reply-fd", type=int, required=True, help="where replies are written")
    parser.add_argument("--grader-memory-mb", type=int, default=GRADER_MEMORY_MB)
    parser.add_argument("--recycle-after", type=int, default=0, help="gradings, then exit")
    args = parser.parse_args(argv)
    # neither channel reaches a process started here: the replies' descriptor is not inherited,
    # and the requests are read from a private copy of stdin, which becomes /dev/null
    os.set_inheritable(args.reply_fd, False)
    requests_fd = os.dup(0)  # not inheritable
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    with (
        os.fdopen(requests_fd, "r", encoding="utf-8") as requests,
        os.fdopen(args.reply_fd, "wb", buffering=0) as replies,
    ):
        return serve(
            requests=requests,
            replies=replies,
            grader_memory_mb=args.grader_memory_mb,
            recycle_after=args.recycle_after,
        )


if __name__ == "__main__":
    sys.exit(main())
