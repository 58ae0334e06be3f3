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
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import protocol, tamper, wording
from .names import BONUS_NAMES, EXERCISE_FILE, REQUIRED_NAMES

SANDBOX_PACKAGE_DIR = Path(__file__).resolve().parent
GRADER_PACKAGE_DIR = SANDBOX_PACKAGE_DIR.parent
PROJECT_ROOT = GRADER_PACKAGE_DIR.parent  # the repository, for an editable install
# How the student process may be isolated (see Sandbox): "auto" is bwrap where it works
ISOLATIONS: tuple[str, ...] = ("auto", "bwrap", "process")


@dataclass(frozen=True)
class Limits:
    """Resource limits of the student process (all overridable from the command line)."""

    memory_mb: int = 6144  # address space per process; importing torch alone maps about 3.2 GB
    output_bytes: int = 64 * 1024  # what is kept of stdout + stderr
    file_size_mb: int = 256  # largest file the student may write
    tmp_mb: int = 256  # the sandbox's /tmp (bwrap): all it can write there, all files together
    shm_mb: int = 64  # the sandbox's /dev/shm (bwrap)
    max_processes: int = 32  # processes and threads of the student (bwrap; the worker uses 1)
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

# Found by absolute path only: a PATH the grader inherits must not choose the sandbox.
BWRAP_PATHS = ("/usr/bin/bwrap", "/usr/local/bin/bwrap")
SETPRIV_PATHS = ("/usr/bin/setpriv", "/bin/setpriv")
# As root, the student process runs as uid = gid = SANDBOX_ID_BASE + the grader's pid: never 0,
# owning no file outside the sandbox, and one per grading, so that RLIMIT_NPROC (counted per
# uid) counts only this grading's processes.
SANDBOX_ID_BASE = 1_500_000_000
# Where things are inside the sandbox
SANDBOX_VENV = Path("/opt/venv")
SANDBOX_PACKAGE_PARENT = Path("/opt/bngc")
SANDBOX_SUBMISSION_DIR = Path("/opt/submission")
SANDBOX_TMP = Path("/tmp")
# What the student process sees of the machine (read-only): the shared libraries, the dynamic
# linker's configuration and the processor topology (torch reads it at import)
SYSTEM_LIB_DIRS = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/libx32")
TOP_LEVEL_LIB_LINKS = ("/lib", "/lib64", "/lib32", "/libx32")
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")
SYS_DIRS = ("/sys/devices/system/cpu",)


def _first_existing(paths: Sequence[str]) -> str | None:
    return next((p for p in paths if Path(p).is_file() and os.access(p, os.X_OK)), None)


def _runs_as_root() -> bool:
    return os.geteuid() == 0


