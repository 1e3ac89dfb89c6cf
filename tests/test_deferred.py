"""Deferred (lazy) initialization: it survives copying and pickling, loses to a loaded checkpoint,
and is never dropped by a failure."""

from __future__ import annotations

import copy
import functools
import io
import pickle
import sys
import threading

import pytest
import torch
from torch import nn

from paraminit import InitError, LazyParameterError, Rule, apply_rules, pending_inits

ones = functools.partial(nn.init.constant_, val=1.0)


def lazy_net() -> nn.Sequential:
    return nn.Sequential(nn.LazyLinear(3), nn.ReLU(), nn.LazyLinear(2))


def all_equal(tensor: torch.Tensor, value: float) -> bool:
    return bool((tensor == value).all())


def test_a_deep_copy_made_before_the_first_forward_gets_its_own_deferred_rules():
    net = lazy_net()
    apply_rules(net, [Rule(ones, param="weight")])
    twin = copy.deepcopy(net)
    twin(torch.rand(2, 4))  # the copy runs first: it must not take the original's rule away
    net(torch.rand(2, 4))
    for model in (net, twin):
        assert all_equal(model[0].weight, 1) and all_equal(model[2].weight, 1)
        assert pending_inits(model) == {}
    with torch.no_grad():
        twin[0].weight.fill_(3.0)  # training: a second forward must not re-initialize
    twin(torch.rand(2, 4))
    assert all_equal(twin[0].weight, 3)
    assert not net[0]._forward_pre_hooks and not twin[0]._forward_pre_hooks


def test_a_copy_made_after_the_original_ran_has_nothing_pending():
    net = lazy_net()
    apply_rules(net, [Rule(ones, param="weight")])
    net(torch.rand(2, 4))
    twin = copy.deepcopy(net)
    with torch.no_grad():
        twin[0].weight.fill_(3.0)
    twin(torch.rand(2, 4))
    assert all_equal(twin[0].weight, 3)


@pytest.mark.parametrize("dump", ["pickle", "torch.save"])
def test_a_pickled_lazy_model_keeps_its_deferred_rules(dump):
    net = lazy_net()
    apply_rules(net, [Rule(ones, param="weight"), Rule(nn.init.zeros_, param="bias")])
    if dump == "pickle":
        loaded = pickle.loads(pickle.dumps(net))
    else:
        buffer = io.BytesIO()
        torch.save(net, buffer)
        buffer.seek(0)
        loaded = torch.load(buffer, weights_only=False)
    assert pending_inits(loaded) == pending_inits(net)
    loaded(torch.rand(2, 4))
    assert all_equal(loaded[0].weight, 1) and all_equal(loaded[2].bias, 0)
    assert pending_inits(loaded) == {} and len(pending_inits(net)) == 4


def test_pickling_a_pending_init_that_pickle_cannot_store_names_it():
    net = lazy_net()
    apply_rules(net, [Rule(lambda t: t.fill_(2.0), label="fill 2", param="weight")])
    with pytest.raises(pickle.PicklingError) as caught:
        pickle.dumps(net)
    message = str(caught.value)
    assert "'0.weight'" in message and "'fill 2'" in message and "<lambda>" in message
    assert "module-level function" in message
    copy.deepcopy(net)  # a deep copy does not need pickle: it works
    net(torch.rand(2, 4))
    assert len(pickle.dumps(net)) > 0  # nothing pending any more: pickles


def test_a_checkpoint_loaded_before_the_first_forward_wins_over_the_deferred_rule():
    source = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    net = lazy_net()
    apply_rules(net, [Rule(ones, param="weight"), Rule(nn.init.zeros_, param="bias")])
    net.load_state_dict(source.state_dict())
    assert pending_inits(net) == {}
    x = torch.rand(2, 4)
    assert torch.equal(net(x), source(x))
    for name, value in source.state_dict().items():
        assert torch.equal(net.state_dict()[name], value), name


