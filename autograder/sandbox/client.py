"""Trusted side of the sandbox: start, limit, call, time out, restart and kill the student process.

The student process runs ``worker.py`` with:

* a stripped environment (no tokens, no secrets; only PATH, HOME, LANG and thread settings),
* resource limits: address space, file size, no core dumps, first in line for the OOM killer,
* a cap on what it may print (the rest is counted and dropped),
* per-call time limits covering the request and the reply; a dead, hung, late or garbled
  process fails only the call it was running and is restarted for the next one,
* where bubblewrap works (``isolation="bwrap"``, the default when available; see
  ``bwrap_command``): no privilege whoever runs the grader (as root: an unprivileged uid of its
  own, no capability), no network, its own PID namespace, a process-count limit, and a
  read-only file system holding only the shared libraries, Python, torch, torchvision, numpy
  and what they require, the submission, and small tmpfs for ``/tmp`` and ``/dev/shm``: this
  repository (hidden checks, reference solution, the project's installation), the data sets,
  home directories and anything else on the machine are out of sight.

Replies are decoded with ``torch.load(weights_only=True)`` (see ``protocol``).
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import protocol, tamper, wording
from .isolation import (
    ISOLATIONS,
    SANDBOX_PACKAGE_DIR,
    SANDBOX_PACKAGE_PARENT,
    SANDBOX_SUBMISSION_DIR,
    SANDBOX_TMP,
    STUDENT_DISTRIBUTIONS,
    IsolationUnavailable,
    Limits,
    bwrap_command,
    bwrap_problem,
    make_staging,
    start_bwrap_check,
)
from .names import AHEAD_MODULE, BONUS_NAMES, EXERCISE_FILE, EXERCISE_UTILS_FILE, REQUIRED_NAMES

# ------------------------------------------------------------------------------------------------
# What can go wrong on the student side. Each carries a message written for the student.
# ------------------------------------------------------------------------------------------------


class SandboxError(Exception):
    """The student process could not produce an answer; ``str()`` is feedback for the student."""


class SubmissionDoesNotImport(SandboxError):
    def __init__(self, error: dict[str, Any]) -> None:
        self.error = error
        super().__init__(describe_student_error(error, doing=wording.IMPORTING))


class StudentCodeError(SandboxError):
    def __init__(self, probe: str, error: dict[str, Any]) -> None:
        self.probe, self.error = probe, error
        super().__init__(describe_student_error(error, doing=f"running {probe}"))


class ProbeFailed(RuntimeError):
    """A probe failed without any of the student's code on the stack: a grader bug."""

    def __init__(self, probe: str, error: dict[str, Any]) -> None:
        super().__init__(f"probe {probe} failed: {error.get('type')}: {error.get('message')}")


class StudentTimeout(SandboxError):
    def __init__(self, probe: str, seconds: float, repeated: bool = False) -> None:
        self.probe, self.seconds = probe, seconds
        msg = (
            f"Your code did not finish within {seconds:.0f} s while running {probe} and was "
            "stopped. Look for an infinite loop, or for work that grows with the number of "
            "steps (for example keeping the autograd graph alive by storing tensors instead of "
            "floats)."
        )
        if repeated:
            msg = f"Not run: an earlier call of {probe} already timed out. " + msg
        super().__init__(msg)


class StudentCrashed(SandboxError):
    def __init__(self, probe: str, returncode: int | None, output_tail: str) -> None:
        self.probe, self.returncode = probe, returncode
        if returncode is not None and returncode < 0:
            how = f"was killed by signal {signal.Signals(-returncode).name}"
            if -returncode == signal.SIGXFSZ:
                how += " (it wrote a file larger than the limit)"
        elif returncode is not None:
            how = f"exited with status {returncode} (os._exit or a crash in native code?)"
        else:
            how = "stopped answering"
        msg = (
            f"The Python process running your code {how} while running {probe}. Do not call "
            "sys.exit/os._exit or end the process from your functions."
        )
        if output_tail.strip():
            msg += "\nLast output before it ended:\n" + output_tail[-800:]
        super().__init__(msg)


