"""A pool of grading servers: the grader's own process reused across gradings, isolation intact.

``autograder grade`` in a fresh process per submission pays the grader's start-up each time
(Python, torch, pytest, collecting the hidden checks): several seconds per student, as much as a
whole grading of a typical submission. ``GraderPool`` keeps ``workers`` long-lived grading
servers (``python -m autograder.grading.serve``) and hands each grading to an idle one. A
grading in a server is exactly ``autograder grade``'s (``runner.grade_and_write``): the
student's code runs in fresh sandboxed processes of its own, all killed before the reply; the
server restores the grader's global state before each grading (see ``grading.serve``), so a
grading gives the results it gives in a fresh process.

The pool enforces a time limit per grading: a server that does not answer in ``timeout``
seconds gets SIGTERM (it kills its students and exits), SIGKILL after a grace period, and the
grading fails (``GradingTimedOut``). A server that dies while grading, or answers out of turn,
fails its grading too (``GradingFailed``). Either way the server is discarded, and a fresh one is
started for the next grading; so is a server after ``recycle_after`` gradings (memory growth is
bounded) or one that could not get rid of a grading's processes.

Thread-safe: ``grade`` may be called from any number of threads; at most ``workers`` gradings run
at once, each on a server of its own. Servers start on demand (``start`` starts them all now).

    with GraderPool(workers=2, isolation="bwrap", timeout=600) as pool:
        reply = pool.grade("students/ada", "results/ada.json")
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from select import POLLIN, poll
from typing import Any

from autograder.grading.process import STOP_GRACE_S
from autograder.grading.results import GRADER_ERROR
from autograder.grading.settings import GRADER_MEMORY_MB
from autograder.paths import REPO_ROOT
from autograder.sandbox.isolation import ISOLATIONS, Limits

RECYCLE_AFTER = 50  # gradings per server before a fresh one takes over
MAX_REPLY_BYTES = 1 << 20  # a reply is a few hundred bytes; more is not a reply
LOG_TAIL_CHARS = 2000  # what a failure message quotes of the server's own output


class GradingFailed(RuntimeError):
    """A grading did not complete: its server died, hung or broke the protocol (not the
    student's fault: a submission that crashes or hangs is graded, with score 0)."""

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


class GradingTimedOut(GradingFailed):
    """The grading did not finish within the pool's ``timeout``; its server was stopped."""

    def __init__(self, message: str, *, seconds: float, log_tail: str = "") -> None:
        super().__init__(message, log_tail=log_tail)
        self.seconds = seconds


@dataclass(frozen=True)
class GradingReply:
    """A completed grading, as its server reported it; the results file is at ``out``."""

    submission: str
    out: Path
    status: str  # graded, could_not_grade or grader_error (results.STATUSES)
    score: float
    max_score: float
    seconds: float  # wall time of the grading, seen from the pool
    isolation: str | None  # how the student's code was isolated
    isolation_note: str  # why "auto" fell back to process isolation, if it did
    reason: str  # why the status is not "graded"
    server_pid: int  # the grading server that graded it

    @property
    def exit_status(self) -> int:
        """What ``autograder grade`` exits with for this grading (1 for a grader error)."""
        return 1 if self.status == GRADER_ERROR else 0

    @property
    def stderr(self) -> str:
        """What ``autograder grade`` prints on stderr for this grading."""
        lines = [f"warning: {self.isolation_note}"] if self.isolation_note else []
        if self.status == GRADER_ERROR:
            lines.append(f"grader error: {self.reason}")
        return "".join(f"{line}\n" for line in lines)


class _Broken(Exception):
    """The server died or broke the protocol."""


class _Late(Exception):
    """The server did not answer in time."""


class _Server:
    """One grading server process, its request pipe (stdin), reply pipe and log file."""

    def __init__(
        self,
        *,
        python: str,
        cwd: Path,
        env: Mapping[str, str] | None,
        log_dir: Path,
        grader_memory_mb: int,
        recycle_after: int,
    ) -> None:
        fd, log_name = tempfile.mkstemp(prefix="server-", suffix=".log", dir=log_dir)
        self.log = Path(log_name)
        reply_r, reply_w = os.pipe()
        cmd = [python, "-m", "autograder.grading.serve", "--reply-fd", str(reply_w)]
        cmd += ["--grader-memory-mb", str(grader_memory_mb)]
        cmd += ["--recycle-after", str(recycle_after)]
        try:
            self.popen = subprocess.Popen(
                cmd,
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=subprocess.PIPE,
                stdout=fd,
                stderr=fd,
                pass_fds=(reply_w,),
            )
        except BaseException:
            os.close(reply_r)
            raise
        finally:
            os.close(reply_w)
            os.close(fd)
        self.replies = reply_r
        self.buffer = b""
        self.gradings = 0

    @property
    def pid(self) -> int:
        return self.popen.pid

    def ask(self, request: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        """Send ``request`` and wait for its reply (``_Late`` after ``timeout`` seconds)."""
        nonce = secrets.token_hex(16)
        deadline = time.monotonic() + timeout
        line = json.dumps({**request, "id": nonce}) + "\n"
        try:
            assert self.popen.stdin is not None
            self.popen.stdin.write(line.encode("utf-8"))
            self.popen.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise _Broken(f"the grading server could not be given the submission: {exc}") from None
        waiting = poll()
        waiting.register(self.replies, POLLIN)
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Late
            if not waiting.poll(min(left, 3600.0) * 1000):
                continue
            chunk = os.read(self.replies, 65536)
            if not chunk:
                raise _Broken("the grading server ended while grading")
            self.buffer += chunk
            if len(self.buffer) > MAX_REPLY_BYTES:
                raise _Broken("the grading server sent an oversized reply")
        raw, self.buffer = self.buffer.split(b"\n", 1)
        try:
            reply = json.loads(raw)
        except ValueError:
            reply = None
        if not isinstance(reply, dict) or reply.get("id") != nonce:
            raise _Broken("the grading server sent a reply that does not belong to this grading")
        return reply

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float) -> int | None:
        """SIGTERM (the server kills its students and exits), SIGKILL after ``grace``; the
        exit status. Any thread may call it; the reply pipe stays open (``release``)."""
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(signal.SIGTERM)
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def finish(self, grace: float) -> None:
        """End of input: the server exits after its grading; ``stop`` if it takes too long."""
        self._close_stdin()
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.stop(grace)

    def release(self) -> None:
        """Close this side's pipes and remove the log (the server has exited)."""
        self._close_stdin()
        if self.replies >= 0:
            os.close(self.replies)
            self.replies = -1
        self.log.unlink(missing_ok=True)

    def _close_stdin(self) -> None:
        try:
            if self.popen.stdin is not None:
                self.popen.stdin.close()
        except OSError:
            pass

    def log_tail(self) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return text[-LOG_TAIL_CHARS:]


class GraderPool:
    """``workers`` grading servers that grade submissions as ``autograder grade`` does.

    ``isolation``, ``limits`` (the student processes' limits, ``timeout_scale`` included),
    ``grader_memory_mb`` (each server's address space; 0: no cap), ``data_root`` and ``select``
    mean what the ``grade`` command's options of the same names mean. ``timeout`` is the wall
    time a grading may take (its server's start-up included when it is the server's first), ``env``
    the servers' environment (default: this process's), ``recycle_after`` the gradings a server
    does before a fresh one replaces it, ``grace`` how long a stopped server has to kill its
    students before SIGKILL. Use as a context manager, or call ``close``.
    """

    def __init__(
        self,
        *,
        workers: int = 1,
        isolation: str = "auto",
        timeout: float = 1800.0,
        limits: Limits | None = None,
        grader_memory_mb: int = GRADER_MEMORY_MB,
        data_root: str | None = None,
        select: str | None = None,
        env: Mapping[str, str] | None = None,
        recycle_after: int = RECYCLE_AFTER,
        grace: float = STOP_GRACE_S,
        python: str = sys.executable,
        cwd: str | os.PathLike = REPO_ROOT,
    ) -> None:
        if workers < 1:
            raise ValueError("a pool needs at least one worker")
        if isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of {', '.join(ISOLATIONS)}")
        if recycle_after < 1:
            raise ValueError("recycle_after must be at least 1")
        self.workers = workers
        self.isolation = isolation
        self.timeout = timeout
        self.limits = limits or Limits()
        self.grader_memory_mb = grader_memory_mb
        self.data_root = data_root
        self.select = select
        self.env = dict(env) if env is not None else None
        self.recycle_after = recycle_after
        self.grace = grace
        self.python = python
        self.cwd = Path(cwd)
        self.servers_started = 0  # every server this pool started (replacements included)
        self._slots = threading.BoundedSemaphore(workers)
        self._lock = threading.Lock()
        self._idle: list[_Server] = []
        self._busy: set[_Server] = set()
        self._closed = False
        self._logs = tempfile.TemporaryDirectory(prefix="bngc-pool-")

    # -- life cycle ------------------------------------------------------------------------------

    def __enter__(self) -> GraderPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start every server not running yet, so they warm up before the first grading."""
        with self._lock:
            self._check_open()
            while len(self._idle) + len(self._busy) < self.workers:
                self._idle.append(self._spawn())

    def close(self) -> None:
        """Stop every server (a grading still running fails) and remove their logs."""
        with self._lock:
            self._closed = True
            servers = [*self._idle, *self._busy]
            self._idle.clear()
            busy = set(self._busy)
        for server in servers:
            if server in busy:  # its grading thread sees it end, and releases it
                server.stop(self.grace)
            else:
                server.finish(self.grace)
                server.release()
        if not busy:
            self._logs.cleanup()

    def server_pids(self) -> list[int]:
        """The process ids of the servers running now (idle or grading)."""
        with self._lock:
            return sorted(s.pid for s in [*self._idle, *self._busy])

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the grader pool is closed")

    def _spawn(self) -> _Server:
        server = _Server(
            python=self.python,
            cwd=self.cwd,
            env=self.env,
            log_dir=Path(self._logs.name),
            grader_memory_mb=self.grader_memory_mb,
            recycle_after=self.recycle_after,
        )
        self.servers_started += 1
        return server

    def _take(self) -> _Server:
        with self._lock:
            self._check_open()
            while self._idle:
                server = self._idle.pop()
                if server.alive():
                    break
                server.release()  # ended while idle (e.g. killed): replaced below
            else:
                server = self._spawn()
            self._busy.add(server)
            return server

    def _give_back(self, server: _Server) -> None:
        with self._lock:
            self._busy.discard(server)
            if not self._closed:
                self._idle.append(server)
                return
        server.finish(self.grace)
        server.release()

    def _discard(self, server: _Server, *, stop: bool) -> str:
        """Stop (or let finish) ``server`` for good; the tail of its log."""
        with self._lock:
            self._busy.discard(server)
        if stop:
            server.stop(self.grace)
        else:
            server.finish(self.grace)
        tail = server.log_tail()
        server.release()
        return tail

    # -- grading ---------------------------------------------------------------------------------

    def grade(
        self, submission: str | os.PathLike, out: str | os.PathLike, *, timeout: float | None = None
    ) -> GradingReply:
        """Grade ``submission`` (a directory or the exercise file) into the results file ``out``.

        Returns when the grading completed (whatever the score; also a grader error, which is
        then in the results file); raises ``GradingTimedOut`` (after ``timeout`` seconds, default
        the pool's) or ``GradingFailed`` when it did not (the grading wrote no results file then).
        """
        seconds = self.timeout if timeout is None else timeout
        request = {
            "submission": str(Path(submission).absolute()),
            "out": str(Path(out).absolute()),
            "isolation": self.isolation,
            "limits": dataclasses.asdict(self.limits),
            "data_root": self.data_root,
            "select": self.select,
        }
        with self._slots:
            server = self._take()
            started = time.monotonic()
            try:
                reply = server.ask(request, timeout=seconds)
            except _Late:
                tail = self._discard(server, stop=True)
                raise GradingTimedOut(
                    f"the grader did not finish in {seconds:g} s (grading server "
                    f"{server.pid} stopped; a fresh one takes over)",
                    seconds=seconds,
                    log_tail=tail,
                ) from None
            except _Broken as exc:
                try:
                    code: int | None = server.popen.wait(timeout=1.0)
                except subprocess.TimeoutExpired:
                    code = None
                tail = self._discard(server, stop=True)
                said = f" (exit status {code})" if code is not None else ""
                last = [ln for ln in tail.strip().splitlines() if ln.strip()][-1:]
                raise GradingFailed(
                    f"{exc}{said}" + (f": {last[0].strip()}" if last else ""), log_tail=tail
                ) from None
            took = time.monotonic() - started
            server.gradings += 1
            if reply.get("retire"):
                self._discard(server, stop=False)
            else:
                self._give_back(server)
        if "error" in reply:
            raise GradingFailed(f"the grading server could not grade it: {reply['error']}")
        return GradingReply(
            submission=str(submission),
            out=Path(out),
            status=str(reply.get("status")),
            score=float(reply.get("score") or 0.0),
            max_score=float(reply.get("max_score") or 0.0),
            seconds=took,
            isolation=reply.get("isolation"),
            isolation_note=str(reply.get("isolation_note") or ""),
            reason=str(reply.get("reason") or ""),
            server_pid=server.pid,
        )
