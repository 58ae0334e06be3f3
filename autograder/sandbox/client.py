"""Trusted side of the sandbox: start, limit, call, time out, restart and kill the student process.

The student process runs ``worker.py`` with:

* a stripped environment (no tokens, no secrets; only PATH, HOME, LANG and thread settings),
* resource limits: address space, file size, no core dumps,
* a cap on what it may print (the rest is counted and dropped),
* per-call time limits; a dead or hung process fails only the call it was running and is
  restarted for the next one,
* where bubblewrap works (``isolation="bwrap"``, the default when available): no network, its own
  PID namespace, and a file system that holds only the system directories, Python and the
  virtual environment (read-only), the submission and a private writable ``/tmp``: this
  repository (hidden checks, reference solution), home directories and anything else on the
  machine are out of sight.

Replies are decoded with ``torch.load(weights_only=True)`` (see ``protocol``).
"""

from __future__ import annotations

import ctypes
import functools
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import protocol, wording

SANDBOX_PACKAGE_DIR = Path(__file__).resolve().parent
EXERCISE_FILE = "batchnorm_gradclip_exercise.py"
# How the student process may be isolated (see Sandbox): "auto" is bwrap where it works
ISOLATIONS: tuple[str, ...] = ("auto", "bwrap", "process")


@dataclass(frozen=True)
class Limits:
    """Resource limits of the student process (all overridable from the command line)."""

    memory_mb: int = 6144  # address space; importing torch alone maps about 3.2 GB
    output_bytes: int = 64 * 1024  # what is kept of stdout + stderr
    file_size_mb: int = 256  # largest file the student may write
    startup_timeout: float = 60.0  # python + import torch
    import_timeout: float = 20.0  # importing the submission itself
    threads: int = 1  # torch intra-op threads; 1 keeps results reproducible across machines
    timeout_scale: float = 1.0  # multiplies every time limit (slow machines)


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


