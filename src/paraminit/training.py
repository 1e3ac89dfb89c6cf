"""Training a deep network under each init: the experiment behind the training curves.

A ReLU MLP of `depth` linear layers, width 64, learns handwritten digits (1,797 images of 8 x 8
pixels, ten classes, shipped in the package: nothing is downloaded) with minibatch SGD or Adam,
from the same seed under each init. Everything runs on the CPU, in float32 (the loss in float64),
on one thread, so the same arguments give the same numbers on every call, and the same on CPUs
with AVX2 and with AVX-512. The figure on the "why" page and the numbers printed next to it come
from here. It needs torch alone: the data are read with the standard library.

The digits are the test set of "Optical Recognition of Handwritten Digits" by E. Alpaydin and
C. Kaynak (1998), UCI Machine Learning Repository, https://doi.org/10.24432/C50P49, which UCI
licenses under CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/). The file
`paraminit/datasets/digits.csv.gz` is scikit-learn's copy of it, byte for byte (the file that
`sklearn.datasets.load_digits` reads; scikit-learn is BSD-3-Clause, copyright the scikit-learn
developers). The texts of both licences are in the sources' LICENSES/ folder and in the wheel.
"""

from __future__ import annotations

import csv
import functools
import gzip
import importlib.resources
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ._threads import one_thread

__all__ = [
    "TRAINING_INITS",
    "TrainingRun",
    "compare_training",
    "digits_mlp",
    "load_digits",
    "train_digits",
]

LayerInit = Callable[[nn.Linear], None]

FEATURES, CLASSES = 64, 10


def _normal(std: float) -> LayerInit:
    def init(layer: nn.Linear) -> None:
        nn.init.normal_(layer.weight, mean=0.0, std=std)
        nn.init.zeros_(layer.bias)

    return init


def _constant(layer: nn.Linear) -> None:
    nn.init.constant_(layer.weight, 1.0 / layer.in_features)
    nn.init.zeros_(layer.bias)


def _pytorch_default(layer: nn.Linear) -> None:
    layer.reset_parameters()


def _xavier(layer: nn.Linear) -> None:
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)


def _kaiming(layer: nn.Linear) -> None:
    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    nn.init.zeros_(layer.bias)


TRAINING_INITS: dict[str, LayerInit] = {
    "N(0, 0.01²)": _normal(0.01),
    "N(0, 1)": _normal(1.0),
    "constant 1/64": _constant,
    "PyTorch default": _pytorch_default,
    "Xavier": _xavier,
    "Kaiming": _kaiming,
}
"""The inits trained, by the name the figure shows; each fills one `nn.Linear` in place from torch's
global generator. Too small: the chapter's N(0, 0.01^2). Too large: N(0, 1), the scale of a bare
`torch.randn`. Constant: every weight `1 / fan_in` (every layer of the digits MLP has fan_in 64), a
scale that neither shrinks nor grows, so that symmetry is its only flaw. `nn.Linear`'s own default
(weights and biases). `xavier_uniform_` with gain 1 and `kaiming_normal_` for ReLU. All but the
default set the biases to zero."""


@functools.lru_cache(maxsize=1)
def _digits_table() -> torch.Tensor:
    """The digits file as a `(1797, 65)` float64 tensor: 64 pixels, then the digit, per row."""
    # The file sklearn.datasets.load_digits reads, shipped here byte for byte and read with the
    # standard library: the values are integers, 0 to 16 and 0 to 9. tests/test_digits.py checks
    # that they are load_digits()'s, value for value.
    source = importlib.resources.files("paraminit") / "datasets" / "digits.csv.gz"
    with source.open("rb") as packed, gzip.open(packed, "rt", encoding="ascii", newline="") as text:
        rows = [[int(value) for value in row] for row in csv.reader(text) if row]
    return torch.tensor(rows, dtype=torch.float64, device="cpu")


