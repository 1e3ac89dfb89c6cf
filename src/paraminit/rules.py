"""Rules: which parameter of which module gets which initializer, applied to a whole model.

A [Rule][paraminit.Rule] selects parameters by module type (`isinstance`, so subclasses such as
`nn.LazyLinear` match `nn.Linear`), by the parameter's own name (`"weight"`, `"bias"`) and by the
owning module's path in the model (`"0"`, `"encoder.*"`). [apply_rules][paraminit.apply_rules] gives
each parameter the first rule that matches it and returns an [InitReport][paraminit.InitReport] that
says what happened to every parameter, so a rule that did nothing is visible.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Literal

import torch
from torch import nn

from ._checks import LazyParameterError, is_materialized

Initializer = Callable[[torch.Tensor], object]


@dataclass(frozen=True)
class Rule:
    """Give `init` to every parameter that matches all three selectors.

    Args:
        init: Called as `init(parameter)` under `torch.no_grad()`; any `torch.nn.init` function or
            a `functools.partial` of one, or a sampler from this library.
        module: Module type(s) matched with `isinstance`. Default: every module.
        param: Pattern (`fnmatch`) for the parameter's own name, e.g. `"weight"`, `"bias"`.
        path: Pattern for the owning module's qualified name in the model, e.g. `"0"`, `"2"`,
            `"encoder.*"`. The top-level module's path is `""`.
        label: Name shown in the report; default derived from `init` and the selectors.

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
        if not callable(self.init):
            raise TypeError(f"Rule init must be callable, got {self.init!r}")
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

    def matches(self, path: str, module: nn.Module, param: str) -> bool:
        """Whether this rule selects parameter `param` of `module`, found at `path` in the model."""
        return (
            isinstance(module, self.module)
            and fnmatchcase(param, self.param)
            and fnmatchcase(path, self.path)
        )


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
    if isinstance(init, functools.partial):
        inner = describe_init(init.func)
        args = [repr(a) for a in init.args] + [f"{k}={v!r}" for k, v in init.keywords.items()]
        return f"{inner.removesuffix('()')}({', '.join(args)})"
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


@dataclass
class InitReport:
    """What [apply_rules][paraminit.apply_rules] did to each parameter, in model order.

    `str(report)` is a table, one line per parameter: name, shape, status, rule.

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
        """Parameters per rule label (initialized now or deferred), plus `untouched`."""
        counted = Counter(e.rule if e.rule is not None else "untouched" for e in self.entries)
        return dict(counted)

    def names(self, status: str) -> list[str]:
        """Qualified names of the parameters with this status."""
        return [e.name for e in self.entries if e.status == status]

    def __str__(self) -> str:
        if not self.entries:
            return "no parameters"
        shapes = [str(e.shape) if e.shape is not None else "(lazy)" for e in self.entries]
        width_name = max(len(e.name) for e in self.entries)
        width_shape = max(map(len, shapes))
        return "\n".join(
            f"{e.name:<{width_name}}  {shape:<{width_shape}}  {e.status:<11}  {e.rule or '-'}"
            for e, shape in zip(self.entries, shapes, strict=True)
        )


def apply_rules(
    model: nn.Module,
    rules: Iterable[Rule],
    *,
    lazy: Literal["defer", "error"] = "defer",
    allow_unused: bool = False,
) -> InitReport:
    """Initialize every parameter of `model` that a rule selects; the first matching rule wins.

    A parameter of a lazy module (for example `nn.LazyLinear` before its first forward pass) has no
    shape yet. With `lazy="defer"` its rule is applied by a forward pre-hook that runs right after
    the module materializes its parameters and before the forward computes, once. With
    `lazy="error"` such a parameter raises [LazyParameterError][paraminit.LazyParameterError].

    Args:
        model: The model; its own parameters and those of all submodules are considered.
        rules: The rules, in priority order.
        lazy: What to do with a parameter that is not materialized yet.
        allow_unused: Allow a rule that matches no parameter. By default that is an error, since
            a rule that selects nothing is almost always a typo or a wrong type.

    Returns:
        An [InitReport][paraminit.InitReport] listing every parameter as `initialized`, `deferred`
        or `untouched`.

    Raises:
        ValueError: a rule matched no parameter (unless `allow_unused`), or `lazy` is unknown.
        LazyParameterError: `lazy="error"` and a selected parameter is not materialized.

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
    rules = list(rules)
    for rule in rules:
        if not isinstance(rule, Rule):
            raise TypeError(f"apply_rules() expects Rule objects, got {rule!r}")

    report = InitReport()
    used: set[int] = set()
    for path, module in model.named_modules():
        pending: list[tuple[str, Rule]] = []
        for param_name, param in module.named_parameters(recurse=False):
            name = f"{path}.{param_name}" if path else param_name
            index, rule = _first_match(rules, path, module, param_name)
            if rule is None:
                report.entries.append(Initialized(name, _shape(param), None, "untouched"))
                continue
            used.add(index)
            if is_materialized(param):
                with torch.no_grad():
                    rule.init(param)
                report.entries.append(Initialized(name, _shape(param), rule.label, "initialized"))
            elif lazy == "error":
                raise LazyParameterError(
                    f"parameter {name!r} of {type(module).__name__} is not materialized yet, so rule "
                    f"{rule.label!r} cannot fill it: run the model on an example input first, or "
                    "pass lazy='defer'"
                )
            else:
                pending.append((param_name, rule))
                report.entries.append(Initialized(name, None, rule.label, "deferred"))
        if pending:
            _defer(module, path, pending)

    unused = [rule.label for i, rule in enumerate(rules) if i not in used]
    if unused and not allow_unused:
        raise ValueError(
            f"rule(s) matched no parameter of {type(model).__name__}: {unused}. Check the module "
            "type, the param and path patterns, or pass allow_unused=True"
        )
    return report


def _first_match(rules: list[Rule], path: str, module: nn.Module, param: str) -> tuple[int, Rule | None]:
    for index, rule in enumerate(rules):
        if rule.matches(path, module, param):
            return index, rule
    return -1, None


def _shape(param: torch.Tensor) -> tuple[int, ...] | None:
    return tuple(param.shape) if is_materialized(param) else None


def _defer(module: nn.Module, path: str, pending: list[tuple[str, Rule]]) -> None:
    """Run `pending` once, in a pre-hook registered after the lazy module's own (hooks run in order)."""

    def hook(mod: nn.Module, args: tuple) -> None:
        handle.remove()
        with torch.no_grad():
            for param_name, rule in pending:
                param = getattr(mod, param_name)
                if not is_materialized(param):
                    raise LazyParameterError(
                        f"parameter {path + '.' if path else ''}{param_name} was still not "
                        f"materialized when {type(mod).__name__}'s forward began; rule "
                        f"{rule.label!r} cannot fill it"
                    )
                rule.init(param)

    handle = module.register_forward_pre_hook(hook)


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
