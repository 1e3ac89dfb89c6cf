"""apply_rules and Rule: selection, priority, lazy deferral, and errors that make no-ops visible."""

from __future__ import annotations

import functools
import re

import pytest
import torch
from torch import nn

from paraminit import (
    InitError,
    Initialized,
    InitReport,
    LazyParameterError,
    Rule,
    apply_rules,
    counter_normal_,
    describe_init,
    mixture_,
    pending_inits,
    require_materialized,
)
from paraminit.chapter import make_net

ones = functools.partial(nn.init.constant_, val=1.0)
fortytwo = functools.partial(nn.init.constant_, val=42.0)


def materialized_net() -> nn.Sequential:
    net = make_net()
    net(torch.rand(2, 4))
    return net


def test_first_matching_rule_wins_and_every_parameter_is_reported():
    net = materialized_net()
    report = apply_rules(net, [Rule(fortytwo, path="2"), Rule(ones, param="weight"), Rule(nn.init.zeros_)])
    assert (net[2].weight == 42).all() and (net[2].bias == 42).all()
    assert (net[0].weight == 1).all() and (net[0].bias == 0).all()
    assert [e.name for e in report.entries] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert report.names("initialized") == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert report.counts() == {
        "constant_(val=42.0) on * at '2'": 2,
        "constant_(val=1.0) on *.weight": 1,
        "zeros_ on *": 1,
    }


def test_module_type_is_matched_with_isinstance_so_subclasses_count():
    class MyLinear(nn.Linear):
        pass

    net = nn.Sequential(MyLinear(3, 2), nn.LayerNorm(2))
    report = apply_rules(net, [Rule(ones, module=nn.Linear)])
    assert (net[0].weight == 1).all() and (net[0].bias == 1).all()
    assert report.names("untouched") == ["1.weight", "1.bias"]
    assert report.counts()["untouched"] == 2


def test_lazy_parameters_are_initialized_at_the_first_forward_before_it_computes():
    torch.manual_seed(0)
    net = make_net()
    report = apply_rules(net, [Rule(ones, param="weight"), Rule(nn.init.zeros_, param="bias")])
    assert report.names("deferred") == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert all(e.shape is None for e in report.entries)
    x = torch.rand(2, 4)
    out = net(x)
    # The very first output already uses the ruled weights: 8 hidden units each sum(x), then sum.
    expected = 8 * torch.relu(x.sum(dim=1, keepdim=True))
    torch.testing.assert_close(out, expected)
    assert (net[0].weight == 1).all() and net[0].weight.shape == (8, 4)


def test_a_deferred_rule_runs_only_once():
    net = make_net()
    calls = []

    def counting_init(tensor):
        calls.append(tuple(tensor.shape))
        nn.init.zeros_(tensor)

    apply_rules(net, [Rule(counting_init, module=nn.Linear, param="weight")])
    net(torch.rand(2, 4))
    with torch.no_grad():
        net[0].weight.fill_(3.0)  # trained or edited weights must not be reset by a second call
    net(torch.rand(2, 4))
    assert calls == [(8, 4), (1, 8)]
    assert (net[0].weight == 3).all()


def test_lazy_error_mode_names_the_parameter():
    with pytest.raises(LazyParameterError, match=r"'0\.weight' of LazyLinear is not materialized"):
        apply_rules(make_net(), [Rule(ones, param="weight")], lazy="error")


def test_a_rule_that_matches_nothing_is_an_error_unless_allowed():
    net = materialized_net()
    with pytest.raises(ValueError, match=r"matched no parameter.*zeros_ on Conv2d"):
        apply_rules(net, [Rule(nn.init.zeros_, module=nn.Conv2d)])
    report = apply_rules(net, [Rule(nn.init.zeros_, module=nn.Conv2d)], allow_unused=True)
    assert report.counts() == {"untouched": 4}


def test_report_prints_one_line_per_parameter():
    net = materialized_net()
    text = str(apply_rules(net, [Rule(mixture_, module=nn.Linear, param="weight")]))
    assert text.splitlines() == [
        "0.weight  (8, 4)  initialized  mixture_ on Linear.weight",
        "0.bias    (8,)    untouched    -",
        "2.weight  (1, 8)  initialized  mixture_ on Linear.weight",
        "2.bias    (1,)    untouched    -",
    ]
    assert str(InitReport()) == "no parameters"


