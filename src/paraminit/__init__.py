"""paraminit: parameter initialization for PyTorch, done right.

Samplers fill tensors in place like `torch.nn.init` (`mixture_`, `mixture_parallel_`, with the closed
forms in `Mixture`); rules say which parameter of which module gets which sampler (`Rule`,
`apply_rules`; `pending_inits` lists what a lazy model still waits for); `get_device` is the one
place that picks the device. `paraminit.chapter` holds the network and the `net.apply` functions of
the chapter.
"""

from ._checks import InitError, LazyParameterError, is_materialized
from .deferred import pending_inits
from .device import get_device
from .rules import Initialized, InitReport, Rule, apply_rules, describe_init, require_materialized
from .samplers import Mixture, mixture_, mixture_parallel_

__all__ = [
    "InitError",
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
    "pending_inits",
    "require_materialized",
]
