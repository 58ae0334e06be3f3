"""``python -m autograder similarity``: a synthetic class built from real sources.

The class (``RESULTS_DIR/submissions/<student>/``): the reference solution with and without its
marker lines, the untouched template twice, three independent correct solutions written in
different styles (each graded 100/100 or 110/100 by the grader when they were written), a copy
of one of them with renamed variables and reordered functions, a notebook copy of another, the
solution notebook behind an untouched template script, a student named like an HTML tag, and
broken entries (no file, a corrupt notebook, a binary file, a non-UTF-8 file, a symbolic link,
300 KB of code).
One report is built for the module; each test reads what it needs from it.
"""

from __future__ import annotations

import ast
import csv
import importlib.util
import io
import json
import re
import sys
import tokenize
from pathlib import Path

import pytest

from autograder.authoring.notebooks import REFERENCE_NOTEBOOK_PATH, notebook_from_source
from autograder.cli import main as cli_main
from autograder.paths import SOLUTION_PATH
from autograder.similarity.collect import (
    UnreadableFile,
    collect_submissions,
    read_code,
    template_codes,
)
from autograder.similarity.command import similarity_report
from autograder.similarity.compare import (
    MIN_MATCHED_TOKENS,
    PAIR_THRESHOLD,
    Fingerprinter,
    counted_characters,
)
from autograder.similarity.reference import marker_lines
from autograder.similarity.report import PAIR_COLUMNS, REFERENCE_COLUMNS, code_lines
from tests.submissions.build import REFERENCE, TEMPLATE, build_source
from tests.tools import skip_or_fail

EXERCISE = "batchnorm_gradclip_exercise.py"
NOTEBOOK = "batchnorm_gradclip_exercise.ipynb"
HOSTILE = "<script>alert(1)"


# Student A: index loops, one flat vector, clip_grad_norm_, a loss module
STUDENT_A = {
    "add_batchnorm": """
def add_batchnorm(model):
    modules = [m for m in model]
    last = max(idx for idx, m in enumerate(modules) if isinstance(m, (nn.Linear, nn.Conv2d)))
    result = nn.Sequential()
    for idx, m in enumerate(modules):
        result.append(copy.deepcopy(m))
        if idx < last and isinstance(m, nn.Linear):
            result.append(nn.BatchNorm1d(m.out_features))
        elif idx < last and isinstance(m, nn.Conv2d):
            result.append(nn.BatchNorm2d(m.out_channels))
    return result
""",
    "compute_grad_norm": """
def compute_grad_norm(model, norm_type=2.0):
    flat = [param.grad.reshape(-1) for param in model.parameters() if param.grad is not None]
    if len(flat) == 0:
        return 0.0
    everything = torch.cat(flat).double()
    if math.isinf(norm_type):
        return everything.abs().max().item()
    return everything.abs().pow(norm_type).sum().pow(1.0 / norm_type).item()
""",
    "clip_gradients": """
def clip_gradients(model, max_norm, norm_type=2.0):
    before = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm, norm_type=norm_type)
    return float(before)
""",
    "compare_runs": """
def compare_runs(make_model, train_loader, val_loader, *, epochs=2, lr=0.05, max_norm=1.0, seed=0):
    results = {}
    for run in ["baseline", "regularized"]:
        torch.manual_seed(seed)
        net = make_model() if run == "baseline" else add_batchnorm(make_model())
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()
        train_losses, val_losses, val_accs, norms = [], [], [], []
        for epoch in range(epochs):
            net.train()
            running, n_seen = 0.0, 0
            for inputs, targets in train_loader:
                opt.zero_grad()
                out = net(inputs)
                batch_loss = loss_fn(out, targets)
                batch_loss.backward()
                norms.append(compute_grad_norm(net))
                if run == "regularized":
                    clip_gradients(net, max_norm)
                opt.step()
                running += batch_loss.item() * targets.shape[0]
                n_seen += targets.shape[0]
            train_losses.append(running / n_seen)
            net.eval()
            v_loss, v_correct, v_n = 0.0, 0, 0
            with torch.no_grad():
                for inputs, targets in val_loader:
                    out = net(inputs)
                    v_loss += loss_fn(out, targets).item() * targets.shape[0]
                    v_correct += (out.argmax(1) == targets).sum().item()
                    v_n += targets.shape[0]
            val_losses.append(v_loss / v_n)
            val_accs.append(v_correct / v_n)
        results[run] = {
            "model": net,
            "train_loss": train_losses,
            "val_loss": val_losses,
            "val_acc": val_accs,
            "grad_norm": norms,
        }
    return results
""",
    "ManualBatchNorm1d": """
class ManualBatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        if not self.training:
            centred = x - self.running_mean
            return self.weight * centred / torch.sqrt(self.running_var + self.eps) + self.bias
        mu = x.mean(0)
        sq = ((x - mu) ** 2).mean(0)
        count = x.size(0)
        with torch.no_grad():
            self.running_mean.copy_((1 - self.momentum) * self.running_mean + self.momentum * mu)
            unbiased = sq * count / (count - 1) if count > 1 else sq
            new_var = (1 - self.momentum) * self.running_var + self.momentum * unbiased
            self.running_var.copy_(new_var)
        return self.weight * (x - mu) / torch.sqrt(sq + self.eps) + self.bias
""",
}