class MalformedReply(SandboxError):
    def __init__(self, probe: str, why: str) -> None:
        super().__init__(
            f"The process running your code sent back something the grader cannot read while "
            f"running {probe} ({why}). Do not write to file descriptors you did not open."
        )


class GradingBudgetExhausted(SandboxError):
    def __init__(self, probe: str, budget: float) -> None:
        super().__init__(
            f"Not run: the submission used up the whole grading time budget ({budget:.0f} s) "
            f"before {probe} could run. Make your functions faster (look for infinite loops)."
        )


# What is kept of the strings of a student's error report (the student process caps them too,
# but the grader cannot rely on that: it controls that process)
MAX_TYPE_CHARS = 200
MAX_MESSAGE_CHARS = 2000
MAX_CODE_CHARS = 300


def _capped(value: Any, limit: int) -> str:
    """A string the student process sent, cut to ``limit`` characters ("" if not a string)."""
    return str.__getitem__(value, slice(0, limit)) if isinstance(value, str) else ""


def _names(value: Any, limit: int = 64) -> set[str]:
    """The short strings of a list the student process sent (at most ``limit`` of them)."""
    if not isinstance(value, list | tuple):
        return set()
    return {v for v in value[:limit] if isinstance(v, str) and len(v) <= MAX_TYPE_CHARS}


def describe_student_error(error: dict[str, Any], *, doing: str) -> str:
    """Feedback from the error report of the student process, every part of it capped."""
    etype = _capped(error.get("type", "Exception"), MAX_TYPE_CHARS) or "Exception"
    message = _capped(error.get("message", ""), MAX_MESSAGE_CHARS)
    if etype == "SystemExit":
        exit_code = _capped(error.get("exit_code", ""), MAX_TYPE_CHARS)
        head = f"Your code called sys.exit({exit_code}) while {doing}."
    else:
        head = f"Your code raised {etype} while {doing}: {message}"
    lines = [head]
    line = error.get("line")
    if isinstance(line, int) and not isinstance(line, bool) and 0 < line < 10**9:
        code = _capped(error.get("code", ""), MAX_CODE_CHARS)
        lines.append(f"  at line {line} of {EXERCISE_FILE}: {code}")
    low = message.lower()
    if etype == "NotImplementedError":
        lines.append("  This part is still a TODO: fill in the code between the markers.")
    elif "NoneType" in message and "grad" in low:
        lines.append(
            "  A gradient was None: parameters that took no part in the loss have .grad None; "
            "skip them."
        )
    elif etype in ("MemoryError",) or "can't allocate memory" in low or "not enough memory" in low:
        lines.append("  The memory limit of the grader was exceeded: do not build huge tensors.")
    elif etype in ("ModuleNotFoundError", "ImportError"):
        lines.append(
            f"  Only {', '.join(STUDENT_DISTRIBUTIONS)}, the standard library and the released "
            f"{EXERCISE_UTILS_FILE} are available while grading, and only {EXERCISE_FILE} is "
            "graded: move helper code into it."
        )
    return "\n".join(lines)


def _set_limits(limits: Limits) -> None:  # runs in the child between fork and exec
    mem = limits.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    fsize = limits.file_size_mb << 20
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:  # when memory runs out, the kernel kills student processes first
        Path("/proc/self/oom_score_adj").write_text("1000")
    except OSError:
        pass


