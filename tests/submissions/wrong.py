"""Realistic wrong submissions: each one mistake students make, in one function.

Each case names the tag that must lose points, the tags that may lose points as a consequence
(``accuracy``: the trained models are the end-to-end result), and a regex that the feedback of
its failed checks must match: the hint has to name the real cause.

Most compute_grad_norm mistakes keep clip_gradients independent of compute_grad_norm
(``INDEPENDENT_CLIP``); the ``*_own_clip`` ones keep the template's suggested clip_gradients, which
calls the student's compute_grad_norm: a norm bug must still cost points under compute_grad_norm
only ("one mistake, one section").
"""

from __future__ import annotations

import textwrap

from tests.submissions.build import Case

# clip_gradients written without calling compute_grad_norm (used by compute_grad_norm mistakes)
INDEPENDENT_CLIP = """
def clip_gradients(model, max_norm, norm_type=2.0):
    total = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm, norm_type=norm_type)
    return float(total)
"""
# compare_runs' pieces are reused through small text edits of the reference body
_REF_LOOP = """
def compare_runs(make_model, train_loader, val_loader, *, epochs=2, lr=0.05, max_norm=1.0, seed=0):
    def evaluate(model):
        model.eval()
        total_loss, correct, count = 0.0, 0, 0
        with torch.no_grad():
            for x, y in VAL_LOADER:
                logits = model(x)
                total_loss += F.cross_entropy(logits, y, reduction="sum").item()
                correct += (logits.argmax(dim=1) == y).sum().item()
                count += len(y)
        return total_loss / count, correct / count

    histories = {}
    SEED_ONCE
    for name in ("baseline", "regularized"):
        SEED_EACH
        model = make_model()
        if name == "regularized":
            model = add_batchnorm(model)
        optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)
        history = {"model": model, "train_loss": [], "val_loss": [], "val_acc": [], "grad_norm": []}
        for _ in range(epochs):
            TRAIN_MODE
            loss_sum, seen, batch_means = 0.0, 0, []
            for x, y in train_loader:
                ZERO_GRAD
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                RECORD_AND_CLIP
                optimizer.step()
                AFTER_STEP
                loss_sum += loss.item() * len(y)
                seen += len(y)
                batch_means.append(loss.item())
            history["train_loss"].append(TRAIN_LOSS)
            val_loss, val_acc = evaluate(model)
            history["val_loss"].append(val_loss)
            history["val_acc"].append(val_acc)
        histories[name] = history
    return histories
"""
_DEFAULTS = {
    "VAL_LOADER": "val_loader",
    "SEED_ONCE": "pass",
    "SEED_EACH": "torch.manual_seed(seed)",
    "LR": "lr",
    "TRAIN_MODE": "model.train()",
    "ZERO_GRAD": "optimizer.zero_grad()",
    "RECORD_AND_CLIP": (
        'history["grad_norm"].append(compute_grad_norm(model))\n'
        '                if name == "regularized":\n'
        "                    clip_gradients(model, max_norm)"
    ),
    "AFTER_STEP": "pass",
    "TRAIN_LOSS": "loss_sum / seen",
}


def compare_runs_with(**changes: str) -> str:
    """The reference compare_runs with some of its lines changed."""
    code = _REF_LOOP
    for key, value in {**_DEFAULTS, **changes}.items():
        code = code.replace(key, value)
    return code


def _case(
    name: str, description: str, tag: str, hint: str, may: tuple[str, ...] = (), **replace: str
) -> Case:
    """A mistake in the function of ``tag``; ``hint`` is a regex its feedback must match."""
    return Case(
        name=name,
        description=description,
        replace=replace,
        breaks=frozenset({tag}),
        may_break=frozenset(may),
        hint=hint,
    )


_MANUAL_BN_INIT = """
class ManualBatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
"""


def _manual_batchnorm(forward_body: str) -> str:
    """A ManualBatchNorm1d with the right parameters and buffers and the given forward body."""
    return _MANUAL_BN_INIT + textwrap.indent(textwrap.dedent(forward_body).strip("\n"), " " * 8)


