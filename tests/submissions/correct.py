"""Correct submissions written in the many styles students use: each must get full marks.

Every function of the exercise has a list of correct styles (``STYLES``). ``CORRECT`` combines
them systematically: variant ``i`` takes style ``i mod n`` of each function, so that every style
appears in several variants and no two variants are alike. A few more variants
(``PRELUDES``) are the reference with one kind of module-level code students add at the top of
the file. Each variant names its style per function, so a failure points at the style.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.submissions.build import REFERENCE, TEMPLATE, build_source, definition

FUNCTIONS = ("add_batchnorm", "compute_grad_norm", "clip_gradients", "compare_runs")
BONUS = "ManualBatchNorm1d"
N_COMBINED = 48  # combined variants; each style of each function appears at least 4 times


@dataclass(frozen=True)
class Style:
    """One correct way of writing a function (``code`` may define helpers before it)."""

    name: str
    code: str
    imports: str = ""  # module-level lines the code needs


@dataclass(frozen=True)
class Variant:
    """A correct submission, the style of each of its functions, and whether it does the bonus."""

    name: str
    styles: tuple[tuple[str, str], ...]  # (function or "prelude", style name)
    source: str
    bonus: bool

    def style_of(self, function: str) -> str:
        return dict(self.styles)[function]


# ---- add_batchnorm ---------------------------------------------------------------------------
ADD_BATCHNORM = [
    Style(
        "index_list_type_is",
        """
def add_batchnorm(model):
    layers = list(model)
    weighted = [i for i, m in enumerate(layers) if type(m) is nn.Linear or type(m) is nn.Conv2d]
    new_layers = []
    for i, layer in enumerate(layers):
        new_layers.append(copy.deepcopy(layer))
        if weighted and i in weighted[:-1]:
            if type(layer) is nn.Linear:
                new_layers.append(nn.BatchNorm1d(layer.out_features))
            else:
                new_layers.append(nn.BatchNorm2d(layer.out_channels))
    return nn.Sequential(*new_layers)
""",
    ),
    Style(
        "ordered_dict_named",
        """
def add_batchnorm(model):
    layers = list(model)
    weighted = [i for i, m in enumerate(layers) if isinstance(m, (nn.Linear, nn.Conv2d))]
    named = OrderedDict()
    for i, layer in enumerate(layers):
        named[f"{type(layer).__name__.lower()}{i}"] = copy.deepcopy(layer)
        if i in weighted[:-1]:
            if isinstance(layer, nn.Linear):
                named[f"bn{i}"] = nn.BatchNorm1d(layer.out_features)
            else:
                named[f"bn{i}"] = nn.BatchNorm2d(layer.out_channels)
    return nn.Sequential(named)
""",
        imports="from collections import OrderedDict",
    ),
    Style(
        "add_module_named",
        """
def add_batchnorm(model):
    layers = list(model)
    weighted = [i for i, m in enumerate(layers) if isinstance(m, (nn.Linear, nn.Conv2d))]
    result = nn.Sequential()
    for i, layer in enumerate(layers):
        result.add_module(f"layer{i}", copy.deepcopy(layer))
        if i in weighted[:-1]:
            if isinstance(layer, nn.Conv2d):
                result.add_module(f"bn{i}", nn.BatchNorm2d(layer.out_channels))
            else:
                result.add_module(f"bn{i}", nn.BatchNorm1d(layer.out_features))
    return result
""",
    ),
    Style(
        "deepcopy_then_insert",
        """
def add_batchnorm(model):
    result = copy.deepcopy(model)
    weighted = [i for i, m in enumerate(result) if isinstance(m, (nn.Linear, nn.Conv2d))]
    for i in reversed(weighted[:-1]):  # from the end, so earlier indices stay valid
        layer = result[i]
        if isinstance(layer, nn.Linear):
            result.insert(i + 1, nn.BatchNorm1d(layer.out_features))
        else:
            result.insert(i + 1, nn.BatchNorm2d(layer.out_channels))
    return result
""",
    ),
    Style(
        "append_to_new_sequential",
        """
def add_batchnorm(model):
    weighted = [m for m in model if isinstance(m, nn.Linear | nn.Conv2d)]
    output_layer = weighted[-1] if weighted else None
    result = nn.Sequential()
    for layer in model:
        result.append(copy.deepcopy(layer))
        if isinstance(layer, nn.Linear) and layer is not output_layer:
            result.append(nn.BatchNorm1d(layer.out_features))
        elif isinstance(layer, nn.Conv2d) and layer is not output_layer:
            result.append(nn.BatchNorm2d(layer.out_channels))
    return result
