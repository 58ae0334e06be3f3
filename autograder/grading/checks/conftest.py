"""Fixtures shared by the hidden checks. Everything here runs in the trusted grader process."""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

import pytest

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
    identical calls are shared between checks. A reply that fails validation fails the checks
    that asked for it (``MalformedReply``), like any other protocol violation."""

    def __init__(self, grading: GradingPlugin) -> None:
        self.grading = grading

    def __call__(self, name: str, *, key: str | None = None, **kwargs: Any) -> Any:
        def run() -> Any:
            raw = self.grading.sandbox.call(name, timeout=TIMEOUTS[name], **to_wire(kwargs))
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


def _load_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bngc_reference_solution", SOLUTION_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def reference(grading: GradingPlugin) -> ModuleType:
    """The reference solution, imported here in the trusted process."""
    return grading.cached("reference", _load_reference)
