"""Deferred initialization: the rules of a lazy module's parameters, kept on the module until its
first forward pass.

[apply_rules][paraminit.apply_rules] cannot fill a parameter that has no shape yet (a `LazyLinear`
before it has seen input). It records the rule on the module that owns the parameter, as plain state
(`PendingInit` objects in a `DeferredInits` attribute) served by two module-level hooks: a forward
pre-hook, registered after the lazy module's own, which runs the pending rules once the shapes are
known and before the forward computes; and a `load_state_dict` pre-hook, which cancels the pending
rule of every parameter that a checkpoint supplies (a loaded value wins, as on an eager model). A
parameter replaced by another one before the first forward (`module.weight = nn.Parameter(...)`)
keeps the new one too: on an eager model, the later write wins.

Because the state lives on the module and the hooks are ordinary functions, `copy.deepcopy` gives
the copy its own pending rules, and pickling (`pickle`, `torch.save`) keeps them, provided each
rule's `init` can be pickled: a module-level function, a `functools.partial` of one, or a sampler
of this library. A lambda or a local function cannot; pickling such a model then raises
`pickle.PicklingError` naming the parameter, the rule and the init (run a forward pass first, or
use a module-level function). [pending_inits][paraminit.pending_inits] lists what is still pending.

Two threads may start the first forward pass of the same model at once. One lock, held while a
module materializes its parameters (PyTorch's own lazy hook, which this module runs under the
lock in its place) and runs its pending rules, makes that happen once: the other thread waits,
then finds the parameters materialized and initialized and nothing left to do.
"""

from __future__ import annotations

import copy
import pickle
import threading
from dataclasses import dataclass
from typing import Any

from torch import nn

from ._checks import LazyParameterError, is_materialized
from ._init_call import LabelledInit, call_init

STATE = "_paraminit_deferred"
"""Name of the module attribute that holds the pending rules."""

LOCK = threading.RLock()
"""Held while deferred state is read or changed, and while a module with pending rules
materializes and runs them. Re-entrant, so an init may itself run a forward pass."""


@dataclass(eq=False)
class PendingInit:
    """One rule waiting for one lazy parameter; shared by every module that holds the parameter."""

    name: str
    rule: LabelledInit
    param: nn.Parameter
    """The lazy parameter the rule is for. Materializing keeps the object (it changes its class in
    place), so a module that holds another object by the time it runs was given a new parameter."""
    done: bool = False

    def __getstate__(self) -> dict[str, Any]:
        try:
            pickle.dumps(self.rule.init)
        except Exception as error:
            raise pickle.PicklingError(
                f"cannot pickle the deferred init of parameter {self.name!r}: rule "
                f"{self.rule.label!r} has init {self.rule.init!r}, which pickle cannot store "
                f"({type(error).__name__}: {error}). Use a module-level function or a "
                "functools.partial of one, or run a forward pass first so that nothing is pending"
            ) from error
        return self.__dict__

    def __deepcopy__(self, memo: dict[int, Any]) -> PendingInit:
        twin = PendingInit(
            self.name, copy.deepcopy(self.rule, memo), copy.deepcopy(self.param, memo), self.done
        )
        memo[id(self)] = twin
        return twin


class DeferredInits:
    """The pending rules of one module, in the order they were given, with the hooks that run them."""

    def __init__(self, module: nn.Module) -> None:
        self.entries: list[tuple[str, PendingInit]] = []
        self.forward_hook = module.register_forward_pre_hook(_run_pending)
        self.load_hook = module._register_load_state_dict_pre_hook(_cancel_loaded, with_module=True)

    def release(self, module: nn.Module) -> None:
        """Remove the hooks and this state from `module`: nothing is pending any more."""
        self.forward_hook.remove()
        self.load_hook.remove()
        del module.__dict__[STATE]


