# %% [markdown]
# # Batch Normalization and Gradient Clipping
#
# Deep networks train faster and more reliably when two things stay under control: the scale of
# the activations flowing forward and the size of the gradients flowing backward. This exercise
# gives you one tool for each and an experiment that shows what they change.
#
# * **Batch normalisation** (Ioffe & Szegedy, 2015) re-centres and re-scales the outputs of a
#   layer with the statistics of the current mini-batch, then lets the network learn the scale and
#   shift it actually wants. Every layer then sees inputs of a stable scale, whatever the layers
#   before it are doing, which tolerates larger learning rates and makes training less sensitive to
#   the initialisation.
# * **Gradient clipping** bounds the length of the whole gradient vector before each optimizer
#   step. One unlucky batch can produce a huge gradient; with momentum, a single huge step can throw
#   the weights far away. Clipping keeps the direction of the gradient and only shortens it.
#
# You will implement four functions (and, for extra credit, one class), then train a baseline MLP
# and a BatchNorm + clipping MLP on Fashion-MNIST under identical conditions and compare them.
#
# **How to work in this notebook.** Run the cells from top to bottom. Edit only the regions marked
# `# YOUR CODE HERE` (replace the stub that raises the "not implemented yet" error with your code);
# do not rename anything, the grader imports these names. After each function, a cell
# `check("...")` runs that function's public tests on your code and prints what passed. Keep
# `exercise_utils.py` and the `tests` folder beside this notebook: `check` and the experiment at
# the end use them. The grader runs the code cells of this notebook, except the `check` and
# experiment cells (IPython magics such as `%time` and shell escapes such as `!pip` are removed
# before grading, so do not rely on them). The analysis questions at the end get your answers in
# the cells marked for them.

# %%
"""Batch Normalization and Gradient Clipping: exercise on Fashion-MNIST.

You will implement four functions (and, for extra credit, one class):

1. ``add_batchnorm``      insert BatchNorm after every hidden Linear / Conv2d of a model
2. ``compute_grad_norm``  the total norm of all gradients of a model, as one vector
3. ``clip_gradients``     rescale all gradients together so that their total norm is bounded
4. ``compare_runs``       train a baseline and a BatchNorm + clipping model under identical
                          conditions and record their training histories
5. ``ManualBatchNorm1d``  (bonus) batch normalisation written with tensor operations only

Edit only the regions between ``# YOUR CODE HERE`` markers of this file; do not rename anything,
the grader imports these names. Run the public tests with ``pytest tests`` (``pytest tests -k
clip`` for some of them), and run this file (``python batchnorm_gradclip_exercise.py``) to train
both models on Fashion-MNIST: it prints a summary and writes ``runs/runs.png`` (the figure you
analyse) and ``runs/metrics.json``; ``--help`` lists the settings, ``--unstable`` is the preset
that makes the baseline diverge. The quick reference sheet ``REFERENCE.md`` has the PyTorch you
need.

Rules of the game: use ``torch`` and ``torch.nn`` freely (``torch.nn.utils.clip_grad_norm_`` is
allowed for ``clip_gradients``); the grader calls your functions with fresh models and data, so
do not read files or the network inside them.
"""

import copy
import math
from collections.abc import Callable, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

# %% [markdown]
# ## 1. Where batch normalisation goes
#
# For a mini-batch of activations $x$ of shape $(N, C)$, batch normalisation computes per feature
# $c$
#
# $$\mu_c = \frac{1}{N}\sum_n x_{nc}, \qquad \sigma_c^2 = \frac{1}{N}\sum_n (x_{nc}-\mu_c)^2,
# \qquad y_{nc} = \gamma_c \, \frac{x_{nc}-\mu_c}{\sqrt{\sigma_c^2+\epsilon}} + \beta_c ,$$
#
# with learnable $\gamma$ (`weight`) and $\beta$ (`bias`). In training mode it uses the batch
# statistics and keeps running averages of them; in evaluation mode (`model.eval()`) it uses the
# running averages, so a prediction does not depend on the other samples of the batch. For images
# of shape $(N, C, H, W)$, `nn.BatchNorm2d` does the same per channel, over $N \cdot H \cdot W$
# values.
#
# The usual place is right after a hidden `Linear`/`Conv2d` and before its activation. The output
# layer gets none: its logits should be free to take any scale. `add_batchnorm` rewrites a plain
# `nn.Sequential` that way, without touching the model it is given.


