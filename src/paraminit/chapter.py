"""The chapter's network and the init functions it teaches, written so they cannot silently skip.

Each `init_*` function is meant for `net.apply(...)`. They test the module with `isinstance`, not
`type(module) == nn.Linear`: an `nn.LazyLinear` is an `nn.Linear` subclass, and `type()` would skip
it without a word. A lazy layer that has not seen input yet raises
[LazyParameterError][paraminit.LazyParameterError] instead of being skipped. The pages include these
functions by section, so the code a reader sees is the code that is tested.

Example:
    ```python
    import torch
    from paraminit.chapter import init_normal, make_net

    net = make_net()
    assert net(torch.rand(2, 4)).shape == (2, 1)  # the first call materializes the layers
    net.apply(init_normal)
    assert (net[0].bias == 0).all()
    ```
"""

# Each page block includes only the import sections it uses, one under the other, and shows them
# as one import block: the sections hold no blank lines (isort and the formatter would add some
# around the markers).
# fmt: off
# isort: off
# --8<-- [start:import_nn]
from torch import nn
# --8<-- [end:import_nn]
# --8<-- [start:import_require]
from paraminit import require_materialized
# --8<-- [end:import_require]
# --8<-- [start:import_mixture]
from paraminit import mixture_
# --8<-- [end:import_mixture]
# isort: on
# fmt: on

__all__ = ["init_42", "init_constant", "init_mixture", "init_normal", "init_xavier", "make_net"]


# --8<-- [start:make_net]
def make_net() -> nn.Sequential:
    """The chapter's network: 8 hidden units, 1 output, input width lazy."""
    return nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(1))


# --8<-- [end:make_net]


# --8<-- [start:init_normal]
def init_normal(module: nn.Module) -> None:
    """Weights from N(0, 0.01^2), biases zero, on every linear layer."""
    if isinstance(module, nn.Linear):  # also true for nn.LazyLinear
        require_materialized(module)  # a lazy layer fails loudly, not skipped
        nn.init.normal_(module.weight, mean=0.0, std=0.01)
        nn.init.zeros_(module.bias)


# --8<-- [end:init_normal]


# --8<-- [start:init_constant]
def init_constant(module: nn.Module) -> None:
    """Every weight 1, every bias zero, on every linear layer."""
    if isinstance(module, nn.Linear):
        require_materialized(module)
        nn.init.constant_(module.weight, 1.0)
        nn.init.zeros_(module.bias)


# --8<-- [end:init_constant]


# --8<-- [start:init_xavier_42]
def init_xavier(module: nn.Module) -> None:
    """Xavier (Glorot) uniform weights on every linear layer; biases kept."""
    if isinstance(module, nn.Linear):
        require_materialized(module)
        nn.init.xavier_uniform_(module.weight)


def init_42(module: nn.Module) -> None:
    """Every weight 42 on every linear layer; biases kept."""
    if isinstance(module, nn.Linear):
        require_materialized(module)
        nn.init.constant_(module.weight, 42.0)


# --8<-- [end:init_xavier_42]


# --8<-- [start:init_mixture]
def init_mixture(module: nn.Module) -> None:
    """The chapter's custom init: the mixture U(5, 10) / 0 / U(-10, -5)."""
    if isinstance(module, nn.Linear):
        require_materialized(module)
        mixture_(module.weight)  # inner=5, outer=10, p_zero=1/2


# --8<-- [end:init_mixture]