""",
    ),
    Style(
        "named_children_keep_names",
        """
def add_batchnorm(model):
    children = list(model.named_children())
    last = max((i for i, (_, m) in enumerate(children) if isinstance(m, (nn.Linear, nn.Conv2d))),
               default=-1)
    new = OrderedDict()
    for i, (name, layer) in enumerate(children):
        new[name] = copy.deepcopy(layer)
        if i < last and isinstance(layer, nn.Linear):
            new[f"{name}_bn"] = nn.BatchNorm1d(layer.out_features)
        elif i < last and isinstance(layer, nn.Conv2d):
            new[f"{name}_bn"] = nn.BatchNorm2d(layer.out_channels)
    return nn.Sequential(new)
""",
        imports="from collections import OrderedDict",
    ),
    Style(
        "module_level_helper",
        """
def _batchnorm_for(layer):
    if isinstance(layer, nn.Conv2d):
        return nn.BatchNorm2d(layer.out_channels)
    return nn.BatchNorm1d(layer.out_features)


def add_batchnorm(model):
    layers = [copy.deepcopy(m) for m in model]
    hidden = [i for i, m in enumerate(layers) if isinstance(m, (nn.Linear, nn.Conv2d))][:-1]
    out = []
    for i, layer in enumerate(layers):
        out.append(layer)
        if i in hidden:
            out.append(_batchnorm_for(layer))
    return nn.Sequential(*out)
""",
    ),
    Style(
        "deepcopy_model_then_children",
        """
def add_batchnorm(model):
    copied = copy.deepcopy(model)  # one copy of everything; its layers can be reused freely
    layers = list(copied.children())
    positions = [i for i, m in enumerate(layers) if isinstance(m, nn.Linear | nn.Conv2d)]
    new_layers = []
    for i, layer in enumerate(layers):
        new_layers.append(layer)
        if positions and i != positions[-1] and i in positions:
            if isinstance(layer, nn.Linear):
                new_layers.append(nn.BatchNorm1d(layer.out_features))
            else:
                new_layers.append(nn.BatchNorm2d(layer.out_channels))
    return nn.Sequential(*new_layers)
""",
    ),
    Style(
        "lookahead_any",
        """
def add_batchnorm(model):
    layers = list(model)
    result = []
    for i, layer in enumerate(layers):
        result.append(copy.deepcopy(layer))
        followed = any(isinstance(m, (nn.Linear, nn.Conv2d)) for m in layers[i + 1 :])
        if isinstance(layer, nn.Linear) and followed:
            result.append(nn.BatchNorm1d(layer.out_features))
        if isinstance(layer, nn.Conv2d) and followed:
            result.append(nn.BatchNorm2d(layer.out_channels))
    return nn.Sequential(*result)
""",
    ),
    Style(
        "indexing_weight_shape",
        """
def add_batchnorm(model):
    last = None
    for i in range(len(model) - 1, -1, -1):
        if isinstance(model[i], (nn.Linear, nn.Conv2d)):
            last = i
            break
    layers = []
    for i in range(len(model)):
        layer = model[i]
        layers.append(copy.deepcopy(layer))
        if last is not None and i < last:
            width = layer.weight.shape[0] if isinstance(layer, (nn.Linear, nn.Conv2d)) else None
            if isinstance(layer, nn.Linear):
                layers.append(nn.BatchNorm1d(width))
            elif isinstance(layer, nn.Conv2d):
                layers.append(nn.BatchNorm2d(width))
    return nn.Sequential(*layers)
""",
    ),
    Style(
        "chain_of_pairs",
        """
def add_batchnorm(model):
    kinds = {nn.Linear: lambda m: nn.BatchNorm1d(m.out_features),
             nn.Conv2d: lambda m: nn.BatchNorm2d(m.out_channels)}
    weighted = [i for i, m in enumerate(model) if type(m) in kinds]
    hidden = set(weighted[:-1])
    groups = [
        [copy.deepcopy(m), kinds[type(m)](m)] if i in hidden else [copy.deepcopy(m)]
        for i, m in enumerate(model)
    ]
    return nn.Sequential(*itertools.chain.from_iterable(groups))
