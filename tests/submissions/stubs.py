"""Do-nothing submissions: well-formed answers that do none of the work. Each must score 0 in
every section, the bonus included."""

from __future__ import annotations

from dataclasses import dataclass

from tests.submissions.build import TEMPLATE, build_source


@dataclass(frozen=True)
class Stub:
    """The template with some functions replaced by code that returns without doing the work."""

    name: str
    description: str
    replace: tuple[tuple[str, str], ...] = ()  # (top-level name, new definition)

    def source(self) -> str:
        return build_source(TEMPLATE, dict(self.replace))


RETURN_MODEL = """
def add_batchnorm(model):
    return model
"""
RETURN_DEEPCOPY = """
def add_batchnorm(model):
    return copy.deepcopy(model)
"""
NORM_ZERO = """
def compute_grad_norm(model, norm_type=2.0):
    return 0.0
"""
CLIP_ZERO = """
def clip_gradients(model, max_norm, norm_type=2.0):
    return 0.0
"""
CLIP_MEASURES_ONLY = """
def clip_gradients(model, max_norm, norm_type=2.0):
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return torch.nn.utils.get_total_norm(grads, norm_type).item()
"""
RUNS_OF_ZEROS = """
def compare_runs(make_model, train_loader, val_loader, *, epochs=2, lr=0.05, max_norm=1.0,
                 seed=0):
    steps = epochs * len(train_loader)
    return {
        name: {"model": make_model(), "train_loss": [0.0] * epochs, "val_loss": [0.0] * epochs,
               "val_acc": [0.0] * epochs, "grad_norm": [0.0] * steps}
        for name in ("baseline", "regularized")
    }
"""
RUNS_SEEDED_UNTRAINED = """
def compare_runs(make_model, train_loader, val_loader, *, epochs=2, lr=0.05, max_norm=1.0,
                 seed=0):
    histories = {}
    for name in ("baseline", "regularized"):
        torch.manual_seed(seed)
        model = make_model() if name == "baseline" else add_batchnorm(make_model())
        histories[name] = {"model": model, "train_loss": [0.0] * epochs,
                           "val_loss": [0.0] * epochs, "val_acc": [0.0] * epochs,
                           "grad_norm": [0.0] * (epochs * len(train_loader))}
    return histories
"""
_BONUS_SHELL = """
class ManualBatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        return FORWARD
"""
BONUS_IDENTITY = _BONUS_SHELL.replace("FORWARD", "x")
BONUS_ZEROS = _BONUS_SHELL.replace("FORWARD", "x * 0.0")

STUBS: list[Stub] = [
    Stub("stub_template", "the template as handed out"),
    Stub(
        "stub_returns_input",
        "add_batchnorm returns the model it was given; compute_grad_norm and clip_gradients "
        "return 0.0",
        (
            ("add_batchnorm", RETURN_MODEL),
            ("compute_grad_norm", NORM_ZERO),
            ("clip_gradients", CLIP_ZERO),
        ),
    ),
    Stub(
        "stub_returns_deepcopy",
        "add_batchnorm returns an unchanged deep copy",
        (("add_batchnorm", RETURN_DEEPCOPY),),
    ),
    Stub(
        "stub_zero_norm_noop_clip",
        "compute_grad_norm returns 0.0; clip_gradients changes nothing and returns 0.0",
        (("compute_grad_norm", NORM_ZERO), ("clip_gradients", CLIP_ZERO)),
    ),
    Stub(
        "stub_clip_measures_without_clipping",
        "clip_gradients returns the total norm and clips nothing",
        (("clip_gradients", CLIP_MEASURES_ONLY),),
    ),
    Stub(
        "stub_runs_of_zeros",
        "compare_runs returns well-formed histories of zeros with untrained models",
        (("compare_runs", RUNS_OF_ZEROS),),
    ),
    Stub(
        "stub_bonus_identity",
        "ManualBatchNorm1d with the right parameters and buffers whose forward returns x",
        (("ManualBatchNorm1d", BONUS_IDENTITY),),
    ),
    Stub(
        "stub_bonus_zeros",
        "ManualBatchNorm1d with the right parameters and buffers whose forward returns zeros",
        (("ManualBatchNorm1d", BONUS_ZEROS),),
    ),
    Stub(
        "stub_everything_well_formed",
        "every function returns a well-formed answer without doing the work",
        (
            ("add_batchnorm", RETURN_DEEPCOPY),
            ("compute_grad_norm", NORM_ZERO),
            ("clip_gradients", CLIP_ZERO),
            ("compare_runs", RUNS_OF_ZEROS),
            ("ManualBatchNorm1d", BONUS_IDENTITY),
        ),
    ),
    Stub(
        "stub_seeded_untrained_runs",
        "compare_runs seeds and builds both models (add_batchnorm returns a copy) but trains "
        "neither",
        (("add_batchnorm", RETURN_DEEPCOPY), ("compare_runs", RUNS_SEEDED_UNTRAINED)),
    ),
]
