"""Realistic wrong submissions: each one mistake students make, in one function.

Where a mistake would spill into another function through a call (a wrong compute_grad_norm
called by clip_gradients), the submission keeps the other function independent, the way a
student who wrote it differently would, so that the points are lost only where the mistake is.
"""

from __future__ import annotations

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


def _case(name: str, description: str, tag: str, may: tuple[str, ...] = (), **replace: str):
    return Case(
        name=name,
        description=description,
        replace=replace,
        breaks=frozenset({tag}),
        may_break=frozenset(may),
    )


WRONG: list[Case] = [
    # ---- add_batchnorm -------------------------------------------------------------------
    _case(
        "bn_after_activation",
        "BatchNorm inserted after the activation instead of before it",
        "add_batchnorm",
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
        may=("accuracy",),
        compare_runs=compare_runs_with(ZERO_GRAD="pass"),
    ),
    _case(
        "runs_seed_once",
        "seeds once before both runs instead of before each model",
        "compare_runs",
        compare_runs=compare_runs_with(SEED_ONCE="torch.manual_seed(seed)", SEED_EACH="pass"),
    ),
    _case(
        "runs_clip_after_step",
        "clips after optimizer.step(), so the step uses the unclipped gradient",
        "compare_runs",
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
        compare_runs=compare_runs_with(
            RECORD_AND_CLIP='history["grad_norm"].append(clip_gradients(model, max_norm))'
        ),
    ),
    _case(
        "runs_record_after_clip",
        "records the gradient norm after clipping",
        "compare_runs",
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
        compare_runs=compare_runs_with().replace("        model.eval()\n", "", 1),
    ),
    _case(
        "runs_mean_of_batch_means",
        "train_loss is the mean of the batch means (the last batch is smaller)",
        "compare_runs",
        compare_runs=compare_runs_with(TRAIN_LOSS="sum(batch_means) / len(batch_means)"),
    ),
    _case(
        "runs_ignore_lr",
        "uses a fixed learning rate of 0.01 instead of lr",
        "compare_runs",
        may=("accuracy",),
        compare_runs=compare_runs_with(LR="0.01"),
    ),
    _case(
        "runs_validate_on_train_loader",
        "computes the validation metrics on train_loader",
        "compare_runs",
        compare_runs=compare_runs_with(VAL_LOADER="train_loader"),
    ),
    # ---- bonus ---------------------------------------------------------------------------
    _case(
        "bonus_wraps_builtin",
        "ManualBatchNorm1d delegates to F.batch_norm",
        "bonus",
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
        "bonus_biased_running_var",
        "updates running_var with the biased batch variance",
        "bonus",
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
]
