"""Signal propagation: how the scale of activations and gradients changes with depth.

A deep ReLU network multiplies the second moment of its activations by the same factor at every
layer, `n_in * Var[w] / 2`, and that of its back-propagated gradients by `n_out * Var[w] / 2`. An
init whose factor is not 1 makes both shrink (or grow) geometrically with depth. This module runs
that experiment: it pushes a fixed batch through a deep ReLU MLP built with each of the chapter's
inits and records the root mean square (RMS) of the activations and of the gradients at every
layer, and of the gradients of the weights themselves. The figure on the "why" page and the
numbers printed under it come from here, and so do two finer points the page makes: a network of
finite width ends below the prediction more often than above it (`log_norm_drift`), and a tanh
network keeps its scale with Xavier's gain 5/3 but not with gain 1 (`tanh_profile`). The same
experiment runs with tanh or no activation between the layers (`ACTIVATIONS`), and `profile_grid`
runs it for every init, activation and depth of a grid at once: the data of the interactive figure
on the "why" page.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_GAIN",
    "INITS",
    "SignalProfile",
    "compare_inits",
    "expected_log_norm_drift",
    "init_variances",
    "layer_activations",
    "log_norm_drift",
    "predicted_profile",
    "profile_grid",
    "relu_moment_factor",
    "signal_profile",
    "tanh_profile",
]

LayerInit = Callable[[nn.Linear], None]


def _normal_001(layer: nn.Linear) -> None:
    nn.init.normal_(layer.weight, mean=0.0, std=0.01)
    nn.init.zeros_(layer.bias)


def _normal_01(layer: nn.Linear) -> None:
    nn.init.normal_(layer.weight, mean=0.0, std=0.1)
    nn.init.zeros_(layer.bias)


def _pytorch_default(layer: nn.Linear) -> None:
    layer.reset_parameters()  # kaiming_uniform_(a=sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)), bias too


def _xavier(layer: nn.Linear) -> None:
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)


def _xavier_relu_gain(layer: nn.Linear) -> None:
    nn.init.xavier_uniform_(layer.weight, gain=nn.init.calculate_gain("relu"))
    nn.init.zeros_(layer.bias)


def _kaiming(layer: nn.Linear) -> None:
    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    nn.init.zeros_(layer.bias)


INITS: dict[str, LayerInit] = {
    "N(0, 0.01²)": _normal_001,
    "PyTorch default": _pytorch_default,
    "Xavier": _xavier,
    "Xavier, ReLU gain": _xavier_relu_gain,
    "Kaiming": _kaiming,
    "N(0, 0.1²)": _normal_01,
}
"""The inits compared, by the name the figure shows. Each fills one `nn.Linear` in place from torch's
global generator: the chapter's N(0, 0.01^2) with zero biases, `nn.Linear`'s own default (weights and
biases), `xavier_uniform_` with gain 1 and with `calculate_gain("relu")`, `kaiming_normal_` for
ReLU (fan_in), and N(0, 0.1^2), ten times the chapter's standard deviation: too large for a width of
256, where the signal grows instead. All but the default set the biases to zero."""


def _linear(x: torch.Tensor) -> torch.Tensor:
    return x


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "linear": _linear,
}
"""The activations a profile can put after each layer, by the names `nn.init.calculate_gain` knows
them by: ReLU, tanh, and none at all (`"linear"`: a stack of linear layers)."""

ACTIVATION_GAIN = "Xavier, activation's gain"
"""One more init for [signal_profile][paraminit.propagation.signal_profile], not in `INITS` because
it depends on the activation: `xavier_uniform_` with `calculate_gain(activation)` (sqrt(2) for ReLU,
the weights of `"Xavier, ReLU gain"`; 5/3 for tanh; 1 for linear, the weights of `"Xavier"`) and
zero biases."""


def _xavier_with_gain(gain: float) -> LayerInit:
    """`xavier_uniform_(weight, gain=gain)` and zero biases."""

    def init(layer: nn.Linear) -> None:
        nn.init.xavier_uniform_(layer.weight, gain=gain)
        nn.init.zeros_(layer.bias)

    return init


def _layer_init(name: str, activation: str) -> LayerInit:
    """The init of one layer for `name` (a key of `INITS`, or `ACTIVATION_GAIN`) before `activation`."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}: expected one of {list(ACTIVATIONS)}")
    if name == ACTIVATION_GAIN:
        return _xavier_with_gain(nn.init.calculate_gain(activation))
    if name not in INITS:
        raise ValueError(f"unknown init {name!r}: expected one of {[*INITS, ACTIVATION_GAIN]}")
    return INITS[name]


