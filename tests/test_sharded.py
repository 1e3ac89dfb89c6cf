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
import itertools
import json
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

import paraminit.counter as counter
from paraminit import (
    InitError,
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


def test_two_models_whose_names_and_bytes_would_run_together_have_different_digests():
    """Names may hold ':', '(' and newlines; the digest once wrote `name:dtype:shape\\n` and the
    bytes one after another, so an empty parameter `x` followed by `y` read the same as one
    parameter whose name spelled out the first one's header."""
    value = torch.tensor([1.5])
    two = nn.Module()
    two.register_parameter("x", nn.Parameter(torch.empty(0)))
    two.register_parameter("y", nn.Parameter(value.clone()))
    one = nn.Module()
    one.register_parameter("x:float32:(0,)\ny", nn.Parameter(value.clone()))
    assert weights_digest(one) != weights_digest(two)
    shape_a, shape_b = nn.Module(), nn.Module()  # the same bytes in other shapes
    shape_a.register_parameter("w", nn.Parameter(torch.zeros(2, 3)))
    shape_b.register_parameter("w", nn.Parameter(torch.zeros(3, 2)))
    assert weights_digest(shape_a) != weights_digest(shape_b)


def test_the_digest_of_fixed_weights_is_pinned():
    """A digest recorded once (in a log, beside a checkpoint) stays comparable: the encoding of the
    names, dtypes, shapes and bytes is fixed, and a change to it must change this value on purpose."""
    model = nn.Linear(2, 3)
    nn.init.constant_(model.weight, 0.5)
    nn.init.zeros_(model.bias)
    assert weights_digest(model) == "8d6bc1adfb1917d1f00a08766e3e0e48af6d8dd45d79ae74c20468ff62a07aa8"


def test_names_that_are_not_valid_utf8_are_digested_and_told_apart():
    """A module name may hold a lone surrogate; the digest encodes it as it is, so two such names
    give two digests."""
    models = []
    for name in ("\ud800", "\ud801"):
        model = nn.Module()
        model.add_module(name, nn.Linear(1, 1))
        nn.init.ones_(getattr(model, name).weight)
        nn.init.zeros_(getattr(model, name).bias)
        models.append(model)
    assert weights_digest(models[0]) != weights_digest(models[1])


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors is a no-op:UserWarning")
def test_digest_of_a_model_with_an_empty_parameter():
    empty = nn.Linear(0, 3)
    apply_counter_rules(empty, [Rule(counter_uniform_)], seed=0)
    assert weights_digest(empty) != weights_digest(nn.Linear(0, 4))


def test_rules_that_draw_from_a_torch_generator_are_rejected_before_any_write():
    model = mlp()
    before = model[0].bias.detach().clone()
    rules = [Rule(nn.init.zeros_, param="bias"), Rule(functools.partial(nn.init.normal_, std=0.1))]
    with pytest.raises(TypeError, match=r"normal_\(std=0.1\) on \*'?: normal_ draws from a torch generator"):
        apply_counter_rules(model, rules, seed=0)
    assert torch.equal(model[0].bias, before)
    for init in (nn.init.xavier_uniform_, nn.init.kaiming_normal_, nn.init.orthogonal_):
        with pytest.raises(TypeError, match=f"{init.__name__} draws from a torch generator"):
            apply_counter_rules(mlp(), [Rule(init, param="weight")], seed=0)


def test_a_function_made_a_counter_sampler_gets_the_seed_and_its_parameters_name():
    """The decorator of the counter samplers marks what apply_counter_rules calls with
    `seed=` and `stream=`, and makes both required."""
    calls = []

    def fill_(tensor, *, seed, stream):
        calls.append((seed, stream))
        return counter_uniform_(tensor, seed=seed, stream=stream)

    sampler = counter._required(fill_)
    apply_counter_rules(nn.Linear(2, 3), [Rule(sampler)], seed=4)
    assert calls == [(4, "weight"), (4, "bias")]
    with pytest.raises(TypeError, match=r"^fill_\(\) stream is required"):
        sampler(torch.empty(2), seed=4)


def test_an_init_of_unknown_kind_is_refused_as_one_that_might_draw():
    def my_init(tensor):
        return tensor.fill_(1.0)

    with pytest.raises(TypeError, match=r"cannot tell whether my_init draws") as caught:
        apply_counter_rules(mlp(), [Rule(my_init)], seed=0)
    assert "zeros_, ones_, constant_, eye_, dirac_" in str(caught.value)


def test_eye_and_dirac_draw_nothing_and_are_accepted():
    model = nn.Sequential(nn.Linear(3, 4), nn.Conv2d(2, 4, 3, groups=1), nn.Conv1d(4, 4, 3, groups=2))
    rules = [
        Rule(nn.init.eye_, module=nn.Linear, param="weight"),
        Rule(nn.init.dirac_, module=nn.Conv2d, param="weight"),
        Rule(functools.partial(nn.init.dirac_, groups=2), module=nn.Conv1d, param="weight"),
        Rule(nn.init.ones_, param="bias"),
    ]
    report = apply_counter_rules(model, rules, seed=0, require_all=True)
    assert report.counts()["eye_ on Linear.weight"] == 1
    assert torch.equal(model[0].weight, nn.init.eye_(torch.empty(4, 3)))
    assert torch.equal(model[1].weight, nn.init.dirac_(torch.empty(4, 2, 3, 3)))
    assert torch.equal(model[2].weight, nn.init.dirac_(torch.empty(4, 2, 3), groups=2))


def test_an_exact_init_that_cannot_fill_its_parameter_is_refused_before_any_write():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 4))
    before = model[0].weight.detach().clone()
    rules = [Rule(nn.init.zeros_, path="0"), Rule(nn.init.dirac_, path="1", param="weight")]
    with pytest.raises(ValueError, match=r"dirac_ on \*\.weight at '1'.*'1\.weight'.*3, 4, or 5 dimensions"):
        apply_counter_rules(model, rules, seed=0, allow_unused=True)
    assert torch.equal(model[0].weight, before)
    bad_bounds = Rule(functools.partial(counter_uniform_, a=1.0, b=0.0), path="1")
    with pytest.raises(ValueError, match=r"a <= b"):
        apply_counter_rules(model, [Rule(nn.init.zeros_, path="0"), bad_bounds], seed=0)
    assert torch.equal(model[0].weight, before)