class _Materialize:
    """Stands in for a lazy module's own forward pre-hook (`_infer_parameters`), which
    materializes its parameters: runs it under `LOCK`, and then the module's pending rules.

    A thread that entered the forward pass while another was materializing still calls this
    (a module's hooks are read when its forward begins): it waits for the lock, finds that the
    original hook has run (PyTorch deletes `_initialize_hook` when it has), and returns.
    """

    def __init__(self, original: Any) -> None:
        self.original = original

    def __call__(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        with LOCK:
            if "_initialize_hook" in module.__dict__:
                self.original(module, args, kwargs)
            _run_pending(module, args)


def defer(module: nn.Module, param_name: str, entry: PendingInit) -> None:
    """Make `module` run `entry` on its parameter `param_name` at its next forward pass."""
    with LOCK:
        state = module.__dict__.get(STATE)
        if state is None:
            state = module.__dict__[STATE] = DeferredInits(module)
        state.entries.append((param_name, entry))
        handle = module.__dict__.get("_initialize_hook")  # a lazy module's own hook, not run yet
        hooks = module._forward_pre_hooks
        if handle is not None and handle.id in hooks and not isinstance(hooks[handle.id], _Materialize):
            hooks[handle.id] = _Materialize(hooks[handle.id])


def _run_pending(module: nn.Module, args: tuple) -> None:
    """Forward pre-hook: run the pending rules of `module`, in order; each that succeeds is done.

    A rule that fails stays pending, with those after it, and the forward pass is refused with an
    error; the next forward pass tries again. Nothing to do when another thread has run them.
    """
    with LOCK:
        state: DeferredInits | None = module.__dict__.get(STATE)
        if state is None:
            return
        done: list[str] = []
        while state.entries:
            param_name, entry = state.entries[0]
            if not entry.done:
                _run(module, param_name, entry, done)
                entry.done = True
                done.append(entry.name)
            state.entries.pop(0)
        state.release(module)


def _run(module: nn.Module, param_name: str, entry: PendingInit, done: list[str]) -> None:
    param = getattr(module, param_name)
    if param is not entry.param:  # replaced after apply_rules (e.g. set by hand): the later write wins
        return
    if not is_materialized(param):
        raise LazyParameterError(
            f"parameter {entry.name!r} was still not materialized when {type(module).__name__}'s "
            f"forward began, so rule {entry.rule.label!r} cannot fill it; it stays pending"
        )
    call_init(entry.rule, param, entry.name, done, when=" at the first forward pass", pending=True)


def _cancel_loaded(
    module: nn.Module,
    state_dict: dict[str, Any],
    prefix: str,
    local_metadata: Any,
    strict: bool,
    missing_keys: list[str],
    unexpected_keys: list[str],
    error_msgs: list[str],
) -> None:
    """`load_state_dict` pre-hook: a parameter that the checkpoint supplies keeps the loaded value."""
    with LOCK:
        state: DeferredInits | None = module.__dict__.get(STATE)
        if state is None:
            return
        for param_name, entry in state.entries:
            if prefix + param_name in state_dict:
                entry.done = True
        state.entries = [(n, e) for n, e in state.entries if not e.done]
        if not state.entries:
            state.release(module)


def pending_inits(model: nn.Module) -> dict[str, str]:
    """The parameters of `model` whose deferred rule has not run yet, with the rule's label.

    A deferred rule runs at its module's first forward pass; a `load_state_dict` that supplies the
    parameter first cancels it (the loaded value wins). Copies (`copy.deepcopy`) and unpickled
    models carry their own pending rules.

    Args:
        model: Any module.

    Returns:
        `{qualified parameter name: rule label}`, in model order; empty when nothing is pending.

    Example:
        ```python
        import torch
        from torch import nn
        from paraminit import Rule, apply_rules, pending_inits

        net = nn.Sequential(nn.LazyLinear(3))
        apply_rules(net, [Rule(nn.init.zeros_, param="bias")])
        assert pending_inits(net) == {"0.bias": "zeros_ on *.bias"}
        net(torch.rand(2, 4))
        assert pending_inits(net) == {}
        ```
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"pending_inits() expects an nn.Module, got {type(model).__name__}")
    pending: dict[str, str] = {}
    with LOCK:
        for module in model.modules():
            state = module.__dict__.get(STATE)
            for _, entry in state.entries if state is not None else ():
                if not entry.done:
                    pending[entry.name] = entry.rule.label
    return pending