def load_digits(
    *, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The handwritten digits, standardized: 1,797 inputs of 64 pixels and their labels.

    The data are those of scikit-learn's `sklearn.datasets.load_digits()`, value for value: 8 x 8
    images with pixel values 0 to 16, read from the copy shipped in this package (no download, no
    scikit-learn). Each pixel is standardized over the 1,797 images to mean 0 and standard
    deviation 1; the pixels that are 0 in every image stay 0.

    Args:
        dtype: Floating dtype of the inputs.
        device: Where to put both tensors.

    Returns:
        `(inputs, labels)`: a `(1797, 64)` tensor and a `(1797,)` int64 tensor of digits 0 to 9.

    Example:
        ```python
        from paraminit.training import load_digits

        x, y = load_digits()
        assert x.shape == (1797, 64) and int(y.max()) == 9
        assert abs(float(x.mean())) < 1e-6
        ```
    """
    table = _digits_table()
    pixels, labels = table[:, :FEATURES], table[:, FEATURES].long()
    mean, std = pixels.mean(0), pixels.std(0)
    inputs = (pixels - mean) / torch.where(std > 0, std, torch.ones_like(std))
    return inputs.to(device=device, dtype=dtype), labels.to(device)


def digits_mlp(depth: int = 20, width: int = 64) -> nn.Sequential:
    """A ReLU MLP for the digits: `depth` linear layers, `64 -> width -> ... -> width -> 10`.

    Every linear layer but the last is followed by `nn.ReLU()`. Built with PyTorch's default init;
    `train_digits` re-initializes it.

    Args:
        depth: Number of linear layers, >= 2.
        width: Units of each hidden layer, >= 1.

    Returns:
        The `nn.Sequential`, on the CPU, in float32.

    Raises:
        ValueError: `depth` < 2 or `width` < 1, or either is not an integer.

    Example:
        ```python
        from paraminit.training import digits_mlp

        net = digits_mlp(depth=4, width=16)
        assert len(net) == 7  # 4 linear layers, 3 ReLUs
        ```
    """
    for label, value, least in (("depth", depth, 2), ("width", width, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{label} must be an integer >= {least}, got {value!r}")
    sizes = [FEATURES] + [width] * (depth - 1) + [CLASSES]
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(fan_in, fan_out, device="cpu"))
        if index < depth - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class TrainingRun:
    """What one network recorded while it trained.

    Attributes:
        init: Name of the init (a key of `TRAINING_INITS`).
        optimizer: `"sgd"` or `"adam"`.
        batch_losses: The cross-entropy of each step's minibatch, computed before that step's
            update (`nan` once the network's output is no longer finite).
        batch_accuracies: The fraction of each step's minibatch classified right, before its update.
        initial_loss: The cross-entropy on all 1,797 digits before training.
        final_loss: The same after the last step (`nan` if the run diverged).
        accuracy: The fraction of the 1,797 digits classified right after the last step.
        unit_spread: For each hidden layer after the last step, how far its units are from its
            first unit: the largest difference between a unit's incoming weights and bias and the
            first unit's, over the largest absolute weight or bias of the layer. 0 means every
            unit is a copy of the first (the layer computes one function, `width` times); float32
            rounding can leave a copy a last bit apart (about 1e-7).

    Example:
        ```python
        from paraminit.training import train_digits

        run = train_digits("Kaiming", depth=3, width=16, steps=20)
        assert len(run.batch_losses) == 20 and run.final_loss < run.initial_loss
        ```
    """

    init: str
    optimizer: str
    batch_losses: tuple[float, ...]
    batch_accuracies: tuple[float, ...]
    initial_loss: float
    final_loss: float
    accuracy: float
    unit_spread: tuple[float, ...]

    @property
    def diverged(self) -> bool:
        """Whether the loss stopped being finite."""
        return not math.isfinite(self.final_loss)

    @property
    def first_nonfinite_step(self) -> int | None:
        """The first step (1-based) whose minibatch loss is infinite or NaN; `None` if there is none."""
        return next((i + 1 for i, loss in enumerate(self.batch_losses) if not math.isfinite(loss)), None)

    def smoothed(self, window: int = 10) -> tuple[tuple[int, ...], tuple[float, ...], tuple[float, ...]]:
        """`(steps, losses, accuracies)`: the means of the minibatch values over windows of steps.

        Window `k` covers steps `k * window + 1 .. (k + 1) * window` (the last one takes what is
        left) and is reported at its last step. A window with a non-finite loss has mean `nan`.

        Args:
            window: Steps per window, >= 1.

        Returns:
            Three tuples of the same length: the last step of each window and the two means.

        Raises:
            ValueError: `window` is not a positive integer.
        """
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be a positive integer, got {window!r}")
        ends, losses, accuracies = [], [], []
        for start in range(0, len(self.batch_losses), window):
            chunk = slice(start, start + window)
            count = len(self.batch_losses[chunk])
            ends.append(start + count)
            losses.append(math.fsum(self.batch_losses[chunk]) / count)
            accuracies.append(math.fsum(self.batch_accuracies[chunk]) / count)
        return tuple(ends), tuple(losses), tuple(accuracies)


# The optimizers, written out on the stacked parameters. torch.optim gives the same steps, but its
# first use imports TorchDynamo, which takes about as long as importing torch.
def _sgd(lr: float) -> Callable[[list[torch.Tensor]], None]:
    """Plain SGD, `p -= lr * grad` (`torch.optim.SGD(params, lr)`)."""

    @torch.no_grad()
    def step(params: list[torch.Tensor]) -> None:
        for p in params:
            p.sub_(p.grad, alpha=lr)

    return step


def _adam(lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
    """Adam as `torch.optim.Adam(params, lr)` computes it, with its default betas and eps."""
    state: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    count = [0]

    @torch.no_grad()
    def step(params: list[torch.Tensor]) -> None:
        count[0] += 1
        correction1 = 1 - betas[0] ** count[0]
        root2 = math.sqrt(1 - betas[1] ** count[0])
        for index, p in enumerate(params):
            m, v = state.setdefault(index, (torch.zeros_like(p), torch.zeros_like(p)))
            m.lerp_(p.grad, 1 - betas[0])
            v.mul_(betas[1]).addcmul_(p.grad, p.grad, value=1 - betas[1])
            p.addcdiv_(m, (v.sqrt() / root2).add_(eps), value=-lr / correction1)

    return step


OPTIMIZERS: dict[str, tuple[Callable, float]] = {"sgd": (_sgd, 0.03), "adam": (_adam, 1e-3)}
"""Optimizer name to `(make_step, default learning rate)`."""


def _check_options(names: Sequence[str], optimizer: str, sizes: dict[str, object], lr: float) -> None:
    if not names:
        raise ValueError("compare_training() needs at least one init, got none")
    unknown = [name for name in names if name not in TRAINING_INITS]
    if unknown:
        raise ValueError(f"unknown init(s) {unknown}: expected names from {list(TRAINING_INITS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"each init may be named once, got {list(names)}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}: expected one of {list(OPTIMIZERS)}")
    for label, value in sizes.items():
        least = 2 if label == "depth" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{label} must be an integer >= {least}, got {value!r}")
    if isinstance(lr, bool) or not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")


def _stacked_weights(names: Sequence[str], depth: int, width: int, seed: int) -> list[torch.Tensor]:
    """Each init's MLP, drawn from `seed`, as `[W_1, b_1, ..., W_L, b_L]` stacked over the inits."""
    nets = []
    for name in names:
        torch.default_generator.manual_seed(seed)  # every init starts from the same CPU generator state
        net = digits_mlp(depth, width)
        linears = [layer for layer in net if isinstance(layer, nn.Linear)]
        for layer in linears:
            TRAINING_INITS[name](layer)
        nets.append(linears)
    params = []
    for layers in zip(*nets, strict=True):
        params.append(torch.stack([layer.weight.detach() for layer in layers]).transpose(1, 2).contiguous())
        params.append(torch.stack([layer.bias.detach() for layer in layers]).unsqueeze(1))
    return [p.requires_grad_() for p in params]


def _forward(params: list[torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
    """Logits `(inits, batch, 10)` of every stacked MLP on the same `(batch, 64)` inputs."""
    h = inputs.expand(params[0].shape[0], *inputs.shape)
    for index in range(0, len(params), 2):
        h = torch.baddbmm(params[index + 1], h, params[index])  # b + h W^T, for each init at once
        if index + 2 < len(params):
            h = torch.relu(h)
    return h


def _losses(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each init's mean cross-entropy and accuracy on `labels`."""
    inits, batch, classes = logits.shape
    # In float64: float32's log_softmax rounds differently on AVX2 and AVX-512 (vectorized
    # reductions), and training amplifies that into other curves; rounded back to float32, the
    # float64 gradient is the same on both.
    each = nn.functional.cross_entropy(
        logits.double().reshape(inits * batch, classes), labels.repeat(inits), reduction="none"
    )
    hits = (logits.argmax(2) == labels).double().mean(1)
    return each.view(inits, batch).mean(1), hits


@functools.lru_cache(maxsize=16)
def _train(
    names: tuple[str, ...],
    optimizer: str,
    depth: int,
    width: int,
    steps: int,
    batch: int,
    lr: float,
    seed: int,
) -> dict[str, TrainingRun]:
    inputs, labels = load_digits()
    make_step, _ = OPTIMIZERS[optimizer]
    step = make_step(lr)
    with one_thread(), torch.random.fork_rng(devices=[]):
        params = _stacked_weights(names, depth, width, seed)
        batches = torch.Generator(device="cpu").manual_seed(seed)
        with torch.no_grad():
            initial, _ = _losses(_forward(params, inputs), labels)
        losses, accuracies = [], []
        for _ in range(steps):
            chosen = torch.randint(0, len(labels), (batch,), generator=batches, device="cpu")
            loss, hits = _losses(_forward(params, inputs[chosen]), labels[chosen])
            losses.append(loss.detach())
            accuracies.append(hits)
            for p in params:
                p.grad = None
            # Each init's parameters get the gradient of its own loss only: the sum adds no cross terms.
            loss.sum().backward()
            step(params)
        with torch.no_grad():
            final, accuracy = _losses(_forward(params, inputs), labels)
        losses_by_init = torch.stack(losses, 1).tolist()  # steps >= 1: never empty
        accuracies_by_init = torch.stack(accuracies, 1).tolist()
        # Incoming weights W_l[k] are stored transposed, (fan_in, fan_out): a unit is a column,
        # with its bias below it.
        spreads = []
        for w, b in zip(params[0:-2:2], params[1:-2:2], strict=True):
            units = torch.cat([w, b], 1).detach().double()  # (inits, fan_in + 1, fan_out)
            largest = units.abs().amax((1, 2))
            apart = (units - units[:, :, :1]).abs().amax((1, 2))
            spreads.append(torch.where(largest > 0, apart / largest, apart).tolist())
    runs = {}
    for k, name in enumerate(names):
        batch_losses = [loss if math.isfinite(loss) else math.nan for loss in losses_by_init[k]]
        first_bad = next((i for i, loss in enumerate(batch_losses) if math.isnan(loss)), len(batch_losses))
        runs[name] = TrainingRun(
            init=name,
            optimizer=optimizer,
            batch_losses=tuple(batch_losses[:first_bad]) + (math.nan,) * (steps - first_bad),
            batch_accuracies=tuple(accuracies_by_init[k][:first_bad]) + (math.nan,) * (steps - first_bad),
            initial_loss=float(initial[k]),
            final_loss=float(final[k]) if math.isfinite(float(final[k])) else math.nan,
            accuracy=float(accuracy[k]),
            unit_spread=tuple(layer[k] for layer in spreads),
        )
    return runs


def compare_training(
    names: Sequence[str] | None = None,
    *,
    optimizer: str = "sgd",
    depth: int = 20,
    width: int = 64,
    steps: int = 300,
    batch: int = 32,
    lr: float | None = None,
    seed: int = 0,
) -> dict[str, TrainingRun]:
    """Train `digits_mlp(depth, width)` on the digits under each init, side by side, seeded.

    Each init's network is drawn from the generator seeded with `seed`, and all of them see the
    same minibatches (`batch` digits a step, drawn with replacement from a generator seeded with
    `seed`). The networks are trained together, stacked along a leading dimension (one
    `torch.baddbmm` a layer), and each gets the gradient of its own loss only. A network whose
    output stops being finite keeps its `nan`s; the others are not affected. CPU, float32, one
    thread (restored afterwards). Runs are cached: the same arguments give the same runs without
    training again.

    Args:
        names: Keys of `TRAINING_INITS`; default all of them, in order.
        optimizer: `"sgd"` (plain minibatch SGD, no momentum) or `"adam"` (torch's default betas
            and eps).
        depth: Linear layers of the MLP.
        width: Units per hidden layer.
        steps: Optimizer steps.
        batch: Digits per step.
        lr: Learning rate; default 0.03 for SGD and 0.001 for Adam.
        seed: Seed of the weights and of the minibatches.

    Returns:
        A dict from name to [TrainingRun][paraminit.training.TrainingRun], in the order given.

    Raises:
        ValueError: an unknown init or optimizer, an init named twice, or a size or rate out of
            range.

    Example:
        ```python
        from paraminit.training import compare_training

        runs = compare_training(["N(0, 0.01²)", "Kaiming"], depth=6, steps=60)
        assert runs["Kaiming"].final_loss < runs["N(0, 0.01²)"].final_loss
        ```
    """
    names = tuple(TRAINING_INITS) if names is None else tuple(names)
    lr = OPTIMIZERS[optimizer][1] if lr is None and optimizer in OPTIMIZERS else lr
    _check_options(names, optimizer, {"depth": depth, "width": width, "steps": steps, "batch": batch}, lr)
    return dict(_train(names, optimizer, depth, width, steps, batch, float(lr), seed))


def train_digits(init: str, **options: object) -> TrainingRun:
    """One init's run of [compare_training][paraminit.training.compare_training], same options.

    A network takes the same steps, bit for bit, whichever others are trained beside it, so this
    is its entry of `compare_training(...)`; only the loss on all 1,797 digits, one large float32
    product, can differ in its last digits.

    Args:
        init: A key of `TRAINING_INITS`.
        **options: As for `compare_training` (`optimizer`, `depth`, `width`, `steps`, ...).

    Returns:
        The [TrainingRun][paraminit.training.TrainingRun].

    Example:
        ```python
        from paraminit.training import train_digits

        run = train_digits("Kaiming", depth=4, width=32, steps=100)
        assert run.final_loss < run.initial_loss and not run.diverged
        ```
    """
    return compare_training([init], **options)[init]
