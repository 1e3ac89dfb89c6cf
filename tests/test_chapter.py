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
        # Agreement is up to draws of exactly +-5 (probability 2^-24 each, tested below): none here.
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


def _first_weight_after(rows: int, *, explicit: str | None = None) -> torch.Tensor:
    """Exercise 4: seed, build, dry-run on `rows` rows, then (maybe) initialize explicitly."""
    torch.manual_seed(0)
    net = make_net()
    net(torch.rand(rows, 4))
    if explicit == "reseed":
        torch.manual_seed(1)
    if explicit in ("init", "reseed"):
        net.apply(init_normal)
    if explicit == "generator":
        nn.init.normal_(net[0].weight, std=0.01, generator=torch.Generator().manual_seed(1))
    return net[0].weight.detach().clone()


def test_an_explicit_init_after_the_dry_run_still_depends_on_the_batch():
    """The page once said that initializing explicitly after the dry run removes the dependence."""
    assert not torch.equal(_first_weight_after(2, explicit="init"), _first_weight_after(3, explicit="init"))


def test_reseeding_or_an_own_generator_removes_the_dependence_on_the_batch():
    for explicit in ("reseed", "generator"):
        assert torch.equal(
            _first_weight_after(2, explicit=explicit), _first_weight_after(3, explicit=explicit)
        )


def test_a_zero_last_layer_over_random_units_lets_every_weight_move_and_differ():
    """Zero-initialized last layers (Goyal et al., Fixup, ReZero, LoRA's B): the units below differ."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    nn.init.zeros_(net[2].weight)
    nn.init.zeros_(net[2].bias)
    X, y = torch.randn(16, 4), torch.rand(16, 1)  # inputs of both signs: every ReLU is on for some
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    for step in range(2):
        optimizer.zero_grad()
        (net(X) - y).pow(2).mean().backward()
        if step == 0:
            assert (net[0].weight.grad == 0).all()  # nothing flows back through a zero layer yet...
            assert len(net[2].weight.grad.unique()) == 8  # ...but its own gradient differs per unit
        optimizer.step()
    assert len(net[2].weight.detach().unique()) == 8  # one step made its weights differ
    grad = net[0].weight.grad
    assert all(not torch.equal(grad[i], grad[j]) for i in range(8) for j in range(i))  # units differ


def test_a_net_that_starts_all_zero_never_moves_its_weights():
    torch.manual_seed(0)
    net = make_net()
    X, y = torch.rand(16, 4), torch.rand(16, 1)
    net(X)
    for param in net.parameters():
        nn.init.zeros_(param)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(20):
        optimizer.zero_grad()
        (net(X) - y).pow(2).mean().backward()
        optimizer.step()
    assert (net[0].weight == 0).all() and (net[2].weight == 0).all() and (net[0].bias == 0).all()
    assert (net[2].bias != 0).all()  # only the output's bias learns: the mean of y


def test_float32_uniform_draws_exactly_5_and_minus_5_for_one_k_each():
    """uniform_(-10, 10) in float32 returns x (b - a) + a for x = k / 2^24, k one of 2^24 values:
    exactly one k gives 5 and one gives -5, whether the code rounds once (fused multiply-add) or
    twice, so each has probability 2^-24 per draw, not zero."""
    k = torch.arange(1 << 24, dtype=torch.int64)
    x = (k.double() / 2**24).float()
    assert torch.equal(x.double() * 2**24, k.double())  # every k is exact: a grid of 2^24 values
    twice = x * 20 + -10
    once = (x.double() * 20 + -10).float()
    for values in (twice, once):
        assert (values == 5).nonzero().flatten().tolist() == [3 * (1 << 22)]
        assert (values == -5).nonzero().flatten().tolist() == [1 << 22]
    # uniform_ itself stays on that grid, so these are the values it can draw:
    torch.manual_seed(0)
    unit = torch.empty(1 << 16).uniform_(0, 1)
    assert torch.equal(unit * 2**24, (unit * 2**24).round())


def test_a_seeded_search_finds_a_draw_of_exactly_5_where_my_init_and_mixture_differ():
    """The first 2^24 draws from seed 0 hold exact 5s; there my_init keeps the 5 and mixture_ zeroes it."""
    torch.manual_seed(0)
    chapter = nn.Linear(1 << 12, 1 << 12, bias=False)  # 2^24 weights
    state = torch.get_rng_state()
    chapter.apply(_my_init)
    library = nn.Linear(1 << 12, 1 << 12, bias=False)
    torch.set_rng_state(state)
    library.apply(init_mixture)
    differ = (chapter.weight != library.weight).nonzero()
    assert len(differ) >= 1
    for row, column in differ.tolist():
        with torch.no_grad():
            assert abs(float(chapter.weight[row, column])) == 5 and float(library.weight[row, column]) == 0


@pytest.mark.slow  # 2^27 draws
def test_23_of_the_first_2_to_the_27_draws_from_seed_0_are_exactly_plus_or_minus_5():
    torch.manual_seed(0)
    count = 0
    for _ in range(8):  # in chunks of 2^24: the same draws as one tensor of 2^27
        count += int((torch.empty(1 << 24).uniform_(-10, 10).abs() == 5).sum())
    assert count == 23  # the expected count is 2^27 * 2^-23 = 16; Poisson sd 4


def test_multihead_attention_has_three_input_projections_when_kdim_or_vdim_differ():
    from paraminit import Rule, apply_rules

    same = nn.MultiheadAttention(embed_dim=8, num_heads=2)
    other = nn.MultiheadAttention(embed_dim=8, num_heads=2, kdim=4, vdim=6)
    assert [n for n, _ in same.named_parameters() if n.endswith("proj_weight")] == ["in_proj_weight"]
    assert [n for n, _ in other.named_parameters() if n.endswith("proj_weight")] == [
        "q_proj_weight",
        "k_proj_weight",
        "v_proj_weight",
    ]
    assert other.in_proj_weight is None
    for attention in (same, other):
        report = apply_rules(attention, [Rule(nn.init.zeros_, param="*proj_weight")])
        initialized = [name for name, _ in attention.named_parameters() if name.endswith("proj_weight")]
        assert all((getattr(attention, name) == 0).all() for name in initialized)
        assert "out_proj.weight" not in [r for r in str(report).split() if r.endswith("proj_weight")]
        assert not (attention.out_proj.weight == 0).all()