def test_rule_labels_describe_partials_and_selectors():
    assert describe_init(functools.partial(nn.init.normal_, std=0.01)) == "normal_(std=0.01)"
    assert describe_init(functools.partial(mixture_, 1.0, outer=2.0)) == "mixture_(1.0, outer=2.0)"
    rule = Rule(nn.init.zeros_, module=(nn.Linear, nn.Conv1d), param="bias", path="enc.*")
    assert rule.label == "zeros_ on Linear/Conv1d.bias at 'enc.*'"
    assert Rule(nn.init.zeros_, label="mine").label == "mine"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"init": 3}, "init must be callable"),
        ({"init": nn.init.zeros_, "module": int}, "nn.Module subclass"),
        ({"init": nn.init.zeros_, "module": ()}, "nn.Module subclass"),
        ({"init": nn.init.zeros_, "param": 1}, "param must be a pattern"),
    ],
)
def test_bad_rules_are_rejected_when_built(kwargs, message):
    with pytest.raises(TypeError, match=message):
        Rule(**kwargs)


def test_apply_rules_rejects_non_modules_non_rules_and_unknown_modes():
    with pytest.raises(TypeError, match=r"expects an nn\.Module"):
        apply_rules(torch.zeros(3), [])
    with pytest.raises(TypeError, match="expects Rule objects"):
        apply_rules(nn.Linear(2, 2), [nn.init.zeros_])
    with pytest.raises(ValueError, match="lazy must be"):
        apply_rules(nn.Linear(2, 2), [], lazy="later")


def test_require_materialized_passes_real_layers_and_names_lazy_ones():
    layer = nn.Linear(2, 3)
    assert require_materialized(layer) is layer
    with pytest.raises(LazyParameterError, match=r"LazyLinear .*\['weight', 'bias'\]"):
        require_materialized(nn.LazyLinear(3))


# ------------------------------------------------------------------------------------------------
# Tied parameters and shared modules: one tensor, visited once, with all its names


def tied_model() -> nn.ModuleDict:
    """An embedding tied to the output layer, as in a language model."""
    model = nn.ModuleDict({"embed": nn.Embedding(5, 4), "head": nn.Linear(4, 5, bias=False)})
    model["head"].weight = model["embed"].weight
    return model


def test_conflicting_rules_for_tied_parameters_are_an_error_and_nothing_is_written():
    model = tied_model()
    before = model["embed"].weight.detach().clone()
    rules = [Rule(ones, module=nn.Embedding), Rule(nn.init.zeros_, module=nn.Linear)]
    with pytest.raises(ValueError, match=r"'embed\.weight' is tied to 'head\.weight'") as caught:
        apply_rules(model, rules)
    message = str(caught.value)
    assert "constant_(val=1.0) on Embedding" in message and "allow_conflicts=True" in message
    assert torch.equal(model["embed"].weight, before)


def test_tied_parameters_are_visited_once_and_reported_with_their_aliases():
    model = tied_model()
    calls = []

    def counting(tensor):
        calls.append(tensor.shape)
        tensor.fill_(7.0)

    report = apply_rules(model, [Rule(counting, param="weight")])
    assert calls == [(5, 4)]
    assert [(e.name, e.aliases, e.status) for e in report.entries] == [
        ("embed.weight", ("head.weight",), "initialized")
    ]
    assert str(report) == "embed.weight  (5, 4)  initialized  counting on *.weight  (tied: head.weight)"


def test_allow_conflicts_lets_the_first_rule_in_the_list_win_for_tied_parameters():
    model = tied_model()
    rules = [Rule(nn.init.zeros_, module=nn.Linear), Rule(ones, module=nn.Embedding)]
    report = apply_rules(model, rules, allow_conflicts=True)
    assert (model["head"].weight == 0).all()
    assert report.counts() == {"zeros_ on Linear": 1}