""",
        imports="import itertools",
    ),
]

# ---- compute_grad_norm -----------------------------------------------------------------------
COMPUTE_GRAD_NORM = [
    Style(
        "get_total_norm",
        """
def compute_grad_norm(model, norm_type=2.0):
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return torch.nn.utils.get_total_norm(grads, norm_type).item()
""",
    ),
    Style(
        "vector_norm_of_norms_float",
        """
def compute_grad_norm(model, norm_type=2.0):
    norms = [torch.linalg.vector_norm(p.grad, ord=norm_type)
             for p in model.parameters() if p.grad is not None]
    if len(norms) == 0:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack(norms), ord=norm_type))
""",
    ),
    Style(
        "cat_flatten",
        """
def compute_grad_norm(model, norm_type=2.0):
    grads = [p.grad.detach().flatten() for p in model.parameters() if p.grad is not None]
    if not grads:
        return 0.0
    return torch.cat(grads).norm(p=norm_type).item()
""",
    ),
    Style(
        "float64_power_sum",
        """
def compute_grad_norm(model, norm_type=2.0):
    grads = [p.grad.detach().double() for p in model.parameters() if p.grad is not None]
    if not grads:
        return 0.0
    if math.isinf(norm_type):
        return max(g.abs().max().item() for g in grads)
    total = sum((g.abs() ** norm_type).sum() for g in grads)
    return float(total ** (1.0 / norm_type))
""",
    ),
    Style(
        "foreach_norm",
        """
def compute_grad_norm(model, norm_type=2.0):
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return 0.0
    per_tensor = torch._foreach_norm(grads, norm_type)
    return torch.linalg.vector_norm(torch.stack(per_tensor), norm_type).item()
""",
    ),
    Style(
        "python_float_loop_float_inf",
        """
def compute_grad_norm(model, norm_type=2.0):
    total = 0.0
    for p in model.parameters():
        if p.grad is None:
            continue
        g = p.grad.detach()
        if norm_type == float("inf"):
            total = max(total, g.abs().max().item())
        else:
            total += g.abs().pow(norm_type).sum().item()
    if norm_type == float("inf"):
        return total
    return total ** (1.0 / norm_type)
""",
    ),
    Style(
        "math_inf_branch_reshape",
        """
def compute_grad_norm(model, norm_type=2.0):
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return 0.0
    if norm_type == math.inf:
        return float(max(g.abs().max() for g in grads))
    flat = torch.cat([g.reshape(-1) for g in grads]).to(torch.float64)
    return float(torch.linalg.vector_norm(flat, norm_type))
""",
    ),
    Style(
        "stack_of_tensor_norms",
        """
def compute_grad_norm(model, norm_type=2.0):
    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return 0.0
    norms = torch.stack([p.grad.detach().norm(norm_type) for p in params])
    return norms.norm(norm_type).item()
""",
    ),
]

# ---- clip_gradients --------------------------------------------------------------------------
CLIP_GRADIENTS = [
    Style(
        "clip_grad_norm_float",
        """
def clip_gradients(model, max_norm, norm_type=2.0):
    total = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm, norm_type=norm_type)
    return float(total)
""",
    ),
    Style(
        "own_norm_grad_mul_",
        """
def clip_gradients(model, max_norm, norm_type=2.0):
    total = compute_grad_norm(model, norm_type)
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        for p in model.parameters():
            if p.grad is not None:
                p.grad.mul_(scale)
    return total
""",
    ),
    Style(
        "own_norm_grad_data_mul_",
        """
def clip_gradients(model, max_norm, norm_type=2.0):
    total_norm = compute_grad_norm(model, norm_type=norm_type)
    clip_coef = max_norm / (total_norm + 1e-6)
    if clip_coef < 1:
        for p in model.parameters():
            if p.grad is not None:
                p.grad.data.mul_(clip_coef)
    return total_norm
""",
    ),
    Style(
        "own_norm_foreach_mul_",
        """
def clip_gradients(model, max_norm, norm_type=2.0):
    total = compute_grad_norm(model, norm_type)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if grads and total > max_norm:
        torch._foreach_mul_(grads, max_norm / (total + 1e-6))
    return total
""",
    ),
    Style(
        "cat_norm_reassign_grad",
        """
def clip_gradients(model, max_norm, norm_type=2.0):
    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return 0.0
    total = torch.cat([p.grad.flatten() for p in params]).norm(norm_type).item()
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        for p in params:
            p.grad = p.grad * scale
    return total