# Student B: helper functions, float64 sums, _foreach_mul_, defaultdict and summed losses
STUDENT_B = {
    "add_batchnorm": """
def _norm_for(layer):
    if isinstance(layer, nn.Conv2d):
        return nn.BatchNorm2d(layer.out_channels)
    return nn.BatchNorm1d(layer.out_features)


def add_batchnorm(model):
    pieces = list(copy.deepcopy(model).children())
    weighted = [layer for layer in pieces if type(layer) in (nn.Linear, nn.Conv2d)]
    output_layer = weighted[-1] if weighted else None
    rebuilt = []
    for layer in pieces:
        rebuilt.append(layer)
        if layer is not output_layer and any(layer is w for w in weighted):
            rebuilt.append(_norm_for(layer))
    return nn.Sequential(*rebuilt)
""",
    "compute_grad_norm": """
def compute_grad_norm(model, norm_type=2.0):
    p = float(norm_type)
    acc = 0.0
    seen_any = False
    for weight in model.parameters():
        if weight.grad is None:
            continue
        seen_any = True
        g = weight.grad.detach().to(torch.float64).abs()
        if p == float("inf"):
            acc = max(acc, g.max().item())
        else:
            acc += g.pow(p).sum().item()
    if not seen_any:
        return 0.0
    return acc if p == float("inf") else acc ** (1.0 / p)
""",
    "clip_gradients": """
def clip_gradients(model, max_norm, norm_type=2.0):
    norm_before = compute_grad_norm(model, norm_type)
    factor = min(1.0, max_norm / (norm_before + 1e-6))
    if factor < 1.0:
        grads = [q.grad for q in model.parameters() if q.grad is not None]
        torch._foreach_mul_(grads, factor)
    return norm_before
""",
    "compare_runs": """
def compare_runs(make_model, train_loader, val_loader, *, epochs=2, lr=0.05, max_norm=1.0, seed=0):
    from collections import defaultdict

    def one_epoch(net, optimizer, clip, log):
        net.train()
        summed, samples = 0.0, 0
        for xb, yb in train_loader:
            optimizer.zero_grad(set_to_none=True)
            total = F.cross_entropy(net(xb), yb, reduction="sum")
            (total / len(yb)).backward()
            log["grad_norm"].append(compute_grad_norm(net))
            if clip:
                clip_gradients(net, max_norm)
            optimizer.step()
            summed += total.item()
            samples += len(yb)
        return summed / samples

    @torch.inference_mode()
    def score(net):
        net.eval()
        summed, hits, samples = 0.0, 0, 0
        for xb, yb in val_loader:
            logits = net(xb)
            summed += F.cross_entropy(logits, yb, reduction="sum").item()
            hits += int((logits.argmax(-1) == yb).sum())
            samples += len(yb)
        return summed / samples, hits / samples

    out = {}
    for label, regularize in (("baseline", False), ("regularized", True)):
        torch.manual_seed(seed)
        net = make_model()
        if regularize:
            net = add_batchnorm(net)
        optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
        log = defaultdict(list)
        for _ in range(epochs):
            log["train_loss"].append(one_epoch(net, optimizer, regularize, log))
            vl, va = score(net)
            log["val_loss"].append(vl)
            log["val_acc"].append(va)
        out[label] = {"model": net, **{key: list(values) for key, values in log.items()}}
    return out
""",
    "ManualBatchNorm1d": """
class ManualBatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        if self.training:
            var, mean = torch.var_mean(x, dim=0, unbiased=False)
            with torch.no_grad():
                n = x.shape[0]
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var * n / max(n - 1, 1), self.momentum)
        else:
            var, mean = self.running_var, self.running_mean
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias
""",
}

