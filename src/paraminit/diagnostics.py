"""Checks to run on a classifier before training it: does its init let the signal through?

[check_init][paraminit.check_init] runs one batch forward and backward through a copy of the model
and one optimizer step on that copy, and reports, layer by layer, what a practitioner looks at
before spending compute on training: the scale (RMS) of each layer's output and of its weight's
gradient, the fraction of dead ReLUs or saturated tanh units, the size of the first update next
to the weights it changes, and the initial loss next to the loss of a network that gives every
class the same probability. The model itself is left as it was.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ._checks import LazyParameterError, is_materialized

__all__ = ["InitCheck", "LayerCheck", "check_init"]

SATURATED = 0.97
"""A tanh output is saturated when its absolute value exceeds this; there its derivative
`1 - tanh^2` is below 0.06. The threshold Karpathy's makemore (part 3) uses."""


def _rms(tensor: torch.Tensor) -> float:
    # In float64: squaring a float32 below about 1e-19 underflows to 0, and a scale of 1e-24 would
    # read as 0.
    return float(tensor.detach().double().pow(2).mean().sqrt())


@dataclass(frozen=True)
class LayerCheck:
    """What [check_init][paraminit.check_init] found in one layer with a weight.

    Attributes:
        name: The layer's qualified name in the model (`"0"`, `"encoder.fc1"`).
        kind: Its class name, with the activation module applied to its output, if any
            (`"Linear+ReLU"`).
        output_rms: RMS of the layer's output over the batch, after that activation if there is one.
        grad_rms: RMS of the loss's gradient with respect to the layer's weight.
        dead: For a ReLU, the fraction of its units that are 0 on every example of the batch (a
            unit is an index of dimension 1: a feature, or a channel); for a tanh, the fraction of
            its outputs whose absolute value exceeds 0.97 (saturated); `None` otherwise.
        update_ratio: RMS of the weight's change in one optimizer step, over the RMS of the weight
            (`inf` for a weight that is all zeros).

    Example:
        ```python
        import torch
        from torch import nn
        from paraminit import check_init

        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
        first = check_init(net, torch.randn(32, 8), torch.randint(0, 3, (32,))).layers[0]
        assert (first.name, first.kind) == ("0", "Linear+Tanh")
        assert first.dead < 0.05  # few saturated units at PyTorch's default scale
        ```
    """

    name: str
    kind: str
    output_rms: float
    grad_rms: float
    dead: float | None
    update_ratio: float


