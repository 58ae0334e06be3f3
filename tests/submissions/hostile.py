"""Hostile submissions: code that hangs, exits, floods, hoards memory, patches torch, forges
results, hunts for secrets or for the hidden reference. Each must still get the right score.

``expected`` maps each tag to the points the submission must get there (None: not checked);
``could_not_grade`` marks submissions that must be reported as not gradable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autograder.paths import SOLUTION_PATH
from tests.submissions.build import REFERENCE, TEMPLATE, build_source
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
