"""Property tests of apply_rules over random models: nested containers, lazy and eager layers, tied
parameters, shared modules and buffers.

Each example builds a model from a random tree, random ties and shares, and random rules whose inits
fill a value of their own and count their calls. An independent oracle (the rules' own `matches`
over every name of every tensor) says which rule each tensor should get. Invariants: every parameter
tensor is reported once, with all its names; each init is called once per distinct tensor; what no
rule selects, and every buffer, stays bit-identical; conflicting rules raise before anything is
written; deferred rules have run when the forward computes (the output is the layer's function of
the ruled values); and a deep copy made before the first forward behaves the same.
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from paraminit import InitReport, Rule, apply_rules, pending_inits

WIDTH = 3
LEAVES = ["linear", "linear", "lazy", "lazy", "norm", "batchnorm", "relu", "shared", "shared"]


class Chain(nn.Module):
    """Runs its children in order, held in a Sequential, a ModuleList or a ModuleDict."""

    def __init__(self, children: list[nn.Module], kind: str) -> None:
        super().__init__()
        if kind == "dict":
            self.items = nn.ModuleDict({f"m{i}": child for i, child in enumerate(children)})
        elif kind == "list":
            self.items = nn.ModuleList(children)
        else:
            self.items = nn.Sequential(*children)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for child in self.items.values() if isinstance(self.items, nn.ModuleDict) else self.items:
            x = child(x)
        return x


TREES = st.recursive(
    st.sampled_from(LEAVES),
    lambda children: st.tuples(
        st.sampled_from(["seq", "list", "dict"]), st.lists(children, min_size=1, max_size=3)
    ),
    max_leaves=7,
)


def build(tree, built: list[nn.Module]) -> nn.Module:
    """The module a tree describes; "shared" reuses the last layer built, at a second path."""
    if isinstance(tree, tuple):
        kind, children = tree
        return Chain([build(child, built) for child in children], kind)
    if tree == "shared" and built:
        return built[-1]
    layer = {
        "linear": lambda: nn.Linear(WIDTH, WIDTH),
        "lazy": lambda: nn.LazyLinear(WIDTH),
        "norm": lambda: nn.LayerNorm(WIDTH),
        "batchnorm": lambda: nn.BatchNorm1d(WIDTH),
        "relu": nn.ReLU,
        "shared": lambda: nn.Linear(WIDTH, WIDTH),
    }[tree]()
    built.append(layer)
    return layer


TYPES = st.sampled_from([nn.Module, nn.Linear, nn.LayerNorm, nn.BatchNorm1d])
PARAMS = st.sampled_from(["*", "weight", "bias"])


def names_by_tensor(model: nn.Module) -> dict[int, list[tuple[str, nn.Module, str]]]:
    found = defaultdict(list)
    for path, module in model.named_modules(remove_duplicate=False):
        for name, param in module.named_parameters(recurse=False, remove_duplicate=False):
            found[id(param)].append((path, module, name))
    return found


def expected_rules(model: nn.Module, rules: list[Rule]) -> dict[int, set[int]]:
    """The oracle: for each tensor, the first rule matching each of its names."""
    chosen = {}
    for key, names in names_by_tensor(model).items():
        firsts = set()
        for path, module, name in names:
            matching = [i for i, rule in enumerate(rules) if rule.matches(path, module, name)]
            firsts.update(matching[:1])
        chosen[key] = firsts
    return chosen


def state_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every materialized parameter and buffer, by name."""
    tensors = {**dict(model.named_parameters(remove_duplicate=False)), **dict(model.named_buffers())}
    return {k: v.detach().clone() for k, v in tensors.items() if not isinstance(v, nn.UninitializedParameter)}


