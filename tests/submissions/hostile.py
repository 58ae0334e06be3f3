"""Hostile submissions: code that hangs, exits, floods, hoards memory, patches torch, forges
results, hunts for secrets or for the hidden reference. Each must still get the right score.

``expected`` maps each tag to the points the submission must get there (None: not checked);
``could_not_grade`` marks submissions that must be reported as not gradable.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from autograder.paths import SOLUTION_PATH
from tests.submissions.build import REFERENCE, TEMPLATE, build_source, definition
from tests.submissions.wrong import INDEPENDENT_CLIP, compare_runs_with

FULL = {
    "integrity": 0.0,
    "add_batchnorm": 28.0,
    "compute_grad_norm": 18.0,
    "clip_gradients": 18.0,
    "compare_runs": 24.0,
    "accuracy": 12.0,
    "bonus": 10.0,
}
ZERO = dict.fromkeys(FULL, 0.0)

# compare_runs that neither calls compute_grad_norm nor clip_gradients (so that a hostile
# compute_grad_norm or clip_gradients cannot take compare_runs down with it)
SELF_CONTAINED_RUNS = compare_runs_with(
    RECORD_AND_CLIP=(
        "total = torch.nn.utils.clip_grad_norm_(model.parameters(), float('inf')).item()\n"
        '                history["grad_norm"].append(total)\n'
        '                if name == "regularized":\n'
        "                    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)"
    )
)


@dataclass(frozen=True)
class HostileCase:
    name: str
    description: str
    source: str
    expected: dict[str, float] = field(default_factory=dict)
    could_not_grade: bool = False
    output_contains: str = ""  # a phrase the failing checks' feedback must contain
    needs_bwrap: bool = False
    env: dict[str, str] = field(default_factory=dict)


def _ref(replace: dict[str, str] | None = None, prepend: str = "") -> str:
    return build_source(REFERENCE, replace or {}, prepend)


# The probe table of the student process, reached from the submission at import: replies
# forged there are decodable but not what the honest probe sends.
FORGED_GRAD_NORM_REPLY = """
import sys as _sys
_sys.modules["sandbox.probes"].PROBES["compute_grad_norm"] = lambda module, **kw: {
    "value": "1.5", "type": 7, "grads_after": "all of them"}
"""
GIANT_TENSOR_REPLY = """
import sys as _sys
_probes = _sys.modules["sandbox.probes"]
_honest = _probes.PROBES["add_batchnorm"]
def _inflated(module, **kw):
    reply = _honest(module, **kw)
    reply["y_train"] = torch.zeros(1).expand(50_000, 50_000)  # 2.5e9 elements, 4 bytes stored
    return reply