def test_a_counter_rule_whose_bounds_a_half_precision_parameter_cannot_hold_is_refused_before_any_write():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2).half())
    before = model[0].weight.detach().clone()
    rule = Rule(functools.partial(counter_uniform_, a=-1e5, b=1e5), param="weight")
    with pytest.raises(
        ValueError, match=r"cannot fill parameter '1\.weight' \(2, 2\): .* largest float16 value"
    ):
        apply_counter_rules(model, [rule], seed=0)
    assert torch.equal(model[0].weight, before)


def test_rules_must_not_fix_seed_or_stream():
    rule = Rule(functools.partial(counter_uniform_, seed=3))
    with pytest.raises(ValueError, match=r"fixes \['seed'\] itself"):
        apply_counter_rules(mlp(), [rule], seed=0)


def test_unused_rules_and_untouched_parameters_are_reported():
    with pytest.raises(ValueError, match="matched no parameter"):
        apply_counter_rules(mlp(), [*RULES, Rule(counter_mixture_, module=nn.Conv2d)], seed=0)
    report = apply_counter_rules(mlp(), [Rule(counter_mixture_, module=nn.Conv2d)], seed=0, allow_unused=True)
    assert report.counts() == {"untouched": 4}
    assert report.names("untouched") == ["0.weight", "0.bias", "2.weight", "2.bias"]
    report = apply_counter_rules(mlp(), RULES[:1], seed=0)
    assert [entry.shape for entry in report.entries] == [(5, 6), (5,), (2, 5), (2,)]
    lazy = apply_counter_rules(
        nn.Sequential(nn.Linear(2, 2), nn.LazyLinear(3)), [Rule(counter_normal_, path="0")], seed=0
    )
    assert [entry.shape for entry in lazy.entries] == [(2, 2), (2,), None, None]  # not materialized
    assert (report.names("initialized"), report.names("untouched")) == (
        ["0.weight", "2.weight"],
        ["0.bias", "2.bias"],
    )
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