# %%
def add_batchnorm(model: nn.Sequential) -> nn.Sequential:
    """Return a copy of ``model`` with batch normalisation after every hidden layer.

    A layer is *hidden* when it is an ``nn.Linear`` or ``nn.Conv2d`` that is followed, somewhere
    later in the sequence, by another ``nn.Linear`` or ``nn.Conv2d``. The last such layer is the
    output layer and gets no batch norm. Right after each hidden layer (before its activation)
    insert:

    * ``nn.BatchNorm1d(layer.out_features)`` after an ``nn.Linear``  (input (N, C))
    * ``nn.BatchNorm2d(layer.out_channels)`` after an ``nn.Conv2d``  (input (N, C, H, W))

    with PyTorch's default settings (affine, tracking running statistics).

    Example::

        Flatten, Linear(784, 256), ReLU, Linear(256, 10)
        -> Flatten, Linear(784, 256), BatchNorm1d(256), ReLU, Linear(256, 10)

    Inputs:
    - model: a flat ``nn.Sequential`` (no nested containers need handling).

    Returns:
    - A NEW ``nn.Sequential``. Every original layer appears in it, in order, with the same
      weights; ``model`` itself must be left untouched (structure and weights) and must not
      share parameters with the result: training the new model must not change the old one.

    Pitfalls: ``nn.Sequential`` is not a Python list (build a list of layers, then
    ``nn.Sequential(*layers)``); adding the same module object to two models shares its
    parameters (``copy.deepcopy`` makes an independent copy).
    """
    # YOUR CODE HERE
    raise NotImplementedError(
        "add_batchnorm is not implemented yet. Hint: walk list(model); deep-copy each "
        "layer; after every Linear/Conv2d except the last one, append "
        "nn.BatchNorm1d(out_features) or nn.BatchNorm2d(out_channels)."
    )


# %% tags=["active-ipynb"]
# # check() runs the public tests of one function on the code of this notebook
# from exercise_utils import check
#
# check("add_batchnorm")


# %% [markdown]
# ## 2. The total gradient norm
#
# Clipping "by norm" looks at all gradients of the model as ONE long vector $g$, the concatenation
# of every parameter's `.grad`. Its $p$-norm is
#
# $$\|g\|_p = \Big(\sum_i |g_i|^p\Big)^{1/p}, \qquad \|g\|_\infty = \max_i |g_i| .$$
#
# You do not need to build the long vector: the $p$-norm of the per-tensor $p$-norms is the same
# number. It is **not** the sum of the per-tensor norms. This number, logged at every step, is
# also the best diagnostic of exploding gradients.


# %%
def compute_grad_norm(model: nn.Module, norm_type: float = 2.0) -> float:
    """Total ``norm_type``-norm of all parameter gradients, as if concatenated into one vector.

    For p < inf:  ||g||_p = (sum over every gradient entry |g_i|^p)^(1/p)
    For p = inf:  ||g||_inf = max over every gradient entry |g_i|

    Note that this is NOT the sum of the per-parameter norms.

    Inputs:
    - model: any ``nn.Module``; parameters whose ``.grad`` is ``None`` are skipped.
    - norm_type: p > 0, or ``float("inf")``.

    Returns:
    - The total norm as a Python ``float`` (use ``.item()``); ``0.0`` when no parameter has a
      gradient. The gradients themselves must not change.
    """
    # YOUR CODE HERE
    raise NotImplementedError(
        "compute_grad_norm is not implemented yet. Hint: gather [p.grad for p in "
        "model.parameters() if p.grad is not None]; the total p-norm is the p-norm of the "
        "per-tensor p-norms (the max for inf); return a float."
    )


# %% tags=["active-ipynb"]
# check("compute_grad_norm")


# %% [markdown]
# ## 3. Gradient clipping by total norm
#
# With a threshold $c$ and the total norm $n = \|g\|$, clipping replaces every gradient by
#
# $$g \leftarrow g \cdot \min\Big(1, \frac{c}{n + 10^{-6}}\Big),$$
#
# one common factor for all parameters. The update keeps its direction and only gets shorter, and
# only when it was too long. This is what `torch.nn.utils.clip_grad_norm_` does; clipping each
# tensor separately, or clamping values one by one, changes the direction of the step.