# Student C: named layers, per-tensor norms, a hand-written clip, a while loop; no bonus
STUDENT_C = {
    "add_batchnorm": """
def add_batchnorm(model):
    kinds = (nn.Linear, nn.Conv2d)
    positions = [pos for pos in range(len(model)) if isinstance(model[pos], kinds)]
    new_model = nn.Sequential()
    for pos in range(len(model)):
        layer = copy.deepcopy(model[pos])
        new_model.add_module(str(len(new_model)), layer)
        if pos in positions[:-1]:
            width = layer.out_channels if isinstance(layer, nn.Conv2d) else layer.out_features
            bn_class = nn.BatchNorm2d if isinstance(layer, nn.Conv2d) else nn.BatchNorm1d
            new_model.add_module(str(len(new_model)), bn_class(width))
    return new_model
""",
    "compute_grad_norm": """
def compute_grad_norm(model, norm_type=2.0):
    norms = []
    for _, parameter in model.named_parameters():
        if parameter.grad is not None:
            norms.append(parameter.grad.detach().norm(norm_type))
    if not norms:
        return 0.0
    return float(torch.stack(norms).norm(norm_type))
""",
    "clip_gradients": """
def clip_gradients(model, max_norm, norm_type=2.0):
    current = compute_grad_norm(model, norm_type)
    if current <= max_norm:
        return current
    ratio = max_norm / (current + 1e-6)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.grad is not None:
                parameter.grad = parameter.grad * ratio
    return current
""",
    "compare_runs": """
def compare_runs(make_model, train_loader, val_loader, *, epochs=2, lr=0.05, max_norm=1.0, seed=0):
    histories = dict()
    settings = {"baseline": False, "regularized": True}
    for key in settings:
        use_tricks = settings[key]
        torch.manual_seed(seed)
        m = add_batchnorm(make_model()) if use_tricks else make_model()
        sgd = torch.optim.SGD(m.parameters(), lr=lr, momentum=0.9)
        h = dict(model=m, train_loss=[], val_loss=[], val_acc=[], grad_norm=[])
        epoch = 0
        while epoch < epochs:
            m.train()
            loss_total = 0.0
            n_total = 0
            for batch_x, batch_y in train_loader:
                sgd.zero_grad()
                l = F.cross_entropy(m(batch_x), batch_y)
                l.backward()
                h["grad_norm"].append(compute_grad_norm(m, 2.0))
                if use_tricks:
                    clip_gradients(m, max_norm)
                sgd.step()
                loss_total = loss_total + float(l) * batch_x.shape[0]
                n_total = n_total + batch_x.shape[0]
            h["train_loss"].append(loss_total / n_total)
            m.eval()
            with torch.set_grad_enabled(False):
                pairs = [(m(bx), by) for bx, by in val_loader]
            n_val = sum(len(by) for _, by in pairs)
            summed = sum(F.cross_entropy(o, by, reduction="sum").item() for o, by in pairs)
            hits = sum((o.argmax(dim=1) == by).sum().item() for o, by in pairs)
            h["val_loss"].append(summed / n_val)
            h["val_acc"].append(hits / n_val)
            epoch += 1
        histories[key] = h
    return histories
""",
}


def solution(parts: dict[str, str]) -> str:
    """The template with these top-level definitions written in (the rest stays a stub)."""
    return build_source(TEMPLATE, parts)