@dataclass(frozen=True)
class InitCheck:
    """The report of [check_init][paraminit.check_init]; `str()` of it is a table.

    Attributes:
        layers: One [LayerCheck][paraminit.LayerCheck] per layer with a weight, in forward order.
        loss: The cross-entropy of the batch before any step.
        uniform_loss: `log(classes)`: the cross-entropy of a network that gives every class the
            same probability, which is what a well-initialized classifier starts near when the
            classes are balanced.
        classes: Number of classes (the width of the model's output).

    Example:
        ```python
        import torch
        from torch import nn
        from paraminit import check_init

        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
        report = check_init(net, torch.randn(32, 8), torch.randint(0, 3, (32,)))
        assert [layer.kind for layer in report.layers] == ["Linear+ReLU", "Linear"]
        assert abs(report.uniform_loss - 1.0986) < 1e-4  # log 3
        ```
    """

    layers: tuple[LayerCheck, ...]
    loss: float
    uniform_loss: float
    classes: int

    def table(self, rows: Sequence[int] | None = None) -> str:
        """The report as text: the loss line, then one line per layer with its number (from 1, in
        forward order) and its module's name.

        Args:
            rows: 0-based indices into `layers` to show; default all of them.

        Returns:
            The table, lines of at most 72 characters.

        Raises:
            IndexError: an index outside `layers`.
        """
        chosen = range(len(self.layers)) if rows is None else list(rows)
        bad = [row for row in chosen if not -len(self.layers) <= row < len(self.layers)]
        if bad:
            raise IndexError(f"rows {bad} are outside the report's {len(self.layers)} layers")
        lines = [
            f"loss {self.loss:.4g}; log({self.classes}) = {self.uniform_loss:.4f} for "
            f"{self.classes} balanced classes",
            f"{'#':>3}  {'module':<12}{'kind':<13}{'out RMS':>9}{'grad RMS':>10}{'dead':>6}{'update':>10}",
        ]
        for row in chosen:
            layer = self.layers[row]
            dead = "-" if layer.dead is None else f"{layer.dead:.2f}"
            lines.append(
                f"{row % len(self.layers) + 1:>3}  {layer.name:<12.12}{layer.kind:<13.13}"
                f"{layer.output_rms:9.2e}{layer.grad_rms:10.2e}{dead:>6}{layer.update_ratio:10.2e}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


_ACTIVATIONS = (nn.ReLU, nn.Tanh)


def _has_weight(module: nn.Module) -> bool:
    weight = getattr(module, "weight", None)
    return isinstance(weight, nn.Parameter) and (not is_materialized(weight) or weight.dim() >= 2)


def _inactive(module: nn.Module, output: torch.Tensor) -> float:
    if isinstance(module, nn.ReLU):  # output: (batch, units, ...), a weight layer's
        per_unit = (output == 0).transpose(0, 1).reshape(output.shape[1], -1).all(1)
        return float(per_unit.double().mean())
    return float((output.abs() > SATURATED).double().mean())


def _check_arguments(model: object, inputs: object, targets: object, lr: object) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"check_init() needs an nn.Module as model, got {type(model).__name__}")
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    if inputs.dim() == 0 or inputs.shape[0] == 0:
        raise ValueError(f"inputs must be a batch of at least one example, got shape {tuple(inputs.shape)}")
    if not isinstance(targets, torch.Tensor) or targets.dim() != 1 or targets.dtype != torch.long:
        got = (
            f"shape {tuple(targets.shape)}, dtype {targets.dtype}"
            if isinstance(targets, torch.Tensor)
            else type(targets).__name__
        )
        raise ValueError(f"targets must be a 1-D int64 tensor of class indices, got {got}")
    if targets.shape[0] != inputs.shape[0]:
        raise ValueError(
            f"inputs hold {inputs.shape[0]} examples but targets {targets.shape[0]}: one target each"
        )
    if isinstance(lr, bool) or not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    lazy = [name for name, p in model.named_parameters() if not is_materialized(p)]
    if lazy:
        raise LazyParameterError(
            f"check_init() got a model with uninitialized (lazy) parameters {lazy}: run one forward "
            "pass and initialize it first, so that the check sees the weights it will train from"
        )
    if not any(_has_weight(m) for m in model.modules()):
        raise ValueError("check_init() found no layer with a weight of 2 or more dimensions in the model")
    devices = {p.device for p in model.parameters()}
    if inputs.device not in devices or targets.device != inputs.device:
        raise ValueError(
            f"model ({', '.join(sorted(map(str, devices)))}), inputs ({inputs.device}) and targets "
            f"({targets.device}) must be on one device"
        )


