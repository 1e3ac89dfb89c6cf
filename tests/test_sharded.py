"""Model-level counter init, sharded models, and the digest that compares them.

The page's sharded program (snippets/large_models.py, section `sharded`) is run here on two CPU
ranks, as `torchrun --nproc-per-node 2` would run it: two processes with the environment torchrun
sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), started directly to save the
launcher's own `import torch`. Each rank holds half of every weight, fills it from its global
offsets, and the gathered model must equal a single-process init bit for bit.
`benchmarks/bench_sharded.py` runs the same check with torchrun for 1, 2 and 4 ranks.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from snippets_check import sections
from torch import nn
from torch.distributed.tensor import DTensor, Partial, Replicate, Shard, distribute_tensor, init_device_mesh
from torch.distributed.tensor.placement_types import _StridedShard

from paraminit import (
    LazyParameterError,
    Rule,
    apply_counter_rules,
    apply_rules,
    counter_mixture_,
    counter_normal_,
    counter_uniform_,
    weights_digest,
)
from paraminit._dtensor import dtensor_region, is_dtensor

ROOT = Path(__file__).parents[1]


def mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 2))


RULES = [
    Rule(functools.partial(counter_normal_, std=0.1), module=nn.Linear, param="weight"),
    Rule(functools.partial(nn.init.constant_, val=0.5), param="bias"),
]


# ------------------------------------------------------------------------------------------------
# apply_counter_rules and weights_digest


def test_each_parameter_draws_from_the_stream_named_after_it(device):
    model = mlp().to(device)
    report = apply_counter_rules(model, RULES, seed=5)
    assert report.names("initialized") == ["0.weight", "0.bias", "2.weight", "2.bias"]
    expected = counter_normal_(torch.empty(5, 6, device=device), std=0.1, seed=5, stream="0.weight")
    assert torch.equal(model[0].weight, expected)
    same_stream = counter_normal_(torch.empty(2, 5, device=device), std=0.1, seed=5, stream="0.weight")
    assert not torch.equal(model[2].weight, same_stream)  # 2.weight has a stream of its own
    assert (model[2].bias == 0.5).all()


def test_the_same_seed_gives_the_same_digest_and_another_seed_another():
    one, two, other = mlp(), mlp(), mlp()
    for model, seed in ((one, 1), (two, 1), (other, 2)):
        apply_counter_rules(model, RULES, seed=seed)
    assert weights_digest(one) == weights_digest(two) != weights_digest(other)
    assert len(weights_digest(one)) == 64


def test_digest_sees_every_byte_and_the_dtype():
    model = mlp()
    apply_counter_rules(model, RULES, seed=1)
    before = weights_digest(model)
    with torch.no_grad():
        model[2].bias[1] = torch.nextafter(model[2].bias[1], model[2].bias[1] + 1)
    assert weights_digest(model) != before
    assert weights_digest(mlp().double()) != weights_digest(mlp().double().float())  # names, dtype, bytes


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors is a no-op:UserWarning")
def test_digest_of_a_model_with_an_empty_parameter():
    empty = nn.Linear(0, 3)
    apply_counter_rules(empty, [Rule(counter_uniform_)], seed=0)
    assert weights_digest(empty) != weights_digest(nn.Linear(0, 4))


def test_rules_that_would_draw_from_a_torch_generator_are_rejected():
    with pytest.raises(TypeError, match=r"normal_\(std=0.1\) would draw from a torch generator"):
        apply_counter_rules(mlp(), [Rule(functools.partial(nn.init.normal_, std=0.1))], seed=0)


def test_rules_must_not_fix_seed_or_stream():
    rule = Rule(functools.partial(counter_uniform_, seed=3))
    with pytest.raises(ValueError, match=r"fixes \['seed'\] itself"):
        apply_counter_rules(mlp(), [rule], seed=0)


def test_unused_rules_and_untouched_parameters_are_reported():
    with pytest.raises(ValueError, match="matched no parameter"):
        apply_counter_rules(mlp(), [*RULES, Rule(counter_mixture_, module=nn.Conv2d)], seed=0)
    report = apply_counter_rules(mlp(), [Rule(counter_mixture_, module=nn.Conv2d)], seed=0, allow_unused=True)
    assert report.counts() == {"untouched": 4}
    with pytest.raises(ValueError, match=r"no rule selects \['0.bias', '2.bias'\]"):
        apply_counter_rules(mlp(), RULES[:1], seed=0, require_all=True)


def test_meta_and_lazy_parameters_are_errors_not_silent_no_ops():
    with torch.device("meta"):
        model = mlp()
    with pytest.raises(ValueError, match=r"'0.weight' is on the meta device .*to_empty"):
        apply_counter_rules(model, RULES, seed=0)
    with pytest.raises(ValueError, match=r"'0\.bias' is on the meta device"):
        apply_counter_rules(model, RULES[1:], seed=0)  # zeros_ on meta would do nothing
    with pytest.raises(LazyParameterError, match=r"'0\.weight' is not materialized"):
        apply_counter_rules(nn.Sequential(nn.LazyLinear(3)), RULES, seed=0)


def test_bad_arguments_are_rejected():
    with pytest.raises(TypeError, match=r"expects an nn\.Module"):
        apply_counter_rules(torch.empty(3), RULES, seed=0)
    with pytest.raises(TypeError, match="expects Rule objects"):
        apply_counter_rules(mlp(), [counter_uniform_], seed=0)
    with pytest.raises(ValueError, match="seed must be in"):
        apply_counter_rules(mlp(), RULES, seed=-1)


# ------------------------------------------------------------------------------------------------
# DTensor, on a process group of one in this process


@pytest.fixture
def mesh():
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield init_device_mesh("cpu", (1,))
    finally:
        dist.destroy_process_group()


def test_dtensor_shards_and_replicas_are_filled_from_their_region(mesh):
    full = counter_uniform_(torch.empty(6, 4, device="cpu"), seed=2, stream="w")
    for placement in (Shard(0), Shard(1), Replicate()):
        tensor = distribute_tensor(torch.zeros(6, 4, device="cpu"), mesh, [placement])
        assert is_dtensor(tensor) and not is_dtensor(full)
        region = dtensor_region(tensor)
        assert (region.global_shape, region.offset) == ((6, 4), (0, 0))
        counter_uniform_(tensor, seed=2, stream="w")
        assert torch.equal(tensor.full_tensor(), full)


def test_placements_that_are_not_blocks_are_rejected(mesh):
    partial = DTensor.from_local(torch.zeros(6, 4, device="cpu"), mesh, [Partial()])
    with pytest.raises(ValueError, match="placement Partial"):
        counter_uniform_(partial, seed=0, stream="w")
    strided = DTensor.from_local(torch.zeros(6, 4, device="cpu"), mesh, [_StridedShard(0, split_factor=2)])
    with pytest.raises(ValueError, match=r"only Shard\(dim\) and Replicate"):
        counter_normal_(strided, seed=0, stream="w")
    with pytest.raises(ValueError, match="a DTensor knows its own layout"):
        sharded = distribute_tensor(torch.zeros(4, device="cpu"), mesh, [Shard(0)])
        counter_uniform_(sharded, seed=0, stream="w", global_shape=(4,))


def test_without_torch_distributed_tensor_imported_nothing_is_a_dtensor(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch.distributed.tensor")
    assert not is_dtensor(torch.empty(2))


def test_the_private_offset_helper_is_checked_not_trusted(mesh, monkeypatch):
    """If a torch release changed what the wrapped helper returns, the wrapper raises (a shape it
    does not hold) or fills nothing (a rank outside the mesh) instead of filling wrong rows."""
    import torch.distributed.tensor._utils as utils

    tensor = distribute_tensor(torch.zeros(6, 4, device="cpu"), mesh, [Shard(0)])
    monkeypatch.setattr(utils, "compute_local_shape_and_global_offset", lambda *a: ((3, 4), (3, 0)))
    with pytest.raises(ValueError, match=r"local shard has shape \(6, 4\), but .* give \(3, 4\)"):
        dtensor_region(tensor)
    monkeypatch.setattr(utils, "compute_local_shape_and_global_offset", lambda *a: ((0,), ()))
    assert dtensor_region(tensor).offset == (0, 0)


# ------------------------------------------------------------------------------------------------
# Two ranks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # two processes that import torch: a few seconds
def test_the_page_program_on_two_ranks_equals_one_process(tmp_path):
    (section,) = [s for s in sections(ROOT / "snippets" / "large_models.py") if s.name == "sharded"]
    program = tmp_path / "sharded.py"
    program.write_text(section.code)
    world, port = 2, free_port()
    ranks = [
        subprocess.Popen(
            [sys.executable, str(program)],
            cwd=ROOT,
            env={
                **os.environ,
                "RANK": str(rank),
                "LOCAL_RANK": str(rank),
                "WORLD_SIZE": str(world),
                "LOCAL_WORLD_SIZE": str(world),
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(port),
                "OMP_NUM_THREADS": "1",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(world)
    ]
    outputs = []
    for rank in ranks:
        try:
            outputs.append(rank.communicate(timeout=180))
        except subprocess.TimeoutExpired:
            for other in ranks:
                other.kill()
            raise
    for rank, (process, (_out, err)) in enumerate(zip(ranks, outputs, strict=True)):
        assert process.returncode == 0, f"rank {rank} failed:\n{err[-3000:]}"
    assert outputs[0][0].splitlines() == [
        "ranks: 2, rank 0 holds 24 of 48 rows",
        "same as one process: True",
    ]
    assert outputs[1][0] == ""  # only rank 0 prints


# ------------------------------------------------------------------------------------------------
# Tied parameters and the plan: the same guarantees as apply_rules


def tied_lm() -> nn.Sequential:
    """An embedding whose weight is also the output layer's weight (weight tying)."""
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 10, bias=False))
    model[1].weight = model[0].weight
    return model