def test_fsdp2_parameters_held_unsharded_are_refused_before_any_write(mesh):
    """With reshard_after_forward=False a forward leaves FSDP2's gathered copies registered; a write
    into them is discarded by reshard(), so the init would be reported and lost."""
    from torch.distributed.fsdp import fully_shard

    model = mlp()
    for layer in (model[0], model[2], model):
        fully_shard(layer, mesh=mesh, reshard_after_forward=False)
    shards = {name: p.to_local().clone() for name, p in model.named_parameters()}
    model(torch.rand(2, 6))
    assert not any(is_dtensor(p) for p in model.parameters())  # the gathered copies, registered
    with pytest.raises(ValueError, match=r"FSDP2 holds .* at \['0', '2'\] unsharded.*reshard\(\)"):
        apply_counter_rules(model, RULES, seed=0)
    for module in model.modules():
        if hasattr(module, "reshard"):
            module.reshard()
    assert all(torch.equal(model.get_parameter(name).to_local(), value) for name, value in shards.items())
    assert shards.keys() == dict(model.named_parameters()).keys()
    apply_counter_rules(model, RULES, seed=0)  # now the shards themselves are written, and kept
    one_process = mlp()
    apply_counter_rules(one_process, RULES, seed=0)
    assert weights_digest(model) == weights_digest(one_process)


def test_what_other_ranks_report_is_raised_here_alike(mesh, monkeypatch):
    """One rank in this process: the exchange with the others is replaced by what they would
    send. The 8-rank test in tests/sharded_ranks.py runs the same paths with real ranks."""
    from paraminit._agree import Ranks

    layer = nn.Linear(4, 6)
    layer.weight = nn.Parameter(distribute_tensor(torch.zeros(6, 4), mesh, [Shard(0)]))
    others: list = []

    def gather(out, mine, group=None):
        out[0] = mine + others

    def reduce(flags, op=None, group=None):
        flags[0] = max(int(flags[0]), int(bool(others)))

    monkeypatch.setattr(dist, "all_gather_object", gather)
    monkeypatch.setattr(dist, "all_reduce", reduce)
    ranks = Ranks(layer, "apply_counter_rules")
    assert ranks.count == 1
    ranks.agree(None, fingerprint="x", before_writing=True)  # nobody failed
    others[:] = [(3, "ValueError", "a rule does not fit")]
    with pytest.raises(ValueError) as caught:
        ranks.agree(None, fingerprint="x", before_writing=True)
    assert str(caught.value) == (
        "apply_counter_rules() failed on rank 3 of 1: a rule does not fit (nothing was written on any rank)"
    )
    others[:] = [(1, "UnicodeEncodeError", "cannot encode"), (2, "NoSuchError", "odd")]
    with pytest.raises(InitError, match=r"failed on ranks 0, 1, 2 of 1: disk full \(the ranks that did not"):
        ranks.agree(InitError("disk full"), before_writing=False)
    for kind in ("UnicodeEncodeError", "NoSuchError"):  # no class that takes a message: InitError
        others[:] = [(1, kind, "odd")]
        with pytest.raises(InitError, match=r"on rank 1 of 1: odd"):
            ranks.agree(None, before_writing=False)


def test_ranks_given_different_seeds_are_refused(mesh, monkeypatch):
    from paraminit._agree import Ranks

    layer = nn.Linear(4, 6)
    layer.weight = nn.Parameter(distribute_tensor(torch.zeros(6, 4), mesh, [Shard(0)]))

    def reduce(flags, op=None, group=None):  # another rank's fingerprint is higher
        flags[1] += 1

    monkeypatch.setattr(dist, "all_reduce", reduce)
    with pytest.raises(ValueError, match="called differently on different ranks"):
        Ranks(layer, "apply_counter_rules").agree(None, fingerprint="seed 1", before_writing=True)


def sharded_layer(mesh) -> nn.Linear:
    layer = nn.Linear(4, 6)
    layer.weight = nn.Parameter(distribute_tensor(torch.zeros(6, 4), mesh, [Shard(0)]))
    return layer


