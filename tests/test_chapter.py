"""The chapter's functions really change the weights, on a network that has seen input."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from paraminit import LazyParameterError
from paraminit.chapter import (
    init_42,
    init_constant,
    init_mixture,
    init_normal,
    init_xavier,
    make_net,
)


@pytest.fixture
def net(device) -> nn.Sequential:
    torch.manual_seed(0)
    net = make_net().to(device)
    net(torch.rand(2, 4, device=device))
    return net


def test_make_net_infers_the_input_width_at_the_first_call(device):
    net = make_net().to(device)
    assert isinstance(net[0], nn.LazyLinear)
    assert net(torch.rand(2, 4, device=device)).shape == (2, 1)
    assert type(net[0]) is nn.Linear and net[0].weight.shape == (8, 4)
    assert net[2].weight.shape == (1, 8)


def test_init_normal_gives_small_weights_and_zero_biases(net):
    net.apply(init_normal)
    for layer in (net[0], net[2]):
        assert (layer.bias == 0).all()
        assert 0 < layer.weight.abs().max() < 0.06  # 6 sd of N(0, 0.01^2): never in practice


def test_init_constant_gives_all_ones_and_zero_biases(net):
    net.apply(init_constant)
    assert (net[0].weight == 1).all() and (net[2].weight == 1).all()
    assert (net[0].bias == 0).all() and (net[2].bias == 0).all()


def test_xavier_on_the_first_layer_and_42_on_the_last(net):
    bias_before = net[0].bias.detach().clone()
    net[0].apply(init_xavier)
    net[2].apply(init_42)
    bound = math.sqrt(6 / (4 + 8))
    assert (net[0].weight.abs() <= bound).all()
    assert len(net[0].weight.unique()) == 32  # random, not a constant
    assert (net[2].weight == 42).all()
    assert torch.equal(net[0].bias, bias_before)  # Xavier leaves biases alone


def test_init_mixture_leaves_no_weight_in_minus5_5_but_zero(net):
    net.apply(init_mixture)
    for layer in (net[0], net[2]):
        w = layer.weight
        assert ((w == 0) | ((w.abs() >= 5) & (w.abs() <= 10))).all()
    assert (net[0].weight != 0).any()


def test_direct_setting_as_the_page_shows(net):
    net.apply(init_constant)
    net[0].weight.data[:] += 1
    net[0].weight.data[0, 0] = 42
    assert net[0].weight[0].tolist() == [42.0, 2.0, 2.0, 2.0]
    assert (net[0].weight[1:] == 2).all()


@pytest.mark.parametrize("init", [init_normal, init_constant, init_xavier, init_42, init_mixture])
def test_every_chapter_init_refuses_a_lazy_net_instead_of_skipping_it(init):
    with pytest.raises(LazyParameterError, match="forward pass"):
        make_net().apply(init)


def test_the_chapter_type_test_is_a_silent_no_op_on_a_lazy_net():
    """The bug this project closes: kept as a test so the pages' claim stays true."""

    def by_type(module):
        if type(module) == nn.Linear:  # noqa: E721 - the original chapter's test, on purpose
            nn.init.constant_(module.weight, 1.0)

    net = make_net()
    net.apply(by_type)  # no error...
    net(torch.rand(2, 4))
    assert not (net[0].weight == 1).any()  # ...and no effect


@pytest.mark.parametrize("init", [init_normal, init_constant, init_xavier, init_42, init_mixture])
def test_chapter_inits_leave_other_modules_alone(init):
    norm = nn.LayerNorm(3)
    before = [p.detach().clone() for p in norm.parameters()]
    init(norm)
    init(nn.ReLU())
    assert all(torch.equal(a, b) for a, b in zip(before, norm.parameters(), strict=True))


def _my_init(module):
    """The original chapter's custom init, as the page shows it."""
    if type(module) == nn.Linear:  # noqa: E721 - the chapter's code, on purpose
        nn.init.uniform_(module.weight, -10, 10)
        module.weight.data *= module.weight.data.abs() >= 5


@pytest.mark.parametrize("shape", [(8, 4), (1, 8), (257, 129)])
def test_my_init_and_init_mixture_give_the_same_tensor_from_the_same_state(shape):
    for seed in range(20):
        torch.manual_seed(seed)
        chapter = nn.Linear(shape[1], shape[0])
        torch.manual_seed(seed)
        library = nn.Linear(shape[1], shape[0])
        state = torch.get_rng_state()
        chapter.apply(_my_init)
        torch.set_rng_state(state)
        library.apply(init_mixture)
        assert torch.equal(chapter.weight, library.weight)  # -0.0 == 0.0
        # Agreement is up to the null event |w| = 5, which no draw here hit.
        assert not (chapter.weight.abs() == 5).any()


def test_my_init_turns_zeroed_negative_draws_into_negative_zero():
    torch.manual_seed(0)
    layer = nn.Linear(64, 64)
    layer.apply(_my_init)
    zeros = layer.weight[layer.weight == 0]
    assert torch.signbit(zeros).any()  # -0.0 compares equal to 0.0 but is there


def test_hardshrink_zeroes_exactly_5_which_the_chapter_keeps():
    w = torch.tensor([-5.0, -4.5, 5.0, 6.0])
    assert torch.hardshrink(w, 5.0).tolist() == [0.0, 0.0, 0.0, 6.0]
    assert (w * (w.abs() >= 5)).tolist() == [-5.0, -0.0, 5.0, 6.0]


def test_type_misses_multihead_attention_out_proj_and_isinstance_finds_it():
    attention = nn.MultiheadAttention(8, 2)
    assert [n for n, m in attention.named_modules() if type(m) == nn.Linear] == []  # noqa: E721
    assert [n for n, m in attention.named_modules() if isinstance(m, nn.Linear)] == ["out_proj"]


def test_constant_init_gives_every_hidden_unit_the_same_gradient_without_dropout():
    torch.manual_seed(0)
    net = make_net()
    X, y = torch.rand(16, 4), torch.rand(16, 1)
    net(X)
    net.apply(init_constant)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    for _ in range(50):
        optimizer.zero_grad()
        (net(X) - y).pow(2).mean().backward()
        assert (net[0].weight.grad == net[0].weight.grad[0]).all()
        optimizer.step()
    assert (net[0].weight == net[0].weight[0]).all()
    assert (net[0].weight != 1).any()  # it did train: the units moved, together


def test_dropout_breaks_the_symmetry_of_a_constant_init():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 1))
    net.apply(init_constant)
    (net(torch.rand(16, 4)) - torch.rand(16, 1)).pow(2).mean().backward()
    assert not (net[0].weight.grad == net[0].weight.grad[0]).all()


def test_the_lazy_dry_run_batch_changes_the_default_init_under_a_fixed_seed():
    def first_weight(rows):
        torch.manual_seed(0)
        net = make_net()
        net(torch.rand(rows, 4))
        return net[0].weight.detach().clone()

    assert torch.equal(first_weight(2), first_weight(2))
    assert not torch.equal(first_weight(2), first_weight(3))