def check_init(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    lr: float = 0.03,
    optimizer: Callable[[list[nn.Parameter]], torch.optim.Optimizer] | None = None,
) -> InitCheck:
    """Check a classifier's init on one batch, before training, without changing the model.

    On a deep copy of `model` (its mode, train or eval, kept): one forward pass of `inputs`, the
    cross-entropy against `targets`, one backward pass and one optimizer step. Every module with
    a weight of 2 or more dimensions (`nn.Linear`, convolutions, ...) gives a row; an `nn.ReLU`
    or `nn.Tanh` module applied directly to its output joins its row. Forward hooks read the
    outputs as they are computed, so an in-place activation is seen correctly; a layer whose
    weight is used without calling the layer (as `nn.MultiheadAttention` uses its `out_proj`)
    has no row. The generators'
    states are restored afterwards (a dropout mask drawn on the copy leaves no trace), and the
    model, its gradients and its buffers are left exactly as they were.

    What to look for (Karpathy, makemore part 3, plots the same quantities): output and gradient
    RMS that shrink or grow layer after layer; a large dead or saturated fraction; an initial loss
    far from `log(classes)` (the network is confidently wrong from the start); update ratios far
    from about `1e-3` (a rough heuristic of that lecture, not a law).

    Args:
        model: The classifier; its output must be `(batch, classes)` logits.
        inputs: A batch of inputs for it, on the model's device.
        targets: The batch's class indices, 1-D int64, on the same device.
        lr: Learning rate of the step when `optimizer` is `None`: plain SGD, `w -= lr * grad`
            (the default 0.03 is the rate of the training runs on the "why" page).
        optimizer: Makes an optimizer for a list of parameters (say
            `lambda params: torch.optim.Adam(params, lr=1e-3)`); its first `step()` is the one
            measured. Default: the plain SGD step above.

    Returns:
        An [InitCheck][paraminit.InitCheck].

    Raises:
        TypeError: `model` is not an `nn.Module`, or `inputs` not a tensor.
        ValueError: an empty batch; `targets` not 1-D int64, or not one per example, or outside
            `0 .. classes - 1`; an output that is not `(batch, classes)`; `lr` not > 0; no layer
            with a weight; tensors on different devices.
        LazyParameterError: the model still has lazy (uninitialized) parameters.

    Example:
        ```python
        import torch
        from torch import nn
        from paraminit import check_init

        net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        with torch.no_grad():
            net[0].bias.fill_(-100.0)  # every pre-activation negative: every ReLU dead
        before = [p.clone() for p in net.parameters()]
        report = check_init(net, torch.rand(16, 4), torch.randint(0, 2, (16,)))
        assert report.layers[0].dead == 1.0
        assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
        ```
    """
    _check_arguments(model, inputs, targets, lr)
    devices = [inputs.device] if inputs.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        return _check_copy(copy.deepcopy(model), inputs, targets, lr, optimizer)


def _check_copy(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    lr: float,
    optimizer: Callable[[list[nn.Parameter]], torch.optim.Optimizer] | None,
) -> InitCheck:
    names = {module: name for name, module in model.named_modules()}
    rows: dict[nn.Module, dict[str, object]] = {}
    last: list[tuple[nn.Module, torch.Tensor]] = []

    def record(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        if not isinstance(output, torch.Tensor):
            return
        if _has_weight(module):
            rows[module] = {"kind": type(module).__name__, "rms": _rms(output), "dead": None}
            last[:] = [(module, output)]
        elif isinstance(module, _ACTIVATIONS) and last and args and args[0] is last[0][1]:
            row = rows[last[0][0]]
            row["kind"] = f"{row['kind']}+{type(module).__name__}"
            row["rms"] = _rms(output)
            row["dead"] = _inactive(module, output.detach())
            last.clear()

    handles = [m.register_forward_hook(record) for m in model.modules()]
    try:
        logits = model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != inputs.shape[0]:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"check_init() needs (batch, classes) logits from the model, got {shape}")
    classes = logits.shape[1]
    if int(targets.min()) < 0 or int(targets.max()) >= classes:
        raise ValueError(
            f"targets must be class indices in 0..{classes - 1} (the model has {classes} outputs), "
            f"got values from {int(targets.min())} to {int(targets.max())}"
        )
    loss = nn.functional.cross_entropy(logits, targets)
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.grad = None
    loss.backward()
    weights = {module: module.weight for module in rows}
    before = {module: weight.detach().clone() for module, weight in weights.items()}
    grads = {module: _rms(w.grad) if w.grad is not None else 0.0 for module, w in weights.items()}
    if optimizer is None:
        with torch.no_grad():
            for p in params:
                if p.grad is not None:
                    p.sub_(p.grad, alpha=lr)
    else:
        optimizer(params).step()
    layers = []
    for module, row in rows.items():
        scale = _rms(before[module])
        change = _rms(weights[module].detach() - before[module])
        layers.append(
            LayerCheck(
                name=names[module],
                kind=str(row["kind"]),
                output_rms=float(row["rms"]),
                grad_rms=grads[module],
                dead=row["dead"],
                update_ratio=change / scale if scale > 0 else math.inf,
            )
        )
    return InitCheck(tuple(layers), float(loss.detach()), math.log(classes), classes)