_probes.PROBES["add_batchnorm"] = _inflated
"""
_RUNS = definition(REFERENCE, "compare_runs")
# compare_runs that calls model.forward(x): torch's module hooks never see the model's own call
FORWARD_BYPASSING_HOOKS = _RUNS.replace("model(x)", "model.forward(x)")
# compare_runs that returns, for the regularized run, an untrained stack of 8 wide convolutions
# (about a minute to evaluate on the test images), and a baseline that lies about its size
OVERSIZED_AND_LYING_MODELS = _RUNS.replace(
    "    return histories",
    """    convs = [nn.Conv2d(1 if i == 0 else 64, 64, 3, padding=1) for i in range(8)]
    wide = nn.Sequential(*convs, nn.Flatten(), nn.Linear(64 * 784, 10))
    histories["regularized"]["model"] = wide
    histories["baseline"]["model"][1].in_features = 60_000  # its weight is still (128, 784)
    return histories""",
)
assert FORWARD_BYPASSING_HOOKS != _RUNS and OVERSIZED_AND_LYING_MODELS != _RUNS


HOSTILE: list[HostileCase] = [
    HostileCase(
        "hangs_in_compute_grad_norm",
        "an infinite loop in compute_grad_norm",
        _ref(
            {
                "compute_grad_norm": """
                def compute_grad_norm(model, norm_type=2.0):
                    while True:
                        pass
                """,
                "clip_gradients": INDEPENDENT_CLIP,
                "compare_runs": SELF_CONTAINED_RUNS,
            }
        ),
        expected={**FULL, "compute_grad_norm": 0.0},
        output_contains="did not finish within",
    ),
    HostileCase(
        "exits_at_import",
        "sys.exit() at import time",
        _ref(prepend="import sys\nsys.exit(3)"),
        expected=ZERO,
        could_not_grade=True,
        output_contains="sys.exit",
    ),
    HostileCase(
        "os_exit_in_clip",
        "os._exit() inside clip_gradients kills the student process",
        _ref(
            {
                "clip_gradients": """
                def clip_gradients(model, max_norm, norm_type=2.0):
                    import os
                    os._exit(7)
                """,
                "compare_runs": SELF_CONTAINED_RUNS,
            }
        ),
        expected={**FULL, "clip_gradients": 0.0},
        output_contains="exited with status 7",
    ),
    HostileCase(
        "floods_output",
        "prints 40 MB at import and 10 MB from add_batchnorm, then works correctly",
        _ref(
            {
                "add_batchnorm": """
                def add_batchnorm(model):
                    print("x" * 10_000_000)
                    layers = list(model)
                    weighted = [i for i, m in enumerate(layers)
                                if isinstance(m, nn.Linear | nn.Conv2d)]
                    new = []
                    for i, layer in enumerate(layers):
                        new.append(copy.deepcopy(layer))
                        if i in weighted[:-1]:
                            new.append(nn.BatchNorm1d(layer.out_features)
                                       if isinstance(layer, nn.Linear)
                                       else nn.BatchNorm2d(layer.out_channels))
                    return nn.Sequential(*new)
                """
            },
            prepend='import sys\nfor _ in range(4):\n    sys.stdout.write("y" * 10_000_000)',
        ),
        expected=FULL,
    ),
    HostileCase(
        "hoards_memory",
        "allocates 200 GB in compute_grad_norm",
        _ref(
            {
                "compute_grad_norm": """
                def compute_grad_norm(model, norm_type=2.0):
                    hoard = torch.empty(50_000_000_000)
                    return float(hoard.sum())
                """,
                "clip_gradients": INDEPENDENT_CLIP,
                "compare_runs": SELF_CONTAINED_RUNS,
            }
        ),
        expected={**FULL, "compute_grad_norm": 0.0},
        output_contains="memory",
    ),
    HostileCase(
        "patches_torch_and_pytest",
        "replaces torch.allclose/torch.equal and pytest's verdict machinery at import, "
        "with no real implementation",
        build_source(
            TEMPLATE,
            {},
            prepend="""
            torch.allclose = lambda *a, **k: True
            torch.equal = lambda *a, **k: True
            torch.nn.utils.clip_grad_norm_ = lambda *a, **k: 0.0
            try:
                import _pytest.runner
                _pytest.runner.pytest_runtest_makereport = lambda item, call: None
            except Exception:
                pass
            """,
        ),
        expected=ZERO,
        output_contains="replaced",
    ),
    HostileCase(
        "forges_results_file",
        "writes a fake 100-point results file wherever it can and leaves a daemon to redo it",
        build_source(
            TEMPLATE,
            {},
            prepend="""
            import json, os, time
            FAKE = json.dumps({"score": 100.0, "max_score": 100.0, "tests": []})
            def _forge():
                targets = ["results.json", "/tmp/results.json"]
                try:
                    argv = open(f"/proc/{os.getppid()}/cmdline", "rb").read().split(b"\\0")
                    targets += [a.decode() for a in argv if a.endswith(b".json")]
                except OSError:
                    pass
                for t in targets:
                    try:
                        with open(t, "w") as f:
                            f.write(FAKE)
                    except OSError:
                        pass
            _forge()
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    for _ in range(60):
                        time.sleep(0.5)
                        _forge()
                os._exit(0)
            """,
        ),
        expected=ZERO,
    ),
    HostileCase(
        "steals_secrets",
        "puts the grader's environment (tokens) into its error messages",
        build_source(
            TEMPLATE,
            {
                "add_batchnorm": """
                def add_batchnorm(model):
                    import os
                    raise RuntimeError("ENV:" + repr(dict(os.environ)))
                """
            },
        ),
        expected=ZERO,
        env={"GITHUB_TOKEN": "ghp_SECRET_TOKEN_DO_NOT_LEAK", "CLASSROOM_TOKEN": "ghs_ALSO_SECRET"},
    ),
    HostileCase(
        "copies_hidden_reference",
        "looks for the reference solution and the hidden checks on disk and executes them",
        build_source(
            TEMPLATE,
            {},
            prepend="""
            import os as _os
            _stolen = {}
            for _path in (SOLUTION_PATH, "/work/main/solutions/batchnorm_gradclip_exercise.py"):
                if _os.path.exists(_path):
                    exec(open(_path).read(), _stolen)
                    break
            """.replace("SOLUTION_PATH", repr(str(SOLUTION_PATH))),
        ).replace(
            'if __name__ == "__main__":',
            "for _name in ('add_batchnorm', 'compute_grad_norm', 'clip_gradients',\n"
            "              'compare_runs', 'ManualBatchNorm1d'):\n"
            "    if _name in _stolen:\n"
            "        globals()[_name] = _stolen[_name]\n\n\n"
            'if __name__ == "__main__":',
        ),
        expected=ZERO,
        needs_bwrap=True,
    ),
    HostileCase(
        "hangs_at_import",
        "sleeps forever at import time",
        _ref(prepend="import time\ntime.sleep(100000)"),
        expected=ZERO,
        could_not_grade=True,
        output_contains="did not finish",
    ),
]


# --------------------------------------------------------------------------------------------
# Attacks on the sandbox, the wire and the results file (issue 10). Each wraps the reference's
# compute_grad_norm (clip_gradients and compare_runs do not call it), so every other section
# must keep its full score. A report the submission makes is the message of an exception its
# compute_grad_norm raises: "REPORT:" + JSON.
# --------------------------------------------------------------------------------------------

MAIN_GUARD = 'if __name__ == "__main__":'
REPORT = "REPORT:"


def _ref_wrapping_grad_norm(before: str, *, prepend: str = "") -> str:
    """The reference whose compute_grad_norm first runs ``before`` (``model`` in scope)."""
    source = _ref(
        {"clip_gradients": INDEPENDENT_CLIP, "compare_runs": SELF_CONTAINED_RUNS}, prepend
    )
    body = textwrap.indent(textwrap.dedent(before).strip("\n"), "    ")
    wrapper = (
        "_honest_compute_grad_norm = compute_grad_norm\n\n\n"
        "def compute_grad_norm(model, norm_type=2.0):\n"
        f"{body}\n"
        "    return _honest_compute_grad_norm(model, norm_type=norm_type)\n\n\n"
    )
    if source.count(MAIN_GUARD) != 1:
        raise KeyError("the reference's main guard was not found once")
    return source.replace(MAIN_GUARD, wrapper + MAIN_GUARD)


# Files the escape attempts create where they must not be able to (the test removes any it finds)
ESCAPE_MARK = "bngc_hostile_escape"
ESCAPE = f"""
import ctypes, json, os, sys, sysconfig
_report = {{"written": [], "remounted": []}}
_status = open("/proc/self/status").read()
for _line in _status.splitlines():
    if _line.startswith(("Uid:", "CapEff:", "CapBnd:", "NoNewPrivs:")):
        _key, _value = _line.split(":", 1)
        _report[_key] = _value.split()[0]
