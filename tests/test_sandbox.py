"""The wire and the student process, without the hidden checks."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pickle
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch

from autograder.grading.results import MAX_EXTRA_ITEMS, GradingResult, TestResult
from autograder.grading.runner import write_results
from autograder.grading.table import render_table
from autograder.paths import REPO_ROOT, SOLUTION_PATH
from autograder.sandbox import client, isolation, protocol
from autograder.sandbox.client import (
    Sandbox,
    StudentCodeError,
    StudentTimeout,
    SubmissionDoesNotImport,
)
from autograder.sandbox.isolation import Limits, bwrap_available
from tests.submissions.build import REFERENCE, build_source


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/bngc-pwned",))


def test_decoding_refuses_code_carrying_pickles():
    payload = pickle.dumps({"ok": True, "result": Exploit()})
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(payload)
    buf = io.BytesIO()
    torch.save({"ok": True, "x": Exploit()}, buf)
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(buf.getvalue())
    assert not Path("/tmp/bngc-pwned").exists()


def test_messages_round_trip_through_a_pipe():
    r, w = os.pipe()
    message = {"probe": "x", "kwargs": {"t": torch.arange(5.0), "n": None, "s": "é"}}
    protocol.send(w, message)
    got = protocol.recv(r, deadline=time.monotonic() + 5)
    assert got["probe"] == "x" and torch.equal(got["kwargs"]["t"], torch.arange(5.0))
    os.close(w)
    with pytest.raises(protocol.ChannelClosed):
        protocol.recv(r, deadline=time.monotonic() + 5)


def test_oversized_announcements_are_rejected():
    r, w = os.pipe()
    os.write(w, (protocol.MAX_MESSAGE_BYTES + 1).to_bytes(8, "big"))
    with pytest.raises(protocol.ProtocolError, match="limit"):
        protocol.recv(r, deadline=time.monotonic() + 5)


def test_syntax_errors_are_reported_with_their_line(write_submission):
    path = write_submission("import torch\n\ndef add_batchnorm(model):\n    return model +\n")
    with Sandbox(path) as sandbox, pytest.raises(SubmissionDoesNotImport) as err:
        sandbox.import_report()
    assert "SyntaxError" in str(err.value) and "line 4" in str(err.value)


def test_student_exceptions_name_the_line(write_submission):
    source = SOLUTION_PATH.read_text().replace(
        "    grads = [p.grad.detach() for p in model.parameters() if p.grad is not None]",
        "    grads = [p.grad.detach() for p in model.parameters() if p.grad is not None]\n"
        "    raise ValueError('oops')",
    )
    path = write_submission(source)
    with Sandbox(path) as sandbox, pytest.raises(StudentCodeError) as err:
        sandbox.call("compute_grad_norm", timeout=30, grads=[torch.ones(2)], shapes=[[2]])
    assert "ValueError" in str(err.value) and "oops" in str(err.value)
    assert "at line" in str(err.value)


def test_a_hung_call_is_stopped_and_the_next_call_gets_a_fresh_process(write_submission):
    source = SOLUTION_PATH.read_text().replace(
        '    """Clip the total gradient norm',
        "    while max_norm == 123.0:\n        pass\n" + '    """Clip the total gradient norm',
    )
    path = write_submission(source)
    with Sandbox(path, limits=Limits(timeout_scale=1.0)) as sandbox:
        started = time.monotonic()
        with pytest.raises(StudentTimeout):
            sandbox.call(
                "clip_gradients", timeout=3, grads=[torch.ones(2)], shapes=[[2]], max_norm=123.0
            )
        assert time.monotonic() - started < 15
        ok = sandbox.call("compute_grad_norm", timeout=30, grads=[torch.ones(4)], shapes=[[4]])
        assert ok["value"] == pytest.approx(2.0)
        assert sandbox.starts == 2
        with pytest.raises(StudentTimeout, match="already timed out"):
            sandbox.call(
                "clip_gradients", timeout=3, grads=[torch.ones(2)], shapes=[[2]], max_norm=1.0
            )


# --------------------------------------------------------------------------------------------
# Issue 10: privileges, binds and limits of the bubblewrap sandbox
# --------------------------------------------------------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the grader runs as root in CI")
needs_bwrap = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap cannot run here")