def linear_outputs_match_their_weights(model: nn.Module) -> list[bool]:
    """Forward hooks recording, at each linear call, that the output is F.linear of the current values."""
    seen: list[bool] = []
    for module in model.modules():
        if isinstance(module, nn.Linear):
            module.register_forward_hook(
                lambda m, args, out: seen.append(torch.equal(out, F.linear(args[0], m.weight, m.bias)))
            )
    return seen


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_apply_rules_on_random_models_keeps_every_invariant(data):
    built: list[nn.Module] = []
    model = Chain([build(data.draw(TREES, label="tree"), built)], "seq").eval()
    eager_linears = [m for m in built if type(m) is nn.Linear]
    if len(eager_linears) > 1:  # tie weights to another layer's, as an output layer to an embedding
        pairs = st.tuples(st.sampled_from(eager_linears), st.sampled_from(eager_linears))
        for source, target in data.draw(st.lists(pairs, max_size=2), label="ties"):
            if source is not target:
                target.weight = source.weight
    paths = sorted({path for path, _ in model.named_modules(remove_duplicate=False)})
    specs = st.tuples(TYPES, PARAMS, st.sampled_from(["*", *paths]))
    rule_specs = data.draw(st.lists(specs, min_size=1, max_size=4), label="rules")
    aliased = [names for names in names_by_tensor(model).values() if len(names) > 1]
    if aliased and data.draw(st.booleans(), label="a rule for each of two names of one tensor"):
        names = data.draw(st.sampled_from(aliased), label="tensor")
        for path, _, param_name in data.draw(st.permutations(names), label="names")[:2]:
            index = data.draw(st.integers(0, len(rule_specs)), label="position")
            rule_specs.insert(index, (nn.Module, param_name, path))

    allow_conflicts = data.draw(st.booleans(), label="allow_conflicts")

    calls: Counter[int] = Counter()

    def fill_with(value: float):
        def fill(tensor: torch.Tensor) -> None:
            calls[id(tensor)] += 1
            tensor.fill_(value)

        return fill

    rules = [Rule(fill_with(2.0 + i), module=m, param=p, path=q) for i, (m, p, q) in enumerate(rule_specs)]
    tensors = {id(p): p for p in model.parameters()}
    oracle = expected_rules(model, rules)
    before = state_of(model)
    twin = copy.deepcopy(model)

    by_tensor = names_by_tensor(model)
    if any(len(firsts) > 1 for firsts in oracle.values()) and not allow_conflicts:
        try:
            apply_rules(model, rules, allow_unused=True)
        except ValueError as error:
            assert "is tied to" in str(error)
        else:
            raise AssertionError("conflicting rules for a tied tensor were accepted")
        after = state_of(model)  # validation comes first: nothing was written
        assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
        assert pending_inits(model) == {} and not calls
        return

    report = apply_rules(model, rules, allow_unused=True, allow_conflicts=allow_conflicts)
    assert isinstance(report, InitReport)

    # Every tensor once, with all its names; every name of the model somewhere.
    assert len(report.entries) == len(by_tensor) == len(tensors)
    reported = [name for e in report.entries for name in (e.name, *e.aliases)]
    assert sorted(reported) == sorted(n for n, _ in model.named_parameters(remove_duplicate=False))
    entries = {}
    for entry in report.entries:
        key = id(model.get_parameter(entry.name))
        entries[key] = entry
        firsts = oracle[key]
        expected = rules[min(firsts)].label if firsts else None
        assert entry.rule == expected, entry
        lazy = isinstance(tensors[key], nn.UninitializedParameter)
        status = "untouched" if expected is None else "deferred" if lazy else "initialized"
        assert entry.status == status

    after = state_of(model)
    params = dict(model.named_parameters(remove_duplicate=False))
    for name, value in before.items():
        if name not in params or entries[id(params[name])].status == "untouched":  # buffers, unselected
            assert torch.equal(after[name], value), name
    for key, entry in entries.items():
        if entry.status == "initialized":
            assert calls[key] == 1 and bool((tensors[key] == 2.0 + min(oracle[key])).all())
        else:
            assert calls[key] == 0
    assert set(pending_inits(model)) == {e.name for e in report.entries if e.status == "deferred"}

    # The deep copy made before apply_rules is untouched; a copy made now runs its own rules.
    assert pending_inits(twin) == {}
    twin = copy.deepcopy(model)
    x = torch.rand(2, WIDTH)
    for net in (twin, model):  # the copy first: it must not take the original's rules away
        seen = linear_outputs_match_their_weights(net)
        net(x)
        assert all(seen) and pending_inits(net) == {}
    for key, entry in entries.items():
        if entry.status == "deferred":
            assert calls[key] == 1 and bool((tensors[key] == 2.0 + min(oracle[key])).all())
    ruled = {n for e in entries.values() if e.status != "untouched" for n in (e.name, *e.aliases)}
    theirs = twin.state_dict()
    for name, mine in model.state_dict().items():
        if name in ruled or name not in params:  # ruled parameters and buffers; not torch's random init
            assert torch.equal(mine, theirs[name]), name