def describe_student_error(error: dict[str, Any], *, doing: str) -> str:
    etype = error.get("type", "Exception")
    message = error.get("message", "")
    if etype == "SystemExit":
        head = f"Your code called sys.exit({error.get('exit_code', '')}) while {doing}."
    else:
        head = f"Your code raised {etype} while {doing}: {message}"
    lines = [head]
    if error.get("line"):
        lines.append(f"  at line {error['line']} of {EXERCISE_FILE}: {error.get('code', '')}")
    low = message.lower()
    if etype == "NotImplementedError":
        lines.append("  This part is still a TODO: fill in the code between the markers.")
    elif etype in ("MemoryError",) or "can't allocate memory" in low or "not enough memory" in low:
        lines.append("  The memory limit of the grader was exceeded: do not build huge tensors.")
    elif etype in ("ModuleNotFoundError", "ImportError"):
        lines.append(
            "  Only torch, torchvision, numpy and the standard library are available while "
            f"grading, and only {EXERCISE_FILE} is graded: move helper code into it."
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Isolation
# ------------------------------------------------------------------------------------------------


@functools.cache
def bwrap_problem() -> str | None:
    """Why bubblewrap cannot create the namespaces we need here, or ``None`` when it can."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (bwrap) is not installed (Debian/Ubuntu package: bubblewrap)"
    try:
        probe = subprocess.run(
            [exe, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"],
            capture_output=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap did not start: {exc}"
    if probe.returncode == 0:
        return None
    said = probe.stderr.decode("utf-8", "replace").strip().splitlines()
    hint = ""
    if Path("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").exists():
        hint = (
            " (on Ubuntu 23.10 and later, AppArmor restricts unprivileged user namespaces: "
            "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` lifts it)"
        )
    return f"bubblewrap cannot create its namespaces: {said[-1] if said else 'no message'}{hint}"


def bwrap_available() -> bool:
    """Whether bubblewrap can create the namespaces we need on this machine."""
    return bwrap_problem() is None


class IsolationUnavailable(RuntimeError):
    """The isolation asked for cannot be had here: a problem of the grader, not of the student."""


def _is_within(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
    except ValueError:
        return False
    return True


# What the student process sees of the machine's file system (read-only), besides Python itself.
SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/sys")


def bwrap_prefix(submission_dir: Path, work_dir: Path) -> list[str]:
    """The bubblewrap command line of the student process.

    It starts from an empty root and mounts, read-only, only the system directories, the Python
    installation and the virtual environment; plus the submission, a writable work folder and a
    private /tmp. This repository (hidden checks, reference solution), home directories, other
    checkouts on the machine, the network and other processes are out of sight.
    """
    cmd = ["bwrap", "--die-with-parent", "--new-session", "--unshare-all"]
    cmd += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for name in SYSTEM_DIRS:
        path = Path(name)
        if path.is_symlink():  # merged-/usr systems: /bin -> usr/bin
            cmd += ["--symlink", str(path.readlink()), name]
        elif path.is_dir():
            cmd += ["--ro-bind", name, name]
    python_dirs = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)}
    python_dirs.add(Path(os.path.realpath(sys.executable)).parents[1])
    mounted: list[Path] = [Path(d) for d in SYSTEM_DIRS]
    for path in sorted({p.resolve() for p in python_dirs}, key=lambda p: len(p.parts)):
        if not any(_is_within(path, m) for m in mounted):
            cmd += ["--ro-bind", str(path), str(path)]
            mounted.append(path)
    cmd += ["--ro-bind", str(SANDBOX_PACKAGE_DIR), "/tmp/.bngc/sandbox"]
    cmd += ["--ro-bind", str(submission_dir), "/tmp/submission"]
    cmd += ["--bind", str(work_dir), "/tmp/work", "--chdir", "/tmp/work"]
    return cmd


def _set_limits(limits: Limits) -> None:  # runs in the child between fork and exec
    mem = limits.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    fsize = limits.file_size_mb << 20
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)


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
    """

    submission: Path
    limits: Limits = field(default_factory=Limits)
    isolation: str = "auto"  # "bwrap", "process" or "auto"
    budget_seconds: float = 600.0
    tampered: set[str] = field(default_factory=set)
    output: bytearray = field(default_factory=bytearray)
    output_dropped: int = 0
    starts: int = 0
    isolation_note: str = ""  # why "auto" fell back to process isolation, if it did

    def __post_init__(self) -> None:
        self.submission = Path(self.submission)
        if self.isolation not in ISOLATIONS:
            raise ValueError(f"unknown isolation {self.isolation!r}")
        problem = bwrap_problem() if self.isolation != "process" else None
        if self.isolation == "bwrap" and problem:
            raise IsolationUnavailable(f"--isolation bwrap was asked for, but {problem}")
        if self.isolation == "auto":
            self.isolation = "process" if problem else "bwrap"
            self.isolation_note = (
                f"{problem}; student code ran with resource limits only" if problem else ""
            )
        self._proc: _Process | None = None
        self._hello_pending = False
        self._import_report: dict[str, Any] | None = None
        self._import_error: SubmissionDoesNotImport | None = None
        self._timed_out: dict[str, float] = {}
        self._crashes: dict[str, int] = {}
        self._started_at = time.monotonic()

    # -- life cycle -------------------------------------------------------------------------

    def _spawn(self) -> _Process:
        staging = Path(tempfile.mkdtemp(prefix="bngc-sandbox-"))
        (staging / "submission").mkdir()
        (staging / "work").mkdir()
        shutil.copyfile(self.submission, staging / "submission" / EXERCISE_FILE)
        staging.chmod(0o755)
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        out_r, out_w = os.pipe()
        if self.isolation == "bwrap":
            prefix = bwrap_prefix(staging / "submission", staging / "work")
            pkg_parent, sub, cwd = "/tmp/.bngc", f"/tmp/submission/{EXERCISE_FILE}", None
            home = "/tmp/work"
        else:
            prefix = []
            pkg_parent = str(SANDBOX_PACKAGE_DIR.parent)
            sub = str(staging / "submission" / EXERCISE_FILE)
            cwd = home = str(staging / "work")
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
        cmd = [*prefix, sys.executable, "-E", "-s", "-B", "-c", bootstrap]
        cmd += ["--submission", sub, "--fd-in", str(req_r), "--fd-out", str(rep_w)]
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
        drain = _OutputDrain(out_r, self.limits.output_bytes)
        drain.start()
        self.starts += 1
        return _Process(popen, req_w, rep_r, drain, staging)

    def begin(self) -> None:
        """Start the student process now (it imports torch while the grader gets ready)."""
        if self._proc is None and self._import_error is None:
            self._proc = self._spawn()
            self._hello_pending = True

    def _await_hello(self) -> None:
        proc = self._proc
        assert proc is not None
        self._hello_pending = False
        limits = self.limits
        seconds = (limits.startup_timeout + limits.import_timeout) * limits.timeout_scale
        try:
            hello = protocol.recv(proc.rep_r, deadline=time.monotonic() + seconds)
        except protocol.ReplyTimeout:
            self._kill()
            raise SubmissionDoesNotImport(
                {
                    "type": "TimeoutError",
                    "message": wording.import_timed_out(seconds),
                }
            ) from None
        except protocol.ProtocolError as exc:
            tail = proc.drain.tail_text()
            code = self._wait_or_kill(proc)
            raise SubmissionDoesNotImport(
                {
                    "type": "ProcessEnded",
                    "message": wording.process_ended(code)
                    + (f" Output: {tail[-600:]}" if tail.strip() else ""),
                }
            ) from exc
        if not isinstance(hello, dict) or not hello.get("ok"):
            self._kill()
            error = hello.get("error") if isinstance(hello, dict) else None
            raise SubmissionDoesNotImport(error if isinstance(error, dict) else {})
        self.tampered.update(str(t) for t in hello.get("tampered", []))
        if self._import_report is None:
            self._import_report = {
                "defined": [str(n) for n in hello.get("defined", [])],
                "tampered": sorted(self.tampered),
                "isolation": self.isolation,
            }

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
        if self._proc is not None:
            try:
                protocol.send(self._proc.req_w, {"probe": "stop"})
            except OSError:
                pass
        self._kill()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls -------------------------------------------------------------------------------

    def call(self, probe: str, *, timeout: float, **kwargs: Any) -> Any:
        """Run ``probe`` in the student process with a time limit of ``timeout`` seconds."""
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
        seconds = timeout * self.limits.timeout_scale
        deadline = time.monotonic() + seconds
        try:
            protocol.send(proc.req_w, {"probe": probe, "kwargs": kwargs})
            reply = protocol.recv(proc.rep_r, deadline=deadline)
        except protocol.ReplyTimeout:
            self._kill()
            self._timed_out[probe] = seconds
            raise StudentTimeout(probe, seconds) from None
        except (protocol.ChannelClosed, BrokenPipeError):
            tail = proc.drain.tail_text()
            code = self._wait_or_kill(proc)
            self._crashes[probe] = self._crashes.get(probe, 0) + 1
            raise StudentCrashed(probe, code, tail) from None
        except protocol.ProtocolError as exc:
            self._kill()
            raise MalformedReply(probe, str(exc)[:200]) from None
        if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
            self._kill()
            raise MalformedReply(probe, "not a reply")
        self.tampered.update(str(t) for t in reply.get("tampered", []) or [])
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
