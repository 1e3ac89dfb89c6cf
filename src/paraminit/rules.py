"""Rules: which parameter of which module gets which initializer, applied to a whole model.

A [Rule][paraminit.Rule] selects parameters by module type (`isinstance`, so subclasses such as
`nn.LazyLinear` match `nn.Linear`), by the parameter's own name (`"weight"`, `"bias"`) and by the
owning module's path in the model (`"0"`, `"encoder.*"`). [apply_rules][paraminit.apply_rules] gives
each parameter the first rule that matches it and returns an [InitReport][paraminit.InitReport] that
says what happened to every parameter, so a rule that did nothing is visible.

`apply_rules` plans before it writes: it finds every parameter tensor once (a tensor tied to two
names, or held by a module reachable by two paths, is one tensor with aliases), picks its rule,
and checks the whole plan (unused rules, conflicting rules for one tensor, lazy parameters with
`lazy="error"`) before calling any init.
"""

from __future__ import annotations

import functools
import inspect
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Literal

import torch
from torch import nn

from ._checks import LazyParameterError, is_materialized
from ._dtensor import fsdp_unsharded
from ._init_call import call_init
from ._names import check_prefix, join, walk
from .deferred import PendingInit, defer

Initializer = Callable[[torch.Tensor], object]

_TENSOR = object()
"""Stands for the tensor when a Rule checks that `init(tensor)` is a valid call (only arity counts)."""


@dataclass(frozen=True)
class Rule:
    """Give `init` to every parameter that matches all three selectors.

    Args:
        init: Called as `init(parameter)` under `torch.no_grad()`, and must fill the parameter in
            place: any `torch.nn.init` function or a `functools.partial` of one, or a sampler from
            this library. Checked when the rule is built: a class, or a function with another
            required argument (`constant_` without `val`), is refused; a builtin whose signature
            cannot be read is accepted.
        module: Module type(s) matched with `isinstance`. Default: every module.
        param: Pattern (`fnmatch`) for the parameter's own name, e.g. `"weight"`, `"bias"`.
        path: Pattern for the owning module's qualified name in the model, e.g. `"0"`, `"2"`,
            `"encoder.*"`. The top-level module's path is `""`. It is matched against the path
            as `named_modules()` gives it and against the canonical path, without the components
            that wrappers add (`_orig_mod` of `torch.compile`, `module` of DDP and
            `nn.DataParallel`, `_checkpoint_wrapped_module` of activation checkpointing), so a
            rule written for a model selects the same parameters in its wrapped twin.
        label: Name shown in the report; default derived from `init` and the selectors.

    Raises:
        TypeError: `init` cannot be called as `init(tensor)`, or a selector has the wrong type.

    Example:
        ```python
        import functools
        from torch import nn
        from paraminit import Rule

        rule = Rule(functools.partial(nn.init.normal_, std=0.01), module=nn.Linear, param="weight")
        assert rule.label == "normal_(std=0.01) on Linear.weight"
        ```
    """

    init: Initializer
    module: type[nn.Module] | tuple[type[nn.Module], ...] = nn.Module
    param: str = "*"
    path: str = "*"
    label: str = ""

    def __post_init__(self) -> None:
        _check_init(self.init)
        types = self.module if isinstance(self.module, tuple) else (self.module,)
        bad = [t for t in types if not (isinstance(t, type) and issubclass(t, nn.Module))]
        if bad or not types:
            raise TypeError(f"Rule module must be nn.Module subclass(es), got {self.module!r}")
        for name in ("param", "path"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"Rule {name} must be a pattern string, got {getattr(self, name)!r}")
        if not self.label:
            object.__setattr__(self, "label", self._default_label(types))

    def _default_label(self, types: tuple[type, ...]) -> str:
        target = "*" if types == (nn.Module,) else "/".join(t.__name__ for t in types)
        where = f"{target}.{self.param}" if self.param != "*" else target
        if self.path != "*":
            where = f"{where} at {self.path!r}"
        return f"{describe_init(self.init)} on {where}"

    def matches(self, path: str, module: nn.Module, param: str, canonical: str | None = None) -> bool:
        """Whether this rule selects parameter `param` of `module`, found at `path` in the model
        (whose canonical path, if it differs, is `canonical`)."""
        return (
            isinstance(module, self.module)
            and fnmatchcase(param, self.param)
            and (
                fnmatchcase(path, self.path) or (canonical is not None and fnmatchcase(canonical, self.path))
            )
        )


