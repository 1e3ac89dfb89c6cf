"""apply_rules and Rule: selection, priority, lazy deferral, and errors that make no-ops visible."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from paraminit import (
    InitReport,
    LazyParameterError,
    Rule,
    apply_rules,
    describe_init,
    mixture_,
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


def test_deferred_rule_on_a_parameter_still_lazy_at_forward_is_an_error():
    layer = nn.LazyLinear(3)
    apply_rules(layer, [Rule(ones)])
    layer._forward_pre_hooks.pop(next(iter(layer._forward_pre_hooks)))  # break materialization
    with pytest.raises(LazyParameterError, match="still not materialized"):
        layer(torch.rand(2, 4))
