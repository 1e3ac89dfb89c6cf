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
