"""Initialize a whole model, sharded or not, so that every parameter depends only on the seed.

[apply_counter_rules][paraminit.apply_counter_rules] is [apply_rules][paraminit.apply_rules] for the
counter-based samplers: each parameter draws from its own stream, named by its qualified name in
the model (`"0.weight"`), at its global indices. A model built on the `meta` device, sharded with
FSDP2 (`fully_shard`) or DTensor (`distribute_tensor`, `distribute_module`) and allocated with
`to_empty` gets, on each rank, exactly its shard of the weights that a single process would draw
for the whole model with the same seed: no rank draws another rank's numbers, none holds the full
tensor, and no seed checkpoint is needed. [weights_digest][paraminit.weights_digest] fingerprints
the result, the same on every device.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import replace

import torch
from torch import nn

from ._checks import LazyParameterError, is_materialized
from ._dtensor import is_dtensor
from .counter import check_seed
from .rules import Initialized, InitReport, Rule, as_rule_list, call_init, describe_init, plan_rules

# Initializers that draw nothing: their result is the same everywhere without a seed.
_DETERMINISTIC = (nn.init.zeros_, nn.init.ones_, nn.init.constant_)


def _unwrap(init: Callable) -> tuple[Callable, dict]:
    keywords: dict = {}
    while isinstance(init, functools.partial):
        keywords = {**init.keywords, **keywords}
        init = init.func
    return init, keywords


def _kind(rule: Rule) -> str:
    """`"counter"` or `"deterministic"`, else a TypeError that says what to use instead."""
    func, keywords = _unwrap(rule.init)
    if getattr(func, "counter_sampler", False):
        taken = sorted({"seed", "stream"} & keywords.keys())
        if taken:
            raise ValueError(
                f"rule {rule.label!r} fixes {taken} itself; apply_counter_rules() gives every "
                "parameter the call's seed and its own name as stream, so leave them out"
            )
        return "counter"
    if func in _DETERMINISTIC:
        return "deterministic"
    raise TypeError(
        f"rule {rule.label!r}: apply_counter_rules() takes the counter samplers (counter_uniform_, "
        "counter_normal_, counter_mixture_) or the initializers that draw nothing (zeros_, ones_, "
        f"constant_); {describe_init(rule.init)} would draw from a torch generator, whose numbers "
        "depend on the device and on how the model is sharded"
    )


def apply_counter_rules(
    model: nn.Module,
    rules: Iterable[Rule],
    *,
    seed: int,
    allow_unused: bool = False,
    allow_conflicts: bool = False,
    require_all: bool = False,
) -> InitReport:
    """Initialize every parameter a rule selects, from counter-based samplers; the first match wins.

    Like [apply_rules][paraminit.apply_rules] (it plans and checks everything before the first
    write, visits a tied tensor once, refuses conflicting rules for its names unless
    `allow_conflicts`, and raises [InitError][paraminit.InitError] for an init that does not write
    in place), with one difference: a counter sampler in a rule is called as
    `init(param, seed=seed, stream=name)`, where `name` is the parameter's qualified name (a tied
    tensor's first name), so every tensor gets its own stream and the same weights on every
    device. A
    parameter that is a `DTensor` (FSDP2's `fully_shard`, `distribute_tensor`) has its local shard
    filled from its global offsets: the gathered model equals a single-process init, bit for bit.

    Args:
        model: The model, materialized (after `to_empty` if it was built on `meta`).
        rules: [Rule][paraminit.Rule]s whose `init` is a counter sampler (`counter_uniform_`,
            `counter_normal_`, `counter_mixture_`, or a `functools.partial` of one without `seed` or
            `stream`), or `nn.init.zeros_`, `ones_`, `constant_`.
        seed: The model's seed, an integer in `[0, 2**64)`.
        allow_unused: Allow a rule that matches no parameter (by default an error).
        allow_conflicts: Let the first of several rules that select the names of one tied
            tensor win (by default an error).
        require_all: Make a parameter that no rule selects an error. After `to_empty`, such a
            parameter holds whatever was in memory.

    Returns:
        An [InitReport][paraminit.InitReport]: each parameter `initialized` or `untouched`.

    Raises:
        TypeError: a rule's `init` draws from a torch generator.
        ValueError: a rule matched nothing (unless `allow_unused`), rules conflict over a tied
            tensor (unless `allow_conflicts`), a parameter is untouched with `require_all`, a
            selected parameter is on the `meta` device, or a rule fixes `seed` or `stream`.
        InitError: an init raised or did not write in place; the message names the parameters
            already changed by this call.
        LazyParameterError: a selected parameter is not materialized yet.

    Example:
        ```python
        import torch
        from torch import nn
        from paraminit import Rule, apply_counter_rules, counter_normal_

        net = nn.Linear(4, 3)
        rules = [Rule(counter_normal_, param="weight"), Rule(nn.init.zeros_, param="bias")]
        report = apply_counter_rules(net, rules, seed=0)
        assert report.counts() == {"counter_normal_ on *.weight": 1, "zeros_ on *.bias": 1}
        again = counter_normal_(torch.empty(3, 4), seed=0, stream="weight")
        assert torch.equal(net.weight, again)  # the stream is the parameter's name
        ```
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"apply_counter_rules() expects an nn.Module, got {type(model).__name__}")
    rules = as_rule_list(rules, "apply_counter_rules")
    check_seed(seed, "apply_counter_rules")
    kinds = [_kind(rule) for rule in rules]
    plan = plan_rules(model, rules, allow_unused=allow_unused, allow_conflicts=allow_conflicts)
    untouched = [step.target.name for step in plan if step.rule is None]
    if untouched and require_all:
        raise ValueError(
            f"no rule selects {untouched}: after to_empty() they hold uninitialized memory. Add a "
            "rule for them, or pass require_all=False if they are set elsewhere"
        )
    for step in plan:  # every check before the first write
        if step.rule is not None:
            _check_fillable(step.target.param, step.target.name, step.rule)

    changed: list[str] = []
    report = InitReport()
    for step in plan:
        target, rule = step.target, step.rule
        if rule is not None:
            if kinds[rules.index(rule)] == "counter":
                # The stream is the tensor's first name: a tied tensor is drawn once.
                rule = replace(rule, init=functools.partial(rule.init, seed=seed, stream=target.name))
            call_init(rule, target.param, target.name, changed)
            changed.append(target.name)
        status = "untouched" if rule is None else "initialized"
        shape = tuple(target.param.shape) if is_materialized(target.param) else None
        report.entries.append(Initialized(target.name, shape, rule and rule.label, status, target.aliases))
    return report