""",
    ),
    Style(
        "own_norm_min_factor_always",
        """
def clip_gradients(model, max_norm, norm_type=2.0):
    total = compute_grad_norm(model, norm_type)
    factor = min(1.0, max_norm / (total + 1e-6))
    for p in model.parameters():
        if p.grad is not None:
            p.grad.detach().mul_(factor)
    return total
""",
    ),
    Style(
        "tensor_norm_clamped_coef",
        """
def clip_gradients(model, max_norm, norm_type=2.0):
    grads = [p.grad.detach() for p in model.parameters() if p.grad is not None]
    if not grads:
        return 0.0
    total = torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(g, norm_type) for g in grads]), norm_type
    )
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef)
    return total.item()
""",
    ),
    Style(
        "get_total_norm_clip_grads_with_norm_",
        """
def clip_gradients(model, max_norm, norm_type=2.0):
    params = [p for p in model.parameters() if p.grad is not None]
    total = torch.nn.utils.get_total_norm([p.grad for p in params], norm_type)
    torch.nn.utils.clip_grads_with_norm_(params, max_norm, total)
    return total.item()
""",
    ),
    Style(
        "own_norm_no_grad_imul",
        """
def clip_gradients(model, max_norm, norm_type=2.0):
    norm = compute_grad_norm(model, norm_type)
    if norm <= max_norm:
        return norm
    with torch.no_grad():
        for param in model.parameters():
            if param.grad is not None:
                param.grad *= max_norm / (norm + 1e-6)
    return norm
""",
    ),
]

# ---- compare_runs ----------------------------------------------------------------------------
COMPARE_RUNS = [
    Style(
        "helpers_criterion_module_inference_mode_defaultdict",
        """
def train_one_epoch(model, loader, optimizer, criterion, history, max_norm=None):
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        history["grad_norm"].append(compute_grad_norm(model))
        if max_norm is not None:
            clip_gradients(model, max_norm)
        optimizer.step()
        total += loss.item() * y.shape[0]
        count += y.shape[0]
    return total / count


def evaluate(model, loader, criterion):
    model.eval()
    total, correct, count = 0.0, 0, 0
    with torch.inference_mode():
        for x, y in loader:
            logits = model(x)
            total += criterion(logits, y).item() * y.shape[0]
            correct += (logits.argmax(1) == y).sum().item()
            count += y.shape[0]
    return total / count, correct / count


def compare_runs(make_model, train_loader, val_loader, *, epochs=2, lr=0.05, max_norm=1.0,
                 seed=0):
    criterion = nn.CrossEntropyLoss()
    results = {}
    for name in ["baseline", "regularized"]:
        torch.manual_seed(seed)
        model = make_model() if name == "baseline" else add_batchnorm(make_model())
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        history = defaultdict(list)
        for epoch in range(epochs):
            clip = max_norm if name == "regularized" else None
            history["train_loss"].append(
                train_one_epoch(model, train_loader, optimizer, criterion, history, clip)
            )
            val_loss, val_acc = evaluate(model, val_loader, criterion)
            history["val_loss"].append(val_loss)
            history["val_acc"].append(val_acc)
        history["model"] = model
        results[name] = history
    return results
""",
        imports="from collections import defaultdict",
    ),
    Style(
        "zero_grad_after_step_set_to_none_false",
        """
def compare_runs(make_model, train_loader, val_loader, *, epochs=2, lr=0.05, max_norm=1.0,
                 seed=0):
    histories = {}
    for run in ("baseline", "regularized"):
        torch.manual_seed(seed)
        model = make_model()
        if run == "regularized":
            model = add_batchnorm(model)
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        h = {"train_loss": [], "val_loss": [], "val_acc": [], "grad_norm": []}
        opt.zero_grad(set_to_none=False)  # clean slate before the first batch
        for _ in range(epochs):
            model.train()
            running, seen = 0.0, 0
            for xb, yb in train_loader:
                loss = F.cross_entropy(model(xb), yb)
                loss.backward()
                h["grad_norm"].append(compute_grad_norm(model))
                if run == "regularized":
                    clip_gradients(model, max_norm)
                opt.step()
                opt.zero_grad(set_to_none=False)
                running += loss.item() * len(yb)
                seen += len(yb)
            h["train_loss"].append(running / seen)
            model.eval()
            val_sum, val_correct, val_seen = 0.0, 0, 0
            with torch.no_grad():
                for xb, yb in val_loader:
                    out = model(xb)
                    val_sum += F.cross_entropy(out, yb, reduction="sum").item()
                    val_correct += (out.argmax(dim=1) == yb).sum().item()
                    val_seen += len(yb)
            h["val_loss"].append(val_sum / val_seen)
            h["val_acc"].append(val_correct / val_seen)
        h["model"] = model
        histories[run] = h
    return histories