_libc = ctypes.CDLL(None, use_errno=True)
_site = sysconfig.get_paths()["purelib"]
_sandbox = os.path.dirname(sys.modules["sandbox.worker"].__file__)
_targets = [_site, os.path.join(_site, "sympy"), _sandbox, os.path.dirname(os.__file__),
            "/usr/lib", "/etc", "/"]
for _dir in _targets:
    # MS_REMOUNT | MS_BIND without MS_RDONLY: make the read-only bind writable
    if _libc.mount(None, _dir.encode(), None, 32 | 4096, None) == 0:
        _report["remounted"].append(_dir)
    for _name in ("{ESCAPE_MARK}.pth", "{ESCAPE_MARK}.py"):
        try:
            with open(os.path.join(_dir, _name), "w") as _f:
                _f.write("# planted by a hostile test submission\\n")
            _report["written"].append(os.path.join(_dir, _name))
        except OSError:
            pass
"""

HUNT = f"""
import glob, json, os, sys, time
_found = []
_places = ["/usr/share/datasets/fashion-mnist", os.environ.get("FASHION_MNIST_ROOT", ""),
           {str(SOLUTION_PATH.parents[1] / "assignment" / "data")!r}]
for _p in _places:
    if _p and os.path.exists(_p):
        _found.append(_p)
for _entry in sys.path:
    for _pattern in ("bngc_autograder*", "__editable__*"):
        _found += glob.glob(os.path.join(_entry, _pattern))