WRONG: list[Case] = [
    # ---- add_batchnorm -------------------------------------------------------------------
    _case(
        "bn_after_activation",
        "BatchNorm inserted after the activation instead of before it",
        "add_batchnorm",
        r"before its activation|right after",
        add_batchnorm="""
        def add_batchnorm(model):
            layers = list(model)
            weighted = [i for i, m in enumerate(layers) if isinstance(m, nn.Linear | nn.Conv2d)]
            new, pending = [], None
            for i, layer in enumerate(layers):
                new.append(copy.deepcopy(layer))
                if pending is not None and not isinstance(layer, nn.Linear | nn.Conv2d):
                    new.append(pending)
                    pending = None
                if i in weighted[:-1]:
                    pending = (nn.BatchNorm1d(layer.out_features) if isinstance(layer, nn.Linear)
                               else nn.BatchNorm2d(layer.out_channels))
            return nn.Sequential(*new)
        """,
    ),
    _case(
        "bn_after_output_layer",
        "BatchNorm after every Linear/Conv2d, the output layer included",
        "add_batchnorm",
        r"output layer",
        may=("accuracy",),
        add_batchnorm="""
        def add_batchnorm(model):
            new = []
            for layer in model:
                new.append(copy.deepcopy(layer))
                if isinstance(layer, nn.Linear):
                    new.append(nn.BatchNorm1d(layer.out_features))
                elif isinstance(layer, nn.Conv2d):
                    new.append(nn.BatchNorm2d(layer.out_channels))
            return nn.Sequential(*new)
        """,
    ),
    _case(
        "bn1d_after_conv",
        "BatchNorm1d after Conv2d layers too (shape error on 4-D input)",
        "add_batchnorm",
        r"BatchNorm2d",
        add_batchnorm="""
        def add_batchnorm(model):
            layers = list(model)
            weighted = [i for i, m in enumerate(layers) if isinstance(m, nn.Linear | nn.Conv2d)]
            new = []
            for i, layer in enumerate(layers):
                new.append(copy.deepcopy(layer))
                if i in weighted[:-1]:
                    width = getattr(layer, "out_features", None) or layer.out_channels
                    new.append(nn.BatchNorm1d(width))
            return nn.Sequential(*new)
        """,
    ),
    _case(
        "modifies_input_model",
        "inserts into the model it was given and returns that same object",
        "add_batchnorm",
        r"do not insert into|model you were given|same object",
        add_batchnorm="""
        def add_batchnorm(model):
            layers = list(model)
            weighted = [i for i, m in enumerate(layers) if isinstance(m, nn.Linear | nn.Conv2d)]
            for i in reversed(weighted[:-1]):
                layer = layers[i]
                bn = (nn.BatchNorm1d(layer.out_features) if isinstance(layer, nn.Linear)
                      else nn.BatchNorm2d(layer.out_channels))
                model.insert(i + 1, bn)
            return model
        """,
    ),
    _case(
        "shares_layers",
        "puts the original layer objects into the new model (no copy)",
        "add_batchnorm",
        r"deepcopy|shares (its|their) (weights|parameters)",
        add_batchnorm="""
        def add_batchnorm(model):
            layers = list(model)
            weighted = [i for i, m in enumerate(layers) if isinstance(m, nn.Linear | nn.Conv2d)]
            new = []
            for i, layer in enumerate(layers):
                new.append(layer)
                if i in weighted[:-1]:
                    new.append(nn.BatchNorm1d(layer.out_features) if isinstance(layer, nn.Linear)
                               else nn.BatchNorm2d(layer.out_channels))
            return nn.Sequential(*new)
        """,
    ),
    _case(
        "bn_without_affine",
        "BatchNorm1d(n, affine=False, momentum=0.01) instead of the defaults",
        "add_batchnorm",
        r"without extra arguments|default",
        may=("accuracy",),
        add_batchnorm="""
        def add_batchnorm(model):
            layers = list(model)
            weighted = [i for i, m in enumerate(layers) if isinstance(m, nn.Linear | nn.Conv2d)]
            new = []
            for i, layer in enumerate(layers):
                new.append(copy.deepcopy(layer))
                if i in weighted[:-1]:
                    if isinstance(layer, nn.Linear):
                        new.append(nn.BatchNorm1d(layer.out_features, affine=False, momentum=0.01))
                    else:
                        new.append(nn.BatchNorm2d(layer.out_channels, affine=False, momentum=0.01))
            return nn.Sequential(*new)
        """,
    ),
    _case(
        "drops_other_layers",
        "rebuilds the model from its Linear/Conv2d and activation layers only",
        "add_batchnorm",
        r"copy every layer",
        add_batchnorm="""
        def add_batchnorm(model):
            layers = [m for m in model if isinstance(m, nn.Linear | nn.Conv2d | nn.ReLU | nn.Tanh
                                                     | nn.Flatten)]
            weighted = [i for i, m in enumerate(layers) if isinstance(m, nn.Linear | nn.Conv2d)]
            new = []
            for i, layer in enumerate(layers):
                new.append(copy.deepcopy(layer))
                if i in weighted[:-1]:
                    new.append(nn.BatchNorm1d(layer.out_features) if isinstance(layer, nn.Linear)
                               else nn.BatchNorm2d(layer.out_channels))
            return nn.Sequential(*new)
        """,
    ),
    # ---- compute_grad_norm ---------------------------------------------------------------
    _case(
        "norm_sum_of_tensor_norms",
        "adds up the per-parameter norms",
        "compute_grad_norm",
        r"sum of the per-tensor norms",
        compute_grad_norm="""
        def compute_grad_norm(model, norm_type=2.0):
            return float(sum(p.grad.norm(norm_type).item() for p in model.parameters()
                             if p.grad is not None))
        """,
        clip_gradients=INDEPENDENT_CLIP,
    ),
    _case(
        "norm_ignores_norm_type",
        "always computes the 2-norm",
        "compute_grad_norm",
        r"norm_type ignored",
        compute_grad_norm="""
        def compute_grad_norm(model, norm_type=2.0):
            grads = [p.grad.flatten() for p in model.parameters() if p.grad is not None]
            return torch.cat(grads).norm().item() if grads else 0.0
        """,
        clip_gradients=INDEPENDENT_CLIP,
    ),
    _case(
        "norm_returns_tensor",
        "returns a 0-d tensor instead of a Python float",
        "compute_grad_norm",
        r"Python float|\.item\(\)",
        compute_grad_norm="""
        def compute_grad_norm(model, norm_type=2.0):
            grads = [p.grad.detach() for p in model.parameters() if p.grad is not None]
            if not grads:
                return 0.0
            per = torch.stack([torch.linalg.vector_norm(g, ord=float(norm_type)) for g in grads])
            return torch.linalg.vector_norm(per, ord=float(norm_type))
        """,
        clip_gradients=INDEPENDENT_CLIP,
    ),
    _case(
        "norm_crashes_on_missing_grads",
        "does not skip parameters whose .grad is None",
        "compute_grad_norm",
        r"\.grad is None|skip parameters|NoneType",
        compute_grad_norm="""
        def compute_grad_norm(model, norm_type=2.0):
            per = torch.stack([torch.linalg.vector_norm(p.grad, ord=float(norm_type))
                               for p in model.parameters()])
            return torch.linalg.vector_norm(per, ord=float(norm_type)).item()
        """,
        clip_gradients=INDEPENDENT_CLIP,
    ),
    # ---- clip_gradients ------------------------------------------------------------------
    _case(
        "clip_per_tensor",
        "clips each parameter's gradient to max_norm separately",
        "clip_gradients",
        r"per-tensor",
        clip_gradients="""
        def clip_gradients(model, max_norm, norm_type=2.0):
            total = compute_grad_norm(model, norm_type)
            for p in model.parameters():
                if p.grad is not None:
                    n = p.grad.norm(norm_type).item()
                    if n > max_norm:
                        p.grad.mul_(max_norm / (n + 1e-6))
            return total
        """,
    ),
    _case(
        "clip_by_value",
        "clamps every gradient entry to [-max_norm, max_norm] (value clipping)",
        "clip_gradients",
        r"clamp|value clipping",
        clip_gradients="""
        def clip_gradients(model, max_norm, norm_type=2.0):
            total = compute_grad_norm(model, norm_type)
            for p in model.parameters():
                if p.grad is not None:
                    p.grad.clamp_(-max_norm, max_norm)
            return total
        """,
    ),
    _case(
        "clip_scales_up",
        "always rescales to max_norm, scaling small gradients up",
        "clip_gradients",
        r"never scale gradients up",
        may=("accuracy",),
        clip_gradients="""
        def clip_gradients(model, max_norm, norm_type=2.0):
            total = compute_grad_norm(model, norm_type)
            for p in model.parameters():
                if p.grad is not None:
                    p.grad.mul_(max_norm / (total + 1e-6))
            return total
        """,
    ),
    _case(
        "clip_returns_norm_after",
        "returns the norm after clipping",
        "clip_gradients",
        r"before rescaling|not the norm after",
        clip_gradients="""
        def clip_gradients(model, max_norm, norm_type=2.0):
            total = compute_grad_norm(model, norm_type)
            if total > max_norm:
                for p in model.parameters():
                    if p.grad is not None:
                        p.grad.mul_(max_norm / (total + 1e-6))
            return compute_grad_norm(model, norm_type)
        """,
    ),
    _case(
        "clip_ignores_norm_type",
        "measures the 2-norm whatever norm_type says",
        "clip_gradients",
        r"norm_type",
        clip_gradients="""
        def clip_gradients(model, max_norm, norm_type=2.0):
            total = compute_grad_norm(model)
            if total > max_norm:
                for p in model.parameters():
                    if p.grad is not None:
                        p.grad.mul_(max_norm / (total + 1e-6))
            return total
        """,
    ),
    # ---- compare_runs --------------------------------------------------------------------
    _case(
        "runs_without_zero_grad",
        "never zeroes the gradients",
        "compare_runs",
        r"zero_grad",
        may=("accuracy",),
        compare_runs=compare_runs_with(ZERO_GRAD="pass"),
    ),
    _case(
        "runs_seed_once",
        "seeds once before both runs instead of before each model",
        "compare_runs",
        r"manual_seed\(seed\)",
        compare_runs=compare_runs_with(SEED_ONCE="torch.manual_seed(seed)", SEED_EACH="pass"),
    ),
    _case(
        "runs_clip_after_step",
        "clips after optimizer.step(), so the step uses the unclipped gradient",
        "compare_runs",
        r"before optimizer\.step\(\)",
        compare_runs=compare_runs_with(
            RECORD_AND_CLIP='history["grad_norm"].append(compute_grad_norm(model))',
            AFTER_STEP=(
                'if name == "regularized":\n                    clip_gradients(model, max_norm)'
            ),
        ),
    ),
    _case(
        "runs_clip_both",
        "clips in the baseline run too",
        "compare_runs",
        r"clip only in the regularized run|regularized run only",
        compare_runs=compare_runs_with(
            RECORD_AND_CLIP='history["grad_norm"].append(clip_gradients(model, max_norm))'
        ),
    ),
    _case(
        "runs_record_after_clip",
        "records the gradient norm after clipping",
        "compare_runs",
        r"before clipping",
        compare_runs=compare_runs_with(
            RECORD_AND_CLIP=(
                'if name == "regularized":\n'
                "                    clip_gradients(model, max_norm)\n"
                '                history["grad_norm"].append(compute_grad_norm(model))'
            )
        ),
    ),
    _case(
        "runs_validate_in_train_mode",
        "validates without model.eval() (BatchNorm uses batch statistics)",
        "compare_runs",
        r"model\.eval\(\)",
        compare_runs=compare_runs_with().replace("        model.eval()\n", "", 1),
    ),
    _case(
        "runs_mean_of_batch_means",
        "train_loss is the mean of the batch means (the last batch is smaller)",
        "compare_runs",
        r"last batch",
        compare_runs=compare_runs_with(TRAIN_LOSS="sum(batch_means) / len(batch_means)"),
    ),
    _case(
        "runs_ignore_lr",
        "uses a fixed learning rate of 0.01 instead of lr",
        "compare_runs",
        r"lr=lr|learning rate",
        may=("accuracy",),
        compare_runs=compare_runs_with(LR="0.01"),
    ),
    _case(
        "runs_validate_on_train_loader",
        "computes the validation metrics on train_loader",
        "compare_runs",
        r"val_loader",
        compare_runs=compare_runs_with(VAL_LOADER="train_loader"),
    ),
    # ---- bonus ---------------------------------------------------------------------------
    _case(
        "bonus_wraps_builtin",
        "ManualBatchNorm1d delegates to F.batch_norm",
        "bonus",
        r"not allowed|tensor operations only",
        ManualBatchNorm1d="""
        class ManualBatchNorm1d(nn.Module):
            def __init__(self, num_features, eps=1e-5, momentum=0.1):
                super().__init__()
                self.eps, self.momentum = eps, momentum
                self.weight = nn.Parameter(torch.ones(num_features))
                self.bias = nn.Parameter(torch.zeros(num_features))
                self.register_buffer("running_mean", torch.zeros(num_features))
                self.register_buffer("running_var", torch.ones(num_features))

            def forward(self, x):
                return F.batch_norm(x, self.running_mean, self.running_var, self.weight,
                                    self.bias, self.training, self.momentum, self.eps)
        """,
    ),
    _case(
        "bonus_wraps_native_batch_norm",
        "ManualBatchNorm1d calls torch.native_batch_norm (no Python-level batch_norm at all)",
        "bonus",
        r"not allowed|tensor operations only",
        ManualBatchNorm1d="""
        class ManualBatchNorm1d(nn.Module):
            def __init__(self, num_features, eps=1e-5, momentum=0.1):
                super().__init__()
                self.eps, self.momentum = eps, momentum
                self.weight = nn.Parameter(torch.ones(num_features))
                self.bias = nn.Parameter(torch.zeros(num_features))
                self.register_buffer("running_mean", torch.zeros(num_features))
                self.register_buffer("running_var", torch.ones(num_features))

            def forward(self, x):
                return torch.native_batch_norm(x, self.weight, self.bias, self.running_mean,
                                               self.running_var, self.training, self.momentum,
                                               self.eps)[0]
        """,
    ),
    _case(
        "bonus_biased_running_var",
        "updates running_var with the biased batch variance",
        "bonus",
        r"unbiased",
        ManualBatchNorm1d="""
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
                    mean, var = x.mean(0), x.var(0, unbiased=False)
                    with torch.no_grad():
                        self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                        self.running_var.mul_(1 - self.momentum).add_(self.momentum * var)
                else:
                    mean, var = self.running_mean, self.running_var
                return self.weight * (x - mean) / torch.sqrt(var + self.eps) + self.bias
        """,
    ),
    # ---- more add_batchnorm ---------------------------------------------------------------
    _case(
        "bn_num_features_from_input",
        "BatchNorm1d(in_features) instead of out_features (shape error in forward)",
        "add_batchnorm",
        r"num_features",
        may=("accuracy",),
        add_batchnorm="""
        def add_batchnorm(model):
            layers = list(model)
            weighted = [i for i, m in enumerate(layers) if isinstance(m, nn.Linear | nn.Conv2d)]
            new = []
            for i, layer in enumerate(layers):
                new.append(copy.deepcopy(layer))
                if i in weighted[:-1]:
                    new.append(nn.BatchNorm1d(layer.in_features) if isinstance(layer, nn.Linear)
                               else nn.BatchNorm2d(layer.in_channels))
            return nn.Sequential(*new)
        """,
    ),
    _case(
        "bn_only_after_linear",
        "only Linear layers count as weighted: hidden Conv2d layers get no BatchNorm2d",
        "add_batchnorm",
        r"Conv2d counts as hidden|BatchNorm2d",
        add_batchnorm="""
        def add_batchnorm(model):
            layers = list(model)
            linear = [i for i, m in enumerate(layers) if isinstance(m, nn.Linear)]
            new = []
            for i, layer in enumerate(layers):
                new.append(copy.deepcopy(layer))
                if i in linear[:-1]:
                    new.append(nn.BatchNorm1d(layer.out_features))
            return nn.Sequential(*new)
        """,
    ),
    # ---- compute_grad_norm mistakes under the template's clip_gradients (calls them) ----------
    _case(
        "norm_no_inf_case_own_clip",
        "(sum |g|^p)^(1/p) for every p, also p = inf (gives 1.0); clip_gradients calls it",
        "compute_grad_norm",
        r"inf",
        may=("accuracy",),
        compute_grad_norm="""
        def compute_grad_norm(model, norm_type=2.0):
            total = 0.0
            for p in model.parameters():
                if p.grad is not None:
                    total += p.grad.abs().pow(norm_type).sum().item()
            return total ** (1.0 / norm_type)
        """,
    ),
    _case(
        "norm_sum_of_tensor_norms_own_clip",
        "adds up the per-parameter norms; clip_gradients calls it",
        "compute_grad_norm",
        r"sum of the per-tensor norms",
        may=("accuracy",),
        compute_grad_norm="""
        def compute_grad_norm(model, norm_type=2.0):
            return float(sum(p.grad.norm(norm_type).item() for p in model.parameters()
                             if p.grad is not None))
        """,
    ),
    _case(
        "norm_without_root_own_clip",
        "returns sum |g|^p without the p-th root; clip_gradients calls it",
        "compute_grad_norm",
        r"no root",
        may=("accuracy",),
        compute_grad_norm="""
        def compute_grad_norm(model, norm_type=2.0):
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            if not grads:
                return 0.0
            if norm_type == float("inf"):
                return max(g.abs().max().item() for g in grads)
            return sum(g.abs().pow(norm_type).sum() for g in grads).item()
        """,
    ),
    _case(
        "norm_returns_tensor_own_clip",
        "returns a 0-d tensor instead of a Python float; clip_gradients returns what it got",
        "compute_grad_norm",
        r"Python float|\.item\(\)",
        compute_grad_norm="""
        def compute_grad_norm(model, norm_type=2.0):
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            if not grads:
                return 0.0
            return torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads]), norm_type)
        """,
    ),
    _case(
        "norm_modifies_gradients",
        "computes |g| in place (p.grad.abs_()), changing the gradients it measures",
        "compute_grad_norm",
        r"in-place|only read p\.grad",
        may=("accuracy",),
        compute_grad_norm="""
        def compute_grad_norm(model, norm_type=2.0):
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            if not grads:
                return 0.0
            flat = torch.cat([g.abs_().flatten() for g in grads])
            if norm_type == float("inf"):
                return flat.max().item()
            return flat.pow(norm_type).sum().pow(1.0 / norm_type).item()
        """,
        clip_gradients=INDEPENDENT_CLIP,
    ),
    # ---- more clip_gradients -------------------------------------------------------------
    _case(
        "clip_returns_tensor",
        "returns the tensor that torch.nn.utils.clip_grad_norm_ returns",
        "clip_gradients",
        r"\.item\(\)",
        clip_gradients="""
        def clip_gradients(model, max_norm, norm_type=2.0):
            return torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm, norm_type)
        """,
    ),
    _case(
        "clip_scales_parameters",
        "multiplies the parameters (p.data) instead of their gradients",
        "clip_gradients",
        r"p\.grad, not p",
        may=("accuracy",),
        clip_gradients="""
        def clip_gradients(model, max_norm, norm_type=2.0):
            total = compute_grad_norm(model, norm_type)
            if total > max_norm:
                for p in model.parameters():
                    if p.grad is not None:
                        p.data.mul_(max_norm / (total + 1e-6))
            return total
        """,
    ),
    # ---- more compare_runs ---------------------------------------------------------------
    _case(
        "runs_train_mode_once",
        "model.train() once before the epoch loop: epochs after the first train in eval mode",
        "compare_runs",
        r"train\(\).*every epoch",
        may=("accuracy",),
        compare_runs=compare_runs_with(TRAIN_MODE="pass").replace(
            "        for _ in range(epochs):\n",
            "        model.train()\n        for _ in range(epochs):\n",
            1,
        ),
    ),
    _case(
        "runs_validate_with_gradients",
        "validates without torch.no_grad()",
        "compare_runs",
        r"no_grad",
        compare_runs=compare_runs_with().replace("with torch.no_grad():", "if True:", 1),
    ),
    _case(
        "runs_val_acc_in_percent",
        "val_acc in percent instead of a fraction",
        "compare_runs",
        r"not %|fraction",
        compare_runs=compare_runs_with().replace(
            "return total_loss / count, correct / count",
            "return total_loss / count, 100.0 * correct / count",
            1,
        ),
    ),
    _case(
        "runs_grad_norm_per_epoch",
        "records one gradient norm per epoch (after the last batch) instead of one per step",
        "compare_runs",
        r"one grad_norm per optimizer step",
        compare_runs=compare_runs_with(
            RECORD_AND_CLIP=(
                'if name == "regularized":\n                    clip_gradients(model, max_norm)'
            ),
            TRAIN_LOSS=(
                'loss_sum / seen)\n            history["grad_norm"].append(compute_grad_norm(model)'
            ),
        ),
    ),
    _case(
        "runs_adam",
        "trains with torch.optim.Adam instead of SGD with momentum",
        "compare_runs",
        r"SGD",
        may=("accuracy",),
        compare_runs=compare_runs_with().replace(
            "torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)",
            "torch.optim.Adam(model.parameters(), lr=lr)",
            1,
        ),
    ),
    # ---- more bonus ----------------------------------------------------------------------
    _case(
        "bonus_eval_uses_batch_statistics",
        "ManualBatchNorm1d normalises with the batch statistics in eval mode too",
        "bonus",
        r"running_mean and running_var|running statistics",
        ManualBatchNorm1d=_manual_batchnorm(
            """
            mean, var = x.mean(0), x.var(0, unbiased=False)
            if self.training:
                with torch.no_grad():
                    self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                    self.running_var.mul_(1 - self.momentum).add_(self.momentum * x.var(0))
            return self.weight * (x - mean) / torch.sqrt(var + self.eps) + self.bias
            """
        ),
    ),
    _case(
        "bonus_eps_outside_sqrt",
        "ManualBatchNorm1d divides by sqrt(var) + eps",
        "bonus",
        r"eps inside the square root",
        ManualBatchNorm1d=_manual_batchnorm(
            """
            if self.training:
                mean, var = x.mean(0), x.var(0, unbiased=False)
                with torch.no_grad():
                    self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                    self.running_var.mul_(1 - self.momentum).add_(self.momentum * x.var(0))
            else:
                mean, var = self.running_mean, self.running_var
            return self.weight * (x - mean) / (torch.sqrt(var) + self.eps) + self.bias
            """
        ),
    ),
    _case(
        "bonus_running_stats_with_autograd_history",
        "ManualBatchNorm1d updates its buffers outside torch.no_grad(): they keep autograd history",
        "bonus",
        r"no_grad|autograd history",
        ManualBatchNorm1d=_manual_batchnorm(
            """
            if self.training:
                mean, var = x.mean(0), x.var(0, unbiased=False)
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * x.var(0))
            else:
                mean, var = self.running_mean, self.running_var
            return self.weight * (x - mean) / torch.sqrt(var + self.eps) + self.bias
            """
        ),
    ),
]
