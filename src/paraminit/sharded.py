"""Initialize a whole model, sharded or not, so that every parameter depends only on the seed.

[apply_counter_rules][paraminit.apply_counter_rules] is [apply_rules][paraminit.apply_rules] for the
counter-based samplers: each parameter draws from its own stream, named by its canonical name in
the model (`"0.weight"`: the qualified name without the components that wrappers such as
`torch.compile` or DDP add), at its global indices. A model built on the `meta` device, sharded
with FSDP2 (`fully_shard`) or DTensor (`distribute_tensor`, `distribute_module`) and allocated with
`to_empty` gets, on each rank, exactly its shard of the weights that a single process would draw
for the whole model with the same seed: no rank draws another rank's numbers, none holds the full
tensor, and no seed checkpoint is needed. [weights_digest][paraminit.weights_digest] fingerprints
the result, the same on every device.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace

import torch
from torch import nn

from . import _deterministic
from ._agree import Ranks
from ._checks import LazyParameterError, is_materialized
from ._dtensor import dtensor_region, is_dtensor
from ._init_call import call_init
from ._names import canonical_names, check_prefix
from .counter import check_seed, counter_mixture_, counter_normal_, counter_uniform_
from .rules import Initialized, InitReport, Rule, as_rule_list, describe_init, plan_rules

_SAMPLERS = (counter_uniform_, counter_normal_, counter_mixture_)


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
    if func in _deterministic.DETERMINISTIC:
        return "deterministic"
    name = describe_init(func)
    if func in _deterministic.DRAWING:
        why = (
            f"{name} draws from a torch generator, whose numbers depend on the device and on how "
            "the model is sharded"
        )
    else:
        why = (
            f"apply_counter_rules() cannot tell whether {name} draws random numbers, and one that "
            "draws from a torch generator gives numbers that depend on the device and on how the "
            "model is sharded"
        )
    raise TypeError(
        f"rule {rule.label!r}: {why}. apply_counter_rules() takes the counter samplers "
        "(counter_uniform_, counter_normal_, counter_mixture_) and the torch.nn.init functions "
        "that draw nothing (zeros_, ones_, constant_, eye_, dirac_)"
    )


def apply_counter_rules(
    model: nn.Module,
    rules: Iterable[Rule],
    *,
    seed: int,
    prefix: str = "",
    allow_unused: bool = False,
    allow_conflicts: bool = False,
    require_all: bool = False,
) -> InitReport:
    """Initialize every parameter a rule selects, from counter-based samplers; the first match wins.

    Like [apply_rules][paraminit.apply_rules] (it plans and checks everything before the first
    write, visits a tied tensor once, refuses conflicting rules for its names unless
    `allow_conflicts`, and raises [InitError][paraminit.InitError] for an init that does not write
    in place), with one difference: a counter sampler in a rule is called as
    `init(param, seed=seed, stream=name)`, where `name` is the parameter's canonical name (a tied
    tensor's first name), so every tensor gets its own stream and the same weights on every
    device. The canonical name is the qualified name without the components that wrappers add
    (`_orig_mod` of `torch.compile`, `module` of DDP and `nn.DataParallel`,
    `_checkpoint_wrapped_module` of activation checkpointing), so a wrapped model gets the weights
    of the plain one; `prefix` puts a submodule's own name in front, so that the submodule
    initialized alone gets the weights it gets within the whole model.

    A parameter that is a `DTensor` (FSDP2's `fully_shard`, `distribute_tensor`) has its local
    shard filled from its global offsets: the gathered model equals a single-process init, bit for
    bit. A rank whose shard of a parameter is empty has nothing to write for it. For such a model
    the call is collective: every rank of its device meshes must make it, with the same seed and
    rules. The ranks agree after every check and before the first write, and again after the
    last write, so that an error on one rank is raised on every rank, alike, instead of leaving
    the others waiting in the next collective; ranks given different seeds are refused.

    Args:
        model: The model, materialized (after `to_empty` if it was built on `meta`).
        rules: [Rule][paraminit.Rule]s whose `init` is a counter sampler (`counter_uniform_`,
            `counter_normal_`, `counter_mixture_`, or a `functools.partial` of one without `seed` or
            `stream`), or one of the `torch.nn.init` functions that draw nothing: `zeros_`,
            `ones_`, `constant_`, `eye_`, `dirac_`.
        seed: The model's seed, an integer in `[0, 2**64)`.
        prefix: The canonical name of `model` within a larger model (`"encoder"`), put in front of
            every stream; default none.
        allow_unused: Allow a rule that matches no parameter (by default an error).
        allow_conflicts: Let the first of several rules that select the names of one tied
            tensor win (by default an error).
        require_all: Make a parameter that no rule selects an error. After `to_empty`, such a
            parameter holds whatever was in memory.

    Returns:
        An [InitReport][paraminit.InitReport]: each parameter `initialized` or `untouched`.

    Raises:
        TypeError: a rule's `init` draws from a torch generator, or may.
        ValueError: a rule matched nothing (unless `allow_unused`), rules conflict over a tied
            tensor (unless `allow_conflicts`), a parameter is untouched with `require_all`, a
            selected parameter is on the `meta` device, a rule fixes `seed` or `stream`, a
            rule's arguments do not fit its parameter (`dirac_` on a 2-D weight, `a > b`), FSDP2
            holds parameters unsharded, or the ranks were given different seeds or rules.
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
    ranks = Ranks(model, "apply_counter_rules")
    try:  # every check, on every rank, before the ranks agree and the first write
        plan, fingerprint = _plan(model, rules, seed, prefix, allow_unused, allow_conflicts, require_all)
        failure = None
    except Exception as error:
        plan, fingerprint, failure = [], None, error
    ranks.agree(failure, fingerprint=fingerprint, before_writing=True)

    changed: list[str] = []
    failure = None
    for target, rule in plan:
        if rule is not None and failure is None:
            try:
                call_init(rule, target.param, target.name, changed)
            except Exception as error:
                failure = error
            else:
                changed.append(target.name)
    ranks.agree(failure, before_writing=False)
    report = InitReport()
    for target, rule in plan:
        status = "untouched" if rule is None else "initialized"
        shape = tuple(target.param.shape) if is_materialized(target.param) else None
        report.entries.append(Initialized(target.name, shape, rule and rule.label, status, target.aliases))
    return report


def _plan(
    model: nn.Module,
    rules: Iterable[Rule],
    seed: int,
    prefix: str,
    allow_unused: bool,
    allow_conflicts: bool,
    require_all: bool,
) -> tuple[list[tuple], str]:
    """`[(target, rule to call or None)]` in model order, and a fingerprint of what is to be drawn.

    Raises every error that apply_counter_rules can find without writing.
    """
    rules = as_rule_list(rules, "apply_counter_rules")
    seed = check_seed(seed, "apply_counter_rules")
    prefix = check_prefix(prefix, "apply_counter_rules")
    kinds = [_kind(rule) for rule in rules]
    steps = plan_rules(model, rules, allow_unused=allow_unused, allow_conflicts=allow_conflicts)
    untouched = [step.target.name for step in steps if step.rule is None]
    if untouched and require_all:
        raise ValueError(
            f"no rule selects {untouched}: after to_empty() they hold uninitialized memory. Add a "
            "rule for them, or pass require_all=False if they are set elsewhere"
        )
    streams = Counter(step.target.stream(prefix) for step in steps)
    repeated = [stream for stream, count in streams.items() if count > 1]
    if repeated:
        raise ValueError(
            f"different parameters of {type(model).__name__} have the same canonical name "
            f"{repeated} (a wrapper holds modules besides the one it wraps), so they would draw "
            "the same numbers; give them distinct names"
        )
    plan, drawn = [], [seed, prefix]
    for step in steps:  # every check before the first write
        target, rule = step.target, step.rule
        if rule is not None:
            _check_fillable(target.param, target.name, rule)
            stream = target.stream(prefix)
            rule = _to_call(rule, kinds[rules.index(rule)], target.param, target.name, seed, stream)
            drawn.append((stream, rule.label, tuple(target.param.shape), str(target.param.dtype)))
        plan.append((target, rule))
    return plan, repr(drawn)


def _to_call(rule: Rule, kind: str, param: torch.Tensor, name: str, seed: int, stream: str) -> Rule:
    """The rule with the init to call on `param`, after checking that it can fill `param`."""
    func, keywords = _unwrap(rule.init)
    shape, dtype = tuple(param.shape), param.dtype
    try:
        if is_dtensor(param):
            dtensor_region(param)  # refuses placements that are not blocks of the global tensor
        if kind == "counter":
            init = functools.partial(rule.init, seed=seed, stream=stream)
            if func in _SAMPLERS:  # its argument checks, on an empty block of the same tensor
                local = param.to_local() if is_dtensor(param) else param
                empty = torch.empty((0,) * len(shape), dtype=dtype, device=local.device)
                init(empty, global_shape=shape, global_offset=(0,) * len(shape))
        else:
            _deterministic.check(func, keywords, shape, dtype)
            init = functools.partial(_fill_block, func, keywords) if is_dtensor(param) else rule.init
    except (TypeError, ValueError, OverflowError, RuntimeError) as error:
        kind = (
            type(error) if type(error) in (TypeError, ValueError, OverflowError, RuntimeError) else ValueError
        )
        raise kind(f"rule {rule.label!r} cannot fill parameter {name!r} {shape}: {error}") from error
    return replace(rule, init=init)


def _fill_block(func: Callable, keywords: dict, param: torch.Tensor) -> None:
    """Fill a DTensor's local shard with its block of `func(full tensor)` (func draws nothing)."""
    _deterministic.fill_region(func, keywords, dtensor_region(param))


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
    """SHA-256 of every parameter's canonical name, dtype, shape and bytes, in model order.

    Each field is written with its length first, so no two different models give the same
    sequence of bytes, whatever characters their names hold. Names are canonical, without the
    components that wrappers add (`_orig_mod` of `torch.compile`, `module` of DDP): a wrapped
    model and its plain twin with equal weights have the same digest. A `DTensor` parameter is
    gathered first (`full_tensor()`, a collective: call this on every rank), so a sharded model and
    its single-process twin give the same digest, as do the same counter init on the CPU and on a
    GPU.

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
    names = canonical_names(model)
    params = list(model.named_parameters())
    digest = hashlib.sha256(b"paraminit.weights_digest 2\0")
    digest.update(_count(len(params)))
    for name, param in params:
        tensor = param.full_tensor() if is_dtensor(param) else param
        tensor = tensor.detach().to("cpu").contiguous().clone()
        _field(digest, names[name].encode("utf-8", "surrogatepass"))
        _field(digest, str(tensor.dtype).removeprefix("torch.").encode())
        digest.update(_count(tensor.dim()) + b"".join(_count(size) for size in tensor.shape))
        size = tensor.numel() * tensor.element_size()
        digest.update(_count(size))
        if size:
            digest.update(ctypes.string_at(tensor.data_ptr(), size))
    return digest.hexdigest()


def _count(value: int) -> bytes:
    return value.to_bytes(8, "little")


def _field(digest: hashlib._Hash, data: bytes) -> None:
    digest.update(_count(len(data)) + data)