def init_variances(name: str, fan_in: int, fan_out: int) -> tuple[float, float]:
    """The weight and bias variances that `INITS[name]` gives a `fan_in -> fan_out` linear layer.

    Args:
        name: A key of `INITS`.
        fan_in: Inputs of the layer.
        fan_out: Outputs of the layer.

    Returns:
        `(weight_var, bias_var)`: `0.01**2` and `0.1**2` for the normals; `1 / (3 fan_in)` for both under
        PyTorch's default (a uniform on `+-1/sqrt(fan_in)`); `gain**2 * 2 / (fan_in + fan_out)` for
        Xavier; `2 / fan_in` for Kaiming. Every init but the default has zero biases.

    Raises:
        ValueError: unknown `name`.

    Example:
        ```python
        from paraminit.propagation import init_variances

        assert init_variances("Kaiming", 256, 256) == (2 / 256, 0.0)
        ```
    """
    if name not in INITS:
        raise ValueError(f"unknown init {name!r}: expected one of {list(INITS)}")
    xavier = 2.0 / (fan_in + fan_out)
    return {
        "N(0, 0.01²)": (0.01**2, 0.0),
        "PyTorch default": (1.0 / (3 * fan_in), 1.0 / (3 * fan_in)),
        "Xavier": (xavier, 0.0),
        "Xavier, ReLU gain": (2.0 * xavier, 0.0),
        "Kaiming": (2.0 / fan_in, 0.0),
        "N(0, 0.1²)": (0.1**2, 0.0),
    }[name]


@dataclass(frozen=True)
class SignalProfile:
    """RMS of the activations and of the gradients at each layer of a deep MLP (ReLU unless named).

    Layer `l` (1-based) computes `z_l = W_l h_{l-1} + b_l` and `h_l = relu(z_l)`; the input `h_0` is
    a batch of standard normal vectors and the loss is `sum(h_L * g)` for a fixed standard normal `g`,
    so the gradient arriving at the top has RMS 1.

    Attributes:
        name: Name of the init (a key of `INITS`).
        activations: `activations[l - 1]` is the RMS of `h_l`, for `l = 1 .. depth`.
        gradients: `gradients[l - 1]` is the RMS of `dL/dh_{l-1}`, the gradient that reaches the
            input of layer `l`, for `l = 1 .. depth`; `gradients[0]` has gone back through every layer.
        weight_gradients: `weight_gradients[l - 1]` is the RMS of `dL/dW_l`, the gradient of layer
            `l`'s weight matrix, what a step of gradient descent moves it by (times the learning
            rate). Empty for a [predicted_profile][paraminit.propagation.predicted_profile].

    Example:
        ```python
        from paraminit.propagation import signal_profile

        profile = signal_profile("Kaiming", depth=10, width=64, batch=32)
        assert len(profile.activations) == len(profile.gradients) == 10
        assert len(profile.weight_gradients) == 10
        assert 0.3 < profile.activations[-1] < 3  # Kaiming keeps the scale
        ```
    """

    name: str
    activations: tuple[float, ...]
    gradients: tuple[float, ...]
    weight_gradients: tuple[float, ...] = ()

    @property
    def depth(self) -> int:
        """Number of layers."""
        return len(self.activations)


def relu_moment_factor(weight_var: float, fan: int) -> float:
    r"""The factor by which one ReLU layer multiplies a second moment: `fan * weight_var / 2`.

    Forward, `fan` is the layer's `fan_in`; backward, its `fan_out`. With zero biases and weights of
    mean 0 and variance $\sigma^2$, $E[h_l^2] = \tfrac12 n_\text{in} \sigma^2 E[h_{l-1}^2]$: the factor
    is 1 exactly for He/Kaiming, $\sigma^2 = 2 / n_\text{in}$.

    Args:
        weight_var: Variance of the weights, > 0.
        fan: `fan_in` (forward) or `fan_out` (backward), >= 1.

    Returns:
        The factor; the RMS changes by its square root per layer.

    Raises:
        ValueError: `weight_var` is not positive or `fan` is not a positive integer.

    Example:
        ```python
        from paraminit.propagation import relu_moment_factor

        assert relu_moment_factor(2 / 256, 256) == 1.0  # Kaiming
        assert relu_moment_factor(1 / 256, 256) == 0.5  # Xavier, gain 1, square layers
        ```
    """
    if isinstance(fan, bool) or not isinstance(fan, int) or fan < 1:
        raise ValueError(f"fan must be a positive integer (fan_in or fan_out), got {fan!r}")
    if not (isinstance(weight_var, (int, float)) and math.isfinite(weight_var) and weight_var > 0):
        raise ValueError(f"weight_var must be a finite number > 0, got {weight_var!r}")
    return fan * weight_var / 2.0