def _check_init(init: object) -> None:
    """Raise unless `init(tensor)` is a valid call."""
    if isinstance(init, type):
        raise TypeError(
            f"Rule init must fill a tensor in place, got the class {init.__module__}.{init.__qualname__}; "
            "to select modules of a type, pass it as module=..."
        )
    if not callable(init):
        raise TypeError(f"Rule init must be callable, got {init!r}")
    try:
        signature = inspect.signature(init)
    except (TypeError, ValueError):  # a builtin without a signature: it is called as init(tensor)
        return
    try:
        if _is_counter_sampler(init):  # the seed and the stream are given when it is called
            signature.bind(_TENSOR, seed=0, stream="")
        else:
            signature.bind(_TENSOR)
    except TypeError as error:
        raise TypeError(
            f"Rule init {describe_init(init)} cannot be called as init(tensor): {error}. Bind its other "
            f"arguments first: functools.partial({describe_init(init)}, name=value, ...)"
        ) from None


def _is_counter_sampler(init: object) -> bool:
    """Whether `init` is one of the counter-based samplers, or a `functools.partial` of one."""
    while isinstance(init, functools.partial):
        init = init.func
    return bool(getattr(init, "counter_sampler", False))


def _bound_keywords(init: object) -> dict:
    """The keyword arguments that `functools.partial` binds in `init` (none for a plain function)."""
    return dict(init.keywords) if isinstance(init, functools.partial) else {}


def _seeded(rule: Rule) -> bool:
    """Whether `rule` uses a counter sampler with a bound seed, refusing the mistakes around it."""
    if not _is_counter_sampler(rule.init):
        return False
    keywords = _bound_keywords(rule.init)
    if "seed" not in keywords:
        raise TypeError(
            f"rule {rule.label!r} uses a counter-based sampler, which needs a seed: pass the rules "
            "to apply_counter_rules(model, rules, seed=...), or bind a seed with "
            "functools.partial(sampler, seed=...); apply_rules then gives each parameter its own "
            "stream, named after it, as apply_counter_rules does"
        )
    if "stream" in keywords:
        raise ValueError(
            f"rule {rule.label!r} fixes ['stream'] itself, so every parameter it selects would get "
            "the same numbers: leave stream out, and each parameter draws from the stream of its "
            "own name"
        )
    return True


def describe_init(init: Initializer) -> str:
    """A short name for an initializer: `normal_(std=0.01)` for a partial, else its `__name__`.

    Example:
        ```python
        import functools
        from torch import nn
        from paraminit import describe_init

        assert describe_init(functools.partial(nn.init.normal_, std=0.01)) == "normal_(std=0.01)"
        assert describe_init(nn.init.zeros_) == "zeros_"
        ```
    """
    if isinstance(init, functools.partial):  # nested partials are flattened into one by functools
        args = [repr(a) for a in init.args] + [f"{k}={v!r}" for k, v in init.keywords.items()]
        return f"{describe_init(init.func)}({', '.join(args)})"
    return getattr(init, "__name__", type(init).__name__)


@dataclass(frozen=True)
class Initialized:
    """One parameter and what [apply_rules][paraminit.apply_rules] did to it.

    Example:
        ```python
        from torch import nn
        from paraminit import Rule, apply_rules

        entry = apply_rules(nn.Linear(4, 2), [Rule(nn.init.zeros_, param="bias")]).entries[1]
        assert (entry.name, entry.shape, entry.status) == ("bias", (2,), "initialized")
        ```
    """

    name: str
    """Qualified name in the model, e.g. `0.weight`."""
    shape: tuple[int, ...] | None
    """Its shape, or `None` while a lazy module has not seen input."""
    rule: str | None
    """The label of the rule that matched, or `None` when no rule did."""
    status: Literal["initialized", "deferred", "untouched"]
    """`deferred`: initialized at the module's first forward pass, before that pass computes."""
    aliases: tuple[str, ...] = ()
    """Other names of the same tensor: tied parameters, or a module reachable by several paths."""


