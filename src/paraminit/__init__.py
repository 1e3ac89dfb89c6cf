"""paraminit: parameter initialization for PyTorch, done right.

Samplers fill tensors in place like `torch.nn.init` (`mixture_`, with the closed forms in
`Mixture`); rules say which parameter of which module gets which sampler (`Rule`, `apply_rules`;
`pending_inits` lists what a lazy model still waits for); `get_device` is the one place that picks
the device. `paraminit.chapter` holds the network and the `net.apply` functions of
the chapter. The counter-based samplers (`counter_uniform_`, `counter_normal_`, `counter_mixture_`)
give the same weights from a seed on every device and every shard; `apply_counter_rules` applies
them to a whole model, sharded or not, and `weights_digest` fingerprints the result. `check_init`
checks a classifier's init on one batch before training (layer scales, dead units, initial loss,
size of the first update).
"""

from ._checks import InitError, LazyParameterError, is_materialized
from .counter import counter_mixture_, counter_normal_, counter_uniform_
from .deferred import pending_inits
from .device import get_device
from .diagnostics import InitCheck, LayerCheck, check_init
from .rules import Initialized, InitReport, Rule, apply_rules, describe_init, require_materialized
from .samplers import Mixture, mixture_
from .sharded import apply_counter_rules, weights_digest

__all__ = [
    "InitCheck",
    "InitError",
    "InitReport",
    "Initialized",
    "LayerCheck",
    "LazyParameterError",
    "Mixture",
    "Rule",
    "apply_counter_rules",
    "apply_rules",
    "check_init",
    "counter_mixture_",
    "counter_normal_",
    "counter_uniform_",
    "describe_init",
    "get_device",
    "is_materialized",
    "mixture_",
    "pending_inits",
    "require_materialized",
    "weights_digest",
]
