"""Issue 16: what makes a grading faster must not change what it says.

The grader's pytest loads none of the plugins installed beside it; the sandbox's bind list is
read from the distributions' metadata as lines (the same list as ``importlib.metadata``'s);
the bonus probe's backward pass and its operator watch neither import sympy nor
``torch._dynamo`` and give torch's own numbers and errors; the loaders' batches are a plain
DataLoader's, whoever collates them; the student process imports ``torch._dynamo`` ahead only
when compare_runs may train, and nothing it does to that import costs it a check.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
import types
from importlib.metadata import distributions
from pathlib import Path

import pytest
import torch
from packaging.requirements import Requirement

from autograder.grading.plugin import GradingPlugin
from autograder.grading.runner import _run_checks
from autograder.paths import CHECKS_DIR, REPO_ROOT, SOLUTION_PATH
from autograder.sandbox import ahead, client, isolation, probes

TensorDataset = torch.utils.data.TensorDataset
REFERENCE_SOURCE = SOLUTION_PATH.read_text()


class _SeesPlugins(GradingPlugin):
    def pytest_configure(self, config: pytest.Config) -> None:
        self.context["plugins"] = {name for name, _ in config.pluginmanager.list_name_plugin()}


def test_the_hidden_checks_run_without_the_pytest_plugins_installed_beside_them():
    """pytest-timeout and anyio are installed here (the suite's own plugins): they would be
    loaded by entry point, cost time and could change how checks run."""
    installed = {
        ep.name for d in distributions() for ep in d.entry_points if ep.group == "pytest11"
    }
    assert {"timeout", "anyio"} <= installed
    plugin = _SeesPlugins(sandbox=None, collect_only=True)  # type: ignore[arg-type]
    _run_checks(plugin, select=None, checks_dir=CHECKS_DIR)
    assert plugin.catalogue()  # the checks were collected
    assert not installed & plugin.context["plugins"]
    assert "PYTEST_DISABLE_PLUGIN_AUTOLOAD" not in os.environ


def test_requires_dist_reads_folded_headers(tmp_path):
    """A long License header folds over lines that are blank but for their indent (matplotlib's
    METADATA): they do not end the headers; an empty line does."""
    dist = tmp_path / "demo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: demo\nLicense: first paragraph\n         \n"
        "         second paragraph\nRequires-Dist: numpy>=1\n"
        'Requires-Dist: pytest; extra == "test"\n\nRequires-Dist: not-a-header\n'
    )
    assert isolation._requires_dist(dist) == ["numpy>=1", 'pytest; extra == "test"']
    assert isolation._requires_dist(tmp_path / "missing.dist-info") == []


def test_the_bound_distributions_are_those_importlib_metadata_finds():
    """The student-side closure of STUDENT_DISTRIBUTIONS, computed the slow, standard way."""
    site = isolation._venv_site()
    todo, seen = list(isolation.STUDENT_DISTRIBUTIONS), set()
    while todo:
        requirement = Requirement(todo.pop())
        dist = next(iter(distributions(name=requirement.name, path=[str(site)])), None)
        if dist is None or dist.metadata["Name"].lower() in seen:
            continue
        seen.add(dist.metadata["Name"].lower())
        for needed in dist.requires or []:
            marker = Requirement(needed).marker
            if marker is None or marker.evaluate({"extra": ""}):
                todo.append(needed)
    bound = {p.name for p in isolation.site_packages_entries(site)}
    for name in seen:
        dist = next(iter(distributions(name=name, path=[str(site)])))
        top = {f.parts[0] for f in dist.files or [] if f.parts and f.parts[0] not in ("..",)}
        assert top & bound, f"{name}: none of {sorted(top)[:5]} is bound"
    assert {"matplotlib", "numpy", "torch"} <= {n.replace("_", "-") for n in seen}
    assert any(name.startswith("contourpy") for name in bound)  # matplotlib's, after its License


def test_the_operator_watch_of_the_bonus_probe_does_not_import_dynamo():
    code = (
        "import sys; sys.path.insert(0, 'autograder')\n"
        "import torch\n"
        "from sandbox import probes\n"
        "watch = probes._BatchNormOperators()\n"
        "with watch:\n"
        "    x = torch.nn.Parameter(torch.randn(4, 3))\n"
        "    torch.nn.functional.batch_norm(x, None, None, training=True)\n"
        "print(sorted(watch.seen), 'torch._dynamo' in sys.modules, 'sympy' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split("]")
    assert "batch_norm" in out[0] and out[1].split() == ["False", "False"]


def test_the_bonus_probe_backward_gives_torchs_numbers_and_errors():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 4, generator=g, requires_grad=True)
    w = torch.randn(4, generator=g, requires_grad=True)
    grad_out = torch.randn(6, 4, generator=g)
    probes._backward((x * w).tanh(), grad_out)
    ours = (x.grad.clone(), w.grad.clone())
    x.grad = w.grad = None
    (x * w).tanh().backward(grad_out)
    assert torch.equal(ours[0], x.grad) and torch.equal(ours[1], w.grad)
    with pytest.raises(RuntimeError, match="shape"):
        probes._backward((x * w)[:3], grad_out)  # torch's own message, via y.backward
    with pytest.raises(AttributeError):
        probes._backward([1, 2], grad_out)


def _passes(loader, seed: int, passes: int = 2) -> list:
    torch.manual_seed(seed)
    return [batch for _ in range(passes) for batch in loader]


def _same(a: list, b: list) -> bool:
    if len(a) != len(b):
        return False
    for p, q in zip(a, b, strict=True):
        if type(p) is not type(q) or len(p) != len(q):
            return False
        if not all(torch.equal(s, t) and s.dtype == t.dtype for s, t in zip(p, q, strict=True)):
            return False
    return True


def test_the_loaders_fetch_whole_batches_and_give_what_a_plain_dataloader_gives():
    """Batches fetched at once (``__getitems__``) are those of a DataLoader over a plain
    TensorDataset with the same seed, pass after pass; the samples read are logged in the same
    order; a DataLoader the student builds over ``loader.dataset`` works as over any dataset."""
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(300, 1, 5, 5, generator=g), torch.randint(0, 10, (300,), generator=g)
    ours = probes.ObservedLoader(x, y, batch_size=64, shuffle=True, name="train", recorder=None)
    plain = torch.utils.data.DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    assert _same(_passes(ours, 3), _passes(plain, 3))
    assert all(b[0].is_contiguous() and b[0].shape[1:] == (1, 5, 5) for b in _passes(ours, 3))

    ours.dataset.read = read = []
    torch.manual_seed(4)
    batches = list(ours)
    ours.dataset.read = None
    position = {x[i, 0, 0, 0].item(): i for i in range(len(x))}  # random values: all distinct
    assert len(position) == len(x)
    assert read == [position[v.item()] for b in batches for v in b[0][:, 0, 0, 0]]
    assert torch.equal(y[read], torch.cat([b[1] for b in batches]))

    theirs = torch.utils.data.DataLoader(ours.dataset, batch_size=32, shuffle=True)
    again = torch.utils.data.DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    assert _same(_passes(theirs, 5), _passes(again, 5))

    def own_collate(batch: list) -> list:  # a student's: reads the samples as a list
        assert len(batch) == len(list(batch)) and batch[0] in batch and batch == list(batch)
        return [torch.stack([s[0] for s in reversed(batch)]), torch.tensor([s[1] for s in batch])]

    theirs = torch.utils.data.DataLoader(ours.dataset, batch_size=50, collate_fn=own_collate)
    first = next(iter(theirs))
    assert torch.equal(first[0], x[:50].flip(0)) and torch.equal(first[1], y[:50])
    fetched = ours.dataset.__getitems__([3, 1])
    copy = pickle.loads(pickle.dumps(fetched))  # (as a worker process of a DataLoader sends it)
    assert len(copy) == 2 and all(len(s) == 2 for s in copy)
    assert torch.equal(copy[0][0], x[3]) and torch.equal(copy[1][1], y[1])


# -- the ahead import of torch._dynamo (ahead.AheadImport, Sandbox.ahead) ------------------------


def _module(source: str) -> types.ModuleType:
    module = types.ModuleType("submission")
    exec(compile(source, "submission.py", "exec"), module.__dict__)
    return module


@pytest.mark.parametrize(
    ("source", "may_train"),
    [
        (
            'def compare_runs(*a, **k):\n    """Doc."""\n    raise NotImplementedError("hint")',
            False,
        ),
        ("def compare_runs(*a, **k):\n    pass", False),
        ("x = 1", False),  # no compare_runs
        (
            "import torch\ndef compare_runs(m, *a, **k):\n    torch.optim.SGD(m().parameters())",
            True,
        ),
        ("def compare_runs(*a, **k):\n    return helper(*a)", True),  # a helper trains
        ("def compare_runs(*a, **k):\n    f = lambda: train()\n    return f()", True),  # nested
        ("class C:\n    def __call__(self, *a): pass\ncompare_runs = C()", True),  # cannot tell
    ],
)
def test_only_a_compare_runs_that_may_train_gets_torch_dynamo_ahead(source, may_train):
    assert ahead.may_train(_module(source)) is may_train


AHEAD_SCRIPT = """
import builtins, json, random, sys, threading, time
import numpy, torch
from autograder.sandbox.ahead import AheadImport
torch.manual_seed(3); random.seed(3); numpy.random.seed(3)
before = (torch.get_rng_state(), random.getstate(), numpy.random.get_state()[1].copy())
original, interval = builtins.__import__, sys.getswitchinterval()
background = AheadImport("torch._dynamo").start()
guarded = builtins.__import__ is not original and sys.getswitchinterval() < interval
seen = []
def other():  # an import of another thread waits for the ahead one to end
    import torch._dynamo.eval_frame
    seen.append(background.running())
t = threading.Thread(target=other); t.start(); t.join()
background.wait()
after = (torch.get_rng_state(), random.getstate(), numpy.random.get_state()[1].copy())
print(json.dumps({
    "guarded": guarded, "outcome": background.outcome, "other_waited": seen == [False],
    "restored": builtins.__import__ is original and sys.getswitchinterval() == interval,
    "rng": torch.equal(before[0], after[0]) and before[1] == after[1]
    and bool((before[2] == after[2]).all()),
    "timings": [background.timings(), background.timings()],
}))
"""


def test_the_ahead_import_changes_nothing_but_the_moment():
    """In a fresh interpreter: the import runs in the background with the guard and the short
    switch interval in place, another thread's import waits for it, no random number is drawn,
    and both are put back when it ends; its span is reported once."""
    done = subprocess.run(
        [sys.executable, "-c", AHEAD_SCRIPT], capture_output=True, text=True, cwd=REPO_ROOT
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["guarded"] and report["other_waited"] and report["restored"] and report["rng"]
    assert report["outcome"] == "imported"
    first, second = report["timings"]
    assert first["ahead"][0] <= first["ahead"][1] and second == {}


def _grads_norm(sandbox: client.Sandbox) -> float:
    reply = sandbox.call("compute_grad_norm", timeout=30, grads=[torch.ones(4)], shapes=[[4]])
    return reply["value"]


def test_the_first_process_imports_torch_dynamo_in_the_background(write_submission):
    """The reference's first process imports it once the submission is imported (a later reply
    reports when, for the timeline); one started again does not."""
    spans = []
    path = write_submission(REFERENCE_SOURCE)
    record = lambda lane, name, start, end: spans.append(name)  # noqa: E731
    with client.Sandbox(path, ahead=True, record=record) as sandbox:
        deadline = time.monotonic() + 120
        while "import torch._dynamo (ahead)" not in spans and time.monotonic() < deadline:
            assert _grads_norm(sandbox) == pytest.approx(2.0)
            time.sleep(0.2)
        assert sandbox.starts == 1 and "import torch._dynamo (ahead)" in spans
        assert spans.index("import the submission") < spans.index("import torch._dynamo (ahead)")
        sandbox._kill()
        spans.clear()
        for _ in range(3):
            assert _grads_norm(sandbox) == pytest.approx(2.0)
        assert sandbox.starts == 2 and "import torch._dynamo (ahead)" not in spans


def test_an_ahead_import_the_submission_breaks_costs_it_nothing_else(write_submission):
    """torch._dynamo made unimportable at import: the ahead import fails, the process answers."""
    source = REFERENCE_SOURCE + "\nimport sys\nsys.modules['torch._dynamo'] = None\n"
    with client.Sandbox(write_submission(source), ahead=True) as sandbox:
        for _ in range(3):
            assert _grads_norm(sandbox) == pytest.approx(2.0)
        assert sandbox.starts == 1


def test_a_hung_ahead_import_holds_up_no_call_that_imports_nothing(write_submission):
    """An import hook of the submission's that never returns from torch._dynamo (when imported
    ahead): the calls that need no new module are answered all the same."""
    source = (
        "import sys, time, torch\n"
        "class Hang:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch._dynamo' and '--ahead' in sys.argv:\n"
        "            time.sleep(3600)\n"
        "sys.meta_path.insert(0, Hang())\n" + REFERENCE_SOURCE
    )
    with client.Sandbox(write_submission(source), ahead=True) as sandbox:
        for _ in range(3):
            assert _grads_norm(sandbox) == pytest.approx(2.0)
        assert sandbox.starts == 1


def test_the_guard_waits_only_for_imports_that_may_load_a_module():
    """Loaded modules and their attributes, absolute or relative, pass; anything else waits."""
    ours = {"__package__": "autograder.sandbox"}
    assert not ahead._may_load("torch.nn", None, ("functional",), 0)
    assert not ahead._may_load("", ours, ("protocol", "tamper"), 1)  # from . import protocol
    assert not ahead._may_load("protocol", ours, (), 1)  # from .protocol import ...
    assert not ahead._may_load("", ours, ("sandbox",), 2)  # from .. import sandbox
    assert ahead._may_load("not_a_module_here", None, (), 0)
    assert ahead._may_load("torch", None, ("not_an_attribute_here",), 0)
    assert ahead._may_load("", ours, ("not_a_module_here",), 1)
    assert ahead._may_load("", {"__package__": ""}, ("x",), 1)  # cannot resolve: waits


def test_the_grader_checks_with_one_torch_thread_and_gives_the_others_back():
    """While the checks run the grader uses GRADER_THREADS intra-op threads (one: no thread of
    its waits for a core the student process holds); its own setting is back afterwards."""
    from autograder.grading.runner import _torch_threads
    from autograder.grading.settings import GRADER_THREADS

    before = torch.get_num_threads()
    with _torch_threads(GRADER_THREADS):
        assert torch.get_num_threads() == GRADER_THREADS == 1
    assert torch.get_num_threads() == before


EXIT_SCRIPT = """
import atexit, sys, tempfile, threading, time
from pathlib import Path
from autograder import cli
out = Path(sys.argv[1])
folder = tempfile.TemporaryDirectory()  # removed by its finalizer at exit
(out / "folder").write_text(folder.name)
def late():
    time.sleep(0.5)
    (out / "thread").write_text("done")
threading.Thread(target=late).start()  # not a daemon: waited for
atexit.register(lambda: (out / "atexit").write_text("ran"))
cli.main = lambda argv: print("buffered", end="") or 3  # what a command prints and returns
cli.run_and_exit([])
"""


def test_the_command_line_exits_fast_and_still_does_what_an_exit_must(tmp_path):
    """run_and_exit ends the process without the interpreter's teardown, but with its exit code,
    after the other threads, the atexit handlers and temporary folders' finalizers, and with
    what was printed flushed."""
    done = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout == "buffered"
    assert (tmp_path / "thread").read_text() == "done"
    assert (tmp_path / "atexit").read_text() == "ran"
    assert not Path((tmp_path / "folder").read_text()).exists()