_shadow = os.access("/etc/shadow", os.R_OK)
_deadline, _walked_all = time.monotonic() + 12, True
for _root, _dirs, _files in os.walk("/"):
    if time.monotonic() > _deadline:
        _walked_all = False
        break
    _dirs[:] = [d for d in _dirs if os.path.join(_root, d) not in ("/proc", "/sys", "/dev")]
    for _name in _files:
        if "t10k" in _name or "bngc-grader-cache" in _name or _name.startswith("__editable__"):
            _found.append(os.path.join(_root, _name))
    if "bngc_autograder" in _root:
        _found.append(_root)
# the grader's installation first, then at most 8 paths: the report fits the 2,000 characters
# of an error message however many copies of the data a machine's /tmp holds
_ours = lambda p: "bngc_autograder" in p or "__editable__" in p
_found = sorted(set(_found), key=lambda p: (not _ours(p), p))
_report = {{"found": _found[:8], "shadow": _shadow, "walked_all": _walked_all}}
"""

# At the first call in each process: shrink the request pipe to one page, fill it if it can,
# and make the worker read another pipe: the grader's next request is never read, and one
# larger than what is left of the page is never written
STOP_READING = """
global _sabotaged
if not globals().get("_sabotaged"):
    _sabotaged = True
    import fcntl, os, sys
    fd_in = int(sys.argv[sys.argv.index("--fd-in") + 1])
    keep = os.dup(fd_in)  # the grader's pipe stays open, and unread
    fcntl.fcntl(fd_in, 1031, 4096)  # F_SETPIPE_SZ
    writer = -1
    try:  # a write end of the same pipe (refused when the student's uid is not the grader's)
        writer = os.open(f"/proc/self/fd/{fd_in}", os.O_WRONLY | os.O_NONBLOCK)
        while True:
            os.write(writer, b"x" * 512)
    except OSError:  # BlockingIOError once full
        pass
    dead_r, dead_w = os.pipe()
    os.dup2(dead_r, fd_in)
    globals()["_keep"] = (keep, writer, dead_w)
"""

HUGE_ERROR = """
raise type("E" * 60_000_000, (Exception,), {})("\\udcff\\x1b[2J" + "m" * 60_000_000)
"""

# Bypasses the worker's own caps: the error report is made by the submission
FORGED_REPORT = """
import sys
def _forged(exc, submission, **_):
    message = "\\udcff" * 1000 + "\\x1b]0;pwned\\x07" + "m" * 150_000
    return {"type": "T" * 150_000, "message": message, "line": 3, "code": "c" * 100_000,
            "frames": [], "student": True}
sys.modules["sandbox.worker"].describe_exception = _forged
raise ValueError("forged")
"""

# A deflated torch.save-like archive: 40 KB on the wire, a 20 MB pickle once inflated
DEFLATE_BOMB = """
import io, pickle, sys, zipfile
protocol = sys.modules["sandbox.protocol"]
def _bomb(obj):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", pickle.dumps([0] * 10_000_000, protocol=2))
        z.writestr("archive/version", "3\\n")
    payload = buf.getvalue()
    return len(payload).to_bytes(8, "big") + payload
protocol.encode = _bomb
"""

# The bomb runs in a child; the parent answers. Every process forks until the kernel refuses,
# then sleeps (without a process limit this takes the machine)
FORK_BOMB = """
import os, time
try:
    child = os.fork()
except OSError:  # a bomb of an earlier call already holds every process slot
    child = 1
if child == 0:
    while True:
        try:
            os.fork()
        except OSError:
            time.sleep(3600)
"""

FILL_DISKS = """
import os
for _dir in ("/tmp", "/dev/shm", os.environ.get("HOME", "/tmp"), os.getcwd()):
    try:
        with open(os.path.join(_dir, "filler"), "ab") as _f:
            while True:
                _f.write(b"x" * (1 << 20))
    except OSError:
        pass