def test_a_partial_checkpoint_cancels_only_the_rules_of_the_keys_it_holds():
    source = nn.Linear(4, 3)
    net = lazy_net()
    apply_rules(net, [Rule(ones, param="weight"), Rule(nn.init.zeros_, param="bias")])
    net.load_state_dict({f"0.{k}": v for k, v in source.state_dict().items()}, strict=False)
    net(torch.rand(2, 4))
    assert torch.equal(net[0].weight, source.weight) and torch.equal(net[0].bias, source.bias)
    assert all_equal(net[2].weight, 1) and all_equal(net[2].bias, 0)


def test_a_checkpoint_loaded_into_a_submodule_is_matched_by_its_own_prefix():
    net = nn.Sequential(nn.Sequential(nn.LazyLinear(3)))
    apply_rules(net, [Rule(ones)])
    inner = nn.Sequential(nn.Linear(4, 3))
    net[0].load_state_dict(inner.state_dict())  # keys "0.weight", "0.bias" relative to net[0]
    net(torch.rand(2, 4))
    assert torch.equal(net[0][0].weight, inner[0].weight)


def test_a_deferred_init_that_fails_stays_pending_and_the_module_refuses_to_run():
    calls = []

    def flaky(tensor: torch.Tensor) -> None:
        calls.append(tuple(tensor.shape))
        if len(calls) == 1:
            raise RuntimeError("disk on fire")
        tensor.fill_(5.0)

    net = lazy_net()
    apply_rules(net, [Rule(flaky, param="weight", path="2"), Rule(ones, param="bias")])
    with pytest.raises(InitError, match="disk on fire") as caught:
        net(torch.rand(2, 4))
    message = str(caught.value)
    assert "'2.weight'" in message and "stays pending" in message
    assert "already initialized in this pass: ['2.bias']" not in message  # bias comes after
    assert pending_inits(net) == {
        "2.weight": "flaky on *.weight at '2'",
        "2.bias": "constant_(val=1.0) on *.bias",
    }
    out = net(torch.rand(2, 4))  # retried: the rule is not dropped
    assert all_equal(net[2].weight, 5) and all_equal(net[2].bias, 1)
    assert calls == [(2, 3), (2, 3)] and pending_inits(net) == {} and out.shape == (2, 2)


def test_a_deferred_init_that_does_not_write_in_place_is_refused_at_the_forward():
    layer = nn.LazyLinear(3)
    apply_rules(layer, [Rule(lambda t: torch.zeros_like(t), label="zeros copy", param="weight")])
    for _ in range(2):  # it stays pending, so the module keeps refusing
        with pytest.raises(InitError, match=r"'zeros copy' did not write into parameter 'weight' at the"):
            layer(torch.rand(2, 4))


def test_deferred_inits_run_under_no_grad():
    layer = nn.LazyLinear(3)
    apply_rules(layer, [Rule(lambda t: t.mul_(0.0).add_(2.0), label="affine", param="weight")])
    layer(torch.rand(2, 4))  # in place on a leaf that requires grad: only legal under no_grad
    assert all_equal(layer.weight, 2) and layer.weight.requires_grad and layer.weight.grad_fn is None


def test_a_shared_lazy_module_is_initialized_once():
    calls = []

    def counting(tensor: torch.Tensor) -> None:
        calls.append(tensor.shape)
        tensor.fill_(1.0)

    shared = nn.LazyLinear(4)
    net = nn.Sequential(shared, nn.ReLU(), shared)
    report = apply_rules(net, [Rule(counting, param="weight")])
    names = [(e.name, e.aliases) for e in report.entries]
    assert names == [("0.weight", ("2.weight",)), ("0.bias", ("2.bias",))]
    net(torch.rand(2, 4))
    net(torch.rand(2, 4))
    assert calls == [(4, 4)]


def test_apply_rules_twice_on_a_lazy_model_runs_both_in_order_like_on_an_eager_one():
    order = []

    def tagged(value: float):
        def fill(tensor: torch.Tensor) -> None:
            order.append(value)
            tensor.fill_(value)

        return fill

    layer = nn.LazyLinear(2)
    apply_rules(layer, [Rule(tagged(1.0), param="weight")])
    apply_rules(layer, [Rule(tagged(2.0), param="weight")])
    layer(torch.rand(1, 3))
    assert order == [1.0, 2.0] and all_equal(layer.weight, 2)