def test_a_shared_module_counts_as_tied_and_is_initialized_once():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.Sequential(nn.ReLU(), shared))
    calls = []

    def counting(tensor):
        calls.append(tensor.shape)
        tensor.zero_()

    report = apply_rules(model, [Rule(counting, param="weight")])
    assert calls == [(3, 3)]
    assert [(e.name, e.aliases) for e in report.entries] == [
        ("0.weight", ("1.1.weight",)),
        ("0.bias", ("1.1.bias",)),
    ]
    with pytest.raises(ValueError, match=r"'0\.weight' is tied to '1\.1\.weight'"):
        apply_rules(model, [Rule(ones, path="0"), Rule(nn.init.zeros_, path="1.1")])
    # A rule that selects only one of the names still initializes the one tensor: no conflict.
    report = apply_rules(model, [Rule(ones, path="1.1")])
    assert (shared.weight == 1).all() and report.names("initialized") == ["0.weight", "0.bias"]


# ------------------------------------------------------------------------------------------------
# Inits that do not write in place, and partial application


@pytest.mark.parametrize(
    "init",
    [
        pytest.param(lambda t: torch.zeros_like(t), id="returns-a-new-tensor"),
        pytest.param(lambda t: t.clone().uniform_(), id="writes-a-clone"),
        pytest.param(lambda t: None, id="does-nothing"),
    ],
)
def test_an_init_that_does_not_write_in_place_is_an_error_not_a_report_that_lies(init):
    layer = nn.Linear(3, 3)
    before = layer.weight.detach().clone()
    with pytest.raises(RuntimeError, match=r"rule 'fake' did not write into parameter 'weight'") as caught:
        apply_rules(layer, [Rule(init, label="fake", param="weight")])
    assert torch.equal(layer.weight, before)
    assert "nothing else was changed" in str(caught.value)


def test_an_init_that_writes_the_same_values_in_place_is_accepted():
    layer = nn.Linear(3, 3)
    nn.init.zeros_(layer.weight)
    report = apply_rules(layer, [Rule(nn.init.zeros_, param="weight")])  # same values, still a write
    assert report.names("initialized") == ["weight"]


@pytest.mark.parametrize(
    "init",
    [
        pytest.param(lambda t: t.data.fill_(4.0), id="fills-data"),
        pytest.param(lambda t: setattr(t, "data", torch.full_like(t, 4.0)), id="assigns-data"),
    ],
)
def test_an_init_that_writes_through_data_is_refused_with_the_reason(init):
    with pytest.raises(InitError, match=r"wrote through tensor\.data, which hides the write"):
        apply_rules(nn.Linear(3, 3), [Rule(init, label="via data", param="weight")])


def test_an_inference_tensor_keeps_no_version_counter_so_its_init_is_trusted():
    with torch.inference_mode():
        layer = nn.Linear(3, 3)
        report = apply_rules(layer, [Rule(ones)])
    assert (layer.weight == 1).all() and report.names("initialized") == ["weight", "bias"]


def test_lazy_error_mode_raises_before_touching_the_eager_layers():
    net = nn.Sequential(nn.Linear(4, 3), nn.LazyLinear(2))
    before = net[0].weight.detach().clone()
    with pytest.raises(LazyParameterError, match=r"'1\.weight' of LazyLinear"):
        apply_rules(net, [Rule(ones, param="weight")], lazy="error")
    assert torch.equal(net[0].weight, before)


def test_an_unused_rule_is_reported_before_anything_is_written():
    layer = nn.Linear(3, 3)
    before = layer.weight.detach().clone()
    with pytest.raises(ValueError, match="matched no parameter"):
        apply_rules(layer, [Rule(ones, param="weight"), Rule(ones, module=nn.Conv2d)])
    assert torch.equal(layer.weight, before)


def test_an_init_that_fails_midway_names_what_was_already_changed():
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2))

    def fails_on_the_last(tensor):
        if tensor is net[2].weight:
            raise ValueError("no more")
        tensor.fill_(1.0)

    with pytest.raises(RuntimeError, match="no more") as caught:
        apply_rules(net, [Rule(fails_on_the_last, param="weight")])
    message = str(caught.value)
    assert "'2.weight'" in message and "already changed: ['0.weight', '1.weight']" in message
    assert isinstance(caught.value.__cause__, ValueError)