def test_a_tied_tensor_is_drawn_once_from_the_stream_of_its_first_name():
    model = tied_lm()
    calls = []

    def counting(tensor, **kwargs):
        calls.append(kwargs["stream"])
        return counter_normal_(tensor, **kwargs)

    counting.counter_sampler = True
    report = apply_counter_rules(model, [Rule(counting)], seed=3)
    assert calls == ["0.weight"]
    assert [(e.name, e.aliases) for e in report.entries] == [("0.weight", ("1.weight",))]
    assert torch.equal(model[0].weight, counter_normal_(torch.empty(10, 4), seed=3, stream="0.weight"))


def test_different_rules_for_the_names_of_one_tied_tensor_are_an_error_before_any_write():
    model = tied_lm()
    before = model[0].weight.detach().clone()
    rules = [Rule(counter_normal_, module=nn.Embedding), Rule(counter_uniform_, module=nn.Linear)]
    with pytest.raises(ValueError, match=r"'0\.weight' is tied to '1\.weight'"):
        apply_counter_rules(model, rules, seed=0)
    assert torch.equal(model[0].weight, before)
    report = apply_counter_rules(model, rules, seed=0, allow_conflicts=True)
    assert report.counts() == {"counter_normal_ on Embedding": 1}
    assert torch.equal(model[0].weight, counter_normal_(torch.empty(10, 4), seed=0, stream="0.weight"))


