"""Argument checks shared by the samplers and the rules: every error names the bad value."""

from __future__ import annotations

import torch
from torch import nn

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


class LazyParameterError(RuntimeError):
    """A parameter of a lazy module was used before its first forward pass gave it a shape.

    A `RuntimeError`, raised instead of silently skipping the parameter.

    Example:
        ```python
        from torch import nn
        from paraminit import LazyParameterError, mixture_

        try:
            mixture_(nn.LazyLinear(3).weight)
        except LazyParameterError as error:
            assert "first forward pass" in str(error)
        ```
    """


def is_materialized(tensor: torch.Tensor) -> bool:
    """Whether `tensor` has a shape and storage (`False` for a lazy module's placeholder).

    Example:
        ```python
        import torch
        from torch import nn
        from paraminit import is_materialized

        layer = nn.LazyLinear(3)
        assert not is_materialized(layer.weight)
        layer(torch.rand(2, 5))
        assert is_materialized(layer.weight)
        ```
    """
    return not isinstance(tensor, nn.parameter.UninitializedTensorMixin)


def check_float_tensor(tensor: object, caller: str) -> torch.Tensor:
    """Return `tensor` if an initializer can fill it in place, else raise an error that says why."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{caller}() expects a torch.Tensor, got {type(tensor).__name__}: {tensor!r}")
    if not is_materialized(tensor):
        raise LazyParameterError(
            f"{caller}() got an uninitialized parameter of a lazy module (e.g. nn.LazyLinear): it has "
            "no shape until the module's first forward pass. Run the model once on an example "
            "input first, or use paraminit.apply_rules, which defers the init to that pass."
        )
    if tensor.dtype not in FLOAT_DTYPES:
        names = ", ".join(str(d).removeprefix("torch.") for d in FLOAT_DTYPES)
        raise TypeError(
            f"{caller}() fills floating-point tensors ({names}); got dtype "
            f"{str(tensor.dtype).removeprefix('torch.')}"
        )
    return tensor


class InitError(RuntimeError):
    """An initializer failed, or did not write into the parameter it was given.

    Raised by [apply_rules][paraminit.apply_rules] and by a deferred rule at a lazy module's first
    forward pass. The message names the rule, the parameter and every parameter that the same call
    had already changed, so a half-initialized model is never a surprise. The initializer's own
    exception, if any, is the `__cause__`.

    Example:
        ```python
        import torch
        from torch import nn
        from paraminit import InitError, Rule, apply_rules

        copy_not_fill = Rule(lambda w: torch.zeros_like(w), label="zeros_like")
        try:  # returns a new tensor instead of filling the parameter in place
            apply_rules(nn.Linear(2, 2), [copy_not_fill])
        except InitError as error:
            assert "did not write into parameter 'weight'" in str(error)
        ```
    """


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def check_bounds_fit(inner: float, outer: float, dtype: torch.dtype, caller: str) -> None:
    """Raise unless the slabs `[inner, outer]` survive rounding to `dtype`.

    Refused: `outer` beyond the dtype's largest finite value (the weights would be infinite),
    `outer` below its smallest normal value (subnormal slabs partly round to zero, adding zeros),
    and bounds that round to one value (a slab of no width).
    """
    info = torch.finfo(dtype)
    name = dtype_name(dtype)
    if outer > info.max:
        raise ValueError(
            f"{caller}() outer={outer!r} is beyond the largest {name} value {info.max:g}: the weights "
            f"would be infinite. Keep the bounds within [0, {info.max:g}] or use a wider dtype"
        )
    if outer < info.tiny:
        raise ValueError(
            f"{caller}() outer={outer!r} is below the smallest normal {name} value {info.tiny:g}: "
            "slab values this small lose precision and round to zero. Use larger bounds or a wider dtype"
        )
    low, high = torch.tensor([inner, outer], dtype=torch.float64, device="cpu").to(dtype).tolist()
    if low == high:
        raise ValueError(
            f"{caller}() inner={inner!r} and outer={outer!r} are the same {name} value {low:g}: the "
            f"slabs would have no width in {name}. Widen the bounds or use a wider dtype"
        )