# %%
def clip_gradients(model: nn.Module, max_norm: float, norm_type: float = 2.0) -> float:
    """Clip the total gradient norm of ``model`` to ``max_norm``, in place.

    If the total norm ``n`` (see ``compute_grad_norm``) exceeds ``max_norm``, multiply EVERY
    gradient by the same factor ``max_norm / (n + 1e-6)``, so that the direction of the full
    gradient vector is kept and only its length shrinks. Otherwise change nothing (never scale
    gradients up).

    Clipping each tensor separately, or clamping values (``clamp_(-c, c)``), changes the
    direction: that is not what is asked.

    Inputs:
    - model: any ``nn.Module`` whose gradients have been computed (``loss.backward()``).
    - max_norm: the largest allowed total norm (> 0).
    - norm_type: which p-norm, as in ``compute_grad_norm``.

    Returns:
    - The total norm measured BEFORE clipping, as a Python ``float`` (the same convention as
      ``torch.nn.utils.clip_grad_norm_``, which you may use; it returns a tensor).
    """
    # YOUR CODE HERE
    raise NotImplementedError(
        "clip_gradients is not implemented yet. Hint: total = compute_grad_norm(model, "
        "norm_type); if total > max_norm, multiply every p.grad in place by max_norm / "
        "(total + 1e-6); return total."
    )


# %% tags=["active-ipynb"]
# check("clip_gradients")


# %% [markdown]
# ## 4. A controlled experiment
#
# To see what batch norm and clipping change, train two models that differ ONLY in them: same
# initial weights (seed right before building each model), same data order, same optimizer and
# learning rate. The baseline is a plain MLP; the regularized run adds batch norm to it and clips
# its gradients. Record the training loss, the validation loss and accuracy after every epoch, and
# the total gradient norm (before clipping) at every step.


# %%
def compare_runs(
    make_model: Callable[[], nn.Sequential],
    train_loader: Iterable,
    val_loader: Iterable,
    *,
    epochs: int = 2,
    lr: float = 0.05,
    max_norm: float = 1.0,
    seed: int = 0,
) -> dict:
    """Train a baseline and a regularized model under identical conditions.

    The two runs, in this order:

    1. ``"baseline"``:    ``torch.manual_seed(seed)``; ``model = make_model()``
    2. ``"regularized"``: ``torch.manual_seed(seed)``; ``model = add_batchnorm(make_model())``

    Seeding right before building each model gives both the same initial weights and, since
    nothing else draws random numbers, the same shuffling of ``train_loader``.

    Each run uses ``torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)`` and the
    cross-entropy loss. Every epoch:

    * ``model.train()``; for each ``(x, y)`` of ``train_loader``: zero the gradients, forward,
      backward, record the total gradient 2-norm (``compute_grad_norm``, BEFORE clipping); in
      the regularized run only, ``clip_gradients(model, max_norm)``; then ``optimizer.step()``.
    * ``model.eval()`` and ``torch.no_grad()``: evaluate on ``val_loader``.

    Inputs:
    - make_model: a function with no arguments returning a fresh ``nn.Sequential``.
    - train_loader, val_loader: iterables of ``(x, y)`` batches; ``x`` is what the model takes
      (e.g. (N, 1, 28, 28) images), ``y`` (N,) class indices. Batches may differ in size.
    - epochs, lr, max_norm, seed: as described above.

    Returns a dict ``{"baseline": history, "regularized": history}`` where each history is::

        {"model": the trained nn.Module,
         "train_loss": [float] * epochs,   # mean loss over the epoch's training SAMPLES
         "val_loss":   [float] * epochs,   # mean validation loss per sample
         "val_acc":    [float] * epochs,   # fraction of validation samples correct, in [0, 1]
         "grad_norm":  [float] * (epochs * len(train_loader))}  # one per step, before clipping

    Pitfalls: the last batch may be smaller, so weight each batch's mean loss by its size;
    forgetting ``zero_grad`` accumulates gradients across steps; forgetting ``model.eval()``
    evaluates BatchNorm with batch statistics.
    """

    # YOUR CODE HERE
    raise NotImplementedError(
        'compare_runs is not implemented yet. Hint: loop over ("baseline", '
        '"regularized"): torch.manual_seed(seed), build the model, SGD(lr, momentum=0.9); '
        "per batch zero_grad, forward, backward, record compute_grad_norm, clip "
        "(regularized only), step."
    )


