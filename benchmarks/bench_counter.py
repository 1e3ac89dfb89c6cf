"""Benchmark the counter-based samplers against `torch.nn.init.uniform_` on a 4096 x 4096 float32 weight.

Run from the repository root:

    .venv/bin/python benchmarks/bench_counter.py                 # 4096 x 4096, 15 rounds
    .venv/bin/python benchmarks/bench_counter.py --compile       # also torch.compile'd kernels
    .venv/bin/python benchmarks/bench_counter.py --quick         # 512 x 512, 3 rounds (a smoke run)
    .venv/bin/python benchmarks/bench_counter.py --json benchmarks/results/counter.json

The contenders fill the same, already touched tensor. They are interleaved: each round calls every
contender once, the order rotating by one each round, and each contender's time is divided by the
time of `uniform_` in the same round; the report gives the median of those ratios and the ratio
of the best times. A busy phase of a shared machine slows a whole round, so it mostly cancels in
the per-round ratio. The load average at the start and the end is printed: compare runs only
when it was low.

`--compile` adds `torch.compile`d versions of the uniform and mixture kernels (the whole pipeline
as one function of the global index, fused by Inductor) and checks whether their bits equal the
eager samplers': the guarantee of `paraminit.counter` is stated for eager mode, where every
operation is its own correctly rounded kernel, and a fusing compiler may contract a multiply and
an add into one fused multiply-add.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

try:
    from paraminit import counter_bits, counter_mixture_, counter_normal_, counter_uniform_, mixture_
except ImportError:  # a checkout without `pip install -e .`: use its src/ directly
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from paraminit import counter_bits, counter_mixture_, counter_normal_, counter_uniform_, mixture_

BOUND = 0.02
"""`U(-0.02, 0.02)` for both uniform contenders: a product that rounds, like a real init."""

TARGETS = {"counter_uniform_": 1.2, "counter_mixture_": 1.2, "counter_normal_": 2.0}
"""How many `uniform_`s each counter sampler should cost at most (eager, median ratio)."""


def contenders() -> dict[str, Callable[[torch.Tensor], object]]:
    return {
        "uniform_": lambda w: nn.init.uniform_(w, -BOUND, BOUND),
        "counter_uniform_": lambda w: counter_uniform_(w, -BOUND, BOUND, seed=0, stream="w"),
        "mixture_": lambda w: mixture_(w),
        "counter_mixture_": lambda w: counter_mixture_(w, seed=0, stream="w"),
        "normal_": lambda w: nn.init.normal_(w, std=BOUND),
        "counter_normal_": lambda w: counter_normal_(w, std=BOUND, seed=0, stream="w"),
    }


# --------------------------------------------------------------------------------------------
# torch.compile: the same generator as one fused function of the global index


def _source(index: torch.Tensor, state: int, gamma: int) -> torch.Tensor:
    signed = counter_bits.signed
    z = (index + 1) * signed(gamma) + signed(state)
    for shift, multiplier in ((30, counter_bits.MIX1), (27, counter_bits.MIX2)):
        z = z ^ ((z >> shift) & ((1 << (64 - shift)) - 1))
        z = z * signed(multiplier)
    z = z ^ ((z >> 31) & ((1 << 33) - 1))
    return ((z >> 10) | 1).to(torch.float64) * 2.0**-53


def _compiled_uniform(index: torch.Tensor, state: int, gamma: int, half: float) -> torch.Tensor:
    return (_source(index, state, gamma) * half).to(torch.float32)


def _compiled_mixture(index, state, gamma, half, gap, shift):
    x = _source(index, state, gamma) * half
    x = torch.where(x.abs() <= gap, torch.zeros_like(x), x)
    return (x + torch.sign(x) * shift).to(torch.float32)


def compiled_contenders(shape: tuple[int, int]) -> dict[str, Callable[[torch.Tensor], object]]:
    index = torch.arange(shape[0] * shape[1], dtype=torch.int64)
    uniform = torch.compile(_compiled_uniform, dynamic=False)
    mixture = torch.compile(_compiled_mixture, dynamic=False)
    uniform_key = counter_bits.key(0, "uniform", "w")
    mixture_key = counter_bits.key(0, "mixture", "w")
    return {
        "compiled counter_uniform_": lambda w: w.view(-1).copy_(
            uniform(index, uniform_key.state, uniform_key.gamma, BOUND)
        ),
        "compiled counter_mixture_": lambda w: w.view(-1).copy_(
            mixture(index, mixture_key.state, mixture_key.gamma, 10.0, 5.0, 0.0)
        ),
    }


# --------------------------------------------------------------------------------------------


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - no load average on this platform
        return "n/a"


def bench(shape: tuple[int, int], rounds: int, use_compile: bool) -> dict:
    w = torch.empty(shape).fill_(0)
    runners = contenders()
    checks = {}
    if use_compile:
        compiled = compiled_contenders(shape)
        started = time.perf_counter()
        for run in compiled.values():
            run(w)  # compile
        compile_s = time.perf_counter() - started
        eager = {
            "compiled counter_uniform_": lambda t: counter_uniform_(t, -BOUND, BOUND, seed=0, stream="w"),
            "compiled counter_mixture_": lambda t: counter_mixture_(t, seed=0, stream="w"),
        }
        for name, run in compiled.items():
            a, b = torch.empty(shape), torch.empty(shape)
            run(a)
            eager[name](b)
            checks[name] = {
                "bit_identical_to_eager": bool(torch.equal(a, b)),
                "elements_that_differ": int((a != b).sum()),
            }
        checks["compile_s"] = compile_s
        runners.update(compiled)
    names = list(runners)
    for name in names:  # warm-up
        runners[name](w)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            started = time.perf_counter()
            runners[name](w)
            times[name].append(time.perf_counter() - started)
    base = times["uniform_"]
    results = {}
    for name in names:
        ratios = [t / b for t, b in zip(times[name], base, strict=True)]
        results[name] = {
            "median_ms": 1e3 * statistics.median(times[name]),
            "min_ms": 1e3 * min(times[name]),
            "ratio_median": statistics.median(ratios),
            "ratio_min": min(times[name]) / min(base),
            "times_s": times[name],
        }
    return {"results": results, "checks": checks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="512 x 512, 3 rounds")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd kernels")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    shape = (512, 512) if args.quick else (4096, 4096)
    rounds = args.rounds or (3 if args.quick else 15)

    print(
        f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs, {platform.machine()}"
    )
    load_before = load()
    out = bench(shape, rounds, args.compile)
    load_after = load()
    print(f"{shape[0]} x {shape[1]} float32, {rounds} rounds")
    print(f"load average before: {load_before}; after: {load_after}")
    print(f"{'contender':<28}{'median ms':>10}{'min ms':>9}{'ratio':>8}{'(min)':>8}")
    for name, r in out["results"].items():
        print(
            f"{name:<28}{r['median_ms']:>10.1f}{r['min_ms']:>9.1f}"
            f"{r['ratio_median']:>7.2f}x{r['ratio_min']:>7.2f}x"
        )
    for name, check in out["checks"].items():
        print(f"{name}: {check}")
    for name, target in TARGETS.items():
        ratio = out["results"][name]["ratio_median"]
        verdict = "PASS" if ratio <= target else "MISS"
        print(f"target {name} <= {target}x uniform_: {verdict} ({ratio:.2f}x)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "torch": torch.__version__,
            "capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "shape": shape,
            "rounds": rounds,
            "load_before": load_before,
            "load_after": load_after,
            **out,
        }
        args.json.write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
