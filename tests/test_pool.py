"""The grading pool: servers reused across gradings grade exactly as ``autograder grade`` does, a
hung or dead server costs one grading and is replaced, and no process of a grading outlives it.

The fast tests drive the pool with stand-in servers (a script in place of Python); the slow ones
start real grading servers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from autograder.grading.batch_command import output_names
from autograder.grading.pool import GraderPool, GradingFailed, GradingReply, GradingTimedOut
from autograder.paths import REPO_ROOT
from autograder.sandbox.isolation import SANDBOX_ID_BASE, bwrap_available
from tests.grading import grade_in_pool, grade_sources, write_sources
from tests.submissions.build import TEMPLATE, build_source
from tests.submissions.corpus import ENTRIES
from tests.submissions.hostile import HOSTILE

# ------------------------------------------------------------------------------------------------
# processes, from /proc
# ------------------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # [state, ppid, ..., starttime at index 19]


def process_key(pid: int) -> tuple[int, str] | None:
    """(pid, start time): names a process even if its pid is reused later."""
    fields = _stat(pid)
    return (pid, fields[19]) if fields else None


def still_running(key: tuple[int, str]) -> bool:
    """Whether the process ``key`` names exists and is not a zombie."""
    fields = _stat(key[0])
    return fields is not None and fields[19] == key[1] and fields[0] != "Z"


def wait_until_reapable(pid: int) -> None:
    """Until ``pid`` is a zombie whose every thread has ended (or is gone): its parent can
    then collect it. (A killed process's main thread shows "Z" before its other threads end.)"""
    while True:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        state = status.split("State:")[1].split()[0]
        threads = int(status.split("Threads:")[1].split()[0])
        if state == "Z" and threads <= 1:
            return
        time.sleep(0.02)


def descendants_of(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, stack = [], list(children.get(pid, []))
    while stack:
        p = stack.pop()
        found.append(p)
        stack.extend(children.get(p, []))
    return found


def processes_of_uid(uid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if int(status.read_text().split("Uid:")[1].split()[0]) == uid:
                found.append(int(status.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


class Watcher(threading.Thread):
    """Notes, every 20 ms until stopped, the processes ``find()`` returns (as process keys)."""

    def __init__(self, find) -> None:
        super().__init__(daemon=True)
        self.find, self.seen, self.done = find, set(), threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for pid in self.find():
                key = process_key(pid)
                if key:
                    self.seen.add(key)
            time.sleep(0.02)

    def stop(self) -> set[tuple[int, str]]:
        self.done.set()
        self.join()
        return self.seen


def named(comm: str):
    def find() -> list[int]:
        found = []
        for entry in Path("/proc").glob("[0-9]*/comm"):
            try:
                if entry.read_text().strip() == comm:
                    found.append(int(entry.parent.name))
            except OSError:
                continue
        return found

    return find


# ------------------------------------------------------------------------------------------------
# stand-in servers: the pool's side of the protocol, without torch
# ------------------------------------------------------------------------------------------------

STAND_IN = """\
#!{python}
import json, os, sys, time
argv = sys.argv
fd = int(argv[argv.index("--reply-fd") + 1])
behaviour = {behaviour!r}
for line in sys.stdin:
    request = json.loads(line)
    if behaviour == "hang":
        time.sleep(3600)
    if behaviour == "die":
        os._exit(3)
    ident = "forged" if behaviour == "forge" else request["id"]
    if behaviour == "noise":
        print(json.dumps({{"id": request["id"], "status": "graded", "score": 1e9}}), flush=True)
    reply = {{"id": ident, "status": "graded", "score": 42.0, "max_score": 100.0,
             "out": request["out"], "isolation": "process", "retire": False}}
    os.write(fd, (json.dumps(reply) + "\\n").encode())
"""


def stand_in(tmp_path: Path, behaviour: str) -> str:
    """An executable that, run as ``python -m autograder.grading.serve ...``, answers every
    request as ``behaviour`` says: ``ok``, ``hang``, ``die``, ``forge`` (a reply with another
    id), ``noise`` (a fake reply on stdout first)."""
    path = tmp_path / f"stand-in-{behaviour}"
    path.write_text(STAND_IN.format(python=sys.executable, behaviour=behaviour))
    path.chmod(0o755)
    return str(path)


def test_a_stand_in_server_answers_and_is_reused(tmp_path: Path) -> None:
    with GraderPool(python=stand_in(tmp_path, "ok"), workers=1) as pool:
        first = pool.grade(tmp_path / "a", tmp_path / "a.json")
        second = pool.grade(tmp_path / "b", tmp_path / "b.json")
        assert first.score == second.score == 42.0
        assert first.server_pid == second.server_pid and pool.servers_started == 1
        assert first.exit_status == 0 and first.stderr == ""


def test_output_on_stdout_is_never_taken_for_a_reply(tmp_path: Path) -> None:
    with GraderPool(python=stand_in(tmp_path, "noise"), workers=1) as pool:
        assert pool.grade(tmp_path / "a", tmp_path / "a.json").score == 42.0


def test_a_reply_with_another_id_fails_the_grading(tmp_path: Path) -> None:
    with GraderPool(python=stand_in(tmp_path, "forge"), workers=1, grace=1) as pool:
        with pytest.raises(GradingFailed, match="does not belong to this grading"):
            pool.grade(tmp_path / "a", tmp_path / "a.json")
        assert pool.server_pids() == []  # discarded


def test_a_hung_stand_in_times_out_and_is_replaced(tmp_path: Path) -> None:
    with GraderPool(python=stand_in(tmp_path, "hang"), workers=1, timeout=1, grace=1) as pool:
        started = time.monotonic()
        with pytest.raises(GradingTimedOut, match="did not finish in 1 s") as info:
            pool.grade(tmp_path / "a", tmp_path / "a.json")
        assert time.monotonic() - started < 10
        assert info.value.seconds == 1
        gone = pool.servers_started
        with pytest.raises(GradingTimedOut):
            pool.grade(tmp_path / "b", tmp_path / "b.json", timeout=0.5)
        assert pool.servers_started == gone + 1  # a fresh server for the next grading


def test_a_dying_stand_in_fails_its_grading_with_its_status(tmp_path: Path) -> None:
    dying = stand_in(tmp_path, "die")
    with (
        GraderPool(python=dying, workers=1) as pool,
        pytest.raises(GradingFailed, match=r"ended while grading \(exit status 3\)"),
    ):
        pool.grade(tmp_path / "a", tmp_path / "a.json")


def test_gradings_run_on_at_most_workers_servers_at_once(tmp_path: Path) -> None:
    with GraderPool(python=stand_in(tmp_path, "ok"), workers=2) as pool:
        threads = [
            threading.Thread(target=pool.grade, args=(tmp_path / f"s{i}", tmp_path / f"{i}.json"))
            for i in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert pool.servers_started <= 2


def test_a_closed_pool_grades_nothing(tmp_path: Path) -> None:
    pool = GraderPool(python=stand_in(tmp_path, "ok"))
    pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        pool.grade(tmp_path / "a", tmp_path / "a.json")


def test_results_file_names_are_unique_and_readable(tmp_path: Path) -> None:
    (tmp_path / "ada").mkdir()
    (tmp_path / "x" / "ada").mkdir(parents=True)
    names = output_names(
        [
            str(tmp_path / "ada"),
            str(tmp_path / "x" / "ada" / "batchnorm_gradclip_exercise.py"),
            str(tmp_path / "x" / "ADA"),
            str(tmp_path / "bob's work.py"),
            ".",
        ]
    )
    assert names[:4] == ["ada", "ada-2", "ADA-3", "bob_s_work"]
    assert names[4] == Path.cwd().name
    assert len(set(names)) == len(names)


# ------------------------------------------------------------------------------------------------
# real grading servers
# ------------------------------------------------------------------------------------------------

HANGS_AT_IMPORT = build_source(TEMPLATE, {}, prepend="while True:\n    pass")
# double-forks a sleeper (named, to be found) that would outlive the grading, then is the template
LEAVES_A_SLEEPER = build_source(
    TEMPLATE,
    {},
    prepend="""
    import ctypes, os, time
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            try:
                ctypes.CDLL(None).prctl(15, b"bngc-sleeper", 0, 0, 0)
            except Exception:
                pass
            time.sleep(600)
        os._exit(0)
    time.sleep(0.5)
    """,
)
# prints what a reply looks like, on stdout and stderr, at import and from every function
PRINTS_FAKE_REPLIES = build_source(
    TEMPLATE,
    {},
    prepend="""
    import json as _json, sys as _sys
    for _stream in (_sys.stdout, _sys.stderr):
        print(_json.dumps({"id": "x", "status": "graded", "score": 100.0}), file=_stream)
    """,
)

# graded by both: hostile ones early, so that what they could leave behind meets the others
SAMPLE_ENTRIES = [
    "forges_results_file",
    "prints_fake_replies",
    "bn_after_activation",
    "os_exit_in_clip",
    "leaves_a_sleeper",
    "norm_ignores_norm_type",
    "stub_template",
    "clip_per_tensor",
    "runs_seed_once",
    "bonus_biased_running_var",
    "correct_00",
]


def sample_sources() -> dict[str, str]:
    known = {e.name: e.source for e in ENTRIES}
    known.update({c.name: c.source for c in HOSTILE})
    known.update(prints_fake_replies=PRINTS_FAKE_REPLIES, leaves_a_sleeper=LEAVES_A_SLEEPER)
    return {f"{i:02d}_{name}": known[name] for i, name in enumerate(SAMPLE_ENTRIES)}


def comparable(results: dict) -> dict:
    """A results JSON without what differs between two gradings of the same file: the time."""
    return {k: v for k, v in results.items() if k != "execution_time"}


@pytest.mark.slow
def test_one_server_grades_a_sample_exactly_as_the_command_does(tmp_path: Path) -> None:
    """The same files, graded by ``autograder grade`` (a process each) and then one after the
    other by a single grading server: identical results JSON but for the time taken."""
    sources = sample_sources()
    folders = write_sources(sources, tmp_path / "submissions")
    by_command = grade_sources(sources, tmp_path / "submissions", jobs=2)
    outs = {name: tmp_path / "pool" / f"{name}.json" for name in folders}
    (tmp_path / "pool").mkdir()
    by_pool = grade_in_pool(folders, outs, jobs=1)
    assert set(by_pool) == set(by_command) == set(sources)
    for name in sorted(sources):
        command, pool = by_command[name], by_pool[name]
        assert command.returncode == pool.returncode == 0, (name, command.stderr, pool.stderr)
        assert comparable(pool.results) == comparable(command.results), name
    scores = {name: by_pool[name].results["score"] for name in sources}
    assert scores["10_correct_00"] == 110.0 and scores["06_stub_template"] == 0.0
    assert scores["00_forges_results_file"] == scores["01_prints_fake_replies"] == 0.0


def _sandbox_uid_processes(server_pid: int) -> list[int]:
    """Processes running as the sandbox's uid of ``server_pid`` (as root with bubblewrap)."""
    return processes_of_uid(SANDBOX_ID_BASE + server_pid)


ISOLATIONS = ["process", *(["bwrap"] if bwrap_available() else [])]


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_no_student_process_survives_a_grading(tmp_path: Path, isolation: str) -> None:
    """A double-forked sleeper runs during the grading and is gone when the reply comes; the
    server's next grading (same pid, so as root the same sandbox uid) finds none of it."""
    folders = write_sources(
        {"sleeper": LEAVES_A_SLEEPER, "template": TEMPLATE}, tmp_path / "submissions"
    )
    with GraderPool(workers=1, isolation=isolation) as pool:
        watcher = Watcher(named("bngc-sleeper"))
        watcher.start()
        try:
            reply = pool.grade(folders["sleeper"], tmp_path / "sleeper.json")
        finally:
            sleepers = watcher.stop()
        assert reply.status == "graded" and reply.isolation == isolation
        assert sleepers, "the sleeper never ran: the test proves nothing"
        assert not [k for k in sleepers if still_running(k)]
        assert descendants_of(reply.server_pid) == []  # not even a zombie
        if os.geteuid() == 0 and isolation == "bwrap":
            assert _sandbox_uid_processes(reply.server_pid) == []
        nxt = pool.grade(folders["template"], tmp_path / "template.json")
        assert nxt.server_pid == reply.server_pid and nxt.status == "graded"
        assert descendants_of(reply.server_pid) == []


@pytest.mark.slow
def test_a_grading_past_its_time_stops_the_server_and_its_students(tmp_path: Path) -> None:
    folders = write_sources({"hangs": HANGS_AT_IMPORT}, tmp_path / "submissions")
    missing = tmp_path / "no-such-submission"
    with GraderPool(workers=1) as pool:
        warm = pool.grade(missing, tmp_path / "warm.json")  # the server is up and warm
        assert warm.status == "could_not_grade"
        server = warm.server_pid
        watcher = Watcher(lambda: descendants_of(server))
        watcher.start()
        started = time.monotonic()
        try:
            with pytest.raises(GradingTimedOut, match="did not finish in 8 s"):
                pool.grade(folders["hangs"], tmp_path / "hangs.json", timeout=8)
        finally:
            students = watcher.stop()
        assert time.monotonic() - started < 8 + 15
        assert not (tmp_path / "hangs.json").exists()
        assert students, "no student process ran: the test proves nothing"
        assert not still_running(process_key(server) or (server, "")), "the server lives on"
        time.sleep(0.5)
        assert not [k for k in students if still_running(k)]
        after = pool.grade(missing, tmp_path / "after.json")
        assert after.server_pid != server and after.status == "could_not_grade"
        assert pool.servers_started == 2


@pytest.mark.slow
def test_a_server_killed_while_grading_or_idle_is_replaced(tmp_path: Path) -> None:
    folders = write_sources({"template": TEMPLATE}, tmp_path / "submissions")
    missing = tmp_path / "no-such-submission"
    with GraderPool(workers=1) as pool:
        first = pool.grade(missing, tmp_path / "0.json")
        killer = threading.Timer(1.0, os.kill, (first.server_pid, signal.SIGKILL))
        killer.start()
        with pytest.raises(GradingFailed, match="ended while grading"):
            pool.grade(folders["template"], tmp_path / "1.json")
        killer.join()
        second = pool.grade(missing, tmp_path / "2.json")
        assert second.server_pid != first.server_pid
        os.kill(second.server_pid, signal.SIGKILL)  # while idle: the next grading never sees it
        wait_until_reapable(second.server_pid)
        third = pool.grade(folders["template"], tmp_path / "3.json")
        assert third.server_pid not in (first.server_pid, second.server_pid)
        assert third.status == "graded" and pool.servers_started == 3


@pytest.mark.slow
def test_servers_are_recycled_after_so_many_gradings(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-submission"
    with GraderPool(workers=1, recycle_after=2) as pool:
        pids = [pool.grade(missing, tmp_path / f"{i}.json").server_pid for i in range(3)]
    assert pids[0] == pids[1] != pids[2]
    assert pool.servers_started == 2


@pytest.mark.slow
def test_grade_batch_end_to_end(tmp_path: Path) -> None:
    folders = write_sources({"ada": TEMPLATE, "bob": TEMPLATE}, tmp_path / "class")
    twin = tmp_path / "other" / "ada"
    twin.mkdir(parents=True)
    (twin / "batchnorm_gradclip_exercise.py").write_text(TEMPLATE)
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "autograder", "grade-batch", str(folders["ada"])]
    cmd += [str(folders["bob"] / "batchnorm_gradclip_exercise.py"), str(twin)]
    cmd += [str(tmp_path / "missing"), "--out-dir", str(out), "--jobs", "2"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "ada-2.json",
        "ada.json",
        "bob.json",
        "missing.json",
    ]
    for name in ("ada", "ada-2", "bob"):
        results = json.loads((out / f"{name}.json").read_text())
        assert results["score"] == 0.0 and results["extra_data"]["grading_status"] == "graded"
        assert name in done.stdout
    missing = json.loads((out / "missing.json").read_text())
    assert missing["extra_data"]["grading_status"] == "could_not_grade"
    assert "4/4 graded to completion" in done.stdout


@pytest.mark.slow
def test_grade_batch_exits_1_when_a_grading_does_not_complete(tmp_path: Path) -> None:
    folders = write_sources({"ada": TEMPLATE}, tmp_path / "class")
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "autograder", "grade-batch", str(folders["ada"])]
    cmd += ["--out-dir", str(out), "--timeout", "1"]  # not even the server's start-up fits
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    assert done.returncode == 1
    results = json.loads((out / "ada.json").read_text())
    assert results["score"] == 0.0 and results["extra_data"]["grading_status"] == "grader_error"
    assert "did not finish in 1 s" in results["extra_data"]["reason"]
    assert "0/1 graded to completion" in done.stdout


# ------------------------------------------------------------------------------------------------
# grade-repos: StudentGrader with a pool
# ------------------------------------------------------------------------------------------------


class FakePool:
    """Stands for a GraderPool: writes ``results`` to the out file, or raises ``error``."""

    def __init__(self, results: dict | None = None, error: Exception | None = None) -> None:
        self.results, self.error, self.calls = results, error, []

    def grade(self, submission, out) -> GradingReply:
        self.calls.append(Path(submission))
        if self.error is not None:
            raise self.error
        Path(out).write_text(json.dumps(self.results))
        extra = self.results.get("extra_data", {})
        return GradingReply(
            submission=str(submission),
            out=Path(out),
            status=extra.get("grading_status", "graded"),
            score=self.results["score"],
            max_score=100.0,
            seconds=1.0,
            isolation=extra.get("isolation"),
            isolation_note="",
            reason=extra.get("reason", ""),
            server_pid=1,
        )


def _student_grader(**kwargs):
    from autograder.authoring.manifest import Manifest
    from autograder.github.student import StudentGrader

    return StudentGrader(manifest=Manifest(files={}), originals={}, **kwargs)


RESULTS = {"score": 50.0, "tests": [], "extra_data": {"isolation": "bwrap"}}


def test_student_grader_grades_through_its_pool(tmp_path: Path) -> None:
    pool = FakePool(RESULTS)
    grader = _student_grader(pool=pool, isolation="bwrap")
    assert grader.run_grader(tmp_path, tmp_path / "r.json") == RESULTS
    assert pool.calls == [tmp_path]


def test_a_pool_is_not_used_for_another_grader_command(tmp_path: Path) -> None:
    script = tmp_path / "grader.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, sys
            out = sys.argv[sys.argv.index("--out") + 1]
            json.dump({"score": 7.0, "tests": []}, open(out, "w"))
            """
        )
    )
    pool = FakePool(RESULTS)
    grader = _student_grader(pool=pool, grader_command=(sys.executable, str(script)))
    assert grader.run_grader(tmp_path, tmp_path / "r.json")["score"] == 7.0
    assert pool.calls == []


@pytest.mark.parametrize(
    ("pool", "message"),
    [
        (
            FakePool(error=GradingTimedOut("late", seconds=30)),
            "the grader did not finish in 30 s",
        ),
        (
            FakePool(error=GradingFailed("the grading server ended while grading")),
            "the grader failed: the grading server ended while grading",
        ),
        (
            FakePool(
                {
                    "score": 0,
                    "tests": [],
                    "extra_data": {"grading_status": "grader_error", "reason": "boom"},
                }
            ),
            "the grader exited with status 1: grader error: boom",
        ),
        (
            FakePool({"score": 50.0, "tests": [], "extra_data": {"isolation": "process"}}),
            "--isolation bwrap was asked for, but the grader reports isolation 'process'",
        ),
    ],
)
def test_pool_failures_are_grader_failures(tmp_path: Path, pool: FakePool, message: str) -> None:
    from autograder.github.student import GraderFailed

    grader = _student_grader(pool=pool, isolation="bwrap")
    with pytest.raises(GraderFailed) as info:
        grader.run_grader(tmp_path, tmp_path / "r.json")
    assert str(info.value).startswith(message)


@pytest.mark.slow
def test_grade_repos_with_real_servers_reports_their_timeout(tmp_path: Path) -> None:
    from autograder.github.batch import grade_repos
    from tests.student_repos import BEFORE, DEADLINE, student_repo

    for name in ("ada", "bob"):
        student_repo(tmp_path, name, [(BEFORE, {"batchnorm_gradclip_exercise.py": b"x = 1\n"})])
    roster = tmp_path / "roster.csv"
    roster.write_text("student,repo\nada,repos/ada.git\nbob,repos/bob.git\n")
    batch = grade_repos(
        roster=roster,
        out_dir=tmp_path / "out",
        deadline=DEADLINE,
        jobs=2,
        grade_timeout=1.0,  # shorter than a server's start-up: every grading times out
        progress=lambda _: None,
    )
    assert [r.error for r in batch.rows] == ["grader_error: the grader did not finish in 1 s"] * 2