def test_a_parameter_still_lazy_when_the_forward_begins_is_an_error_and_stays_pending():
    layer = nn.LazyLinear(3)
    apply_rules(layer, [Rule(ones)])
    layer._forward_pre_hooks.pop(next(iter(layer._forward_pre_hooks)))  # break materialization
    with pytest.raises(LazyParameterError, match="'weight' was still not materialized"):
        layer(torch.rand(2, 4))
    assert pending_inits(layer) == {"weight": "constant_(val=1.0) on *", "bias": "constant_(val=1.0) on *"}


def test_pending_inits_of_a_model_without_deferred_rules_is_empty():
    assert pending_inits(nn.Linear(2, 2)) == {}
    with pytest.raises(TypeError, match=r"pending_inits\(\) expects an nn\.Module, got int"):
        pending_inits(3)


def test_a_parameter_assigned_before_the_first_forward_wins_over_the_deferred_rule():
    net = lazy_net()
    apply_rules(net, [Rule(ones, param="weight"), Rule(nn.init.zeros_, param="bias")])
    mine, my_bias = nn.Parameter(torch.full((3, 4), 7.0)), nn.Parameter(torch.full((3,), 5.0))
    net[0].weight, net[0].bias = mine, my_bias  # set by hand after the rules: the later write wins
    net(torch.rand(2, 4))
    assert net[0].weight is mine and all_equal(net[0].weight, 7) and all_equal(net[0].bias, 5)
    assert all_equal(net[2].weight, 1) and all_equal(net[2].bias, 0)  # the other rules still ran
    assert pending_inits(net) == {}


@pytest.mark.parametrize("move", ["to(float64)", "deepcopy", "pickle"])
def test_moving_copying_or_pickling_a_lazy_model_does_not_count_as_replacing_its_parameters(move):
    net = lazy_net()
    apply_rules(net, [Rule(ones, param="weight")])
    if move == "to(float64)":
        net = net.to(torch.float64)
    elif move == "deepcopy":
        net = copy.deepcopy(net)
    else:
        net = pickle.loads(pickle.dumps(net))
    net(torch.rand(2, 4, dtype=net[0].weight.dtype))
    assert all_equal(net[0].weight, 1) and all_equal(net[2].weight, 1)


def test_two_threads_doing_the_first_forward_initialize_each_layer_once_and_both_see_it():
    """Two threads start the first forward of the same lazy model at once (a barrier releases
    them together, with a short switch interval so that they interleave); in every trial each
    rule runs exactly once, before either forward computes, and nothing stays pending."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for trial in range(200):
            calls = []

            def counting(tensor: torch.Tensor, calls=calls) -> None:
                calls.append(tuple(tensor.shape))
                tensor.fill_(1.0)

            net = lazy_net()
            apply_rules(net, [Rule(counting, param="weight"), Rule(nn.init.zeros_, param="bias")])
            barrier, outputs, errors = threading.Barrier(2), [], []

            def forward(net=net, barrier=barrier, outputs=outputs, errors=errors) -> None:
                barrier.wait()
                try:
                    outputs.append(net(torch.ones(1, 4)))
                except Exception as error:
                    errors.append(error)

            threads = [threading.Thread(target=forward) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert not errors, (trial, errors)
            assert sorted(calls) == [(2, 3), (3, 4)], (trial, calls)
            assert all_equal(net[0].weight, 1) and all_equal(net[2].weight, 1), trial
            assert all_equal(net[0].bias, 0) and all_equal(net[2].bias, 0), trial
            assert pending_inits(net) == {}
            assert all(torch.equal(out, torch.full((1, 2), 12.0)) for out in outputs), (trial, outputs)
    finally:
        sys.setswitchinterval(interval)