def test_a_meta_parameter_is_refused_before_any_other_parameter_is_written():
    model = mlp()
    with torch.device("meta"):
        model[2] = nn.Linear(5, 2)
    before = model[0].weight.detach().clone()
    with pytest.raises(ValueError, match=r"'2\.weight' is on the meta device"):
        apply_counter_rules(model, RULES, seed=0)
    assert torch.equal(model[0].weight, before)


def test_apply_rules_refuses_a_counter_sampler_without_a_seed_and_names_the_way_out():
    model = mlp()
    before = model[0].weight.detach().clone()
    rules = [Rule(nn.init.zeros_, param="bias"), Rule(counter_normal_, param="weight")]
    with pytest.raises(TypeError, match=r"counter_normal_ on \*\.weight.*apply_counter_rules"):
        apply_rules(model, rules)
    assert torch.equal(model[0].weight, before) and not (model[0].bias == 0).all()
    seeded = Rule(functools.partial(counter_normal_, seed=1, stream="weight"), param="weight")
    apply_rules(model, [seeded], allow_unused=True)
    assert torch.equal(model[0].weight, counter_normal_(torch.empty(5, 6), seed=1, stream="weight"))


def test_a_dtensor_parameter_written_through_its_shard_or_as_a_whole_counts_as_written(mesh):
    layer = nn.Linear(4, 6)
    layer.weight = nn.Parameter(distribute_tensor(torch.zeros(6, 4), mesh, [Shard(0)]))
    layer.bias = nn.Parameter(distribute_tensor(torch.ones(6), mesh, [Shard(0)]))
    rules = [Rule(counter_uniform_, param="weight"), Rule(nn.init.zeros_, param="bias")]
    report = apply_counter_rules(layer, rules, seed=4)  # the shard, then the DTensor itself
    assert report.names("initialized") == ["weight", "bias"]
    expected = counter_uniform_(torch.empty(6, 4), seed=4, stream="weight")
    assert torch.equal(layer.weight.full_tensor(), expected)
    assert (layer.bias.full_tensor() == 0).all()
