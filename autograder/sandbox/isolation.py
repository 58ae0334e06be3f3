"""How the student process is isolated: the bubblewrap sandbox and the resource limits.

``bwrap_command`` builds the command line that starts the sandbox's Python: no privilege
whoever runs the grader (as root: an unprivileged uid of its own via ``setpriv``, no
capability; as an ordinary user: a user namespace without capabilities), no network, its own PID
namespace, and a read-only file system holding only the shared libraries, a minimal ``/etc``,
Python, torch and the other packages students may import (without this project's
installation), the sandbox package and the submission, plus small tmpfs for ``/tmp`` and
``/dev/shm``. ``bwrap_problem`` tells why that cannot run on this machine. ``Limits`` are the
resource limits of the student process, whatever the isolation.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .names import EXERCISE_FILE

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


def _missing_tool() -> str | None:
    """Why bubblewrap cannot be used here without even trying it, if it cannot."""
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
    return None


class _TrialSandbox:
    """``bwrap_problem``'s trial: a real sandbox (the student process's command line) running
    Python, started by ``start_bwrap_check`` and collected by ``problem()``."""

    def __init__(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="bngc-bwrap-check-")
        staging = make_staging(Path(self.tmp.name), submission=None)
        cmd = bwrap_command(staging=staging, limits=Limits(), hidden=())
        self.proc: subprocess.Popen | None = None
        self.error = ""
        try:
            self.proc = subprocess.Popen(
                [*cmd, "-c", "import sys"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            self.error = f"bubblewrap did not start: {exc}"

    def problem(self) -> str | None:
        try:
            if self.proc is None:
                return self.error
            try:
                _, stderr = self.proc.communicate(timeout=60)
            except subprocess.TimeoutExpired as exc:
                self.proc.kill()
                self.proc.communicate()
                return f"bubblewrap did not start: {exc}"
        finally:
            self.tmp.cleanup()
        if self.proc.returncode == 0:
            return None
        said = stderr.decode("utf-8", "replace").strip().splitlines()
        hint = ""
        apparmor = Path("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
        if not _runs_as_root() and apparmor.exists():
            hint = (
                " (on Ubuntu 23.10 and later, AppArmor restricts unprivileged user namespaces: "
                "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` lifts it)"
            )
        return f"bubblewrap cannot create its sandbox: {said[-1] if said else 'no message'}{hint}"


# bubblewrap's path -> its trial, started by start_bwrap_check and not yet collected
_trials: dict[str, _TrialSandbox] = {}


def start_bwrap_check() -> None:
    """Start ``bwrap_problem``'s trial sandbox without waiting for it, so that it runs while
    other work goes on; ``bwrap_problem()`` collects its verdict (and keeps it)."""
    if bwrap_problem.cache_info().currsize or _missing_tool() is not None:
        return
    bwrap = _first_existing(BWRAP_PATHS) or ""
    if bwrap not in _trials:
        _trials[bwrap] = _TrialSandbox()


@functools.cache
def bwrap_problem() -> str | None:
    """Why the bubblewrap sandbox cannot run here, or ``None`` when it can.

    It starts a real sandbox (the command line the student process gets) running Python
    (unless ``start_bwrap_check`` has), and waits for it.
    """
    missing = _missing_tool()
    if missing is not None:
        return missing
    trial = _trials.pop(_first_existing(BWRAP_PATHS) or "", None) or _TrialSandbox()
    return trial.problem()


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
STUDENT_DISTRIBUTIONS = ("torch", "torchvision", "numpy", "matplotlib", "tqdm")


def _dist_infos(site: Path) -> dict[str, Path]:
    """The ``.dist-info`` folders of ``site``, by the normalised name of their distribution."""
    from packaging.utils import canonicalize_name

    return {
        canonicalize_name(entry.name.removesuffix(".dist-info").rsplit("-", 1)[0]): entry
        for entry in sorted(site.glob("*.dist-info"))
    }


def _requires_dist(dist_info: Path) -> list[str]:
    """The ``Requires-Dist`` headers of a distribution's METADATA (read as lines: the email
    parser that ``importlib.metadata`` uses made this a third of a grading's start-up)."""
    found = []
    try:
        with (dist_info / "METADATA").open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if not line.rstrip("\r\n"):
                    break  # the headers end at the first empty line (folded lines start blank)
                if line.startswith("Requires-Dist:"):
                    found.append(line.split(":", 1)[1].strip())
    except OSError:
        pass
    return found


@functools.cache
def site_packages_entries(site: Path) -> list[Path]:
    """The entries of the virtual environment's ``site`` that are bound into the sandbox.

    Those of ``STUDENT_DISTRIBUTIONS`` and of what they require, by their metadata (markers
    evaluated here, extras left out), and never this grader's own installation (see
    ``_belongs_to_grader``). A module of the top level is bound with its file in
    ``__pycache__``, not with the whole ``__pycache__``.
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    dist_infos = _dist_infos(site)
    todo, seen, entries = list(STUDENT_DISTRIBUTIONS), set(), set[str]()
    while todo:
        name = canonicalize_name(Requirement(todo.pop()).name)
        dist_info = dist_infos.get(name)
        if dist_info is None or name in seen:
            continue
        seen.add(name)
        for needed in _requires_dist(dist_info):
            marker = Requirement(needed).marker
            if marker is None or marker.evaluate({"extra": ""}):
                todo.append(needed)
        record = dist_info / "RECORD"
        text = record.read_text(encoding="utf-8", errors="replace") if record.is_file() else ""
        for line in text.splitlines():
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


def make_staging(
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