@functools.cache
def bwrap_problem() -> str | None:
    """Why the bubblewrap sandbox cannot run here, or ``None`` when it can.

    It starts a real sandbox (the command line the student process gets) running Python.
    """
    if _first_existing(BWRAP_PATHS) is None:
        return (
            f"bubblewrap is not installed (looked for {' and '.join(BWRAP_PATHS)}; "
            "Debian/Ubuntu package: bubblewrap)"
        )
    if _runs_as_root() and _first_existing(SETPRIV_PATHS) is None:
        return (
            "setpriv is not installed (looked for " + " and ".join(SETPRIV_PATHS) + "); as "
            "root the grader needs it to run student code as an unprivileged user (util-linux)"
        )
    with tempfile.TemporaryDirectory(prefix="bngc-bwrap-check-") as tmp:
        staging = _make_staging(Path(tmp), submission=None)
        cmd = bwrap_command(staging=staging, limits=Limits(), hidden=())
        try:
            probe = subprocess.run(
                [*cmd, "-c", "import sys"],
                capture_output=True,
                timeout=60,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bubblewrap did not start: {exc}"
    if probe.returncode == 0:
        return None
    said = probe.stderr.decode("utf-8", "replace").strip().splitlines()
    hint = ""
    apparmor = Path("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
    if not _runs_as_root() and apparmor.exists():
        hint = (
            " (on Ubuntu 23.10 and later, AppArmor restricts unprivileged user namespaces: "
            "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` lifts it)"
        )
    return f"bubblewrap cannot create its sandbox: {said[-1] if said else 'no message'}{hint}"


def bwrap_available() -> bool:
    """Whether bubblewrap can create the namespaces we need on this machine."""
    return bwrap_problem() is None


class IsolationUnavailable(RuntimeError):
    """The isolation asked for cannot be had here: a problem of the grader, not of the student."""


def sandbox_ids() -> tuple[int, int]:
    """The (uid, gid) of the student process when the grader runs as root."""
    ident = SANDBOX_ID_BASE + os.getpid()
    return ident, ident


def _is_within(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
    except ValueError:
        return False
    return True


def _belongs_to_grader(entry: Path) -> bool:
    """Whether a site-packages entry is (part of the installation of) this grader.

    An editable install leaves ``__editable__`` files (a ``.pth`` and a finder that point at
    the repository) and a dist-info whose ``direct_url.json`` names the repository; a regular
    install leaves the ``autograder`` package and a dist-info whose RECORD lists it. Either
    dist-info holds the instructor README as its METADATA.
    """
    name = entry.name
    if name.startswith("__editable__") or name.endswith(".egg-link"):
        return True
    if entry.resolve() == GRADER_PACKAGE_DIR:
        return True
    try:
        if name.endswith(".pth") and entry.is_file():
            text = entry.read_text(encoding="utf-8", errors="replace")
            return str(PROJECT_ROOT) in text or GRADER_PACKAGE_DIR.name in text
        if name.endswith(".dist-info") and entry.is_dir():
            direct_url = entry / "direct_url.json"
            if direct_url.is_file():
                url = str(json.loads(direct_url.read_text(encoding="utf-8")).get("url", ""))
                if url.startswith("file://") and _is_within(Path(url[7:]), PROJECT_ROOT):
                    return True
            record = entry / "RECORD"
            if record.is_file():
                prefix = GRADER_PACKAGE_DIR.name + "/"
                with record.open(encoding="utf-8", errors="replace") as lines:
                    return any(line.startswith(prefix) for line in lines)
    except (OSError, ValueError, AttributeError):
        return True  # unreadable: leave it out
    return False


# What student code may import besides the standard library, with everything they require
STUDENT_DISTRIBUTIONS = ("torch", "torchvision", "numpy")


@functools.cache
def site_packages_entries(site: Path) -> list[Path]:
    """The entries of the virtual environment's ``site`` that are bound into the sandbox.

    Those of ``STUDENT_DISTRIBUTIONS`` and of what they require, by their metadata (markers
    evaluated here, extras left out), and never this grader's own installation (see
    ``_belongs_to_grader``). A module of the top level is bound with its file in
    ``__pycache__``, not with the whole ``__pycache__``.
    """
    from importlib.metadata import distributions

    from packaging.requirements import Requirement

    todo, seen, entries = list(STUDENT_DISTRIBUTIONS), set(), set[str]()
    while todo:
        requirement = Requirement(todo.pop())
        dist = next(iter(distributions(name=requirement.name, path=[str(site)])), None)
        name = dist.metadata["Name"].lower() if dist is not None else ""
        if dist is None or name in seen:
            continue
        seen.add(name)
        for needed in dist.requires or []:
            marker = Requirement(needed).marker
            if marker is None or marker.evaluate({"extra": ""}):
                todo.append(needed)
        for line in (dist.read_text("RECORD") or "").splitlines():
            parts = line.split(",", 1)[0].split("/")
            if parts[0] not in ("..", ""):  # not the scripts in bin/ and the like
                entries.add(parts[0] if parts[0] != "__pycache__" else "/".join(parts[:2]))
    paths = (site / entry for entry in entries)
    return sorted(p for p in paths if p.exists() and not _belongs_to_grader(p))


class _CommandLine:
    """A bubblewrap command line whose every directory is world-readable (0755).

    bubblewrap creates the missing parents of a mount point with mode 0700, which an
    unprivileged student uid could not enter.
    """

    def __init__(self, head: list[str]) -> None:
        self.args = list(head)
        self.made: set[Path] = {Path("/")}
        self.bound: list[Path] = []  # directories mounted from outside (their insides exist)

    def _parents(self, dest: Path) -> None:
        for parent in reversed(dest.parents):
            if parent in self.made or any(_is_under(parent, b) for b in self.bound):
                continue
            self.args += ["--perms", "0755", "--dir", str(parent)]
            self.made.add(parent)

    def ro_bind(self, source: Path, dest: Path) -> None:
        self._parents(dest)
        self.args += ["--ro-bind", str(source), str(dest)]
        if source.is_dir():
            self.bound.append(dest)

    def symlink(self, target: str, dest: Path) -> None:
        self._parents(dest)
        self.args += ["--symlink", target, str(dest)]

    def tmpfs(self, dest: Path, size_bytes: int) -> None:
        self._parents(dest)
        self.args += ["--perms", "01777", "--size", str(size_bytes), "--tmpfs", str(dest)]
        self.made.add(dest)


def _is_under(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def _python_binds() -> tuple[list[tuple[Path, Path]], Path]:
    """(source, sandbox path) pairs of the Python installation, and the sandbox's interpreter."""
    real_exe = Path(os.path.realpath(sys.executable))
    binds = [(real_exe, real_exe)]
    libdir = Path(sysconfig.get_config_var("LIBDIR") or real_exe.parents[1] / "lib")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in (libdir, stdlib):
        covered = [*map(Path, SYSTEM_LIB_DIRS), *(src for src, _ in binds[1:])]
        if path.is_dir() and not any(_is_under(path, c) for c in covered):
            binds.append((path, path))
    if sys.prefix == sys.base_prefix:  # no virtual environment: the interpreter itself
        return binds, real_exe
    return binds, SANDBOX_VENV / "bin" / "python"


def _venv_site() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def bwrap_command(*, staging: Path, limits: Limits, hidden: Sequence[Path]) -> list[str]:
    """The command line that starts the sandbox's Python (its arguments follow).

    The root is an empty file system (read-only once built) holding, read-only: the shared
    libraries (``/usr/lib*``), a minimal ``/etc`` (the dynamic linker's files, and a passwd and
    group naming only root and the sandbox user), the processor topology, the Python
    installation, of the virtual environment's packages only ``site_packages_entries`` (at
    ``/opt/venv``), the sandbox package and the submission. Writable: only ``/tmp`` and
    ``/dev/shm``, tmpfs of ``limits.tmp_mb`` and ``limits.shm_mb``. Nothing of this repository
    but the sandbox package, no data set (``hidden`` paths are masked wherever they would be
    visible), no home directory, no network, its own PID, IPC, UTS and cgroup namespaces.

    As root: no user namespace (one would map the student to kuid 0); every capability dropped
    but those ``setpriv`` needs to become ``sandbox_ids()``, which then clears them all. As an
    ordinary user: a user namespace mapping the student to that user, no capabilities, and no
    further user namespaces.
    """
    bwrap = _first_existing(BWRAP_PATHS)
    if bwrap is None:
        raise IsolationUnavailable("bubblewrap is not installed")
    head = [bwrap, "--die-with-parent", "--new-session"]
    if _runs_as_root():
        head += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
        head += ["--unshare-cgroup-try", "--cap-drop", "ALL"]
        head += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    else:
        head += ["--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    cmd = _CommandLine(head)
    cmd.args += ["--proc", "/proc", "--dev", "/dev"]
    cmd.made.add(Path("/dev"))
    cmd.tmpfs(Path("/dev/shm"), limits.shm_mb << 20)
    cmd.args += ["--remount-ro", "/dev"]
    binds: list[tuple[Path, Path]] = []
    for name in SYSTEM_LIB_DIRS:
        if Path(name).is_dir() and not Path(name).is_symlink():
            binds.append((Path(name), Path(name)))
    for name in TOP_LEVEL_LIB_LINKS:
        path = Path(name)
        if path.is_symlink():  # merged /usr: /lib -> usr/lib
            cmd.symlink(str(path.readlink()), path)
        elif path.is_dir():
            binds.append((path, path))
    for name in (*ETC_FILES, *SYS_DIRS):
        if Path(name).exists():
            binds.append((Path(name), Path(name)))
    binds += [(staging / "etc" / "passwd", Path("/etc/passwd"))]
    binds += [(staging / "etc" / "group", Path("/etc/group"))]
    python_binds, python = _python_binds()
    binds += python_binds
    if sys.prefix != sys.base_prefix:
        site = _venv_site()
        inside = SANDBOX_VENV / site.relative_to(sys.prefix)
        binds += [(staging / "pyvenv.cfg", SANDBOX_VENV / "pyvenv.cfg")]
        binds += [(e, inside / e.relative_to(site)) for e in site_packages_entries(site)]
    binds += [(SANDBOX_PACKAGE_DIR, SANDBOX_PACKAGE_PARENT / "sandbox")]
    binds += [(staging / "submission", SANDBOX_SUBMISSION_DIR)]
    if _runs_as_root():
        setpriv = _first_existing(SETPRIV_PATHS)
        if setpriv is None:
            raise IsolationUnavailable("setpriv is not installed")
        binds += [(Path(setpriv), Path(setpriv))]
    for source, dest in binds:
        cmd.ro_bind(source, dest)
    if sys.prefix != sys.base_prefix:
        cmd.symlink(str(Path(os.path.realpath(sys.executable))), python)
    for source, dest in binds:  # the data sets, wherever they lie under a bound directory
        for path in hidden:
            if source.is_dir() and _is_within(path, source) and path.exists():
                masked = dest / path.resolve().relative_to(source.resolve())
                empty = staging / "empty" if path.is_dir() else Path("/dev/null")
                cmd.args += ["--ro-bind", str(empty), str(masked)]
    cmd.tmpfs(SANDBOX_TMP, limits.tmp_mb << 20)
    cmd.args += ["--chdir", str(SANDBOX_TMP), "--remount-ro", "/"]
    if _runs_as_root():
        uid, gid = sandbox_ids()
        cmd.args += [setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
        cmd.args += ["--bounding-set=-all", "--inh-caps=-all", "--no-new-privs"]
        cmd.args += ["--pdeathsig=KILL", "--"]
    return [*cmd.args, str(python), "-E", "-s", "-B"]


def _make_staging(
    staging: Path, *, submission: Path | None, companions: tuple[Path, ...] = ()
) -> Path:
    """What the sandbox gets from this side: the submission (with ``companions``, the files the
    release ships beside it, e.g. ``exercise_utils.py``: the grader's copies, never the
    student's), passwd, group and pyvenv.cfg.

    Everything is world-readable (the student's uid is not the grader's) and nothing writable.
    """
    (staging / "submission").mkdir()
    (staging / "etc").mkdir()
    (staging / "empty").mkdir()
    if submission is not None:
        for companion in companions:
            shutil.copyfile(companion, staging / "submission" / companion.name)
        shutil.copyfile(submission, staging / "submission" / EXERCISE_FILE)
    uid, gid = sandbox_ids() if _runs_as_root() else (os.getuid(), os.getgid())
    (staging / "etc" / "passwd").write_text(
        f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"student:x:{uid}:{gid}:student:{SANDBOX_TMP}:/usr/sbin/nologin\n"
    )
    (staging / "etc" / "group").write_text(f"root:x:0:\nstudent:x:{gid}:\n")
    base = Path(os.path.realpath(sys.executable)).parent
    (staging / "pyvenv.cfg").write_text(
        f"home = {base}\ninclude-system-site-packages = false\n"
        f"version = {'.'.join(map(str, sys.version_info[:3]))}\n"
    )
    for path in staging.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    staging.chmod(0o755)
    return staging


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
    folder).
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
        staging = _make_staging(
            Path(tempfile.mkdtemp(prefix="bngc-sandbox-")),
            submission=self.submission,
            companions=self.companions,
        )
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        out_r, out_w = os.pipe()
        if self.isolation == "bwrap":
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
        if self._import_report is None:
            defined = hello.get("defined")
            self._import_report = {
                "defined": [n for n in REQUIRED_NAMES + BONUS_NAMES if n in _names(defined)],
                "tampered": sorted(self.tampered),
                "isolation": self.isolation,
            }

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
        the next call starts a fresh one.
        """
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
            protocol.send(proc.req_w, {"probe": probe, "kwargs": kwargs}, deadline=deadline)
            reply = protocol.recv(proc.rep_r, deadline=deadline)
        except protocol.ChannelTimeout:
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
        self._note_tampering(reply)
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