# %% tags=["active-ipynb"]
# check("compare_runs")


# %% [markdown]
# ## 5. Bonus: batch normalisation by hand
#
# Write batch norm for $(N, C)$ inputs from tensor operations and check it against
# `nn.BatchNorm1d`. Mind the two variances: the batch is normalised with the biased variance
# (divide by $N$), while the running estimate is updated with the unbiased one (divide by $N-1$).


# %%
class ManualBatchNorm1d(nn.Module):
    """(Bonus) Batch normalisation for (N, C) inputs from tensor operations only.

    Must behave exactly like ``nn.BatchNorm1d(num_features, eps=eps, momentum=momentum)`` on
    2-D input, without using ``nn.BatchNorm*`` or ``F.batch_norm``:

    * train mode: normalise with the batch mean and the BIASED batch variance (divide by N),
      then update the running statistics with PyTorch's momentum convention
      ``running = (1 - momentum) * running + momentum * batch_stat``, using the UNBIASED batch
      variance (divide by N - 1) for ``running_var``;
    * eval mode: normalise with ``running_mean`` and ``running_var`` (no update);
    * both: ``y = weight * x_hat + bias`` with ``x_hat = (x - mean) / sqrt(var + eps)``.

    Attributes (names matter, the grader compares them with nn.BatchNorm1d's):
    - weight: nn.Parameter of shape (C,), initialised to ones
    - bias: nn.Parameter of shape (C,), initialised to zeros
    - running_mean: buffer of shape (C,), zeros      (``self.register_buffer``)
    - running_var: buffer of shape (C,), ones
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        # YOUR CODE HERE
        raise NotImplementedError(
            "ManualBatchNorm1d.__init__ is not implemented yet. Hint: create self.weight "
            "/ self.bias as nn.Parameter and register the buffers running_mean / "
            "running_var with self.register_buffer."
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise a batch, with the batch statistics (train mode) or the running ones (eval).

        Inputs:
        - x: a batch of shape (N, C)

        Returns:
        - The normalised, scaled and shifted batch, of shape (N, C).
        """
        # YOUR CODE HERE
        raise NotImplementedError(
            "ManualBatchNorm1d.forward is not implemented yet. Hint: in training mode use "
            "x.mean(0) and x.var(0, unbiased=False), and update the running statistics "
            "under torch.no_grad() with the unbiased variance; in eval mode use the "
            "running statistics."
        )


# %% tags=["active-ipynb"]
# check("ManualBatchNorm1d")


# %% [markdown]
# ## Given code: the model and the experiment
#
# Nothing to change here. `make_mlp` builds the baseline; `main` loads Fashion-MNIST with
# `exercise_utils.py`, calls your `compare_runs`, prints a summary and saves the figure and the
# metrics.

# %%
# ==================================================================================================
# Given code: the model and the experiment. Nothing to change below this line.
# ==================================================================================================


def make_mlp(
    hidden: tuple[int, ...] = (256, 128, 64),
    num_classes: int = 10,
    image_shape: tuple[int, ...] = (1, 28, 28),
) -> nn.Sequential:
    """The baseline MLP: Flatten, then one Linear/ReLU pair per hidden width, then the output.

    Inputs:
    - hidden: the widths of the hidden layers.
    - num_classes: the number of outputs (logits).
    - image_shape: the shape of one input image, (C, H, W).

    Returns:
    - An ``nn.Sequential`` mapping (N, C, H, W) images to (N, num_classes) logits.
    """
    layers: list[nn.Module] = [nn.Flatten()]  # (N, 1, 28, 28) -> (N, 784)
    width = math.prod(image_shape)
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]  # (N, width) -> (N, h)
        width = h
    layers.append(nn.Linear(width, num_classes))  # (N, width) -> (N, 10) logits
    return nn.Sequential(*layers)