def rename(source: str, renames: dict[str, str]) -> str:
    """``source`` with every name token in ``renames`` replaced (strings and comments kept)."""
    lines = source.splitlines(keepends=True)
    starts = [
        tok.start
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.NAME and tok.string in renames
    ]
    for row, col in reversed(starts):
        line = lines[row - 1]
        name = re.match(r"\w+", line[col:]).group()
        lines[row - 1] = line[:col] + renames[name] + line[col + len(name) :]
    return "".join(lines)


def move_to_end(source: str, names: list[str]) -> str:
    """``source`` with these top-level definitions moved to the end, in this order."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    spans = {
        node.name: (node.lineno - 1, node.end_lineno)
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in names
    }
    moved = ["\n\n" + "".join(lines[spans[n][0] : spans[n][1]]) for n in names]
    for start, end in sorted(spans.values(), reverse=True):
        del lines[start:end]
    return "".join(lines) + "".join(moved)


RENAMES = {
    "net": "network", "opt": "optimiser", "modules": "layer_list", "m": "mod", "run": "mode",
    "results": "out", "norms": "grad_history", "running": "loss_sum", "n_seen": "count",
    "inputs": "xb", "targets": "yb", "flat": "grads", "everything": "vec", "before": "norm0",
    "train_losses": "tl", "val_losses": "vl", "val_accs": "va", "loss_fn": "criterion",
    "mu": "avg", "sq": "variance",
}  # fmt: skip


def notebook_text(source: str) -> str:
    """A percent-format source as the text of an .ipynb."""
    nbformat = pytest.importorskip("nbformat")
    return nbformat.writes(notebook_from_source(source))


INDEPENDENT = ("indep_a", "indep_b", "indep_c", "ref_plain")
BROKEN = {  # student -> a phrase of the reason the report gives
    "no_file": "no batchnorm_gradclip_exercise.py or",
    "corrupt_notebook": "not a readable Jupyter notebook",
    "binary": "a binary file",
    "latin1": "not UTF-8",
    "linked": "symbolic link",
    "huge": "far larger than any solution",
}


def write_class(root: Path) -> Path:
    """The synthetic class of the module docstring under ``root/submissions``."""
    a, b, c = solution(STUDENT_A), solution(STUDENT_B), solution(STUDENT_C)
    scripts = {
        "ref_plain": REFERENCE,
        "ref_markers": SOLUTION_PATH.read_text(encoding="utf-8"),
        "tmpl_1": TEMPLATE,
        "tmpl_2": TEMPLATE,
        "indep_a": a,
        "indep_b": b,
        "indep_c": c,
        "a_renamed": move_to_end(rename(a, RENAMES), ["clip_gradients", "add_batchnorm"]),
        "both_editions": TEMPLATE,
        HOSTILE: b,
    }
    notebooks = {
        "nb_copy_of_c": notebook_text(rename(c, {"m": "net", "sgd": "optimizer", "h": "hist"})),
        "both_editions": REFERENCE_NOTEBOOK_PATH.read_text(encoding="utf-8"),
        "corrupt_notebook": '{"cells": [',
    }
    subs = root / "submissions"
    for student, text in scripts.items():
        (subs / student).mkdir(parents=True, exist_ok=True)
        (subs / student / EXERCISE).write_text(text, encoding="utf-8")
    for student, text in notebooks.items():
        (subs / student).mkdir(parents=True, exist_ok=True)
        (subs / student / NOTEBOOK).write_text(text, encoding="utf-8")
    (subs / "no_file").mkdir()
    (subs / "no_file" / "notes.txt").write_text("my exercise is in another repository\n")
    (subs / "binary").mkdir()
    (subs / "binary" / EXERCISE).write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00")
    (subs / "latin1").mkdir()
    (subs / "latin1" / EXERCISE).write_bytes("# résumé\nx = 1\n".encode("latin-1"))
    (subs / "linked").mkdir()
    (subs / "linked" / EXERCISE).symlink_to(SOLUTION_PATH)
    (subs / "huge").mkdir()
    (subs / "huge" / EXERCISE).write_text("x = 1\n" * 50_000)  # 300 KB
    return root


@pytest.fixture(scope="module", autouse=True)
def _copydetect() -> None:
    problem = None if importlib.util.find_spec("copydetect") else "copydetect is not installed"
    skip_or_fail(
        problem, ci_message="CI lacks {problem}: scripts/setup.sh --test installs [similarity]"
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    root = write_class(tmp_path_factory.mktemp("class"))
    out = root / "report"
    report = similarity_report(results_dir=root, out_dir=out)
    return root, out, report


@pytest.fixture(scope="module")
def pairs(built) -> list[dict[str, str]]:
    with (built[1] / "pairs.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def summary(built) -> dict:
    return json.loads((built[1] / "similarity.json").read_text(encoding="utf-8"))


def find(pairs: list[dict[str, str]], one: str, other: str) -> tuple[int, dict[str, str]]:
    """The rank (from 0) and row of the pair of these two students."""
    for rank, row in enumerate(pairs):
        if {row["student_a"], row["student_b"]} == {one, other}:
            return rank, row
    raise AssertionError(f"no pair {one} ~ {other} in pairs.csv")


# ----------------------------------------------------------------------------- detection


def test_the_renamed_and_reordered_copy_is_flagged_above_every_independent_pair(pairs):
    rank, row = find(pairs, "indep_a", "a_renamed")
    assert row["flagged"] == "yes"
    assert float(row["similarity"]) >= 0.9
    independent = [
        find(pairs, x, y) for i, x in enumerate(INDEPENDENT) for y in INDEPENDENT[i + 1 :]
    ]
    assert all(rank < r for r, _ in independent)
    assert float(row["similarity"]) > 2 * max(float(r["similarity"]) for _, r in independent)


def test_independent_correct_solutions_are_not_flagged_at_the_default_threshold(pairs):
    for i, one in enumerate(INDEPENDENT):
        for other in INDEPENDENT[i + 1 :]:
            _, row = find(pairs, one, other)
            assert row["flagged"] == "no", row
            assert float(row["similarity"]) < PAIR_THRESHOLD


def test_template_only_submissions_share_nothing_beyond_the_template(pairs, summary):
    _, row = find(pairs, "tmpl_1", "tmpl_2")
    assert (row["similarity"], row["matched_tokens"], row["flagged"]) == ("0.0000", "0", "no")
    for student in ("tmpl_1", "tmpl_2"):
        entry = summary["students"][student]
        assert entry["highest_similarity"] == 0 and entry["partner"] is None
        assert not entry["flagged"] and not entry["reference_copy"]


def test_a_notebook_is_compared_by_its_code_cells(pairs):
    _, row = find(pairs, "indep_c", "nb_copy_of_c")
    assert row["flagged"] == "yes"
    files = {row["student_a"]: row["file_a"], row["student_b"]: row["file_b"]}
    assert files == {"indep_c": EXERCISE, "nb_copy_of_c": NOTEBOOK}


def test_copies_of_the_reference_are_flagged_by_name(built, summary):
    with (built[1] / "reference_copies.csv").open(encoding="utf-8", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert set(rows) == {"ref_plain", "ref_markers", "both_editions"}
    assert int(rows["ref_markers"]["marker_lines"]) == marker_lines(
        SOLUTION_PATH.read_text(encoding="utf-8")
    )
    assert "marker line" in rows["ref_markers"]["evidence"]
    assert rows["ref_plain"]["marker_lines"] == "0"
    assert "matches the reference" in rows["ref_plain"]["evidence"]
    assert rows["both_editions"]["file"] == NOTEBOOK  # the .py is the untouched template
    flagged = {s for s, entry in summary["students"].items() if entry["reference_copy"]}
    assert flagged == set(rows)
    assert {s.student for s in built[2].reference_copies} == set(rows)
    for student in ("indep_a", "indep_b", "indep_c", "a_renamed", "nb_copy_of_c"):
        assert summary["students"][student]["reference_similarity"] < 0.5


def test_scores_are_copydetects_own_numbers(built):
    import copydetect

    documents = collect_submissions(built[0]).documents
    fingerprinter = Fingerprinter(template_codes())
    prints = [fingerprinter.fingerprint(doc.code) for doc in documents]
    compared = 0
    for i, a in enumerate(prints):
        for b in prints[i + 1 :]:
            overlap, (a_in_b, b_in_a), _ = copydetect.compare_files(a.copydetect, b.copydetect)
            score = fingerprinter.score(a, b)
            assert (score.a_in_b, score.b_in_a) == pytest.approx((a_in_b, b_in_a), abs=1e-12)
            coverage = (a.copydetect.token_coverage, b.copydetect.token_coverage)
            assert score.matched == round(min(a_in_b * coverage[0], b_in_a * coverage[1]))
            compared += overlap > 0
    assert compared > 10


def test_marker_lines_are_counted_only_when_whole():
    code = "x = 1\n    ### BEGIN SOLUTION\n# ### END SOLUTION\n    ### HINT: go\n"
    assert marker_lines(code) == 2
    assert marker_lines(TEMPLATE) == 0


# ----------------------------------------------------------------------------- outputs


def test_pairs_csv_has_every_pair_once_most_similar_first(built, pairs):
    compared = built[2].students
    assert len(compared) == 11
    assert list(pairs[0]) == list(PAIR_COLUMNS)
    assert len(pairs) == len(compared) * (len(compared) - 1) // 2
    keys = {frozenset((r["student_a"], r["student_b"])) for r in pairs}
    assert len(keys) == len(pairs)
    sims = [float(r["similarity"]) for r in pairs]
    assert sims == sorted(sims, reverse=True)
    for row in pairs:
        for column in ("similarity", "a_in_b", "b_in_a"):
            assert 0 <= float(row[column]) <= 1
        flagged = float(row["similarity"]) >= PAIR_THRESHOLD and (
            int(row["matched_tokens"]) >= MIN_MATCHED_TOKENS
        )
        assert row["flagged"] == ("yes" if flagged else "no")


def test_similarity_json_has_one_entry_per_compared_student(built, summary, pairs):
    assert summary["generator"] == "bngc-autograder similarity"
    assert summary["threshold"] == PAIR_THRESHOLD
    assert set(summary["students"]) == set(built[2].students)
    for student, entry in summary["students"].items():
        assert set(entry) == {
            "files", "highest_similarity", "partner", "flagged", "reference_similarity",
            "reference_markers", "reference_copy",
        }  # fmt: skip
        mine = [r for r in pairs if student in (r["student_a"], r["student_b"])]
        assert entry["highest_similarity"] == max(float(r["similarity"]) for r in mine)
        assert entry["flagged"] == any(r["flagged"] == "yes" for r in mine)
    assert summary["students"]["a_renamed"]["partner"] == "indep_a"
    assert summary["students"]["both_editions"]["files"] == [EXERCISE, NOTEBOOK]
    with (built[1] / "reference_copies.csv").open(encoding="utf-8") as f:
        assert next(csv.reader(f)) == list(REFERENCE_COLUMNS)


def test_broken_entries_are_skipped_with_a_note(built, summary):
    reasons = {s["student"]: s["reason"] for s in summary["skipped"]}
    assert set(reasons) == set(BROKEN)
    for student, phrase in BROKEN.items():
        assert phrase in reasons[student]
    html = (built[1] / "index.html").read_text(encoding="utf-8")
    for student in BROKEN:
        assert student in html


def test_html_escapes_student_names_and_loads_nothing_from_the_network(built):
    pages = [built[1] / "index.html", *sorted((built[1] / "pairs").glob("pair-*.html"))]
    assert len(pages) > 1
    hostile_pages = 0
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert "<script" not in html
        assert not re.search(r"(src|href)=\"?(https?:)?//", html), page.name
        assert "Content-Security-Policy" in html
        hostile_pages += "&lt;script&gt;alert(1)" in html
    _, row = find(
        list(csv.DictReader((built[1] / "pairs.csv").open(encoding="utf-8"))), HOSTILE, "indep_b"
    )
    assert row["flagged"] == "yes"
    assert hostile_pages >= 2  # the index and the side-by-side page of that pair


def test_the_side_by_side_view_marks_code_and_folds_far_lines():
    code = "".join(f"line_{i} = {i}\n" for i in range(20)) + "# a comment\ncopied = 1\n"
    start = code.index("line_10")
    end = code.index("copied = 1") + len("copied = 1")
    lines = code_lines(code, [(start, end)], counted_characters(code), context=1)
    numbers = [line.number for line in lines]
    assert numbers[0] is None and lines[0].hidden == 9  # lines 1-9 folded
    assert numbers[1:] == list(range(10, 23))
    comment = lines[numbers.index(21)]
    assert comment.pieces == (("# a comment", False),)  # comments never count as matched
    assert ("copied", True) in lines[numbers.index(22)].pieces


# ----------------------------------------------------------------------------- bad input


def test_fewer_than_two_students_give_a_report_that_says_so(tmp_path, capsys):
    (tmp_path / "class" / "submissions" / "alone").mkdir(parents=True)
    (tmp_path / "class" / "submissions" / "alone" / EXERCISE).write_text(REFERENCE)
    assert cli_main(["similarity", str(tmp_path / "class"), "--out", str(tmp_path / "out")]) == 0
    assert "fewer than two students" in capsys.readouterr().out
    html = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "Fewer than two students could be compared" in html
    summary = json.loads((tmp_path / "out" / "similarity.json").read_text(encoding="utf-8"))
    assert summary["students"]["alone"]["highest_similarity"] is None
    assert summary["students"]["alone"]["reference_copy"]
    assert (tmp_path / "out" / "pairs.csv").read_text().splitlines() == [",".join(PAIR_COLUMNS)]


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("missing", "does not exist"),
        ("no-submissions", "has no submissions/ folder"),
    ],
)
def test_a_bad_results_dir_exits_2_with_one_line(tmp_path, capsys, layout, message):
    results = tmp_path / "results"
    if layout == "no-submissions":
        results.mkdir()
        (results / "alice.json").write_text("{}")
    assert cli_main(["similarity", str(results), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_out_refuses_a_foreign_directory_and_rewrites_only_its_own_files(built, tmp_path, capsys):
    root = built[0]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("mine")
    assert cli_main(["similarity", str(root), "--out", str(foreign)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in foreign.iterdir()] == ["thesis.tex"]

    out = tmp_path / "ours"
    assert cli_main(["similarity", str(root), "--out", str(out)]) == 0
    stale = out / "pairs" / "pair-9999.html"
    stale.write_text("an earlier run's page")
    (out / "notes.txt").write_text("the instructor's notes")
    assert cli_main(["similarity", str(root), "--out", str(out), "--threshold", "0.9"]) == 0
    assert not stale.exists()
    assert (out / "notes.txt").read_text() == "the instructor's notes"
    assert json.loads((out / "similarity.json").read_text())["threshold"] == 0.9


@pytest.mark.parametrize("value", ["0", "1.5", "60%", "-0.2"])
def test_a_threshold_outside_0_1_is_refused(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["similarity", str(tmp_path), "--out", str(tmp_path / "o"), "--threshold", value])
    assert exit_info.value.code == 2
    assert "--threshold" in capsys.readouterr().err


def test_without_copydetect_the_command_names_the_extra(built, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "copydetect", None)  # import copydetect now fails
    assert cli_main(["similarity", str(built[0]), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "copydetect" in err and ".[similarity]" in err
    assert not (tmp_path / "out").exists()


def test_notebooks_of_plain_python_need_no_extra(built, tmp_path, capsys, monkeypatch):
    """v4 notebooks are read as JSON: without nbformat, the report is still made."""
    monkeypatch.setitem(sys.modules, "nbformat", None)  # `import nbformat` now fails
    assert cli_main(["similarity", str(built[0]), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out").is_dir()


def test_a_notebook_whose_cells_cannot_be_extracted_is_skipped(tmp_path, monkeypatch):
    path = tmp_path / NOTEBOOK
    path.write_text(REFERENCE_NOTEBOOK_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    assert "def add_batchnorm" in read_code(path)

    def odd_cells(nb, *, name):
        raise TypeError("'int' object is not iterable")

    monkeypatch.setattr("autograder.similarity.collect.notebook_to_script", odd_cells)
    with pytest.raises(UnreadableFile, match=r"code cells cannot be extracted \(TypeError"):
        read_code(path)