def _check_sizes(name: str, depth: int, width: int, batch: int) -> LayerInit:
    if name not in INITS:
        raise ValueError(f"unknown init {name!r}: expected one of {list(INITS)}")
    _check_positive(depth=depth, width=width, batch=batch)
    return INITS[name]


def _check_positive(**sizes: int) -> None:
    for label, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{label} must be a positive integer, got {value!r}")


def _rms(t: torch.Tensor) -> float:
    return float(t.detach().pow(2).mean().sqrt())


def _build(
    init: LayerInit, depth: int, width: int, batch: int, seed: int, dtype: torch.dtype
) -> tuple[list[nn.Linear], torch.Tensor, torch.Tensor]:
    """A seeded run's layers, input batch and upstream gradient, in that order from the seed."""
    # Own generator state, seeded: the same numbers on every call, and the caller's state untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers = [nn.Linear(width, width, dtype=dtype, device="cpu") for _ in range(depth)]
        for layer in layers:
            init(layer)
        x = torch.randn(batch, width, dtype=dtype, device="cpu")
        upstream = torch.randn(batch, width, dtype=dtype, device="cpu")
    return layers, x, upstream


def _measure(
    name: str,
    layers: list[nn.Linear],
    x: torch.Tensor,
    upstream: torch.Tensor,
    activation: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[SignalProfile, tuple[torch.Tensor, ...]]:
    """One forward and backward pass through `layers`: the profile and every layer's activations."""
    depth = len(layers)
    h = x.detach().requires_grad_()
    inputs, outputs = [], []
    for layer in layers:
        inputs.append(h)
        h = activation(layer(h))
        outputs.append(h)
    weights = [layer.weight for layer in layers]
    grads = torch.autograd.grad((h * upstream).sum(), inputs + weights)
    profile = SignalProfile(
        name,
        tuple(map(_rms, outputs)),
        tuple(map(_rms, grads[:depth])),
        tuple(map(_rms, grads[depth:])),
    )
    return profile, tuple(h.detach() for h in outputs)


def _propagate(
    name: str,
    init: LayerInit,
    activation: Callable[[torch.Tensor], torch.Tensor],
    depth: int,
    width: int,
    batch: int,
    seed: int,
    dtype: torch.dtype,
) -> tuple[SignalProfile, tuple[torch.Tensor, ...]]:
    """One seeded run: the profile and every layer's activations."""
    return _measure(name, *_build(init, depth, width, batch, seed, dtype), activation)


@functools.lru_cache(maxsize=16)
def _run(
    name: str, activation: str, depth: int, width: int, batch: int, seed: int, dtype: torch.dtype
) -> tuple[SignalProfile, tuple[torch.Tensor, ...]]:
    """One seeded run (cached: the figures reuse it)."""
    init = _layer_init(name, activation)
    _check_positive(depth=depth, width=width, batch=batch)
    return _propagate(name, init, ACTIVATIONS[activation], depth, width, batch, seed, dtype)


def signal_profile(
    name: str,
    *,
    activation: str = "relu",
    depth: int = 50,
    width: int = 256,
    batch: int = 64,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> SignalProfile:
    """Push a seeded batch through a `depth`-layer ReLU MLP initialized by `INITS[name]`.

    Every layer is `nn.Linear(width, width)` followed by ReLU (or by the `activation` named). The
    weights, input and upstream gradient do not depend on the activation: for an init of `INITS`,
    every activation sees the same network. Everything runs on the CPU, seeded
    (weights, input batch and upstream gradient), in float64 by default so that even a scale of
    1e-48 is represented, not flushed to zero. Runs are cached: the same arguments give the same
    profile without running again.

    Args:
        name: A key of `INITS`, or `ACTIVATION_GAIN`.
        activation: A key of `ACTIVATIONS`: `"relu"`, `"tanh"` or `"linear"` (none).
        depth: Number of layers.
        width: Units per layer (`fan_in = fan_out = width`).
        batch: Number of input vectors.
        seed: Seed of the weights, the input and the upstream gradient.
        dtype: Floating dtype of the run.

    Returns:
        The [SignalProfile][paraminit.propagation.SignalProfile].

    Raises:
        ValueError: unknown `name` or `activation`, or a size that is not a positive integer.

    Example:
        ```python
        from paraminit.propagation import signal_profile

        xavier = signal_profile("Xavier", depth=20, width=128)
        ratio = xavier.activations[-1] / xavier.activations[0]
        assert 1e-4 < ratio < 1e-2  # about 0.707 per layer: 0.707**19 = 1.4e-3
        linear = signal_profile("Xavier", activation="linear", depth=20, width=128)
        assert 0.5 < linear.activations[-1] < 2  # no ReLU to halve the second moment
        ```
    """
    return _run(name, activation, depth, width, batch, seed, dtype)[0]


def tanh_profile(
    gain: float,
    *,
    depth: int = 50,
    width: int = 256,
    batch: int = 64,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> SignalProfile:
    """[signal_profile][paraminit.propagation.signal_profile]'s experiment in a tanh MLP: Xavier weights.

    Every layer is `nn.Linear(width, width)` with `xavier_uniform_(weight, gain=gain)` and zero biases,
    followed by tanh; input, upstream gradient and seeding as in `signal_profile`. With gain 1 the
    scale decays slowly, since tanh shrinks every input it does not leave alone; with
    `calculate_gain("tanh")` (5/3) it settles at a constant level.

    Args:
        gain: The `gain` passed to `xavier_uniform_`, > 0.
        depth: Number of layers.
        width: Units per layer.
        batch: Number of input vectors.
        seed: Seed of the weights, the input and the upstream gradient.
        dtype: Floating dtype of the run.

    Returns:
        The [SignalProfile][paraminit.propagation.SignalProfile], named `"Xavier, gain G, tanh"`.

    Raises:
        ValueError: a gain that is not a finite number > 0, or a size that is not a positive integer.

    Example:
        ```python
        from paraminit.propagation import tanh_profile

        held = tanh_profile(5 / 3, depth=20, width=64)
        assert 0.5 < held.activations[-1] < 0.8
        ```
    """
    if isinstance(gain, bool) or not (isinstance(gain, (int, float)) and math.isfinite(gain) and gain > 0):
        raise ValueError(f"gain must be a finite number > 0, got {gain!r}")
    _check_positive(depth=depth, width=width, batch=batch)
    name = f"Xavier, gain {gain:.4g}, tanh"
    return _propagate(name, _xavier_with_gain(gain), torch.tanh, depth, width, batch, seed, dtype)[0]


@functools.lru_cache(maxsize=8)
def log_norm_drift(
    name: str, *, width: int, depth: int = 50, seeds: int = 100, batch: int = 1
) -> tuple[float, ...]:
    """How far below (or above) the prediction each of `seeds` networks ends, on a log scale.

    For seed `s` in `0 .. seeds - 1`, the run of `signal_profile(name, depth=depth, width=width,
    batch=batch, seed=s)` (the same weights and input, forward only) gives the RMS of the last
    layer's activations; the result holds `log(measured / predicted)` for each seed, with the
    prediction of [predicted_profile][paraminit.propagation.predicted_profile]. The prediction is the
    mean of the second moment over random weights; at a finite width the mean of these logs is
    negative (see [expected_log_norm_drift][paraminit.propagation.expected_log_norm_drift]).

    Args:
        name: A key of `INITS`.
        width: Units per layer.
        depth: Number of layers.
        seeds: Number of networks, seeded `0 .. seeds - 1`.
        batch: Number of input vectors of each network.

    Returns:
        `seeds` values, one per network (cached: the same arguments give them without running again).

    Raises:
        ValueError: unknown `name`, or a size that is not a positive integer.

    Example:
        ```python
        import statistics

        from paraminit.propagation import log_norm_drift

        logs = log_norm_drift("Kaiming", width=32, depth=20, seeds=50)
        assert len(logs) == 50 and statistics.fmean(logs) < 0  # below the prediction, on average
        ```
    """
    init = _check_sizes(name, depth, width, batch)
    _check_positive(seeds=seeds)
    predicted = predicted_profile(name, depth=depth, width=width).activations[-1]
    logs = []
    for seed in range(seeds):
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(seed)  # as in _propagate: the same layers, then the same input
            layers = [nn.Linear(width, width, dtype=torch.float64, device="cpu") for _ in range(depth)]
            for layer in layers:
                init(layer)
            h = torch.randn(batch, width, dtype=torch.float64, device="cpu")
            for layer in layers:
                h = torch.relu(layer(h))
        logs.append(math.log(_rms(h) / predicted))
    return tuple(logs)


def expected_log_norm_drift(width: int, depth: int) -> float:
    r"""The mean of [log_norm_drift][paraminit.propagation.log_norm_drift] for Gaussian weights and one input.

    With zero biases and weights $\mathcal{N}(0, \sigma^2)$, a ReLU layer multiplies the squared norm
    of its input by $\sigma^2 \chi^2_K$, where $K \sim \operatorname{Binomial}(n, \tfrac12)$ counts
    the units the ReLU leaves on: a factor whose mean is the prediction $\tfrac12 n \sigma^2$, but
    whose log has mean $E[\psi(K/2)] + \log(4/n) \approx -5 / (2n)$ below the prediction's log
    ($\psi$ the digamma function). The input's squared norm is $\chi^2_n$. So for one input of
    standard normal entries, $E[\log(\text{RMS}_L / \text{predicted})]$ is

    $$
    \tfrac12 \Big(\psi(n/2) + \log(2/n) + L \big(E[\psi(K/2)] + \log(4/n)\big)\Big),
    $$

    exactly, whatever $\sigma$ (the rare $K = 0$, probability $2^{-n}$ per layer, is left out). It
    holds for `"N(0, 0.01²)"`, `"Kaiming"` and `"N(0, 0.1²)"` with `batch=1`.

    Args:
        width: Units per layer, $n$.
        depth: Number of layers, $L$.

    Returns:
        The expected log, about $-5 L / (4 n)$ for large $n$.

    Raises:
        ValueError: a size that is not a positive integer.

    Example:
        ```python
        import math

        from paraminit.propagation import expected_log_norm_drift

        drift = expected_log_norm_drift(256, 50)
        assert abs(drift - (-5 * 50 / (4 * 256))) < 0.01
        assert round(math.exp(drift), 2) == 0.78
        ```
    """
    _check_positive(width=width, depth=depth)
    n = torch.tensor(float(width), dtype=torch.float64)
    k = torch.arange(1, width + 1, dtype=torch.float64)
    log_pmf = torch.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1) - n * math.log(2)
    pmf = log_pmf.exp() / (1 - 0.5**width)  # K >= 1
    per_layer = float((pmf * torch.special.digamma(k / 2)).sum()) + math.log(4 / width)
    first = float(torch.special.digamma(n / 2)) + math.log(2 / width)
    return 0.5 * (first + depth * per_layer)


def predicted_profile(name: str, *, depth: int = 50, width: int = 256) -> SignalProfile:
    r"""What the variance argument predicts for `signal_profile(name, ...)`, layer by layer.

    With weight variance $\sigma^2$ and bias variance $s^2$ (`init_variances`), a ReLU layer maps the
    second moment $q_{l-1} = E[h_{l-1}^2]$ of its input to $q_l = \tfrac12 (n \sigma^2 q_{l-1} + s^2)$,
    starting from $q_0 = 1$; backward, $E[(\partial L / \partial h_{l-1})^2]$ is
    $\tfrac12 n \sigma^2$ times that of layer $l$, starting from 1 at the top. The profile holds the
    square roots: the RMS a wide enough network shows.

    Args:
        name: A key of `INITS`.
        depth: Number of layers.
        width: Units per layer.

    Returns:
        A [SignalProfile][paraminit.propagation.SignalProfile] of predicted RMS values.

    Example:
        ```python
        from paraminit.propagation import predicted_profile

        xavier = predicted_profile("Xavier", depth=50, width=256)
        assert abs(xavier.activations[-1] - 2**-25) < 1e-20  # sqrt(1/2) per layer
        ```
    """
    _check_sizes(name, depth, width, 1)
    weight_var, bias_var = init_variances(name, width, width)
    factor = relu_moment_factor(weight_var, width)
    second_moment, activations = 1.0, []
    for _ in range(depth):
        second_moment = factor * second_moment + bias_var / 2.0
        activations.append(math.sqrt(second_moment))
    gradients = [math.sqrt(factor ** (depth - layer + 1)) for layer in range(1, depth + 1)]
    return SignalProfile(name, tuple(activations), tuple(gradients))


def compare_inits(
    names: Sequence[str] | None = None, *, depth: int = 50, width: int = 256, batch: int = 64, seed: int = 0
) -> dict[str, SignalProfile]:
    """[signal_profile][paraminit.propagation.signal_profile] for several inits, same seed and sizes.

    Args:
        names: Keys of `INITS`; default all of them, in order.
        depth: Number of layers.
        width: Units per layer.
        batch: Number of input vectors.
        seed: Seed shared by every run (each init sees the same input batch).

    Returns:
        A dict from name to profile, in the order given.

    Example:
        ```python
        from paraminit.propagation import compare_inits

        profiles = compare_inits(["Xavier", "Kaiming"], depth=8, width=64)
        assert profiles["Kaiming"].activations[-1] > profiles["Xavier"].activations[-1]
        ```
    """
    names = list(INITS) if names is None else list(names)
    return {name: signal_profile(name, depth=depth, width=width, batch=batch, seed=seed) for name in names}


def profile_grid(
    names: Sequence[str],
    activations: Sequence[str],
    depths: Sequence[int],
    *,
    width: int = 256,
    batch: int = 64,
    seed: int = 0,
) -> dict[tuple[str, str, int], SignalProfile]:
    """[signal_profile][paraminit.propagation.signal_profile] for every init, activation and depth.

    Each profile is the one `signal_profile(name, activation=activation, depth=depth, width=width,
    batch=batch, seed=seed)` gives, to the last bit, at a fraction of the cost: the network of an
    init and depth is built once and measured under each activation (an init of `INITS` draws the
    same weights whatever the activation). Nothing is cached.

    Args:
        names: Keys of `INITS`, or `ACTIVATION_GAIN`.
        activations: Keys of `ACTIVATIONS`.
        depths: Numbers of layers. Each depth is a run of its own: the input is drawn after the
            weights and the gradient starts at the top, so the first 10 layers of a 50-layer run
            are not a 10-layer run.
        width: Units per layer.
        batch: Number of input vectors.
        seed: Seed shared by every run.

    Returns:
        A dict from `(name, activation, depth)` to the profile, names outermost, in the order given.

    Raises:
        ValueError: an unknown name or activation, or a size that is not a positive integer.

    Example:
        ```python
        from paraminit.propagation import profile_grid, signal_profile

        grid = profile_grid(["Kaiming"], ["relu", "tanh"], [5], width=32)
        tanh = signal_profile("Kaiming", activation="tanh", depth=5, width=32)
        assert grid["Kaiming", "tanh", 5] == tanh
        ```
    """
    for name in names:
        for activation in activations:
            _layer_init(name, activation)  # every name and activation checked before any run
    _check_positive(width=width, batch=batch)
    for depth in depths:
        _check_positive(depth=depth)
    grid = {}
    for name in names:
        for depth in depths:
            # One network for every activation, unless the init itself depends on the activation.
            shared = (
                None
                if name == ACTIVATION_GAIN
                else _build(INITS[name], depth, width, batch, seed, torch.float64)
            )
            for activation in activations:
                network = shared or _build(
                    _layer_init(name, activation), depth, width, batch, seed, torch.float64
                )
                grid[name, activation, depth] = _measure(name, *network, ACTIVATIONS[activation])[0]
    return grid


def layer_activations(
    name: str,
    layers: Sequence[int],
    *,
    depth: int = 50,
    width: int = 256,
    batch: int = 64,
    seed: int = 0,
) -> dict[int, torch.Tensor]:
    """The activations `h_l` themselves at the chosen layers, from the same run as `signal_profile`.

    Args:
        name: A key of `INITS`.
        layers: 1-based layer numbers, each in `1 .. depth`.
        depth: Number of layers.
        width: Units per layer.
        batch: Number of input vectors.
        seed: Seed of the run.

    Returns:
        A dict from layer number to a `(batch, width)` float64 CPU tensor.

    Raises:
        ValueError: a layer outside `1 .. depth`, or one of `signal_profile`'s errors.

    Example:
        ```python
        from paraminit.propagation import layer_activations, signal_profile

        h = layer_activations("Kaiming", [3], depth=5, width=32)[3]
        rms = float(h.pow(2).mean().sqrt())
        assert rms == signal_profile("Kaiming", depth=5, width=32).activations[2]
        ```
    """
    bad = [layer for layer in layers if not 1 <= layer <= depth]
    if bad:
        raise ValueError(f"layers must be in 1..{depth}, got {bad}")
    outputs = _run(name, "relu", depth, width, batch, seed, torch.float64)[1]
    return {layer: outputs[layer - 1].clone() for layer in layers}  # the cached run stays untouched