""",
    ),
    Style(
        "reduction_sum_over_batch_set_grad_enabled",
        """
def compare_runs(make_model, train_loader, val_loader, *, epochs=2, lr=0.05, max_norm=1.0,
                 seed=0):
    out = {}
    for name in ("baseline", "regularized"):
        torch.manual_seed(seed)
        model = make_model()
        if name == "regularized":
            model = add_batchnorm(model)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        train_losses, val_losses, val_accs, norms = [], [], [], []
        for _ in range(epochs):
            model.train()
            epoch_sum, epoch_n = 0.0, 0
            for x, y in train_loader:
                optimizer.zero_grad()
                batch_sum = F.cross_entropy(model(x), y, reduction="sum")
                loss = batch_sum / x.size(0)
                loss.backward()
                norms.append(compute_grad_norm(model))
                if name == "regularized":
                    clip_gradients(model, max_norm)
                optimizer.step()
                epoch_sum += batch_sum.item()
                epoch_n += x.size(0)
            train_losses.append(epoch_sum / epoch_n)
            model.eval()
            with torch.set_grad_enabled(False):
                loss_sum, hits, n = 0.0, 0, 0
                for x, y in val_loader:
                    logits = model(x)
                    loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
                    hits += int((logits.argmax(1) == y).sum())
                    n += x.size(0)
            val_losses.append(loss_sum / n)
            val_accs.append(hits / n)
        out[name] = {"model": model, "train_loss": train_losses, "val_loss": val_losses,
                     "val_acc": val_accs, "grad_norm": norms}
    return out
""",
    ),
    Style(
        "len_loader_dataset_counts",
        """
def compare_runs(make_model, train_loader, val_loader, *, epochs=2, lr=0.05, max_norm=1.0,
                 seed=0):
    n_train, n_val = len(train_loader.dataset), len(val_loader.dataset)
    histories = {}
    for name in ("baseline", "regularized"):
        torch.manual_seed(seed)
        model = make_model()
        if name == "regularized":
            model = add_batchnorm(model)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        history = {"model": model, "train_loss": [], "val_loss": [], "val_acc": [],
                   "grad_norm": []}
        for _ in range(epochs):
            model.train()
            loss_sum = 0.0
            for x, y in train_loader:
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                history["grad_norm"].append(compute_grad_norm(model))
                if name == "regularized":
                    clip_gradients(model, max_norm)
                optimizer.step()
                loss_sum += loss.item() * len(y)
            history["train_loss"].append(loss_sum / n_train)
            model.eval()
            val_sum, correct = 0.0, 0
            with torch.no_grad():
                for x, y in val_loader:
                    logits = model(x)
                    val_sum += F.cross_entropy(logits, y, reduction="sum").item()
                    correct += (logits.argmax(1) == y).sum().item()
            history["val_loss"].append(val_sum / n_val)
            history["val_acc"].append(correct / n_val)
        histories[name] = history
    return histories
""",
    ),
    Style(
        "model_zero_grad_set_to_none_float_sum",
        """
def compare_runs(make_model, train_loader, val_loader, *, epochs=2, lr=0.05, max_norm=1.0,
                 seed=0):
    histories = {}
    for regularized in (False, True):
        torch.manual_seed(seed)
        model = add_batchnorm(make_model()) if regularized else make_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        history = {"model": model, "train_loss": [], "val_loss": [], "val_acc": [],
                   "grad_norm": []}
        for _ in range(epochs):
            model.train()
            weighted, total = 0.0, 0
            for inputs, targets in train_loader:
                model.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(inputs), targets)
                loss.backward()
                history["grad_norm"].append(compute_grad_norm(model, 2.0))
                if regularized:
                    clip_gradients(model, max_norm=max_norm)
                optimizer.step()
                weighted += loss.item() * targets.numel()
                total += targets.numel()
            history["train_loss"].append(weighted / total)
            model.eval()
            with torch.no_grad():
                losses, correct, total = 0.0, 0.0, 0
                for inputs, targets in val_loader:
                    logits = model(inputs)
                    losses += F.cross_entropy(logits, targets, reduction="sum").item()
                    correct += (logits.argmax(dim=-1) == targets).float().sum().item()
                    total += targets.numel()
            history["val_loss"].append(losses / total)
            history["val_acc"].append(correct / total)
        histories["regularized" if regularized else "baseline"] = history
    return histories