@pytest.fixture
def staging(tmp_path):
    (tmp_path / "staging").mkdir()
    return isolation.make_staging(tmp_path / "staging", submission=None)


def _pairs(cmd: list[str], option: str) -> list[tuple[str, str]]:
    return [(cmd[i + 1], cmd[i + 2]) for i, a in enumerate(cmd) if a == option]


@needs_root
def test_as_root_the_student_process_gets_no_privilege(staging):
    cmd = isolation.bwrap_command(staging=staging, limits=Limits(), hidden=())
    assert cmd[0] == "/usr/bin/bwrap"  # by absolute path, never through PATH
    head = cmd[: cmd.index("--proc")]
    # no user namespace (root would be kuid 0 in it), every capability dropped but those setpriv
    # needs; setpriv then becomes an unprivileged uid, which clears them all
    assert "--unshare-all" not in head and "--unshare-user" not in head
    assert head[head.index("--cap-drop") + 1] == "ALL"
    assert {head[i + 1] for i, a in enumerate(head) if a == "--cap-add"} == {
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_SETPCAP",
    }
    setpriv = cmd.index("/usr/bin/setpriv")
    uid, gid = isolation.sandbox_ids()
    assert uid > 65535 and gid > 65535
    tail = cmd[setpriv:]
    for option in (f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--bounding-set=-all"):
        assert option in tail
    assert "--no-new-privs" in tail and "--pdeathsig=KILL" in tail
    assert "--die-with-parent" in head and "--new-session" in head


def test_as_an_ordinary_user_the_sandbox_is_a_user_namespace_without_capabilities(
    staging, monkeypatch
):
    monkeypatch.setattr(isolation, "_runs_as_root", lambda: False)
    cmd = isolation.bwrap_command(staging=staging, limits=Limits(), hidden=())
    head = cmd[: cmd.index("--proc")]
    assert {"--unshare-all", "--unshare-user", "--disable-userns"} <= set(head)
    assert head[head.index("--cap-drop") + 1] == "ALL" and "--cap-add" not in head
    assert not any("setpriv" in a for a in cmd)


def test_bwrap_is_never_found_through_path(staging, tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    cmd = isolation.bwrap_command(staging=staging, limits=Limits(), hidden=())
    assert cmd[0] in isolation.BWRAP_PATHS


def test_only_what_the_student_needs_is_bound(staging):
    stdlib_json = Path(json.__file__).parent
    cmd = isolation.bwrap_command(staging=staging, limits=Limits(), hidden=(stdlib_json,))
    sources = [Path(src) for src, _ in _pairs(cmd, "--ro-bind")]
    assert "--bind" not in cmd and "--dev-bind" not in cmd  # nothing of the host is writable
    assert Path("/usr") not in sources and Path("/etc") not in sources
    assert not any(_under(s, Path("/usr/share")) for s in sources)  # datasets, docs
    for source in sources:
        assert "dist-info" not in source.name or not source.name.startswith("bngc_autograder")
        assert not source.name.startswith("__editable__")
        if _under(source, REPO_ROOT):  # of this repository: the sandbox package only
            inside_venv = _under(source, Path(sys.prefix))
            assert inside_venv or source == isolation.SANDBOX_PACKAGE_DIR, source
    assert Path("/etc/shadow") not in sources
    assert not any(s.name == "METADATA" for s in sources)
    # a data location under a bound directory is masked by an empty one
    masks = [dest for src, dest in _pairs(cmd, "--ro-bind") if src == str(staging / "empty")]
    assert str(stdlib_json) in masks
    # every writable place is a tmpfs of bounded size, and the root is read-only
    sized = {
        cmd[i + 5]: int(cmd[i + 3])
        for i, a in enumerate(cmd)
        if a == "--perms" and cmd[i + 2] == "--size"
    }
    assert sized == {"/dev/shm": Limits().shm_mb << 20, "/tmp": Limits().tmp_mb << 20}
    chdir = cmd.index("--chdir")
    assert tuple(cmd[chdir + 2 : chdir + 4]) == ("--remount-ro", "/")


def _under(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def test_only_torch_torchvision_numpy_and_what_they_need_are_bound_of_site_packages():
    site = isolation._venv_site()
    names = {e.name for e in isolation.site_packages_entries(site)}
    assert {"torch", "torchvision", "numpy", "sympy", "typing_extensions.py"} <= names
    assert not {"pytest", "_pytest", "autograder", "__pycache__"} & names
    assert not any(n.startswith(("__editable__", "bngc_autograder")) for n in names)


SANDBOX_PROBE = r"""
import ctypes, json, os, resource, sysconfig
out = {}
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
out["uid"] = int(status["Uid"].split()[0])
out["caps"] = [status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")]
out["no_new_privs"] = status["NoNewPrivs"].strip()
libc = ctypes.CDLL(None, use_errno=True)
site = sysconfig.get_paths()["purelib"]
out["remount"] = libc.mount(None, site.encode(), None, 32 | 4096, None)
out["writable"] = []
for place in (site, site + "/sympy", "/opt/bngc/sandbox", "/usr/lib", "/etc", "/", "/dev"):
    try:
        open(os.path.join(place, "x.pth"), "w").close()
        out["writable"].append(place)
    except OSError:
        pass
out["shadow"] = os.path.exists("/etc/shadow")
out["datasets"] = os.path.exists("/usr/share/datasets")
out["written"] = {}
for place in ("/tmp", "/dev/shm"):
    n = 0
    try:
        with open(place + "/fill", "wb") as f:
            while n < 1024:
                f.write(b"x" * (1 << 20))
                n += 1
    except OSError:
        pass
    out["written"][place] = n
print(json.dumps(out))
"""


@needs_bwrap
def test_inside_the_sandbox_nothing_is_privileged_or_writable_but_small_tmpfs(staging):
    limits = Limits(tmp_mb=8, shm_mb=4)
    cmd = isolation.bwrap_command(staging=staging, limits=limits, hidden=())
    done = subprocess.run(
        [*cmd, "-c", SANDBOX_PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["uid"] != 0
    assert out["caps"] == ["0000000000000000"] * 5 and out["no_new_privs"] == "1"
    assert out["remount"] == -1 and out["writable"] == []
    assert not out["shadow"] and not out["datasets"]
    assert out["written"] == {"/tmp": 8, "/dev/shm": 4}


def test_bwrap_works_on_a_machine_like_ci():
    """As root with bubblewrap installed, the sandbox must work: a silent fallback to
    `--isolation process` would grade hostile code with resource limits only."""
    if os.geteuid() != 0 or not any(Path(p).exists() for p in isolation.BWRAP_PATHS):
        pytest.skip("needs root and bubblewrap (CI installs it)")
    assert isolation.bwrap_problem() is None


# --------------------------------------------------------------------------------------------
# Issue 10: the wire
# --------------------------------------------------------------------------------------------


def _archive(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _rezip(payload: bytes, compression: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(payload)) as src, zipfile.ZipFile(out, "w", compression) as z:
        for info in src.infolist():
            z.writestr(info.filename, src.read(info.filename))
    return out.getvalue()


def test_an_honest_reply_is_a_stored_archive_within_every_limit():
    payload = _archive({"ok": True, "result": {"t": torch.randn(100, 10), "s": "é" * 100}})
    protocol.check_archive(payload)
    assert protocol.decode(payload)["result"]["s"] == "é" * 100


def test_a_deflate_bomb_is_refused_before_torch_load_sees_it():
    bomb = _rezip(_archive({"ok": True, "result": [0] * 2_000_000}), zipfile.ZIP_DEFLATED)
    assert len(bomb) < 100_000
    started = time.monotonic()
    with pytest.raises(protocol.ProtocolError, match="compressed archive entry"):
        protocol.decode(bomb)
    assert time.monotonic() - started < 0.5


def test_a_pickle_over_the_limit_is_refused():
    payload = _archive({"ok": True, "result": list(range(200_000))})  # a ~1 MB pickle
    with pytest.raises(protocol.ProtocolError, match="a pickle of"):
        protocol.decode(payload)
    small = protocol.WireLimits(message_bytes=1 << 20, pickle_bytes=1 << 20, entries=2)
    with pytest.raises(protocol.ProtocolError, match="archive entries"):
        protocol.decode(_archive({"a": torch.ones(1), "b": torch.ones(1)}), small)


def test_what_is_not_a_torch_save_archive_is_refused():
    with pytest.raises(protocol.ProtocolError, match=r"not a torch\.save archive"):
        protocol.decode(pickle.dumps({"ok": True}))  # torch.load's legacy format: unbounded
    payload = bytearray(_archive({"ok": True}))
    header = payload.index(b"PK\x03\x04")
    payload[header + 8 : header + 10] = (8).to_bytes(2, "little")  # local header says deflated
    with pytest.raises(protocol.ProtocolError, match="not stored as announced"):
        protocol.decode(bytes(payload))


def test_the_largest_accepted_pickle_decodes_in_bounded_time():
    # the costliest pickle per byte that weights_only accepts: a flat list of small ints
    count = protocol.REPLY_LIMITS.pickle_bytes // 2 - 1000  # BININT1: 2 bytes an item
    payload = _archive([7] * count)
    assert protocol.REPLY_LIMITS.pickle_bytes / 2 < _pickle_size(payload)
    started = time.monotonic()
    protocol.decode(payload)
    assert time.monotonic() - started < 5.0  # ~0.2 s on the 2-core machine, idle


def _pickle_size(payload: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(payload)) as z:
        return next(i.file_size for i in z.infolist() if i.filename.endswith("data.pkl"))


def test_a_send_to_a_peer_that_does_not_read_ends_at_its_deadline():
    r, w = os.pipe()
    fcntl.fcntl(r, 1031, 4096)  # F_SETPIPE_SZ: the student can shrink its request pipe
    started = time.monotonic()
    with pytest.raises(protocol.SendTimeout):
        protocol.send(w, {"x": torch.zeros(100_000)}, deadline=time.monotonic() + 0.5)
    assert time.monotonic() - started < 2.0
    os.close(r)
    os.close(w)


def test_the_worker_does_not_send_what_the_grader_would_refuse():
    r, w = os.pipe()
    with pytest.raises(protocol.ProtocolError, match="limit"):
        protocol.send(w, {"x": torch.zeros(100)}, limits=protocol.WireLimits(100, 100, 10))
    os.close(r)
    os.close(w)


STOP_READING_AT_IMPORT = """
import fcntl, os, sys
_fd = int(sys.argv[sys.argv.index("--fd-in") + 1])
_keep = os.dup(_fd)
fcntl.fcntl(_fd, 1031, 4096)
_dead_r, _dead_w = os.pipe()
os.dup2(_dead_r, _fd)
"""


@pytest.mark.timeout(120)
def test_a_student_that_stops_reading_its_requests_times_out(write_submission):
    path = write_submission(build_source(REFERENCE, {}, STOP_READING_AT_IMPORT))
    with Sandbox(path) as sandbox:
        sandbox.import_report()
        started = time.monotonic()
        with pytest.raises(StudentTimeout, match="did not finish within 3 s"):
            sandbox.call(
                "compute_grad_norm", timeout=3, grads=[torch.ones(50_000)], shapes=[[50_000]]
            )
        assert time.monotonic() - started < 8


def test_garbage_instead_of_the_hello_is_a_malformed_reply(write_submission):
    source = build_source(
        REFERENCE,
        {},
        'import os, sys\nos.write(int(sys.argv[sys.argv.index("--fd-out") + 1]), '
        'b"\\x00" * 7 + b"\\x10" + b"garbage!" * 2)',
    )
    with Sandbox(write_submission(source)) as sandbox, pytest.raises(SubmissionDoesNotImport) as e:
        sandbox.import_report()
    assert "cannot read" in str(e.value) and "not a torch.save archive" in str(e.value)


def test_error_reports_are_capped_whatever_the_student_process_sends():
    error = {"type": "T" * 1_000_000, "message": "m" * 1_000_000, "line": 3, "code": "c" * 10**6}
    text = client.describe_student_error(error, doing="running compute_grad_norm")
    assert len(text) < 3000
    weird = {"type": ["not", "a", "string"], "message": 12, "line": "3", "exit_code": None}
    assert "raised Exception" in client.describe_student_error(weird, doing="x")


# --------------------------------------------------------------------------------------------
# Issue 10: tampering reports only what the submission changed
# --------------------------------------------------------------------------------------------


TORCH_PATCHES_ITSELF = """
import sys, types
import torch
from sandbox import tamper
fingerprint = tamper.torch_fingerprint()
assert "torch._dynamo" not in sys.modules  # the fingerprint does not import it
param = torch.nn.Parameter(torch.zeros(2))
param.grad = torch.ones(2)
torch.optim.SGD([param], lr=0.1).step()  # wraps SGD.step, imports torch._dynamo
torch.manual_seed(0)  # ... which wraps torch.manual_seed
assert torch.optim.SGD.step is not fingerprint.functions["torch.optim.SGD.step"]
assert torch.manual_seed is not fingerprint.functions["torch.manual_seed"]
print(tamper.changed_since(fingerprint))
original = torch.save
torch.save = lambda *a, **k: None
print(tamper.changed_since(fingerprint))
torch.save = original
step = torch.optim.SGD.step
torch.optim.SGD.step = torch._disable_dynamo(lambda *a, **k: None)  # torch's wrapper, not of step
print(tamper.changed_since(fingerprint))
torch.optim.SGD.step = step
seed = torch.manual_seed  # torch's wrapper's code and closure, other globals
torch.manual_seed = types.FunctionType(seed.__code__, {}, closure=seed.__closure__)
print(tamper.changed_since(fingerprint))
"""


def test_torchs_own_lazy_patching_is_not_tampering():
    """In a fresh process, as in the sandbox: torch's lazy wrappers of the functions it had at
    the fingerprint are torch's; anything else put there is reported."""
    out = subprocess.run(
        [sys.executable, "-c", TORCH_PATCHES_ITSELF],
        cwd=REPO_ROOT / "autograder",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out == [
        "[]",
        "['torch.save']",
        "['torch.optim.SGD.step']",
        "['torch.manual_seed']",
    ]


# --------------------------------------------------------------------------------------------
# Issue 10: the results file is always written, cleaned and bounded
# --------------------------------------------------------------------------------------------

HOSTILE_TEXT = "\udcff\x1b[2J\x00\r\u202e" + "m" * 3_000_000


def _hostile_result() -> GradingResult:
    test = TestResult("a", "2.1", "compute_grad_norm", 4, 0, HOSTILE_TEXT, outcome="failed")
    test.instructor_note = HOSTILE_TEXT
    return GradingResult(
        tests=[test],
        reason=HOSTILE_TEXT,
        student_output=HOSTILE_TEXT,
        traceback=HOSTILE_TEXT,
        extra={"notes": [HOSTILE_TEXT] * 5000, HOSTILE_TEXT: {"deep": float("nan")}},
    )


def test_lone_surrogates_and_huge_texts_still_give_a_small_valid_results_file(tmp_path):
    out = tmp_path / "results.json"
    write_results(_hostile_result(), out)
    raw = out.read_bytes()
    assert len(raw) < 400_000
    data = json.loads(raw.decode("utf-8"))  # strict UTF-8: no surrogate got through
    assert data["extra_data"]["grading_status"] == "graded"  # written as graded, not as failure
    for text in (data["tests"][0]["output"], data["extra_data"]["reason"]):
        assert text.startswith("\ufffd\ufffd[2J\ufffd\ufffd\ufffdm") and "characters cut" in text
    assert "\x1b" not in raw.decode("utf-8") and "\\u001b" not in raw.decode("utf-8")
    assert len(data["extra_data"]["notes"]) == MAX_EXTRA_ITEMS


def test_when_writing_fails_a_grader_error_result_is_written_instead(tmp_path):
    class Unprintable:
        def __repr__(self):
            raise RuntimeError("no repr")

    result = GradingResult(tests=[], extra={"x": Unprintable()})
    write_results(result, tmp_path / "results.json")
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["extra_data"]["grading_status"] == "grader_error"
    assert "no repr" in data["extra_data"]["reason"]


def test_the_table_never_wraps_megabytes():
    started = time.monotonic()
    table = render_table(_hostile_result())
    assert time.monotonic() - started < 1.0
    assert len(table) < 10_000 and "\x1b" not in table and "see the results file" in table


def test_the_grader_caps_its_own_address_space_while_grading():
    code = (
        "import resource\n"
        "from autograder.grading.runner import own_address_space_capped as capped\n"
        "def soft():\n"
        "    return resource.getrlimit(resource.RLIMIT_AS)[0]\n"
        "before = soft()\n"
        "with capped(8000):\n"
        "    with capped(9000):\n"  # never raised
        "        print(soft() >> 20)\n"
        "print(soft() == before)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["8000", "True"]