"""

HOSTILE += [
    HostileCase(
        "escapes_the_sandbox",
        "tries to remount the read-only binds writable and to plant a .pth in site-packages, a "
        "module in sympy (imported lazily by the grader) and files in the sandbox package, the "
        "stdlib, /usr/lib and /etc; reports its uid and capabilities",
        _ref_wrapping_grad_norm(
            f"raise RuntimeError({REPORT!r} + json.dumps(_report))", prepend=ESCAPE
        ),
        expected={**FULL, "compute_grad_norm": 0.0},
        output_contains=REPORT,
        needs_bwrap=True,
    ),
    HostileCase(
        "hunts_test_data_and_secrets",
        "looks for the Fashion-MNIST test images and the decoded cache everywhere, the project's "
        "dist-info (the instructor README) and editable-install files, and /etc/shadow",
        _ref_wrapping_grad_norm(
            f"raise RuntimeError({REPORT!r} + json.dumps(_report))", prepend=HUNT
        ),
        expected={**FULL, "compute_grad_norm": 0.0},
        output_contains=REPORT,
        needs_bwrap=True,
    ),
    HostileCase(
        "stops_reading_requests",
        "shrinks and fills its request pipe and stops reading it (the grader's next send blocks)",
        _ref_wrapping_grad_norm(STOP_READING),
        # the first call answers, the next one times out: every check calls it more than once
        expected={**FULL, "compute_grad_norm": 0.0},
        output_contains="did not finish within",
    ),
    HostileCase(
        "raises_huge_surrogate_error",
        'raises an exception with a 60 MB type name and a 60 MB message holding "\\udcff" and a '
        "terminal escape",
        _ref_wrapping_grad_norm(HUGE_ERROR),
        expected={**FULL, "compute_grad_norm": 0.0},
        output_contains="while running compute_grad_norm",
    ),
    HostileCase(
        "forges_uncapped_error_reports",
        "replaces the worker's error report with 400 KB of type name, message and code line, "
        "lone surrogates and terminal escapes",
        _ref_wrapping_grad_norm(FORGED_REPORT),
        expected={**FULL, "compute_grad_norm": 0.0},
        output_contains="while running compute_grad_norm",
    ),
    HostileCase(
        "sends_a_deflate_bomb",
        "answers with a 40 KB deflated archive holding a 20 MB pickle",
        _ref_wrapping_grad_norm(DEFLATE_BOMB),
        expected={**FULL, "compute_grad_norm": 0.0},
        output_contains="cannot read",
    ),
    HostileCase(
        "fork_bomb",
        "forks until the kernel refuses, in a child, then answers correctly",
        _ref_wrapping_grad_norm(FORK_BOMB),
        expected=FULL,
        needs_bwrap=True,
    ),
    HostileCase(
        "fills_tmp_and_shm",
        "fills /tmp, /dev/shm, its home and working directory at import, then works correctly",
        _ref(prepend=FILL_DISKS),
        expected=FULL,
        needs_bwrap=True,
    ),
    HostileCase(
        "forges_malformed_replies",
        "replaces the student process's compute_grad_norm probe with one that answers wrongly "
        "typed data (decodable, but not what the probe sends)",
        _ref(prepend=FORGED_GRAD_NORM_REPLY),
        expected={**FULL, "compute_grad_norm": 0.0},
        output_contains="cannot read",
    ),
    HostileCase(
        "sends_a_giant_tensor",
        "answers add_batchnorm's probe with a stride-0 tensor of 2.5e9 elements (4 bytes sent)",
        _ref(prepend=GIANT_TENSOR_REPLY),
        expected={**FULL, "add_batchnorm": 0.0},
        output_contains="elements",
    ),
    HostileCase(
        "assigns_a_torch_builtin",
        "compute_grad_norm = torch.norm: its errors have no frame in the submission's file",
        _ref({"compute_grad_norm": "compute_grad_norm = torch.norm\n"}),
        # clip_gradients and compare_runs are graded with a correct one in its place; the
        # accuracy run uses the student's own functions
        expected={**FULL, "compute_grad_norm": 0.0, "accuracy": 0.0},
        output_contains="while running compute_grad_norm",
    ),
    HostileCase(
        "calls_forward_directly",
        "compare_runs calls model.forward(x), which bypasses torch's module hooks: the grader "
        "still sees every forward pass (it watches the models' own forward) and gives full marks",
        _ref({"compare_runs": FORWARD_BYPASSING_HOOKS}),
        expected=FULL,
    ),
    HostileCase(
        "returns_oversized_and_lying_models",
        "returns an untrained stack of 8 wide convolutions as its regularized model and a "
        "baseline whose first Linear claims 60,000 inputs",
        _ref({"compare_runs": OVERSIZED_AND_LYING_MODELS}),
        expected={**FULL, "compare_runs": 20.0, "accuracy": 0.0},
        output_contains="too large to evaluate",
    ),
]