@dataclass
class InitReport:
    """What [apply_rules][paraminit.apply_rules] did to each parameter, in model order.

    `str(report)` is a table, one line per parameter tensor: name, shape, status, rule, and the
    names it is tied to, if any. A tensor with several names is listed once, under its first name.

    Example:
        ```python
        from torch import nn
        from paraminit import Rule, apply_rules

        report = apply_rules(nn.Linear(4, 2), [Rule(nn.init.zeros_, param="bias")])
        assert report.counts() == {"untouched": 1, "zeros_ on *.bias": 1}
        assert report.names("untouched") == ["weight"]
        ```
    """

    entries: list[Initialized] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Parameter tensors per rule label (initialized now or deferred), plus `untouched`."""
        counted = Counter(e.rule if e.rule is not None else "untouched" for e in self.entries)
        return dict(counted)

    def names(self, status: str) -> list[str]:
        """First names of the parameter tensors with this status (see `aliases` for the others)."""
        return [e.name for e in self.entries if e.status == status]

    def __str__(self) -> str:
        if not self.entries:
            return "no parameters"
        width_name = max(len(e.name) for e in self.entries)
        width_shape = max(len(_shape_text(e)) for e in self.entries)
        return "\n".join(
            f"{e.name:<{width_name}}  {_shape_text(e):<{width_shape}}  {e.status:<11}  {e.rule or '-'}"
            + (f"  (tied: {', '.join(e.aliases)})" if e.aliases else "")
            for e in self.entries
        )


def _shape_text(entry: Initialized) -> str:
    return "(lazy)" if entry.shape is None else str(entry.shape)


def apply_rules(
    model: nn.Module,
    rules: Iterable[Rule],
    *,
    lazy: Literal["defer", "error"] = "defer",
    allow_unused: bool = False,
    allow_conflicts: bool = False,
    prefix: str = "",
) -> InitReport:
    """Initialize every parameter of `model` that a rule selects; the first matching rule wins.

    It plans first and writes last: every check below is made before any init is called, so a bad
    rule leaves the model untouched. Each parameter tensor is visited once, however many names it
    has (tied weights, a module reachable by two paths): a rule selects it if it selects any of its
    names. Each init is called once per tensor, under `torch.no_grad()`, and must write into it:
    an init that leaves the tensor's version counter as it was (one that returns a new tensor,
    fills a copy, or writes through `tensor.data`) raises [InitError][paraminit.InitError]. (An
    empty tensor has nothing to write, so any init is accepted for it.)

    A parameter of a lazy module (for example `nn.LazyLinear` before its first forward pass) has no
    shape yet. With `lazy="defer"` its rule is kept on the module and run at the module's first
    forward pass, right after the module materializes its parameters and before the forward
    computes, once. A pending rule is module state: `copy.deepcopy` and pickling carry it (see
    [pending_inits][paraminit.pending_inits]); a `load_state_dict` that supplies the parameter
    first cancels it, so the loaded value wins; a rule that fails at the forward pass stays pending
    and the forward is refused until it succeeds. With `lazy="error"` a selected lazy parameter
    raises [LazyParameterError][paraminit.LazyParameterError].

    A counter-based sampler (`counter_normal_`, ...) needs a seed: bind one with
    `functools.partial(sampler, seed=...)`, and each parameter draws from the stream of its own
    canonical name, as in [apply_counter_rules][paraminit.apply_counter_rules], which gives the
    same weights for the same seed. For a sharded model use `apply_counter_rules`: its ranks agree
    on every check before writing, so that an error on one rank stops them all.

    Args:
        model: The model; its own parameters and those of all submodules are considered.
        rules: The rules, in priority order (any iterable, read once).
        lazy: What to do with a parameter that is not materialized yet.
        allow_unused: Allow a rule that matches no parameter. By default that is an error, since
            a rule that selects nothing is almost always a typo or a wrong type.
        allow_conflicts: Allow different rules to select different names of one tensor; the
            first of them in `rules` wins. By default that is an error: only one can take effect.
        prefix: The qualified name of `model` within a larger model, which the streams of counter
            samplers start with (see [apply_counter_rules][paraminit.apply_counter_rules]).

    Returns:
        An [InitReport][paraminit.InitReport] listing every parameter tensor as `initialized`,
        `deferred` or `untouched`, with its other names as `aliases`.

    Raises:
        TypeError: a rule's counter sampler has no seed bound.
        ValueError: a rule matched no parameter (unless `allow_unused`), rules conflict over a
            tied tensor (unless `allow_conflicts`), `lazy` is unknown, a counter sampler's
            `stream` is bound, or FSDP2 holds a module's parameters unsharded.
        LazyParameterError: `lazy="error"` and a selected parameter is not materialized.
        InitError: an init raised or did not write in place; the message names the parameters
            already changed by this call.

    Example:
        ```python
        import functools
        import torch
        from torch import nn
        from paraminit import Rule, apply_rules

        net = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(1))
        report = apply_rules(net, [Rule(functools.partial(nn.init.constant_, val=1.0), param="weight")])
        assert report.names("deferred") == ["0.weight", "2.weight"]
        net(torch.rand(2, 4))  # materializes, then the deferred rule runs before the forward
        assert (net[0].weight == 1).all()
        ```
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"apply_rules() expects an nn.Module, got {type(model).__name__}")
    if lazy not in ("defer", "error"):
        raise ValueError(f"lazy must be 'defer' or 'error', got {lazy!r}")
    rules = as_rule_list(rules, "apply_rules")
    prefix = check_prefix(prefix, "apply_rules")
    seeded = [_seeded(rule) for rule in rules]
    plan = plan_rules(model, rules, allow_unused=allow_unused, allow_conflicts=allow_conflicts)
    lazy_steps = [step for step in plan if step.rule is not None and step.lazy]
    if lazy_steps and lazy == "error":
        step = lazy_steps[0]
        raise LazyParameterError(
            f"parameter {step.target.name!r} of {type(step.target.names[0].module).__name__} is not "
            f"materialized yet, so rule {step.rule.label!r} cannot fill it: run the model on an "
            "example input first, or pass lazy='defer'"
        )

    for step in plan:  # a counter sampler draws from the stream of the tensor's canonical name
        if step.rule is not None and seeded[rules.index(step.rule)]:
            init = functools.partial(step.rule.init, stream=step.target.stream(prefix))
            step.rule = replace(step.rule, init=init)

    changed: list[str] = []
    report = InitReport()
    for step in plan:
        target, rule = step.target, step.rule
        status = "untouched" if rule is None else "deferred" if step.lazy else "initialized"
        if status == "initialized":
            call_init(rule, target.param, target.name, changed)
            changed.append(target.name)
        report.entries.append(
            Initialized(target.name, _shape(target.param), rule and rule.label, status, target.aliases)
        )
    for step in lazy_steps:  # registered last: a failed eager init above leaves no pending rule
        entry = PendingInit(step.target.name, step.rule, step.target.param)
        owners = {id(name.module): (name.module, name.param) for name in reversed(step.target.names)}
        for module, param_name in owners.values():
            defer(module, param_name, entry)
    return report