def _check_fillable(param: torch.Tensor, name: str, rule: Rule) -> None:
    if not is_materialized(param):
        raise LazyParameterError(
            f"parameter {name!r} is not materialized yet, so rule {rule.label!r} cannot fill it: run "
            "the model once on an example input, or build it on the meta device and call to_empty()"
        )
    if param.device.type == "meta":
        raise ValueError(
            f"parameter {name!r} is on the meta device (no storage): call model.to_empty(device=...) "
            f"before rule {rule.label!r} can fill it"
        )


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of every parameter's name, dtype, shape and bytes, in model order.

    A `DTensor` parameter is gathered first (`full_tensor()`, a collective: call this on every
    rank), so a sharded model and its single-process twin give the same digest, as do the same
    counter init on the CPU and on a GPU.

    Example:
        ```python
        from torch import nn
        from paraminit import Rule, apply_counter_rules, counter_uniform_, weights_digest

        def build():
            net = nn.Linear(3, 2)
            apply_counter_rules(net, [Rule(counter_uniform_)], seed=1)
            return net

        assert weights_digest(build()) == weights_digest(build())
        ```
    """
    digest = hashlib.sha256()
    for name, param in model.named_parameters():
        tensor = param.full_tensor() if is_dtensor(param) else param
        tensor = tensor.detach().to("cpu").contiguous().clone()
        digest.update(f"{name}:{str(tensor.dtype).removeprefix('torch.')}:{tuple(tensor.shape)}\n".encode())
        size = tensor.numel() * tensor.element_size()
        if size:
            digest.update(ctypes.string_at(tensor.data_ptr(), size))
    return digest.hexdigest()