@pytest.mark.parametrize(
    ("init", "message"),
    [
        (nn.Linear, "got the class torch.nn.modules.linear.Linear"),
        (nn.init.constant_, "missing a required argument: 'val'"),
        (lambda: None, "too many positional arguments"),
    ],
)
def test_a_rule_whose_init_cannot_be_called_with_one_tensor_is_refused_when_built(init, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        Rule(init)


def test_rules_accept_partials_and_builtins_without_a_signature():
    Rule(functools.partial(counter_normal_, std=0.1))
    Rule(functools.partial(nn.init.constant_, val=3.0))
    layer = nn.Linear(2, 2)
    apply_rules(layer, [Rule(torch.Tensor.zero_)])  # a builtin: no signature to check, still works
    assert (layer.weight == 0).all()


# ------------------------------------------------------------------------------------------------
# What the flat test models could not show


def test_apply_rules_reaches_parameters_nested_at_any_depth():
    deep = nn.Sequential(nn.Sequential(nn.Linear(2, 2)))
    model = nn.Sequential(deep, nn.ModuleDict({"x": nn.Linear(2, 1)}))
    report = apply_rules(model, [Rule(ones, param="weight", path="0.0.0"), Rule(nn.init.zeros_)])
    assert (model[0][0][0].weight == 1).all() and (model[1]["x"].weight == 0).all()
    assert report.names("initialized") == ["0.0.0.weight", "0.0.0.bias", "1.x.weight", "1.x.bias"]


def test_rules_may_come_from_a_generator():
    layer = nn.Linear(2, 2)
    pairs = [(ones, "weight"), (nn.init.zeros_, "bias")]
    report = apply_rules(layer, (Rule(init, param=p) for init, p in pairs))
    assert (layer.weight == 1).all() and (layer.bias == 0).all()
    assert report.counts() == {"constant_(val=1.0) on *.weight": 1, "zeros_ on *.bias": 1}


def test_an_eager_init_is_called_exactly_once_per_parameter_under_no_grad():
    calls = []

    def affine(tensor):  # in place on a leaf that requires grad: legal only under no_grad
        calls.append(tensor.shape)
        tensor.mul_(0.0).add_(2.0)

    net = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    apply_rules(net, [Rule(affine, param="weight")])
    assert calls == [(2, 3), (1, 2)]
    assert (net[0].weight == 2).all() and net[0].weight.grad_fn is None


def test_one_tensor_registered_twice_in_one_module_is_one_entry_with_an_alias():
    layer = nn.Linear(2, 2)
    layer.register_parameter("same", layer.weight)
    report = apply_rules(layer, [Rule(ones, param="weight")])
    assert [(e.name, e.aliases) for e in report.entries] == [("weight", ("same",)), ("bias", ())]


def test_a_lazy_tensor_held_by_two_modules_waits_in_both_and_runs_once():
    from paraminit.deferred import STATE

    class Holder(nn.Module):  # holds another layer's lazy weight, as a tied output layer would
        def __init__(self, weight: nn.Parameter) -> None:
            super().__init__()
            self.weight = weight

        def forward(self, x):
            return x

    lazy = nn.LazyLinear(2)
    model = nn.Sequential(lazy, Holder(lazy.weight))
    report = apply_rules(model, [Rule(ones, param="weight")])
    assert [(e.name, e.aliases, e.status) for e in report.entries] == [
        ("0.weight", ("1.weight",), "deferred"),
        ("0.bias", (), "untouched"),
    ]
    assert STATE in lazy.__dict__ and STATE in model[1].__dict__
    model(torch.rand(3, 4))
    assert (lazy.weight == 1).all() and pending_inits(model) == {}


def test_require_materialized_looks_at_the_module_s_own_parameters_only():
    container = nn.Sequential(nn.LazyLinear(2))
    assert require_materialized(container) is container


def test_describe_init_names_nested_partials_and_callable_objects():
    class Filler:
        def __call__(self, tensor):
            tensor.fill_(1.0)

    assert describe_init(functools.partial(functools.partial(nn.init.zeros_))) == "zeros_()"
    assert describe_init(Filler()) == "Filler"
    assert Rule(Filler()).label == "Filler on *"


def test_report_table_aligns_lazy_shapes_and_lists_aliases():
    report = InitReport(
        [
            Initialized("embed.weight", (5, 4), "ones", "initialized", ("head.weight", "out.weight")),
            Initialized("0.w", None, None, "untouched"),
        ]
    )
    assert str(report).splitlines() == [
        "embed.weight  (5, 4)  initialized  ones  (tied: head.weight, out.weight)",
        "0.w           (lazy)  untouched    -",
    ]
