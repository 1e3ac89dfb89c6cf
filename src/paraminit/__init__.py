"""paraminit: parameter initialization for PyTorch, done right.

Samplers fill tensors in place like `torch.nn.init` (`mixture_`, `mixture_parallel_`, with the closed
forms in `Mixture`); rules say which parameter of which module gets which sampler (`Rule`,
`apply_rules`); `get_device` is the one place that picks the device. `paraminit.chapter` holds the
network and the `net.apply` functions of the chapter.
"""

from ._checks import LazyParameterError, is_materialized
from .device import get_device
from .rules import Initialized, InitReport, Rule, apply_rules, describe_init, require_materialized
from .samplers import Mixture, mixture_, mixture_parallel_

__all__ = [
    "InitReport",
    "Initialized",
    "LazyParameterError",
    "Mixture",
    "Rule",
    "apply_rules",
    "describe_init",
    "get_device",
    "is_materialized",
    "mixture_",
    "mixture_parallel_",
    "require_materialized",
]
