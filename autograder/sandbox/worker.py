"""The student process: import the submission, then answer probe requests until told to stop.

Started by ``client.Sandbox`` with two pipe descriptors (requests in, replies out); stdout and
stderr are a third pipe the grader reads and caps. Everything this process says is treated as
untrusted data by the grader.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import sys
import tempfile
import time
import traceback
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .names import AHEAD_MODULE, BONUS_NAMES, MODULE_NAME, REQUIRED_NAMES

if TYPE_CHECKING:
    from . import tamper

# What is sent of an exception's type name, message and source line (the grader caps again)
MAX_TYPE_CHARS = 200
MAX_MESSAGE_CHARS = 2000
MAX_CODE_CHARS = 300


def _text(value: Any, limit: int) -> str:
    """``str(value)`` cut to ``limit`` characters; a ``__str__`` that raises gives a placeholder."""
    try:
        text = value if isinstance(value, str) else str(value)
    except BaseException:  # the student's __str__ may raise anything
        return "<unprintable>"
    return str.__getitem__(text, slice(0, limit))  # a plain str, even from a str subclass


def describe_exception(
    exc: BaseException, submission: Path, *, after_student_code: bool = True
) -> dict[str, Any]:
    """Type, message and the submission's own frames of an exception, as plain data.

    ``after_student_code``: the probe had already handed control to the submission, so the
    exception is the submission's doing even without a frame in its file (a torch function
    assigned as one of the required functions, a returned object that breaks, ...).
    """
    frames = []
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).name == submission.name:
            frames.append(
                {
                    "line": frame.lineno,
                    "function": _text(frame.name, MAX_TYPE_CHARS),
                    "code": _text(frame.line or "", MAX_CODE_CHARS),
                }
            )
    info: dict[str, Any] = {
        "type": _text(type(exc).__name__, MAX_TYPE_CHARS),
        "message": _text(exc, MAX_MESSAGE_CHARS),
        "frames": frames[-6:],
        # raised in (or because of) the student's code, rather than by a probe's own bug
        "student": bool(frames)
        or after_student_code
        or type(exc).__name__ in ("MissingName", "SyntaxError"),
    }
    if isinstance(exc, SyntaxError):
        info["line"] = exc.lineno
        info["code"] = _text((exc.text or "").rstrip(), MAX_CODE_CHARS)
    elif frames:
        info["line"] = frames[-1]["line"]
        info["code"] = frames[-1]["code"]
    if isinstance(exc, SystemExit):
        info["exit_code"] = _text(exc.code, MAX_TYPE_CHARS)
    return info


def import_submission(path: Path):
    """Import the submission as a script would run: its folder (which also holds the released
    ``exercise_utils.py``) first on ``sys.path``."""
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    spec.loader.exec_module(module)
    return module


def _may_train(module: Any) -> bool:
    """Whether the submission's ``compare_runs`` may build an optimizer: anything but a missing
    function or a stub, whose code (nested code too) names nothing but ``NotImplementedError``."""
    try:
        code = getattr(getattr(module, "compare_runs", None), "__code__", None)
    except BaseException:  # a module __getattr__ of the student's
        return True
    if not isinstance(code, types.CodeType):
        return hasattr(module, "compare_runs")
    names: set[str] = set()
    todo = [code]
    while todo:
        code = todo.pop()
        names.update(code.co_names)
        todo.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return not names <= {"NotImplementedError"}


def import_ahead(module: Any) -> dict[str, Any]:
    """Import ``AHEAD_MODULE`` (``torch._dynamo``) now, if the submission's compare_runs may
    need it; what was done, as the message the grader waits for (``--ahead``).

    Building an optimizer imports it (``Optimizer.add_param_group`` goes through
    ``torch._disable_dynamo``): 1.5-2 s in the middle of compare_runs' first run. Imported right
    after the submission, it is imported while the grader is still importing pytest and torch.
    Only the moment changes: the same module, torch's and Python's RNGs untouched, and nothing
    depends on it succeeding (whatever needs the module imports it again).
    """
    if not _may_train(module):
        return {"ok": True, "ahead": "skipped"}
    started = time.monotonic()
    try:
        importlib.import_module(AHEAD_MODULE)
    except BaseException:  # broken by the submission: left to whatever needs the module
        return {"ok": True, "ahead": "failed"}
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return {"ok": True, "ahead": "imported", "timings": [started, time.monotonic()]}


def serve(
    submission: Path, fd_in: int, fd_out: int, *, max_processes: int = 0, ahead: bool = False
) -> None:
    """Import ``submission`` and answer requests; ``max_processes`` > 0 caps RLIMIT_NPROC first;
    ``ahead``: after the hello, ``import_ahead`` and say so, before the first request."""
    started = time.monotonic()
    import torch

    from . import probes, protocol, tamper  # noqa: F401 (probes: imported before student code)

    torch.set_num_threads(int(os.environ.get("BNGC_THREADS", "1")))
    # torch._dynamo, imported by the first optimizer step, asks for the temporary folder; found
    # now (and kept by tempfile), it is found even if the submission fills /tmp before then
    tempfile.gettempdir()
    fingerprint = tamper.torch_fingerprint()
    torch_imported = time.monotonic()
    if max_processes > 0:  # before any student code: it cannot raise the limit again
        resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))
    try:
        module = import_submission(submission)
    except BaseException as exc:  # SyntaxError, ImportError, SystemExit at import, ...
        protocol.send(fd_out, {"ok": False, "error": describe_exception(exc, submission)})
        return
    imported = time.monotonic()
    sys.stdout.flush()
    sys.stderr.flush()
    protocol.send(
        fd_out,
        {
            "ok": True,
            "defined": [n for n in REQUIRED_NAMES + BONUS_NAMES if hasattr(module, n)],
            "tampered": tamper.changed_since(fingerprint),
            # for the grader's --profile timeline (time.monotonic() is the machine's clock)
            "timings": {"started": started, "torch": torch_imported, "imported": imported},
        },
    )
    if ahead:
        protocol.send(fd_out, import_ahead(module))
    _answer(module, submission, fd_in, fd_out, fingerprint)


def _answer(
    module: Any, submission: Path, fd_in: int, fd_out: int, fingerprint: tamper.Fingerprint
) -> None:
    """Answer probe requests from ``fd_in`` on ``fd_out`` until told to stop."""
    from . import probes, protocol, tamper

    while True:
        try:
            request = protocol.recv(fd_in, limits=protocol.REQUEST_LIMITS)
        except protocol.ChannelClosed:
            return
        name = request.get("probe")
        if name == "stop":
            return
        probe = probes.PROBES.get(name)
        probes.begin_probe()
        try:
            if probe is None:
                raise KeyError(f"unknown probe {name!r}")
            reply = {"ok": True, "result": probe(module, **request.get("kwargs", {}))}
        except BaseException as exc:  # student code raised (or called sys.exit)
            error = describe_exception(
                exc, submission, after_student_code=probes.student_code_ran()
            )
            reply = {"ok": False, "error": error}
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        reply["tampered"] = tamper.changed_since(fingerprint)
        try:
            protocol.send(fd_out, reply, limits=protocol.REPLY_LIMITS)
        except Exception as exc:  # a reply torch.save cannot encode, or too large a one
            protocol.send(fd_out, {"ok": False, "error": describe_exception(exc, submission)})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submission", required=True, type=Path)
    parser.add_argument("--fd-in", required=True, type=int)
    parser.add_argument("--fd-out", required=True, type=int)
    parser.add_argument("--max-processes", type=int, default=0, help="RLIMIT_NPROC (0: none)")
    parser.add_argument("--ahead", action="store_true", help="import_ahead() after the hello")
    args = parser.parse_args(argv)
    serve(
        args.submission,
        args.fd_in,
        args.fd_out,
        max_processes=args.max_processes,
        ahead=args.ahead,
    )
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: student atexit handlers get no say


if __name__ == "__main__":
    main()
