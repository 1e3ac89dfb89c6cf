"""Sharded initialization of a ~1e8-parameter model on 1, 2 and 4 CPU ranks against one process.

Run from the repository root:

    .venv/bin/python benchmarks/bench_sharded.py                  # 1, 2 and 4 ranks, 100.7 M parameters
    .venv/bin/python benchmarks/bench_sharded.py --ranks 2        # only 2 ranks
    .venv/bin/python benchmarks/bench_sharded.py --quick          # a 1.6 M-parameter model
    .venv/bin/python benchmarks/bench_sharded.py --json benchmarks/results/sharded.json

The model is six `nn.Linear(4096, 4096)` (100,687,872 parameters, 384 MiB in float32), initialized
with `apply_counter_rules`: `counter_normal_(std=0.02)` for the weights, zeros for the biases.

- **One process** (a fresh one): build on `meta`, `to_empty`, `apply_counter_rules`.
- **N ranks**, launched with `torchrun --standalone --nproc-per-node N` (gloo): build on `meta`,
  `fully_shard` every layer and the model (FSDP2: every parameter becomes a DTensor sharded on dim
  0), `to_empty`, `apply_counter_rules`. Each rank fills only its shard, from its global offsets.

Reported per run: the time from the start of the build to the end of the init (for the ranks, the
slowest rank; "vs one" divides by the mean of two single-process runs, one before the ranks and
one after), and each process's peak resident memory (`ru_maxrss`), both whole and as the rise
over the same process just before the build (after `import torch`, the process group for the ranks,
and a warm-up on a tiny model that pays the once-per-process costs): the rise is what the model
costs. The check: every rank hashes each of its shards and
reports where it sits; the single process hashes the same slices of its full parameters. All must
be equal, bit for bit, or the script exits with status 1. No rank ever gathers the full model, so
the memory figures are those of sharded training.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def build_model(quick: bool):
    from torch import nn

    width = 512 if quick else 4096
    return nn.Sequential(*[nn.Linear(width, width) for _ in range(6)])


def rules():
    import functools

    from torch import nn

    from paraminit import Rule, counter_normal_

    return [
        Rule(functools.partial(counter_normal_, std=0.02), module=nn.Linear, param="weight"),
        Rule(nn.init.zeros_, param="bias"),
    ]


def warm_up() -> None:
    """A first tiny meta build, to_empty and init: the once-per-process imports and allocations
    (torch's meta registrations alone are some 40 MiB) happen here, outside the measurement."""
    import torch
    from torch import nn

    from paraminit import apply_counter_rules

    with torch.device("meta"):
        tiny = nn.Sequential(nn.Linear(2, 2))
    tiny.to_empty(device="cpu")
    apply_counter_rules(tiny, rules(), seed=0)


def sha(tensor) -> str:
    import torch

    data = tensor.detach().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# Inside one rank (started by torchrun)


def rank_main(out_dir: Path, quick: bool) -> None:
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from paraminit import apply_counter_rules
    from paraminit._dtensor import dtensor_region

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    mesh = init_device_mesh("cpu", (world,))
    warm_up()
    dist.barrier()
    before = peak_mib()
    started = time.perf_counter()
    with torch.device("meta"):
        model = build_model(quick)
    for layer in model:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    model.to_empty(device="cpu")
    apply_counter_rules(model, rules(), seed=0, require_all=True)
    elapsed = time.perf_counter() - started
    peak = peak_mib()
    shards = []
    for name, param in model.named_parameters():
        region = dtensor_region(param)
        shards.append(
            {
                "name": name,
                "offset": region.offset,
                "shape": list(region.local.shape),
                "sha256": sha(region.local),
            }
        )
    (out_dir / f"rank{rank}.json").write_text(
        json.dumps(
            {
                "rank": rank,
                "world": world,
                "seconds": elapsed,
                "peak_mib": peak,
                "before_mib": before,
                "shards": shards,
            }
        )
    )
    dist.barrier()
    dist.destroy_process_group()


# --------------------------------------------------------------------------------------------
# One process, the whole model (run in a fresh process)


def single_main(out_dir: Path, quick: bool, requests: Path | None) -> None:
    import torch

    from paraminit import apply_counter_rules

    warm_up()
    before = peak_mib()
    started = time.perf_counter()
    with torch.device("meta"):
        model = build_model(quick)
    model.to_empty(device="cpu")
    apply_counter_rules(model, rules(), seed=0, require_all=True)
    elapsed = time.perf_counter() - started
    peak = peak_mib()
    params = dict(model.named_parameters())
    slices = {}
    for entry in json.loads(requests.read_text()) if requests else []:
        index = tuple(slice(o, o + n) for o, n in zip(entry["offset"], entry["shape"], strict=True))
        key = f"{entry['name']}@{entry['offset']}:{entry['shape']}"
        slices[key] = sha(params[entry["name"]][index])
    (out_dir / "single.json").write_text(
        json.dumps({"seconds": elapsed, "peak_mib": peak, "before_mib": before, "slices": slices})
    )


# --------------------------------------------------------------------------------------------
# The driver


def run(cmd: list[str], env: dict) -> None:
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--quick", action="store_true", help="six Linear(512, 512): 1.6 M parameters")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--rank-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--single-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rank_worker:
        rank_main(args.rank_worker, args.quick)
        return 0
    if args.single_worker:
        single_main(args.single_worker, args.quick, args.requests)
        return 0

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    quick = ["--quick"] if args.quick else []
    print(f"{os.cpu_count()} CPUs; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results, failures, requests = {}, [], []
    with tempfile.TemporaryDirectory() as tmp:
        # One process before the ranks and one after, so that a busy phase of the machine shows
        # as a difference between the two instead of skewing the comparison.
        first = Path(tmp) / "first"
        first.mkdir()
        run([sys.executable, __file__, "--single-worker", str(first), *quick], env)
        single_first = json.loads((first / "single.json").read_text())
        for world in args.ranks:
            out = Path(tmp) / f"ranks{world}"
            out.mkdir()
            started = time.perf_counter()
            run(
                [
                    sys.executable,
                    "-m",
                    "torch.distributed.run",
                    "--standalone",
                    f"--nproc-per-node={world}",
                    __file__,
                    "--rank-worker",
                    str(out),
                    *quick,
                ],
                env,
            )
            wall = time.perf_counter() - started
            ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in range(world)]
            results[world] = {"wall_s_with_launch": wall, "ranks": ranks}
            requests += [shard for rank in ranks for shard in rank["shards"]]
        request_file = Path(tmp) / "requests.json"
        request_file.write_text(json.dumps(requests))
        run([sys.executable, __file__, "--single-worker", tmp, "--requests", str(request_file), *quick], env)
        single = json.loads((Path(tmp) / "single.json").read_text())
    for world, result in results.items():
        for rank in result["ranks"]:
            for shard in rank["shards"]:
                key = f"{shard['name']}@{shard['offset']}:{shard['shape']}"
                if single["slices"].get(key) != shard["sha256"]:
                    failures.append(f"{world} ranks, rank {rank['rank']}: {key} differs from one process")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    params = 6 * (512 * 513 if args.quick else 4096 * 4097)
    print(f"model: {params:,} parameters ({params * 4 / MIB:.0f} MiB float32)")
    print(f"{'run':<22}{'init s':>8}{'vs one':>8}{'peak MiB':>10}{'rise MiB':>10}")
    reference = statistics.mean([single_first["seconds"], single["seconds"]])
    for label, one in (("one process, first", single_first), ("one process, last", single)):
        rise = one["peak_mib"] - one["before_mib"]
        print(
            f"{label:<22}{one['seconds']:>8.2f}{one['seconds'] / reference:>7.2f}x"
            f"{one['peak_mib']:>10.0f}{rise:>10.0f}"
        )
    for world, result in results.items():
        slowest = max(rank["seconds"] for rank in result["ranks"])
        for rank in result["ranks"]:
            label = f"{world} rank{'s' if world > 1 else ''}: rank {rank['rank']}"
            rise = rank["peak_mib"] - rank["before_mib"]
            print(
                f"{label:<22}{rank['seconds']:>8.2f}{rank['seconds'] / reference:>7.2f}x"
                f"{rank['peak_mib']:>10.0f}{rise:>10.0f}"
            )
        result["slowest_rank_s"] = slowest
        print(
            f"{'':<22}slowest rank {slowest / reference:.2f}x one process; "
            f"torchrun wall time with launch {result['wall_s_with_launch']:.1f} s"
        )
    print("bit-identical to one process:", "yes, every shard" if not failures else "NO")
    for failure in failures:
        print("CHECK FAILED:", failure)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {"single_first": single_first, "single": single, "ranks": results, "failures": failures}
        args.json.write_text(json.dumps(record, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
