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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .ahead import AheadImport, may_train
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


def serve(
    submission: Path, fd_in: int, fd_out: int, *, max_processes: int = 0, ahead: bool = False
) -> None:
    """Import ``submission`` and answer requests; ``max_processes`` > 0 caps RLIMIT_NPROC first;
    ``ahead``: once the submission is imported, import ``torch._dynamo`` in the background if
    its compare_runs may train (``ahead.AheadImport``)."""
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
    background = AheadImport(AHEAD_MODULE)
    if ahead and may_train(module):
        background.start()
    _answer(module, submission, fd_in, fd_out, fingerprint, background)


def _answer(
    module: Any,
    submission: Path,
    fd_in: int,
    fd_out: int,
    fingerprint: tamper.Fingerprint,
    background: AheadImport,
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
        timings = background.timings()
        if timings:
            reply["timings"] = timings
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
    parser.add_argument("--ahead", action="store_true", help="import torch._dynamo ahead")
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