def as_rule_list(rules: Iterable[Rule], caller: str) -> list[Rule]:
    rules = list(rules)
    for rule in rules:
        if not isinstance(rule, Rule):
            raise TypeError(f"{caller}() expects Rule objects, got {rule!r}")
    return rules


def plan_rules(
    model: nn.Module, rules: list[Rule], *, allow_unused: bool, allow_conflicts: bool
) -> list[_Step]:
    """One step per distinct parameter tensor of `model`, in model order, with the rule it gets.

    Raises the errors that need no write to find: a rule that matches nothing (unless
    `allow_unused`) and different rules for the names of one tied tensor (unless `allow_conflicts`).
    """
    plan = [_choose(target, rules, allow_conflicts) for target in _targets(model)]
    used = {index for step in plan for index in step.matched}
    unused = [rule.label for i, rule in enumerate(rules) if i not in used]
    if unused and not allow_unused:
        raise ValueError(
            f"rule(s) matched no parameter of {type(model).__name__}: {unused}. Check the module "
            "type, the param and path patterns, or pass allow_unused=True"
        )
    unsharded = fsdp_unsharded(model)
    if unsharded and any(step.rule is not None for step in plan):
        raise ValueError(
            f"FSDP2 holds the parameters of the modules at {unsharded} unsharded (the gathered "
            "copies a forward pass with reshard_after_forward=False, or unshard(), leaves "
            "registered); reshard() frees them and registers the shards again, so whatever is "
            "written into them now is lost. Call reshard() on each of these modules first "
            "(it is not recursive), then initialize"
        )
    return plan


