"""One rank of tests/test_sharded.py's multi-process run: the page's program, then sharded layouts.

Started once per rank with the environment torchrun sets (RANK, WORLD_SIZE, MASTER_ADDR, ...):

    python tests/sharded_ranks.py PROGRAM RESULTS STORE

It first runs PROGRAM (the sharded section of snippets/large_models.py) as torchrun would run it,
in a process group of its own that the program opens and closes, so its printing is the page's.
Then it opens a second group (gloo, on the file STORE) and checks, on whatever number of ranks it
was started with, layouts where some ranks hold an empty shard and failures that happen on some
ranks only. It writes what it saw to RESULTS/rank<N>.json; the test compares the ranks.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

TIMEOUT = datetime.timedelta(seconds=60)  # a rank left waiting fails instead of hanging


def layered() -> nn.Sequential:
    """Layers with 1, 5, 10 and 6 rows (some ranks hold none of them), a 3-channel conv."""
    return nn.Sequential(
        nn.Linear(8, 1), nn.Linear(1, 5), nn.Linear(5, 10), nn.Linear(10, 6), nn.Conv1d(6, 3, 3)
    )


def rules():
    from paraminit import Rule, counter_mixture_, counter_normal_, counter_uniform_

    return [
        Rule(functools.partial(counter_uniform_, a=-1.0, b=1.0), path="0"),
        Rule(counter_mixture_, path="1", param="weight"),
        Rule(nn.init.eye_, path="3", param="weight"),
        Rule(nn.init.dirac_, path="4", param="weight"),
        Rule(functools.partial(nn.init.constant_, val=0.25), param="bias", path="3"),
        Rule(nn.init.ones_, param="bias", path="4"),
        Rule(counter_normal_, param="weight"),
        Rule(nn.init.zeros_),
    ]


def sharded(mesh, placements=None) -> nn.Sequential:
    """`layered()` built on meta, each layer and the whole under `fully_shard`, then allocated."""
    from torch.distributed.fsdp import fully_shard

    with torch.device("meta"):
        model = layered()
    for layer in (*model, model):
        fully_shard(layer, mesh=mesh)
    model.to_empty(device="cpu")
    return model


def by_columns(mesh) -> nn.Sequential:
    """`layered()` with every parameter a DTensor split by its last dimension (tensor parallel)."""
    from torch.distributed.tensor import Shard, distribute_tensor

    model = layered()
    for module in model:
        for name, param in list(module.named_parameters(recurse=False)):
            setattr(
                module, name, nn.Parameter(distribute_tensor(param.detach(), mesh, [Shard(param.dim() - 1)]))
            )
    return model


def gathered(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: param.full_tensor() for name, param in model.named_parameters()}


def same(model: nn.Module, reference: nn.Module) -> bool:
    mine, theirs = gathered(model), dict(reference.named_parameters())
    return mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)


def caught(call) -> list[str] | None:
    """`[exception type, message]` of what `call()` raised, `None` if it returned."""
    try:
        call()
    except Exception as error:
        return [type(error).__name__, str(error)]
    return None


def run_layouts(rank: int, world: int) -> dict[str, object]:
    from torch.distributed.device_mesh import init_device_mesh

    from paraminit import Rule, apply_counter_rules, counter_normal_, weights_digest

    one_process = layered()
    apply_counter_rules(one_process, rules(), seed=3)
    seen: dict[str, object] = {}
    mesh = init_device_mesh("cpu", (world,))

    model = sharded(mesh)
    report = apply_counter_rules(model, rules(), seed=3, require_all=True)
    seen["fsdp2 rows of each weight"] = [
        p.to_local().shape[0] for n, p in model.named_parameters() if "weight" in n
    ]
    seen["fsdp2 all initialized"] = report.names("initialized") == [n for n, _ in model.named_parameters()]
    seen["fsdp2 equals one process"] = same(model, one_process)
    seen["fsdp2 digest equals one process"] = weights_digest(model) == weights_digest(one_process)

    columns = by_columns(mesh)
    apply_counter_rules(columns, rules(), seed=3)
    seen["columns equal one process"] = same(columns, one_process)

    if world % 2 == 0 and world >= 4:  # replicated across 2 groups, sharded within each (HSDP)
        grid = init_device_mesh("cpu", (2, world // 2), mesh_dim_names=("replicate", "shard"))
        hybrid = sharded(grid)
        apply_counter_rules(hybrid, rules(), seed=3)
        seen["hsdp equals one process"] = same(hybrid, one_process)

    if world == 1:
        return seen
    # Failures on some ranks only: every rank raises the same error, and none has written.
    model = sharded(mesh)
    with torch.no_grad():
        for param in model.parameters():
            param.to_local().fill_(7.0)
    seen["seed differs"] = caught(lambda: apply_counter_rules(model, rules(), seed=rank % 2))
    extra = [Rule(counter_normal_, module=nn.Conv2d)] if rank == world - 1 else []
    seen["unused rule on the last rank"] = caught(lambda: apply_counter_rules(model, rules() + extra, seed=3))
    seen["nothing written"] = all(bool((p.to_local() == 7.0).all()) for p in model.parameters())

    def fails_on_rank_1(tensor, **kwargs):
        if rank == 1:
            raise RuntimeError("out of memory on rank 1")
        return counter_normal_(tensor, **kwargs)

    fails_on_rank_1.counter_sampler = True
    seen["init fails on rank 1"] = caught(lambda: apply_counter_rules(model, [Rule(fails_on_rank_1)], seed=3))
    seen["still in step"] = caught(lambda: dist.barrier())
    return seen


def main() -> None:
    program, results, store = sys.argv[1:4]
    exec(compile(Path(program).read_text(), program, "exec"), {"__name__": "__main__"})  # the page's
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group(
        "gloo", store=dist.FileStore(store, world), rank=rank, world_size=world, timeout=TIMEOUT
    )
    try:
        seen = run_layouts(rank, world)
    finally:
        dist.destroy_process_group()
    (Path(results) / f"rank{rank}.json").write_text(json.dumps(seen))


if __name__ == "__main__":
    main()
