"""Streams: each parameter draws from the stream of its canonical name, which wrappers do not change.

The same model, plain, under `torch.compile`, DDP, `nn.DataParallel`, activation checkpointing or
FSDP2, gets the same weights from the same seed and the same `weights_digest`; a submodule
initialized alone with `prefix=` gets the weights it gets inside the whole model; and a counter
sampler with a seed bound by `functools.partial` gives each parameter its own stream in
`apply_rules` too.
"""

from __future__ import annotations

import functools

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
from torch.distributed.tensor import init_device_mesh

from paraminit import (
    Rule,
    apply_counter_rules,
    apply_rules,
    counter_normal_,
    counter_uniform_,
    weights_digest,
)
from paraminit._names import canonical_names


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.Linear(4, 4)
        self.mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.attn(x))


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(Block(), Block())
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


RULES = [
    Rule(functools.partial(counter_normal_, std=0.5), module=nn.Linear, param="weight"),
    Rule(functools.partial(counter_uniform_, a=-0.1, b=0.1), param="bias", path="encoder.*"),
    Rule(nn.init.zeros_, param="bias"),
]


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter by its canonical name, gathered if sharded."""
    names = canonical_names(model)
    return {
        names[name]: (p.full_tensor() if hasattr(p, "full_tensor") else p).detach().clone()
        for name, p in model.named_parameters()
    }


@pytest.fixture
def process_group():
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield init_device_mesh("cpu", (1,))
    finally:
        dist.destroy_process_group()


def test_wrappers_do_not_change_the_weights_or_the_digest(process_group):
    from torch.distributed.fsdp import fully_shard

    plain = Net()
    apply_counter_rules(plain, RULES, seed=11, require_all=True)
    expected = weights(plain)
    assert list(expected) == [name for name, _ in Net().named_parameters()]

    sharded = Net()
    for block in sharded.encoder:
        fully_shard(block, mesh=process_group)
    fully_shard(sharded, mesh=process_group)
    checkpointed = Net()
    checkpointed.encoder[0] = checkpoint_wrapper(checkpointed.encoder[0])
    checkpointed.encoder[1].mlp = checkpoint_wrapper(checkpointed.encoder[1].mlp)
    wrapped = {
        "torch.compile": torch.compile(Net()),
        "DDP": nn.parallel.DistributedDataParallel(Net()),
        "DataParallel": nn.DataParallel(Net()),
        "checkpoint_wrapper": checkpointed,
        "DDP of torch.compile of checkpoint_wrapper": nn.parallel.DistributedDataParallel(
            torch.compile(checkpoint_wrapper(Net()))
        ),
        "fully_shard": sharded,
    }
    for kind, model in wrapped.items():
        report = apply_counter_rules(model, RULES, seed=11, require_all=True)
        assert len(report.names("initialized")) == len(expected), kind
        got = weights(model)
        assert got.keys() == expected.keys(), kind
        assert all(torch.equal(got[name], expected[name]) for name in got), kind
        assert weights_digest(model) == weights_digest(plain), kind


def test_a_submodule_initialized_alone_with_its_prefix_gets_the_weights_it_has_in_the_model():
    whole, alone = Net(), Net()
    apply_counter_rules(whole, RULES, seed=2)
    encoder_rules = [Rule(counter_normal_, param="weight"), Rule(counter_uniform_, param="bias")]
    apply_counter_rules(whole.encoder, encoder_rules, seed=2, prefix="encoder")
    apply_counter_rules(alone.encoder, encoder_rules, seed=2, prefix="encoder")
    assert torch.equal(alone.encoder[1].mlp[2].weight, whole.encoder[1].mlp[2].weight)
    assert torch.equal(
        whole.encoder[1].mlp[2].weight,
        counter_normal_(torch.empty(4, 8), seed=2, stream="encoder.1.mlp.2.weight"),
    )
    apply_counter_rules(alone.encoder, encoder_rules, seed=2)  # without it: other streams
    assert not torch.equal(alone.encoder[1].mlp[2].weight, whole.encoder[1].mlp[2].weight)


@pytest.mark.parametrize("prefix", [".encoder", "encoder.", "a..b", 3])
def test_a_prefix_that_is_not_a_qualified_name_is_refused(prefix):
    kind = TypeError if not isinstance(prefix, str) else ValueError
    with pytest.raises(kind, match="prefix"):
        apply_counter_rules(Net().encoder, RULES[:1], seed=0, prefix=prefix)


def test_a_submodule_named_module_is_not_taken_for_a_wrapper():
    model = nn.Module()
    model.module = nn.Linear(2, 2)
    assert canonical_names(model) == {"module.weight": "module.weight", "module.bias": "module.bias"}


def test_a_bound_seed_in_apply_rules_gives_each_parameter_its_own_stream():
    """The refusal of a seedless sampler recommends binding a seed: every parameter then still has a
    stream of its own (same-shaped layers differ, a bias is not its weight's first row), and the
    weights are those apply_counter_rules gives for the same seed."""
    seeded = functools.partial(counter_normal_, seed=5)
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    apply_rules(model, [Rule(seeded)])
    assert not torch.equal(model[0].weight, model[1].weight)
    assert not torch.equal(model[0].bias, model[0].weight.flatten()[:3])
    twin = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    apply_counter_rules(twin, [Rule(counter_normal_)], seed=5)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters(), strict=True))
    apply_rules(model, [Rule(seeded)], prefix="blocks")  # a prefix names the streams the same way
    apply_counter_rules(twin, [Rule(counter_normal_)], seed=5, prefix="blocks")
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters(), strict=True))
    assert torch.equal(model[1].bias, counter_normal_(torch.empty(3), seed=5, stream="blocks.1.bias"))


def test_a_bound_seed_on_a_lazy_model_draws_the_same_at_the_first_forward():
    lazy = nn.Sequential(nn.LazyLinear(3), nn.LazyLinear(3))
    apply_rules(lazy, [Rule(functools.partial(counter_uniform_, seed=9))])
    lazy(torch.rand(2, 3))
    eager = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    apply_counter_rules(eager, [Rule(counter_uniform_)], seed=9)
    assert all(torch.equal(a, b) for a, b in zip(lazy.parameters(), eager.parameters(), strict=True))


def test_a_fixed_stream_would_repeat_numbers_and_is_refused():
    shared = Rule(functools.partial(counter_normal_, seed=5, stream="w"))
    with pytest.raises(ValueError, match=r"fixes \['stream'\] itself"):
        apply_rules(nn.Linear(2, 2), [shared])


def test_the_refusal_of_a_seedless_sampler_recommends_what_works():
    with pytest.raises(TypeError) as caught:
        apply_rules(nn.Linear(2, 2), [Rule(counter_normal_)])
    message = str(caught.value)
    assert "apply_counter_rules(model, rules, seed=...)" in message
    assert "functools.partial(sampler, seed=...)" in message
    assert "apply_rules then gives each parameter its own stream" in message


def test_two_parameters_whose_canonical_names_coincide_are_refused():
    """Only a wrapper that holds a module besides the wrapped one can make two names one."""

    class Holder(nn.DataParallel):
        def __init__(self, module: nn.Module) -> None:
            super().__init__(module)
            self.head = nn.Linear(2, 2)

    inner = nn.Module()
    inner.head = nn.Linear(2, 2)
    with pytest.raises(ValueError, match=r"the same canonical name \['head.weight', 'head.bias'\]"):
        apply_counter_rules(Holder(inner), [Rule(counter_normal_)], seed=0)
