"""Canonical names: a parameter's qualified name with the components that wrappers add removed.

`torch.compile` wraps a model in an `OptimizedModule` that holds it as `_orig_mod`, DDP and
`nn.DataParallel` hold it as `module`, and activation checkpointing (`checkpoint_wrapper`) holds a
layer as `_checkpoint_wrapped_module`; `named_parameters()` puts those names into every qualified
name (`_orig_mod.0.weight`). A counter sampler's stream is a name, so the same model, wrapped or
not, would get other weights from the same seed. The canonical name drops a component exactly
where the module holding it is such a wrapper and the component is the name under which the
wrapper holds the wrapped module, as `torch.distributed.checkpoint`'s `_get_fqns` does for the
keys of a state dict; a user's own submodule called `module` keeps its name. FSDP2's
`fully_shard` adds no component. A wrapper type is only looked up once its module has been
imported: a model cannot hold an instance of a class that was never imported.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

from torch import nn

# (module that defines the wrapper, class name, the name under which it holds the wrapped module)
_WRAPPERS = (
    ("torch._dynamo.eval_frame", "OptimizedModule", "_orig_mod"),
    ("torch.nn.parallel.distributed", "DistributedDataParallel", "module"),
    ("torch.nn.parallel.data_parallel", "DataParallel", "module"),
    (
        "torch.distributed.algorithms._checkpoint.checkpoint_wrapper",
        "ActivationWrapper",
        "_checkpoint_wrapped_module",
    ),
)


def is_wrapper_component(parent: nn.Module, name: str) -> bool:
    """Whether `parent` is a wrapper and `name` the attribute under which it holds the wrapped module."""
    for module_name, class_name, held_as in _WRAPPERS:
        if name == held_as and module_name in sys.modules:
            wrapper = getattr(sys.modules[module_name], class_name, None)
            if isinstance(wrapper, type) and isinstance(parent, wrapper):
                return True
    return False


def join(prefix: str, name: str) -> str:
    """`prefix.name`, or whichever of the two is not empty."""
    return f"{prefix}.{name}" if prefix and name else prefix or name


def walk(model: nn.Module) -> Iterator[tuple[str, str, nn.Module]]:
    """`(path, canonical path, module)` for every module, in `named_modules(remove_duplicate=False)` order.

    A module reachable by several paths is yielded once per path, as `named_modules` does with
    `remove_duplicate=False`.
    """
    stack = [("", "", model)]
    while stack:
        path, canonical, module = stack.pop()
        yield path, canonical, module
        children = [(name, child) for name, child in module._modules.items() if child is not None]
        for name, child in reversed(children):
            inner = canonical if is_wrapper_component(module, name) else join(canonical, name)
            stack.append((join(path, name), inner, child))


def canonical_names(model: nn.Module) -> dict[str, str]:
    """`{qualified name: canonical name}` for every parameter name of `model` (tied ones included)."""
    names = {}
    for path, canonical, module in walk(model):
        for param_name, param in module._parameters.items():
            if param is not None:
                names[join(path, param_name)] = join(canonical, param_name)
    return names


def check_prefix(prefix: object, caller: str) -> str:
    """Return `prefix` if it is a usable qualified name (or empty), else raise an error naming it."""
    if not isinstance(prefix, str):
        raise TypeError(f"{caller}() prefix must be a str (the model's qualified name), got {prefix!r}")
    if prefix and any(not part for part in prefix.split(".")):
        raise ValueError(
            f"{caller}() prefix must be a qualified module name such as 'encoder' or 'blocks.0' "
            f"(no empty component, no leading or trailing dot), got {prefix!r}"
        )
    return prefix