""",
    ),
    Style(
        "torch_utils_norm_and_clip_in_loop",
        """
def compare_runs(make_model, train_loader, val_loader, *, epochs=2, lr=0.05, max_norm=1.0,
                 seed=0):
    histories = {}
    for name in ("baseline", "regularized"):
        torch.manual_seed(seed)
        model = make_model()
        if name == "regularized":
            model = add_batchnorm(model)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        history = {"model": model, "train_loss": [], "val_loss": [], "val_acc": [],
                   "grad_norm": []}
        for _ in range(epochs):
            model.train()
            loss_sum, seen = 0.0, 0
            for x, y in train_loader:
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                grads = [p.grad for p in model.parameters() if p.grad is not None]
                history["grad_norm"].append(torch.nn.utils.get_total_norm(grads).item())
                if name == "regularized":
                    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
                optimizer.step()
                loss_sum += loss.item() * len(y)
                seen += len(y)
            history["train_loss"].append(loss_sum / seen)
            model.eval()
            total, correct, count = 0.0, 0, 0
            with torch.no_grad():
                for x, y in val_loader:
                    logits = model(x)
                    total += F.cross_entropy(logits, y, reduction="sum").item()
                    correct += (logits.argmax(1) == y).sum().item()
                    count += len(y)
            history["val_loss"].append(total / count)
            history["val_acc"].append(correct / count)
        histories[name] = history
    return histories
""",
    ),
    Style(
        "clip_return_recorded_as_norm",
        """
def compare_runs(make_model, train_loader, val_loader, *, epochs=2, lr=0.05, max_norm=1.0,
                 seed=0):
    histories = {}
    for name in ("baseline", "regularized"):
        torch.manual_seed(seed)
        model = make_model()
        if name == "regularized":
            model = add_batchnorm(model)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        history = {"model": model, "train_loss": [], "val_loss": [], "val_acc": [],
                   "grad_norm": []}
        for _ in range(epochs):
            model.train()
            loss_sum, seen = 0.0, 0
            for x, y in train_loader:
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                if name == "regularized":
                    norm = clip_gradients(model, max_norm)  # returns the pre-clip norm
                else:
                    norm = compute_grad_norm(model)
                history["grad_norm"].append(norm)
                optimizer.step()
                loss_sum += loss.item() * len(y)
                seen += len(y)
            history["train_loss"].append(loss_sum / seen)
            model.eval()
            total, correct, count = 0.0, 0, 0
            with torch.no_grad():
                for x, y in val_loader:
                    logits = model(x)
                    total += F.cross_entropy(logits, y, reduction="sum").item()
                    correct += (logits.argmax(1) == y).sum().item()
                    count += len(y)
            history["val_loss"].append(total / count)
            history["val_acc"].append(correct / count)
        histories[name] = history
    return histories
""",
    ),
    Style(
        "train_mode_set_after_validation",
        """
def compare_runs(make_model, train_loader, val_loader, *, epochs=2, lr=0.05, max_norm=1.0,
                 seed=0):
    histories = {}
    for name in ("baseline", "regularized"):
        torch.manual_seed(seed)
        model = make_model()
        if name == "regularized":
            model = add_batchnorm(model)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        history = {"model": model, "train_loss": [], "val_loss": [], "val_acc": [],
                   "grad_norm": []}
        model.train()
        for _ in range(epochs):
            loss_sum, seen = 0.0, 0
            for x, y in train_loader:
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                history["grad_norm"].append(compute_grad_norm(model))
                if name == "regularized":
                    clip_gradients(model, max_norm)
                optimizer.step()
                loss_sum += loss.item() * len(y)
                seen += len(y)
            history["train_loss"].append(loss_sum / seen)
            model.eval()
            total, correct, count = 0.0, 0, 0
            with torch.no_grad():
                for x, y in val_loader:
                    logits = model(x)
                    total += F.cross_entropy(logits, y, reduction="sum").item()
                    correct += (logits.argmax(1) == y).sum().item()
                    count += len(y)
            model.train()  # back to training mode for the next epoch
            history["val_loss"].append(total / count)
            history["val_acc"].append(correct / count)
        histories[name] = history
    return histories