def test_apply_counter_rules_raises_another_ranks_error_before_or_after_writing(mesh, monkeypatch):
    """One rank in this process, the others simulated: the exchanges report a failure on rank 3,
    at the agreement before the first write, then at the one after the last write."""
    failing_call: list[int] = []
    calls: list[int] = []

    def reduce(flags, op=None, group=None):
        calls.append(1)
        if len(calls) in failing_call:
            flags[0] = 1

    def gather(out, mine, group=None):
        out[0] = [*mine, (3, "ValueError", "a rule does not fit")]

    monkeypatch.setattr(dist, "all_reduce", reduce)
    monkeypatch.setattr(dist, "all_gather_object", gather)
    for failing, after in [
        (1, "nothing was written on any rank"),
        (2, "the ranks that did not fail wrote every selected parameter of their shard"),
    ]:
        calls.clear()
        failing_call[:] = [failing]
        layer = sharded_layer(mesh)
        with pytest.raises(ValueError) as caught:
            apply_counter_rules(layer, RULES, seed=0)
        assert (
            str(caught.value) == f"apply_counter_rules() failed on rank 3 of 1: a rule does not fit ({after})"
        )
        assert (layer.weight.full_tensor() == 0).all() == (failing == 1)


def test_apply_counter_rules_on_ranks_given_other_seeds_rules_or_dtypes_is_refused_before_any_write(
    mesh, monkeypatch
):
    """Two ranks simulated in one process: what the first call sends is what the other rank, given
    seed 1, would send alongside this rank's call with another seed, other rules or another dtype."""
    sent: list[torch.Tensor] = []
    monkeypatch.setattr(dist, "all_reduce", lambda flags, op=None, group=None: sent.append(flags.clone()))
    apply_counter_rules(sharded_layer(mesh), RULES, seed=1)
    replies = itertools.cycle(sent)  # the other rank's, before the first write and after the last

    def reduce(flags, op=None, group=None):
        flags.copy_(torch.maximum(flags, next(replies)))

    monkeypatch.setattr(dist, "all_reduce", reduce)
    apply_counter_rules(sharded_layer(mesh), RULES, seed=1)  # the same seed: the ranks agree
    other_rules = [Rule(counter_uniform_, param="weight"), *RULES[1:]]
    for seed, rules, dtype in [(2, RULES, None), (1, other_rules, None), (1, RULES, torch.float64)]:
        layer = sharded_layer(mesh) if dtype is None else sharded_layer(mesh).to(dtype)
        with pytest.raises(ValueError, match="called differently on different ranks"):
            apply_counter_rules(layer, rules, seed=seed)
        assert (layer.weight.full_tensor() == 0).all()


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


def test_a_parameter_whose_placement_is_not_a_block_is_refused_before_any_write(mesh):
    layer = nn.Linear(4, 6)
    layer.bias = nn.Parameter(DTensor.from_local(torch.zeros(6), mesh, [Partial()]))
    before = layer.weight.detach().clone()
    with pytest.raises(ValueError, match=r"cannot fill parameter 'bias' \(6,\): .*placement Partial"):
        apply_counter_rules(layer, [Rule(counter_uniform_)], seed=0)
    assert torch.equal(layer.weight, before)


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


def run_ranks(world: int, tmp_path: Path) -> tuple[list[str], list[dict]]:
    """Run tests/sharded_ranks.py on `world` ranks: what each rank printed, and what it saw."""
    (section,) = [s for s in sections(ROOT / "snippets" / "large_models.py") if s.name == "sharded"]
    program = tmp_path / "sharded.py"
    program.write_text(section.code)
    results = tmp_path / "results"
    results.mkdir()
    port = free_port()
    ranks = [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "sharded_ranks.py"),
                str(program),
                str(results),
                str(tmp_path / "store"),
            ],
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
            outputs.append(rank.communicate(timeout=600))
        except subprocess.TimeoutExpired:
            for other in ranks:
                other.kill()
            raise
    for rank, (process, (_out, err)) in enumerate(zip(ranks, outputs, strict=True)):
        assert process.returncode == 0, f"rank {rank} failed:\n{err[-3000:]}"
    return [out for out, _ in outputs], [
        json.loads((results / f"rank{r}.json").read_text()) for r in range(world)
    ]