def main(argv: list[str] | None = None) -> None:
    """Train the baseline and the regularized MLP on Fashion-MNIST and report on both runs.

    ``python batchnorm_gradclip_exercise.py [--unstable] [--out DIR] [...]`` (``--help`` lists
    the settings and their defaults) prints a summary table and writes ``DIR/runs.png`` (the
    figure) and ``DIR/metrics.json`` (the histories), ``DIR`` being ``runs`` by default.

    Inputs:
    - argv: the command-line arguments (without the program name); ``None`` reads them from
      ``sys.argv``.
    """
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # exercise_utils.py is beside us
    from exercise_utils import (
        ProgressLoader,
        experiment_settings,
        fashion_mnist_loaders,
        report_experiment,
    )

    settings = experiment_settings(argv)
    train_loader, val_loader = fashion_mnist_loaders(
        n_train=settings.n_train,
        n_val=settings.n_val,
        batch_size=settings.batch_size,
        seed=settings.seed,
        root=settings.data_root,
    )
    histories = compare_runs(
        make_mlp,
        ProgressLoader(train_loader, epochs=settings.epochs),
        val_loader,
        epochs=settings.epochs,
        lr=settings.lr,
        max_norm=settings.max_norm,
        seed=settings.seed,
    )
    report_experiment(histories, settings)


# %% tags=["active-py"]
if __name__ == "__main__":
    main()

# %% [markdown]
# ## Run the experiment
#
# The next cell trains both models on 10,000 Fashion-MNIST images for 3 epochs (learning rate
# 0.1, batches of 64, clip threshold 1.5: the defaults of `python batchnorm_gradclip_exercise.py`;
# about half a minute on a laptop CPU) and shows the figure. Run it once all four functions pass
# their checks. `main` takes the command line's flags as a list: `main(["--help"])` lists them.
#
# The clip threshold is set from the gradient norms the regularized model has when it trains
# WITHOUT clipping (`--max-norm 1e9`): their median is about 0.8 and their 95th percentile about
# 1.3. At about twice the median, above the 95th percentile, clipping trims the rare large steps
# (spikes) and leaves ordinary ones alone. The summary line "clipping was active on ..." shows
# these numbers for your run.

# %% tags=["active-ipynb"]
# # main() looks for exercise_utils.py beside the file it runs from: here, this notebook's folder.
# __file__ = "batchnorm_gradclip_exercise.ipynb"
# main(["--out", "runs"])

# %% tags=["active-ipynb"]
# from IPython.display import Image
#
# Image(filename="runs/runs.png")

# %% [markdown]
# ## The unstable preset
#
# The same experiment at learning rate 0.5 (`--unstable`): watch what happens to the baseline's
# gradient norms, and what the regularized run does with the same learning rate.

# %% tags=["active-ipynb"]
# main(["--unstable", "--out", "runs_unstable"])

# %% tags=["active-ipynb"]
# Image(filename="runs_unstable/runs.png")

# %% [markdown]
# ## Analysis questions
#
# Answer each question in the answer cell under it, in a few sentences, with the numbers you
# observed (the summary lines and the figures above). Keep the first line of each answer cell
# (**Answer Q1.** and so on): it is how your answers are collected. The same questions are in
# `README.md`; if you work in the `.py` file, answer them in `ANSWERS.md`.

# %% [markdown]
# **Q1. Learning speed.** Compare the two runs after the first epoch and after the last: training
# loss and validation accuracy. Which run learns faster? Why would batch normalisation help so
# early in training?

# %% [markdown] tags=["answer"]
# **Answer Q1.**
#
# _Your answer here._

# %% [markdown]
# **Q2. The clip threshold.** In the gradient-norm panel, on how many steps was clipping active,
# and where are those steps? Why is the threshold set above most gradient norms rather than at
# the typical one? Run with `--max-norm 0.5`: what changes, and why?

# %% [markdown] tags=["answer"]
# **Answer Q2.**
#
# _Your answer here._

# %% [markdown]
# **Q3. Divergence.** Run the unstable preset (`--unstable`, learning rate 0.5). At which step
# does the baseline's gradient norm take off, and what happens to its loss and accuracy
# afterwards? How large do the regularized run's gradient norms get?

# %% [markdown] tags=["answer"]
# **Answer Q3.**
#
# _Your answer here._

# %% [markdown]
# **Q4. Which tool rescues the run.** Run `--unstable --max-norm 1e9`: batch normalisation
# without clipping. Does the regularized run still learn? Which of the two tools rescues the run
# at this learning rate, and in which situations would clipping matter more?

# %% [markdown] tags=["answer"]
# **Answer Q4.**
#
# _Your answer here._

# %% [markdown]
# **Q5. Eval mode.** Why must the model be in eval mode for validation? What would happen with a
# batch of a single sample in train mode, and in eval mode?

# %% [markdown] tags=["answer"]
# **Answer Q5.**
#
# _Your answer here._