@dataclass(frozen=True)
class _Name:
    """One name of a parameter tensor: the owning module's path (and canonical path), the module,
    and the parameter's own name in it."""

    path: str
    canonical: str
    module: nn.Module
    param: str

    @property
    def qualified(self) -> str:
        return join(self.path, self.param)


@dataclass(eq=False)
class _Target:
    """One parameter tensor and every name under which the model holds it, in model order."""

    param: nn.Parameter
    names: list[_Name]

    @property
    def name(self) -> str:
        return self.names[0].qualified

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(name.qualified for name in self.names[1:])

    def stream(self, prefix: str) -> str:
        """The stream of a counter sampler: `prefix` and the canonical name of the first name."""
        first = self.names[0]
        return join(prefix, join(first.canonical, first.param))


@dataclass(eq=False)
class _Step:
    """What `apply_rules` will do to one tensor: its rule, and every rule that selected a name."""

    target: _Target
    rule: Rule | None
    matched: set[int]

    @property
    def lazy(self) -> bool:
        return not is_materialized(self.target.param)


def _targets(model: nn.Module) -> list[_Target]:
    """Every distinct parameter tensor of `model`, in model order, with all its names."""
    targets: dict[int, _Target] = {}
    for path, canonical, module in walk(model):
        for param_name, param in module.named_parameters(recurse=False, remove_duplicate=False):
            name = _Name(path, canonical, module, param_name)
            targets.setdefault(id(param), _Target(param, [])).names.append(name)
    return list(targets.values())


def _choose(target: _Target, rules: list[Rule], allow_conflicts: bool) -> _Step:
    """The rule for one tensor: the first rule that selects one of its names."""
    firsts = {}
    for name in target.names:
        index = _first_match(rules, name)
        if index is not None:
            firsts.setdefault(index, name.qualified)
    if len(firsts) > 1 and not allow_conflicts:
        chosen = ", ".join(f"{rules[i].label!r} for {name!r}" for i, name in sorted(firsts.items()))
        raise ValueError(
            f"parameter {target.name!r} is tied to {', '.join(map(repr, target.aliases))} (one "
            f"tensor), and different rules select its names: {chosen}. Make one rule select them "
            "all, or pass allow_conflicts=True to let the first of these rules win"
        )
    return _Step(target, rules[min(firsts)] if firsts else None, set(firsts))


def _first_match(rules: list[Rule], name: _Name) -> int | None:
    canonical = name.canonical if name.canonical != name.path else None
    for index, rule in enumerate(rules):
        if rule.matches(name.path, name.module, name.param, canonical):
            return index
    return None


def _shape(param: torch.Tensor) -> tuple[int, ...] | None:
    return tuple(param.shape) if is_materialized(param) else None


def require_materialized(module: nn.Module) -> nn.Module:
    """Return `module` if all its own parameters have shapes, else raise a clear error.

    Use it at the top of an init function meant for `net.apply(...)`, so that calling it before the
    first forward pass fails instead of silently doing nothing.

    Raises:
        LazyParameterError: naming the module type and its un-materialized parameters.

    Example:
        ```python
        import torch
        from torch import nn
        from paraminit import LazyParameterError, require_materialized

        layer = nn.LazyLinear(3)
        try:
            require_materialized(layer)
        except LazyParameterError:
            layer(torch.rand(2, 5))  # the first forward pass gives the weight its shape
        assert require_materialized(layer) is layer
        ```
    """
    lazy_names = [n for n, p in module.named_parameters(recurse=False) if not is_materialized(p)]
    if lazy_names:
        raise LazyParameterError(
            f"{type(module).__name__} has un-materialized parameters {lazy_names}: run the model on "
            "an example input (one forward pass) before initializing it"
        )
    return module