@pytest.mark.slow  # eight processes that import torch: half a minute on two cores
@pytest.mark.processes
def test_the_page_program_and_layouts_with_empty_shards_on_eight_ranks(tmp_path):
    """The page's program as `torchrun --nproc-per-node 8` runs it, then layouts in which some
    ranks hold no rows (1, 5 and 10 rows on 8 ranks) or no columns, and failures on some ranks
    only, which every rank must report alike, before any rank writes."""
    printed, seen = run_ranks(8, tmp_path)
    assert printed[0].splitlines() == ["ranks: 8, rank 0 holds 6 of 48 rows", "same as one process: True"]
    assert printed[1:] == [""] * 7  # only rank 0 prints
    rows = [rank["fsdp2 rows of each weight"] for rank in seen]  # of weights with 1, 5, 10, 6, 3 rows
    assert rows[0] == [1, 1, 2, 1, 1] and rows[7] == [0, 0, 0, 0, 0]
    assert [held[2] for held in rows] == [2, 2, 2, 2, 2, 0, 0, 0]  # 10 rows, as torch.chunk splits them
    for rank in seen:
        for check in (
            "fsdp2 all initialized",
            "fsdp2 equals one process",
            "fsdp2 digest equals one process",
            "columns equal one process",
            "hsdp equals one process",
            "nothing written",
        ):
            assert rank[check] is True, (check, rank)
        assert rank["still in step"] is None
    for failure, kind, words in (
        ("seed differs", "ValueError", "seed"),
        ("unused rule on the last rank", "ValueError", "on rank 7"),
        ("init fails on rank 1", "InitError", "on rank 1"),
    ):
        errors = [rank[failure] for rank in seen]
        assert errors[0] is not None and errors[0][0] == kind and words in errors[0][1], errors[0]
        assert all(error == errors[0] for error in errors), failure  # the same on every rank


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


def test_an_init_that_fails_while_writing_names_what_was_already_changed():
    def fails_on_the_bias(tensor, **kwargs):
        if kwargs["stream"].endswith("bias"):
            raise RuntimeError("disk full")
        return counter_normal_(tensor, **kwargs)

    fails_on_the_bias.counter_sampler = True
    with pytest.raises(
        InitError, match=r"failed on parameter '0\.bias' .*disk full.*already changed: \['0\.weight'\]"
    ):
        apply_counter_rules(mlp(), [Rule(fails_on_the_bias)], seed=0)


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
    seeded = Rule(functools.partial(counter_normal_, seed=1), param="weight")
    apply_rules(model, [seeded], allow_unused=True)
    assert torch.equal(model[0].weight, counter_normal_(torch.empty(5, 6), seed=1, stream="0.weight"))


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


def test_a_constant_the_parameters_dtype_cannot_hold_is_refused_before_any_write():
    """A meta tensor has no values, so its dry run let constant_(val=1e5) on a float16 weight
    through; the write then failed after the first layer's bias had been written."""
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4)).half()
    before = [p.detach().clone() for p in model.parameters()]
    rules = [
        Rule(functools.partial(nn.init.constant_, val=1.0), param="bias"),
        Rule(functools.partial(nn.init.constant_, val=1e5), path="1", param="weight"),
    ]
    with pytest.raises(RuntimeError, match=r"parameter '1\.weight' \(4, 4\): value cannot be converted"):
        apply_counter_rules(model, rules, seed=0)
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before, strict=True))


def test_a_constant_a_one_element_parameter_cannot_hold_is_refused_not_made_inf():
    """torch fills a one-element float16 tensor with inf where a larger one raises."""
    model = nn.Linear(4, 1).half()
    before = model.bias.detach().clone()
    rule = Rule(functools.partial(nn.init.constant_, val=1e5), param="bias")
    with pytest.raises(RuntimeError, match=r"parameter 'bias' \(1,\): value cannot be converted"):
        apply_counter_rules(model, [rule], seed=0, require_all=False)
    assert torch.equal(model.bias, before)
