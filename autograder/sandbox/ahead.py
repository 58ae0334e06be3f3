"""The student process's import of ``torch._dynamo`` ahead of compare_runs (``worker --ahead``).

Building an optimizer imports ``torch._dynamo`` (``Optimizer.add_param_group`` goes through
``torch._disable_dynamo``): 1.5-2.5 s in the middle of compare_runs' first run, on the critical
path of every grading. Imported by a thread once the submission is imported, it runs while the
grader still imports pytest and torch and while the checks of sections 1-3 and 6 run. What
keeps this from changing anything but the moment:

* The same module is imported, and the import draws no random number (torch's, Python's and
  numpy's states are untouched: tested).
* No other import runs beside it: until it is done, an import in any other thread of a module
  not yet fully imported first waits for it (a guard on ``builtins.__import__``, which an
  ``import`` statement calls before it takes any module lock). No deadlock, no half-imported
  module; compare_runs' optimizer waits there for the module it needs.
* The interpreter hands the GIL back to a probe quickly (a switch interval of 50 us while the
  import runs, then the previous one): each torch operation of a probe releases and retakes it.
* Nothing depends on it succeeding: a failed import is tried again by whatever needs the
  module, as it would have been without this.
* It runs only when compare_runs may train (``may_train``): a stub never pays for it.

Standard library only at import: the student process imports this before torch is needed.
"""

from __future__ import annotations

import builtins
import importlib
import sys
import threading
import time
import types
from collections.abc import Sequence
from typing import Any

SWITCH_INTERVAL = 5e-5  # seconds, while the import runs (Python's default: 0.005)
WAIT_SECONDS = 120.0  # how long an import of another thread waits for it at most


def may_train(module: Any) -> bool:
    """Whether the submission's ``compare_runs`` may build an optimizer: anything but a missing
    function or a stub, whose code (nested code too) names nothing but ``NotImplementedError``."""
    try:
        function = getattr(module, "compare_runs", None)
        code = getattr(function, "__code__", None)
    except BaseException:  # a module or function __getattr__ of the student's
        return True
    if not isinstance(code, types.CodeType):
        return function is not None
    names: set[str] = set()
    todo = [code]
    while todo:
        code = todo.pop()
        names.update(code.co_names)
        todo.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return not names <= {"NotImplementedError"}


class AheadImport:
    """``module_name`` imported by a background thread, every other import waiting for it."""

    def __init__(self, module_name: str) -> None:
        self.module_name = module_name
        self.outcome = "not started"  # then "running", "imported" or "failed"
        self.span: tuple[float, float] | None = None  # time.monotonic() readings, once imported
        self._reported = False
        self._thread = threading.Thread(target=self._run, name="ahead-import", daemon=True)
        self._original_import = builtins.__import__
        self._guard = self._guarded_import  # (one bound method: compared by identity)
        self._interval = sys.getswitchinterval()

    def start(self) -> AheadImport:
        """Start the import; without it if no thread can be started (RLIMIT_NPROC reached)."""
        builtins.__import__ = self._guard
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.outcome = "running"
        try:
            self._thread.start()
        except RuntimeError:
            self.outcome = "not started"
            self._restore()
        return self

    def _run(self) -> None:
        started = time.monotonic()
        try:
            importlib.import_module(self.module_name)
        except BaseException:  # broken by the submission: left to whatever needs the module
            self.outcome = "failed"
        else:
            self.span = (started, time.monotonic())
            self.outcome = "imported"
        finally:
            self._restore()

    def _restore(self) -> None:
        if builtins.__import__ is self._guard:  # a replacement of the student's stays
            builtins.__import__ = self._original_import
        sys.setswitchinterval(self._interval)

    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self) -> None:
        """Wait for the import to end (at most ``WAIT_SECONDS``: a hung one holds up nothing
        for good; whatever then needs the module waits at its import lock)."""
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(WAIT_SECONDS)

    def _guarded_import(
        self,
        name: str,
        globals: dict[str, Any] | None = None,  # (the names of builtins.__import__'s arguments)
        locals: dict[str, Any] | None = None,
        fromlist: Sequence[str] | None = (),
        level: int = 0,
    ) -> Any:
        if self._thread.is_alive() and _may_load(name, globals, fromlist, level):
            self.wait()
        return self._original_import(name, globals, locals, fromlist, level)

    def timings(self) -> dict[str, list[float]]:
        """``{"ahead": [start, end]}`` the first time it is asked after the import succeeded
        (for the grader's --profile timeline), else nothing."""
        if self.span is None or self._reported:
            return {}
        self._reported = True
        return {"ahead": list(self.span)}


def _may_load(
    name: str, globals: dict[str, Any] | None, fromlist: Sequence[str] | None, level: int
) -> bool:
    """Whether ``import`` of these arguments may load a module (rather than find it loaded)."""
    if level:  # relative to the importing module's package
        package = (globals or {}).get("__package__")
        if not isinstance(package, str) or not package or package.count(".") < level - 1:
            return True
        base = package.rsplit(".", level - 1)[0]
        name = f"{base}.{name}" if name else base
    module = sys.modules.get(name)
    if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
        return True
    return any(item != "*" and not hasattr(module, item) for item in fromlist or ())
