"""The student process: import the submission, then answer probe requests until told to stop.

Started by ``client.Sandbox`` with two pipe descriptors (requests in, replies out); stdout and
stderr are a third pipe the grader reads and caps. Everything this process says is treated as
untrusted data by the grader.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from typing import Any

MODULE_NAME = "batchnorm_gradclip_exercise"
REQUIRED_NAMES = ("add_batchnorm", "compute_grad_norm", "clip_gradients", "compare_runs")
BONUS_NAMES = ("ManualBatchNorm1d",)


def describe_exception(exc: BaseException, submission: Path) -> dict[str, Any]:
    """Type, message and the submission's own frames of an exception, as plain data."""
    frames = []
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).name == submission.name:
            frames.append({"line": frame.lineno, "function": frame.name, "code": frame.line or ""})
    info: dict[str, Any] = {
        "type": type(exc).__name__,
        "message": str(exc)[:2000],
        "frames": frames[-6:],
        # raised in (or because of) the student's code, rather than by a probe's own bug
        "student": bool(frames) or type(exc).__name__ in ("MissingName", "SyntaxError"),
    }
    if isinstance(exc, SyntaxError):
        info["line"] = exc.lineno
        info["code"] = (exc.text or "").rstrip()
    elif frames:
        info["line"] = frames[-1]["line"]
        info["code"] = frames[-1]["code"]
    if isinstance(exc, SystemExit):
        info["exit_code"] = str(exc.code)
    return info


def import_submission(path: Path):
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    spec.loader.exec_module(module)
    return module


def serve(submission: Path, fd_in: int, fd_out: int) -> None:
    import torch

    from . import probes, protocol, tamper

    torch.set_num_threads(int(os.environ.get("BNGC_THREADS", "1")))
    fingerprint = tamper.torch_fingerprint()
    try:
        module = import_submission(submission)
    except BaseException as exc:  # SyntaxError, ImportError, SystemExit at import, ...
        protocol.send(fd_out, {"ok": False, "error": describe_exception(exc, submission)})
        return
    sys.stdout.flush()
    sys.stderr.flush()
    protocol.send(
        fd_out,
        {
            "ok": True,
            "defined": [n for n in REQUIRED_NAMES + BONUS_NAMES if hasattr(module, n)],
            "tampered": tamper.changed_since(fingerprint),
        },
    )
    while True:
        try:
            request = protocol.recv(fd_in)
        except protocol.ChannelClosed:
            return
        name = request.get("probe")
        if name == "stop":
            return
        probe = probes.PROBES.get(name)
        try:
            if probe is None:
                raise KeyError(f"unknown probe {name!r}")
            reply = {"ok": True, "result": probe(module, **request.get("kwargs", {}))}
        except BaseException as exc:  # student code raised (or called sys.exit)
            reply = {"ok": False, "error": describe_exception(exc, submission)}
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        reply["tampered"] = tamper.changed_since(fingerprint)
        try:
            protocol.send(fd_out, reply)
        except Exception as exc:  # a reply torch.save cannot encode
            protocol.send(fd_out, {"ok": False, "error": describe_exception(exc, submission)})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submission", required=True, type=Path)
    parser.add_argument("--fd-in", required=True, type=int)
    parser.add_argument("--fd-out", required=True, type=int)
    args = parser.parse_args(argv)
    serve(args.submission, args.fd_in, args.fd_out)
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: student atexit handlers get no say


if __name__ == "__main__":
    main()