def become_subreaper() -> bool:
    """Adopt orphaned descendants (double-forked student daemons) so they can be killed."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def kill_descendants() -> int:
    """SIGKILL every descendant process of this one; return how many were found."""
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
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(found)


# ------------------------------------------------------------------------------------------------
# The sandbox
# ------------------------------------------------------------------------------------------------


class _OutputDrain(threading.Thread):
    """Reads the student's stdout/stderr so it never blocks; keeps a bounded amount."""

    def __init__(self, fd: int, keep: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.keep = fd, keep
        self.kept = bytearray()
        self.dropped = 0
        self.tail: deque[bytes] = deque(maxlen=16)

    def run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            room = self.keep - len(self.kept)
            self.kept += chunk[: max(room, 0)]
            self.dropped += max(len(chunk) - max(room, 0), 0)
            self.tail.append(chunk[-512:])
        os.close(self.fd)

    def tail_text(self) -> str:
        return b"".join(self.tail).decode("utf-8", "replace")[-1500:]


@dataclass
class _Process:
    popen: subprocess.Popen
    req_w: int
    rep_r: int
    drain: _OutputDrain
    staging: Path


@dataclass
class Sandbox:
    """The student's submission running in a separate, limited process.

    ``call(probe, timeout=..., **kwargs)`` runs one probe of ``probes.PROBES`` and returns its plain
    data result, or raises a ``SandboxError`` whose message is feedback for the student.
    ``hidden`` are the grader's data locations (Fashion-MNIST, its decoded cache): masked in the
    sandbox wherever they would be visible. ``companions`` are files put beside the submission
    (the grader's copies of what the release ships with it, importable as in the student's
    folder). ``start_call`` sends a request without waiting for its reply (a long probe runs
    while the grader does other work); the next ``call`` of that probe receives it.
    ``record(lane, name, start, end)``, if given, is told when the process started, imported
    torch and the submission, and how long each call took (``time.monotonic()`` readings), on
    the lane named ``lane``; the times the student process reports are checked for sense first.
    ``ahead``: the first process imports ``torch._dynamo`` (which compare_runs' optimizer
    needs) in the background once the submission is imported (``ahead.AheadImport``); a
    process started again does not.
    """

    submission: Path
    limits: Limits = field(default_factory=Limits)
    isolation: str = "auto"  # "bwrap", "process" or "auto"
    budget_seconds: float = 600.0
    hidden: tuple[Path, ...] = ()
    companions: tuple[Path, ...] = ()
    tampered: set[str] = field(default_factory=set)
    output: bytearray = field(default_factory=bytearray)
    output_dropped: int = 0
    starts: int = 0
    isolation_note: str = ""  # why "auto" fell back to process isolation, if it did
    lane: str = "student"  # the name of this process in a timeline
    record: Callable[[str, str, float, float], None] | None = None
    ahead: bool = False

    def __post_init__(self) -> None:
        self.submission = Path(self.submission)
        if self.isolation not in ISOLATIONS:
            raise ValueError(f"unknown isolation {self.isolation!r}")
        if self.isolation == "bwrap":
            problem = bwrap_problem()
            if problem:
                raise IsolationUnavailable(f"--isolation bwrap was asked for, but {problem}")
        elif self.isolation == "auto":
            # bubblewrap's trial runs beside the first student process, started in its sandbox
            # on the odds that it works; its verdict is awaited with the hello (_settle_isolation)
            start_bwrap_check()
        self._proc: _Process | None = None
        self._hello_pending = False
        self._import_report: dict[str, Any] | None = None
        self._import_error: SubmissionDoesNotImport | None = None
        self._timed_out: dict[str, float] = {}
        self._crashes: dict[str, int] = {}
        self._started_at = time.monotonic()
        self._spawned_at = self._sent_at = 0.0
        # a request sent by start_call: (probe, deadline, what went wrong sending it)
        self._pending: tuple[str, float, SandboxError | None] | None = None

    def _resolve_isolation(self) -> bool:
        """Settle "auto" on "bwrap" or "process" (waiting for bubblewrap's trial if need be);
        whether bubblewrap turned out not to work."""
        if self.isolation != "auto":
            return False
        problem = bwrap_problem()
        self.isolation = "process" if problem else "bwrap"
        self.isolation_note = (
            f"{problem}; student code ran with resource limits only" if problem else ""
        )
        return problem is not None

    def _settle_isolation(self) -> None:
        """Before the first hello: a process started in bubblewrap before its trial said
        bubblewrap works here is started again without it if it does not."""
        if self._resolve_isolation():
            self._kill()
            self.starts -= 1  # not a restart: the first start again
            self._proc = self._spawn()

    def _record(self, name: str, start: float, end: float) -> None:
        if self.record is not None:
            self.record(self.lane, name, start, end)

    # -- life cycle -------------------------------------------------------------------------

    def _spawn(self) -> _Process:
        if self.isolation == "auto" and self.starts > 0:  # only the first start is on the odds
            self._resolve_isolation()
        staging = make_staging(
            Path(tempfile.mkdtemp(prefix="bngc-sandbox-")),
            submission=self.submission,
            companions=self.companions,
        )
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        out_r, out_w = os.pipe()
        if self.isolation in ("bwrap", "auto"):
            python = bwrap_command(staging=staging, limits=self.limits, hidden=self.hidden)
            pkg_parent = str(SANDBOX_PACKAGE_PARENT)
            sub = str(SANDBOX_SUBMISSION_DIR / EXERCISE_FILE)
            cwd, home = None, str(SANDBOX_TMP)
            max_processes = self.limits.max_processes
        else:
            python = [sys.executable, "-E", "-s", "-B"]
            pkg_parent = str(SANDBOX_PACKAGE_DIR.parent)
            sub = str(staging / "submission" / EXERCISE_FILE)
            (staging / "work").mkdir()
            cwd = home = str(staging / "work")
            max_processes = 0  # RLIMIT_NPROC would count every process of the grader's user
        bootstrap = (
            f"import sys; sys.path.insert(0, {pkg_parent!r}); "
            "from sandbox.worker import main; main()"
        )
        threads = str(self.limits.threads)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "TMPDIR": home,
            "LANG": "C.UTF-8",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
            "BNGC_THREADS": threads,
            "MPLBACKEND": "Agg",
            "CUDA_VISIBLE_DEVICES": "",
        }
        cmd = [*python, "-c", bootstrap, "--submission", sub]
        cmd += ["--fd-in", str(req_r), "--fd-out", str(rep_w)]
        cmd += ["--max-processes", str(max_processes)]
        if self.ahead and self.starts == 0:  # the first start (and its start again)
            cmd.append("--ahead")
        try:
            popen = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=out_w,
                pass_fds=(req_r, rep_w),
                env=env,
                cwd=cwd,
                preexec_fn=functools.partial(_set_limits, self.limits),
                start_new_session=True,
            )
        finally:
            for fd in (req_r, rep_w, out_w):
                os.close(fd)
        os.set_blocking(req_w, False)  # every send has a deadline (protocol.send)
        drain = _OutputDrain(out_r, self.limits.output_bytes)
        drain.start()
        self.starts += 1
        self._spawned_at = time.monotonic()
        return _Process(popen, req_w, rep_r, drain, staging)

    def begin(self) -> None:
        """Start the student process now (it imports torch while the grader gets ready)."""
        if self._proc is None and self._import_error is None:
            self._proc = self._spawn()
            self._hello_pending = True

    def _await_hello(self) -> None:
        self._settle_isolation()
        proc = self._proc
        assert proc is not None
        self._hello_pending = False
        limits = self.limits
        seconds = (limits.startup_timeout + limits.import_timeout) * limits.timeout_scale
        try:
            hello = protocol.recv(proc.rep_r, deadline=time.monotonic() + seconds)
        except protocol.ChannelTimeout:
            self._kill()
            raise SubmissionDoesNotImport(
                {
                    "type": "TimeoutError",
                    "message": wording.import_timed_out(seconds),
                }
            ) from None
        except protocol.ChannelClosed as exc:
            tail = proc.drain.tail_text()
            code = self._wait_or_kill(proc)
            raise SubmissionDoesNotImport(
                {
                    "type": "ProcessEnded",
                    "message": wording.process_ended(code)
                    + (f" Output: {tail[-600:]}" if tail.strip() else ""),
                }
            ) from exc
        except protocol.ProtocolError as exc:
            self._kill()
            raise SubmissionDoesNotImport(
                {
                    "type": "MalformedReply",
                    "message": f"the process running your code sent back something the grader "
                    f"cannot read ({str(exc)[:200]}). Do not write to file descriptors you did "
                    "not open.",
                }
            ) from None
        if not isinstance(hello, dict) or not hello.get("ok"):
            self._kill()
            error = hello.get("error") if isinstance(hello, dict) else None
            raise SubmissionDoesNotImport(error if isinstance(error, dict) else {})
        self._note_tampering(hello)
        self._record_startup(hello, time.monotonic())
        if self._import_report is None:
            defined = hello.get("defined")
            self._import_report = {
                "defined": [n for n in REQUIRED_NAMES + BONUS_NAMES if n in _names(defined)],
                "tampered": sorted(self.tampered),
                "isolation": self.isolation,
            }

    def _record_startup(self, hello: dict[str, Any], received: float) -> None:
        """Record the start-up of the process from the times it reports, if they make sense
        (increasing, between its start and its hello); else as one span."""
        reported = hello.get("timings")
        names = ("started", "torch", "imported")
        times = [reported.get(n) for n in names] if isinstance(reported, dict) else []
        points = [self._spawned_at, *times, received]
        sane = all(type(t) is float for t in times) and len(times) == len(names)
        if sane and all(a <= b for a, b in itertools.pairwise(points)):
            self._record("start python", points[0], points[1])
            self._record("import torch", points[1], points[2])
            self._record("import the submission", points[2], points[3])
        else:
            self._record("start, import torch and the submission", self._spawned_at, received)

    def _record_ahead_import(self, reply: dict[str, Any], received: float) -> None:
        """Record the background import of ``torch._dynamo`` (``ahead.AheadImport``) when a
        reply reports it, if its times make sense (after the process started, before now)."""
        reported = reply.get("timings")
        span = reported.get("ahead") if isinstance(reported, dict) else None
        if not (isinstance(span, list) and len(span) == 2 and all(type(t) is float for t in span)):
            return
        if self._spawned_at <= span[0] <= span[1] <= received:
            self._record(f"import {AHEAD_MODULE} (ahead)", span[0], span[1])

    def _note_tampering(self, message: dict[str, Any]) -> None:
        """Add what the student process reports as replaced; only names the grader watches."""
        self.tampered.update(tamper.WATCHED & _names(message.get("tampered")))

    @property
    def import_error(self) -> SubmissionDoesNotImport | None:
        """Why the submission could not be imported the first time, if it could not."""
        return self._import_error

    def import_report(self) -> dict[str, Any]:
        """Start the process if needed; raise ``SubmissionDoesNotImport`` when it cannot import."""
        if self._import_error is not None:
            raise self._import_error
        if self._proc is None or self._hello_pending:
            try:
                self.begin()
                self._await_hello()
            except SubmissionDoesNotImport as exc:
                if self._import_report is None:  # the first import failed: remember it
                    self._import_error = exc
                raise
        assert self._import_report is not None
        return self._import_report

    def _kill(self) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        try:
            os.killpg(proc.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            code = proc.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = None
        for fd in (proc.req_w, proc.rep_r):
            try:
                os.close(fd)
            except OSError:
                pass
        proc.drain.join(timeout=2)
        self.output += proc.drain.kept[: max(self.limits.output_bytes - len(self.output), 0)]
        self.output_dropped += proc.drain.dropped
        shutil.rmtree(proc.staging, ignore_errors=True)
        return code

    def close(self) -> None:
        self._resolve_isolation()  # what it would have been, if no process was started
        if self._proc is not None:
            try:
                protocol.send(self._proc.req_w, {"probe": "stop"}, deadline=time.monotonic() + 1)
            except (OSError, protocol.ChannelTimeout):
                pass
        self._kill()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls -------------------------------------------------------------------------------

    def call(self, probe: str, *, timeout: float, **kwargs: Any) -> Any:
        """Run ``probe`` in the student process with a time limit of ``timeout`` seconds.

        The limit covers sending the request (a process that does not read it is late too)
        and receiving the reply. A late, undecodable or oversized reply kills the process;
        the next call starts a fresh one. After ``start_call(probe)``, this receives that
        call's reply instead (its limit counted from when it was sent; ``kwargs`` unused).
        """
        if self._pending is not None:
            name, deadline, error = self._pending
            if name != probe:  # a bug of the grader's: the started call stays pending
                raise RuntimeError(f"call({probe!r}) while {name!r} is still running")
            self._pending = None
            if error is not None:
                raise error
            return self._receive(probe, deadline, seconds=timeout * self.limits.timeout_scale)
        seconds = timeout * self.limits.timeout_scale
        deadline = self._send(probe, kwargs, seconds)
        return self._receive(probe, deadline, seconds=seconds)

    def start_call(self, probe: str, *, timeout: float, **kwargs: Any) -> None:
        """Send ``probe``'s request and return without waiting for the reply.

        Waits for the process to have imported the submission first. Whatever goes wrong
        (the submission does not import, the request is not read in time) is raised by the
        next ``call(probe)``, as if that call had run it.
        """
        if self._pending is not None:
            raise RuntimeError(f"start_call({probe!r}) while {self._pending[0]!r} is running")
        seconds = timeout * self.limits.timeout_scale
        try:
            deadline = self._send(probe, kwargs, seconds)
        except SandboxError as exc:
            self._pending = (probe, 0.0, exc)
        else:
            self._pending = (probe, deadline, None)

    def _send(self, probe: str, kwargs: dict[str, Any], seconds: float) -> float:
        """Send ``probe``'s request; return the deadline of its reply."""
        if probe in self._timed_out:
            raise StudentTimeout(probe, self._timed_out[probe], repeated=True)
        if self._crashes.get(probe, 0) >= 3:
            raise SandboxError(
                f"Not run: the process running your code ended three times while running {probe}."
            )
        if time.monotonic() - self._started_at > self.budget_seconds * self.limits.timeout_scale:
            raise GradingBudgetExhausted(probe, self.budget_seconds)
        self.import_report()
        proc = self._proc
        assert proc is not None
        self._sent_at = time.monotonic()
        deadline = self._sent_at + seconds
        try:
            protocol.send(proc.req_w, {"probe": probe, "kwargs": kwargs}, deadline=deadline)
        except protocol.ChannelTimeout:
            raise self._late(probe, seconds) from None
        except (protocol.ChannelClosed, BrokenPipeError):
            raise self._crashed(probe, proc) from None
        return deadline

    def _late(self, probe: str, seconds: float) -> StudentTimeout:
        """Kill the process that missed ``probe``'s deadline; it is not asked again."""
        self._kill()
        self._timed_out[probe] = seconds
        return StudentTimeout(probe, seconds)

    def _crashed(self, probe: str, proc: _Process) -> StudentCrashed:
        tail = proc.drain.tail_text()
        code = self._wait_or_kill(proc)
        self._crashes[probe] = self._crashes.get(probe, 0) + 1
        return StudentCrashed(probe, code, tail)

    def _receive(self, probe: str, deadline: float, *, seconds: float) -> Any:
        """The reply to ``probe``'s request, sent before; its result, or the student's error."""
        proc = self._proc
        if proc is None:  # killed since the request was sent (cannot happen between calls)
            raise StudentCrashed(probe, None, "")
        try:
            reply = protocol.recv(proc.rep_r, deadline=deadline)
        except protocol.ChannelTimeout:
            raise self._late(probe, seconds) from None
        except (protocol.ChannelClosed, BrokenPipeError):
            raise self._crashed(probe, proc) from None
        except protocol.ProtocolError as exc:
            self._kill()
            raise MalformedReply(probe, str(exc)[:200]) from None
        finally:
            received = time.monotonic()
            self._record(probe, self._sent_at, received)
        if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
            self._kill()
            raise MalformedReply(probe, "not a reply")
        self._note_tampering(reply)
        self._record_ahead_import(reply, received)
        if not reply["ok"]:
            error = reply.get("error")
            error = error if isinstance(error, dict) else {}
            if error.get("student") is False:
                raise ProbeFailed(probe, error)
            raise StudentCodeError(probe, error)
        return reply.get("result")

    def _wait_or_kill(self, proc: _Process) -> int | None:
        try:
            proc.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        return self._kill()

    def student_output(self) -> str:
        """What the student's code printed (capped), for the instructor's eyes."""
        kept = bytes(self.output)
        if self._proc is not None:
            kept += bytes(self._proc.drain.kept)
        text = kept.decode("utf-8", "replace")
        dropped = self.output_dropped + (self._proc.drain.dropped if self._proc else 0)
        if dropped:
            text += f"\n[... {dropped} more bytes of output dropped]"
        return text