""",
    ),
    Style(
        "run_table_enumerate_float_loss_no_grad_decorator",
        """
def compare_runs(make_model, train_loader, val_loader, *, epochs=2, lr=0.05, max_norm=1.0,
                 seed=0):
    @torch.no_grad()
    def validate(model):
        model.eval()
        loss_total, correct, count = 0.0, 0, 0
        for _, (inputs, labels) in enumerate(val_loader):
            scores = model(inputs)
            loss_total += float(F.cross_entropy(scores, labels, reduction="sum"))
            correct += int((scores.argmax(dim=1) == labels).sum())
            count += labels.size(0)
        return loss_total / count, correct / count

    runs = [("baseline", make_model, None),
            ("regularized", lambda: add_batchnorm(make_model()), max_norm)]
    histories = {}
    for name, build, clip_at in runs:
        torch.manual_seed(seed)
        model = build()
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        history = {"model": model, "train_loss": [], "val_loss": [], "val_acc": [],
                   "grad_norm": []}
        for _ in range(epochs):
            model.train()
            loss_total, count = 0.0, 0
            for _, (inputs, labels) in enumerate(train_loader):
                optimizer.zero_grad()
                loss = F.cross_entropy(model(inputs), labels)
                loss.backward()
                history["grad_norm"].append(compute_grad_norm(model))
                if clip_at is not None:
                    clip_gradients(model, clip_at)
                optimizer.step()
                loss_total += float(loss) * labels.size(0)
                count += labels.size(0)
            history["train_loss"].append(loss_total / count)
            val_loss, val_acc = validate(model)
            history["val_loss"].append(val_loss)
            history["val_acc"].append(val_acc)
        histories[name] = history
    return histories
""",
    ),
    Style(
        "batch_size_weighted_via_loader_attribute",
        """
def compare_runs(make_model, train_loader, val_loader, *, epochs=2, lr=0.05, max_norm=1.0,
                 seed=0):
    steps_per_epoch = len(train_loader)
    histories = {}
    for name in ("baseline", "regularized"):
        torch.manual_seed(seed)
        model = make_model()
        if name == "regularized":
            model = add_batchnorm(model)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        history = {"model": model, "train_loss": [], "val_loss": [], "val_acc": [],
                   "grad_norm": []}
        for _ in range(epochs):
            model.train()
            loss_sum, seen = 0.0, 0
            for step, (x, y) in enumerate(train_loader):
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                history["grad_norm"].append(compute_grad_norm(model))
                if name == "regularized":
                    clip_gradients(model, max_norm)
                optimizer.step()
                # every batch is full except possibly the last one
                n = train_loader.batch_size if step < steps_per_epoch - 1 else len(y)
                loss_sum += loss.item() * n
                seen += n
            history["train_loss"].append(loss_sum / seen)
            model.eval()
            total, correct, count = 0.0, 0, 0
            with torch.no_grad():
                for x, y in val_loader:
                    logits = model(x)
                    total += F.cross_entropy(logits, y, reduction="sum").item()
                    correct += (logits.argmax(1) == y).sum().item()
                    count += len(y)
            history["val_loss"].append(total / count)
            history["val_acc"].append(correct / count)
        histories[name] = history
    return histories
""",
    ),
]

# ---- ManualBatchNorm1d (bonus) ---------------------------------------------------------------
BONUS_STUB = "template_stub"
MANUAL_BATCHNORM = [
    Style(
        "var_unbiased_false_mul_add",
        """
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
            mean, var = x.mean(0), x.var(0, unbiased=False)
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * x.var(0))
        else:
            mean, var = self.running_mean, self.running_var
        return self.weight * (x - mean) / torch.sqrt(var + self.eps) + self.bias
""",
    ),
    Style(
        "squared_deviation_copy_",
        """
class ManualBatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        if not self.training:
            x_hat = (x - self.running_mean) / torch.sqrt(self.running_var + self.eps)
            return self.weight * x_hat + self.bias
        n = x.shape[0]
        mean = x.mean(dim=0)
        var = ((x - mean) ** 2).mean(dim=0)
        with torch.no_grad():
            m = self.momentum
            self.running_mean.copy_((1 - m) * self.running_mean + m * mean)
            self.running_var.copy_((1 - m) * self.running_var + m * var * n / (n - 1))
        x_hat = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight * x_hat + self.bias
