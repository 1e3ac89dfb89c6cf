"""The chapter's network trained under each of the chapter's inits: which of them learn, and which not.

The network has one hidden layer of 8 ReLU units, so nothing compounds with depth; yet some of the
chapter's inits still do not train it. `fit_chapter_net` trains it with plain gradient descent on
a smooth regression target and reports the loss at the start and at the end, the variance of the
target (the loss of the best constant prediction) and how many hidden units are still active. A
hidden ReLU unit that is off for every example gets no gradient, and stays off.

Example:
    ```python
    from paraminit.chapter_training import fit_chapter_net

    fit = fit_chapter_net("N(0, 0.01²)", steps=300)
    assert fit.final_loss < fit.initial_loss
    ```
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ._threads import one_thread
from .chapter import init_42, init_constant, init_mixture, init_normal, init_xavier, make_net

__all__ = ["CHAPTER_INITS", "ChapterFit", "fit_chapter_net", "regression_data"]


def _xavier_then_42(net: nn.Sequential) -> None:
    net[0].apply(init_xavier)
    net[2].apply(init_42)


CHAPTER_INITS: dict[str, Callable[[nn.Sequential], None]] = {
    "PyTorch default": lambda net: None,
    "N(0, 0.01²)": lambda net: net.apply(init_normal),
    "constant 1": lambda net: net.apply(init_constant),
    "Xavier, then 42": _xavier_then_42,
    "mixture_": lambda net: net.apply(init_mixture),
}
"""The chapter's inits, each applied to a materialized `make_net()` as the chapter applies it: the
default the first call draws, `init_normal`, `init_constant`, Xavier on the first layer with 42 on
the last (biases kept), and `init_mixture` (biases kept)."""

TARGET_DIRECTION = (1.0, -2.0, 0.5, 1.5)
"""The target is `sin(x · TARGET_DIRECTION)`: smooth, and not a linear function of the input."""


def regression_data(n: int = 256, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` inputs drawn like the chapter's batches, `torch.rand(n, 4)`, and a smooth target for them.

    Args:
        n: Number of examples, >= 2.
        seed: Seed of the inputs (an own generator: torch's global one is left alone).

    Returns:
        `(X, y)`: float32 CPU tensors of shapes `(n, 4)` and `(n, 1)`, with
        `y = sin(X @ TARGET_DIRECTION)`.

    Raises:
        ValueError: `n` is not an integer >= 2.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (examples), got {n!r}")
    X = torch.rand(n, 4, generator=torch.Generator().manual_seed(seed), device="cpu")
    y = torch.sin(X @ torch.tensor(TARGET_DIRECTION, device="cpu").unsqueeze(1))
    return X, y


@dataclass(frozen=True)
class ChapterFit:
    """What training the chapter's network under one init did.

    Attributes:
        name: The init, a key of `CHAPTER_INITS`.
        initial_loss: Mean squared error before the first step.
        final_loss: Mean squared error after the last step.
        target_variance: Variance of the targets: the loss of the best constant prediction, where
            a network ends that has learnt nothing but the mean.
        active_units: Hidden ReLU units (of 8) whose output is positive for at least one example
            after training.
    """

    name: str
    initial_loss: float
    final_loss: float
    target_variance: float
    active_units: int

    @property
    def learned(self) -> bool:
        """Whether the final loss is below half the target's variance."""
        return self.final_loss < 0.5 * self.target_variance


@functools.lru_cache(maxsize=64)  # a fit is a few seconds; the pages and the tests ask for the same ones
def fit_chapter_net(
    name: str, *, steps: int = 2000, lr: float = 0.03, seed: int = 0, n: int = 256, data_seed: int = 0
) -> ChapterFit:
    """Train `make_net()` under `CHAPTER_INITS[name]` with plain gradient descent; report the result.

    The network is materialized on `regression_data(n, seed=data_seed)` right after
    `torch.manual_seed(seed)` (so the default init and the random inits are seeded), initialized,
    and trained on the mean squared error for `steps` full-batch steps of size `lr`. Runs on the
    CPU, on one thread, with torch's global generator state restored afterwards.

    Args:
        name: A key of `CHAPTER_INITS`.
        steps: Gradient descent steps, >= 1.
        lr: Step size, a finite number > 0.
        seed: Seed of the init.
        n: Number of examples.
        data_seed: Seed of the inputs.

    Returns:
        A [ChapterFit][paraminit.chapter_training.ChapterFit].

    Raises:
        ValueError: unknown `name`, `steps` not a positive integer, or `lr` not a finite number > 0.
    """
    if name not in CHAPTER_INITS:
        raise ValueError(f"unknown init {name!r}: expected one of {list(CHAPTER_INITS)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if isinstance(lr, bool) or not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    X, y = regression_data(n, seed=data_seed)
    with torch.random.fork_rng(devices=[]), one_thread():
        torch.manual_seed(seed)
        net = make_net().to("cpu")
        net(X)  # materialize: the default init is drawn here
        CHAPTER_INITS[name](net)
        optimizer = torch.optim.SGD(net.parameters(), lr=lr)
        with torch.no_grad():
            initial = float((net(X) - y).pow(2).mean())
        for _ in range(steps):
            optimizer.zero_grad()
            (net(X) - y).pow(2).mean().backward()
            optimizer.step()
        with torch.no_grad():
            final = float((net(X) - y).pow(2).mean())
            active = int((net[1](net[0](X)) > 0).any(dim=0).sum())
    return ChapterFit(name, initial, final, float(y.var(unbiased=False)), active)
