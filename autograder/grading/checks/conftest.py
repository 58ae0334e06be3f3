"""Fixtures shared by the hidden checks. Everything here runs in the trusted grader process."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from autograder.grading.checks import training
from autograder.grading.plugin import GradingPlugin
from autograder.grading.settings import TIMEOUTS
from autograder.paths import SOLUTION_PATH
from autograder.sandbox.client import MalformedReply
from autograder.sandbox.replies import REPLY_TYPES, InvalidReply, from_wire, to_wire


def _plugin(config: pytest.Config) -> GradingPlugin:
    for plugin in config.pluginmanager.get_plugins():
        if isinstance(plugin, GradingPlugin):
            return plugin
    raise RuntimeError("the hidden checks run only through `python -m autograder grade`")


@pytest.fixture(scope="session")
def grading(request: pytest.FixtureRequest) -> GradingPlugin:
    return _plugin(request.config)


class Probe:
    """``probe("add_batchnorm", layers=..., ...)`` runs a probe in the student process with
    its time limit and returns its typed reply (``sandbox.replies``), validated; results of
    identical calls are shared between checks (by ``key``). A reply that fails validation
    fails the checks that asked for it (``MalformedReply``), like any other protocol violation.

    ``probe.start(name, key=..., ...)`` sends the request without waiting; the first
    ``probe(name, key=...)`` then receives its reply (``lazy_kwargs``: the arguments, computed
    only if the request was not sent before), and calls ``then()``, if given, whatever the
    reply."""

    def __init__(self, grading: GradingPlugin) -> None:
        self.grading = grading
        self._started: set[str] = set()
        self._then: dict[str, Callable[[], None]] = {}

    def start(
        self, name: str, *, key: str, then: Callable[[], None] | None = None, **kwargs: Any
    ) -> None:
        sandbox = self.grading.sandbox_for(name)
        sandbox.start_call(name, timeout=TIMEOUTS[name], **to_wire(kwargs))
        self._started.add(f"{name}:{key}")
        if then is not None:
            self._then[f"{name}:{key}"] = then

    def __call__(
        self,
        name: str,
        *,
        key: str | None = None,
        lazy_kwargs: Callable[[], dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> Any:
        def run() -> Any:
            sandbox = self.grading.sandbox_for(name)
            if f"{name}:{key}" in self._started:
                sent: dict[str, Any] = {}  # start() sent them
            else:
                sent = to_wire(lazy_kwargs() if lazy_kwargs is not None else kwargs)
            try:
                raw = sandbox.call(name, timeout=TIMEOUTS[name], **sent)
            finally:
                then = self._then.pop(f"{name}:{key}", None)
                if then is not None:
                    then()
            try:
                return from_wire(REPLY_TYPES[name], raw)
            except InvalidReply as exc:
                raise MalformedReply(name, str(exc)) from None

        if key is None:
            return run()
        return self.grading.cached(f"{name}:{key}", run)


@pytest.fixture(scope="session")
def probe(grading: GradingPlugin) -> Probe:
    return Probe(grading)


@pytest.fixture(scope="session", autouse=True)
def _trainer_work(request: pytest.FixtureRequest, grading: GradingPlugin, probe: Probe) -> None:
    """Before the first check: start compare_runs' runs in the trainer, if there is one and a
    check of section 4 or 5 is to run (they then run while the other checks do)."""
    if grading.trainer is None:
        return
    tags = training.selected_tags(request.session)
    if tags & {"compare_runs", "accuracy"}:
        reference = request.getfixturevalue("reference")
        with grading.timeline.span("start compare_runs in the trainer"):
            training.start(
                grading,
                probe,
                reference,
                protocol="compare_runs" in tags,
                training="accuracy" in tags,
            )


def _load_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bngc_reference_solution", SOLUTION_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def reference(grading: GradingPlugin) -> ModuleType:
    """The reference solution, imported here in the trusted process."""

    def load() -> ModuleType:
        with grading.timeline.span("import the reference solution"):
            return _load_reference()

    return grading.cached("reference", load)