""",
    ),
    Style(
        "var_mean_lerp_",
        """
class ManualBatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        if self.training:
            var, mean = torch.var_mean(x, dim=0, correction=0)
            with torch.no_grad():
                n = x.size(0)
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var * n / (n - 1), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias
""",
    ),
    Style(
        "data_assignment",
        """
class ManualBatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        if self.training:
            mean = x.mean(0)
            var = x.var(0, unbiased=False)
            m = self.momentum
            self.running_mean.data = (1 - m) * self.running_mean.data + m * mean.data
            self.running_var.data = (1 - m) * self.running_var.data + m * x.var(0).data
        else:
            mean, var = self.running_mean, self.running_var
        return self.weight * (x - mean) / (var + self.eps).sqrt() + self.bias
""",
    ),
    Style(
        "buffer_reassigned_detached",
        """
class ManualBatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        if self.training:
            mean = x.mean(0)
            var = x.var(0, correction=0)
            m = self.momentum
            self.running_mean = (1 - m) * self.running_mean + m * mean.detach()
            self.running_var = (1 - m) * self.running_var + m * x.detach().var(0, correction=1)
            return self.weight * (x - mean) / torch.sqrt(var + self.eps) + self.bias
        return (self.weight * (x - self.running_mean) / torch.sqrt(self.running_var + self.eps)
                + self.bias)
""",
    ),
    Style(BONUS_STUB, definition(TEMPLATE, BONUS)),
    Style(
        "reset_parameters_no_grad_method",
        """
class ManualBatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.empty(num_features))
        self.bias = nn.Parameter(torch.empty(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.ones_(self.weight)
        nn.init.zeros_(self.bias)

    @torch.no_grad()
    def _update_running(self, mean, unbiased_var):
        self.running_mean.mul_(1 - self.momentum).add_(mean, alpha=self.momentum)
        self.running_var.mul_(1 - self.momentum).add_(unbiased_var, alpha=self.momentum)

    def forward(self, x):
        if self.training:
            mean = x.mean(dim=0, keepdim=True)
            var = x.var(dim=0, keepdim=True, unbiased=False)
            self._update_running(mean.squeeze(0), x.var(dim=0, unbiased=True))
        else:
            mean = self.running_mean.unsqueeze(0)
            var = self.running_var.unsqueeze(0)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias
""",
    ),
]

STYLES: dict[str, list[Style]] = {
    "add_batchnorm": ADD_BATCHNORM,
    "compute_grad_norm": COMPUTE_GRAD_NORM,
    "clip_gradients": CLIP_GRADIENTS,
    "compare_runs": COMPARE_RUNS,
    BONUS: MANUAL_BATCHNORM,
}

# Module-level code students put at the top of the file, each on top of the reference.
PRELUDES = [
    Style("from_exercise_utils_import", "from exercise_utils import plot_runs"),
    Style("import_exercise_utils", "import exercise_utils"),
    Style(
        "exercise_utils_beside_file_via_sys_path",
        """
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from exercise_utils import ProgressLoader, fashion_mnist_loaders
""",
    ),
    Style(
        "seed_print_and_constants_at_import",
        """
torch.manual_seed(0)
DEVICE = torch.device("cpu")
print(f"batchnorm_gradclip_exercise loaded (torch {torch.__version__})")
""",
    ),
]


def _combined(i: int) -> Variant:
    chosen = {function: styles[i % len(styles)] for function, styles in STYLES.items()}
    imports = sorted({s.imports for s in chosen.values() if s.imports})
    source = build_source(
        REFERENCE, {f: s.code for f, s in chosen.items()}, prepend="\n".join(imports)
    )
    return Variant(
        name=f"correct_{i:02d}",
        styles=tuple((f, s.name) for f, s in chosen.items()),
        source=source,
        bonus=chosen[BONUS].name != BONUS_STUB,
    )


def _with_prelude(prelude: Style) -> Variant:
    return Variant(
        name=f"prelude_{prelude.name}",
        styles=(("prelude", prelude.name),),
        source=build_source(REFERENCE, {}, prepend=prelude.code),
        bonus=True,
    )


CORRECT: list[Variant] = [_combined(i) for i in range(N_COMBINED)] + [
    _with_prelude(p) for p in PRELUDES
]
