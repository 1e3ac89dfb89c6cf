"""Benchmark paraminit's samplers against `torch.nn.init.uniform_` and the chapter's masked version.

Run from the repository root:

    .venv/bin/python benchmarks/bench_init.py                # full run (about a minute or two)
    .venv/bin/python benchmarks/bench_init.py --quick        # smoke run, small sizes (< 20 s)
    .venv/bin/python benchmarks/bench_init.py --json benchmarks/results/run.json

Four measurements, one function each:

1. `bench_time`: time to fill one float32 matrix with `uniform_(-10, 10)` (the baseline),
   `mixture_`, `counter_mixture_` (the seeded mixture, the same on every machine) and the
   chapter's `uniform_` + `w.data *= w.data.abs() >= 5`.
   The contenders are interleaved (one call each per round, the order rotating every round) and
   reported as ratios to the baseline within this run, so slow phases of a shared machine hit
   every contender alike.
2. `bench_memory`: peak memory of each contender's temporaries, from `ru_maxrss` in a separate
   process per contender (torch's CPU allocations are invisible to tracemalloc).
3. `bench_model`: a ~1e8-parameter model initialized with `apply_rules`, built eagerly (PyTorch's
   default init, then ours) or on the meta device (`to_empty`, then ours); time and peak RSS.
4. `environment`: torch version, threads, CPUs.

Correctness checks (the memory method sees a `clone()`, the models really are initialized and
identical) set the exit status; performance targets are printed as PASS/FAIL and only change the
exit status with `--strict`.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

try:
    from paraminit import Rule, apply_rules, counter_mixture_, mixture_
except ImportError:  # a checkout without `pip install -e .`: use its src/ directly
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from paraminit import Rule, apply_rules, counter_mixture_, mixture_

try:
    import resource
except ImportError:  # Windows: no getrusage, the memory measurements are skipped
    resource = None  # type: ignore[assignment]

MIB = 1024 * 1024

# Targets (ratio to uniform_ for time, fraction of the weight's size for memory).
TIME_TARGETS = {"mixture_": 1.15, "counter_mixture_": 1.2}
MEMORY_TARGET_MIXTURE = 0.1
# The memory method must see a full copy of the weight as ~1.0x of it.
CLONE_SANITY = (0.9, 1.1)


# --------------------------------------------------------------------------------------------
# Contenders: each fills `w` (a float32 tensor) in place.
# --------------------------------------------------------------------------------------------


def init_uniform(w: torch.Tensor) -> None:
    """The baseline: one `uniform_` pass, what any init costs at least."""
    nn.init.uniform_(w, -10.0, 10.0)


def init_mixture(w: torch.Tensor) -> None:
    mixture_(w)


def init_counter_mixture(w: torch.Tensor) -> None:
    counter_mixture_(w, seed=0, stream="w")


def init_chapter(w: torch.Tensor) -> None:
    """The chapter's version: `abs()` makes a float temporary, `>= 5` a bool one."""
    nn.init.uniform_(w, -10, 10)
    w.data *= w.data.abs() >= 5


def clone_sanity(w: torch.Tensor) -> None:
    """Not an init: a full-size temporary, to check that the memory method sees one."""
    w.clone()


CONTENDERS: dict[str, Callable[[torch.Tensor], None]] = {
    "uniform_": init_uniform,
    "mixture_": init_mixture,
    "counter_mixture_": init_counter_mixture,
    "chapter": init_chapter,
}
MEMORY_CONTENDERS: dict[str, Callable[[torch.Tensor], None]] = {
    **CONTENDERS,
    "clone (sanity)": clone_sanity,
}
EXPECTED_ZEROS = {"uniform_": 0.0, "mixture_": 0.5, "counter_mixture_": 0.5, "chapter": 0.5}


# --------------------------------------------------------------------------------------------
# Helpers: memory readings and running a function in its own process.
# --------------------------------------------------------------------------------------------


def maxrss_kib() -> int:
    """Peak resident set size of this process so far, in KiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB on Linux


def current_rss_kib() -> int | None:
    """Resident set size now, in KiB (Linux only; None elsewhere)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _child_entry(conn: Any, target: Callable[..., Any], args: tuple) -> None:
    try:
        conn.send(("ok", target(*args)))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def run_in_child(ctx: Any, target: Callable[..., Any], *args: Any) -> Any:
    """Run `target(*args)` in a new process and return its result; its peak RSS is its own."""
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child_entry, args=(sender, target, args))
    process.start()
    sender.close()
    try:
        status, value = receiver.recv()
    except EOFError:
        process.join()
        raise RuntimeError(f"child process died (exit code {process.exitcode})") from None
    process.join()
    if status != "ok":
        raise RuntimeError(f"child process failed:\n{value}")
    return value


def make_context() -> Any:
    """Processes for the memory and model measurements.

    `forkserver` imports torch once in a server process that never runs a parallel op, then forks a
    fresh child per measurement: each child has its own peak RSS, and none pays the seconds of
    `import torch`. Where forkserver is missing, `spawn` does the same, slower.

    `MALLOC_MMAP_THRESHOLD_` pins glibc's threshold at its default 128 KiB (it otherwise grows after
    a large free), so every buffer above it is mmapped and unmapped when freed: resident memory
    then follows live allocations and a temporary cannot hide in memory freed earlier.
    """
    os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", str(128 * 1024))
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["__main__", "torch", "paraminit"])
        return ctx
    return multiprocessing.get_context("spawn")


def rotations(names: list[str], rounds: int) -> list[list[str]]:
    """The order of each round: the list rotated by one each time, so no contender always leads."""
    return [names[r % len(names) :] + names[: r % len(names)] for r in range(rounds)]


# --------------------------------------------------------------------------------------------
# 1. Time
# --------------------------------------------------------------------------------------------


def bench_time(shape: tuple[int, int], rounds: int, warmup: int = 2) -> dict[str, Any]:
    """Per-contender times over interleaved rounds, and ratios to `uniform_` from the same run."""
    w = torch.empty(shape)
    w.fill_(0)  # touch the pages once, so that no contender pays the first-touch faults
    names = list(CONTENDERS)
    times: dict[str, list[float]] = {name: [] for name in names}
    for index, order in enumerate(rotations(names, warmup + rounds)):
        for name in order:
            start = time.perf_counter()
            CONTENDERS[name](w)
            elapsed = time.perf_counter() - start
            if index >= warmup:
                times[name].append(elapsed)

    base = times["uniform_"]
    results: dict[str, Any] = {}
    for name in names:
        CONTENDERS[name](w)
        zeros = float((w == 0).sum()) / w.numel()
        per_round = [t / b for t, b in zip(times[name], base, strict=True)]
        results[name] = {
            "times_s": times[name],
            "median_s": statistics.median(times[name]),
            "min_s": min(times[name]),
            "max_s": max(times[name]),
            # Median over rounds of (this contender / uniform_ in the same round): a slow phase of
            # the machine that spans a round cancels out.
            "ratio_median": statistics.median(per_round),
            "ratio_min": min(times[name]) / min(base),
            "zero_fraction": zeros,
            "output_ok": abs(zeros - EXPECTED_ZEROS[name]) < 0.02 and not w.isnan().any().item(),
        }
        target = TIME_TARGETS.get(name)
        if target is not None:
            results[name]["target"] = target
            results[name]["pass"] = results[name]["ratio_median"] <= target
    return {"shape": list(shape), "rounds": rounds, "warmup_rounds": warmup, "contenders": results}


# --------------------------------------------------------------------------------------------
# 2. Peak memory of temporaries
# --------------------------------------------------------------------------------------------


def _memory_child(name: str, shape: tuple[int, int], repeats: int) -> dict[str, Any]:
    fn = MEMORY_CONTENDERS[name]
    numel = shape[0] * shape[1]
    # Warm up on a tensor an eighth the size: loads the code pages and starts the threads, below
    # the weight's own footprint so that this peak does not mask the one measured below.
    fn(torch.empty(max(1, numel // 8)))
    before_weight = maxrss_kib()
    w = torch.empty(shape)
    w.fill_(0)
    base = maxrss_kib()
    now = current_rss_kib()
    for _ in range(repeats):
        fn(w)
    peak = maxrss_kib()
    return {
        "weight_kib": base - before_weight,
        "extra_kib": peak - base,
        # An earlier peak above the current RSS would hide temporaries smaller than this gap.
        "slack_kib": None if now is None else max(0, base - now),
    }


def bench_memory(ctx: Any, shape: tuple[int, int], repeats: int = 2) -> dict[str, Any]:
    """Peak extra RSS of each contender (beyond the weight), one fresh process per contender."""
    weight_mib = shape[0] * shape[1] * 4 / MIB
    results: dict[str, Any] = {}
    for name in MEMORY_CONTENDERS:
        raw = run_in_child(ctx, _memory_child, name, shape, repeats)
        extra_mib = raw["extra_kib"] / 1024
        results[name] = {
            "extra_mib": extra_mib,
            "fraction_of_weight": extra_mib / weight_mib,
            "measured_weight_mib": raw["weight_kib"] / 1024,
            "slack_mib": None if raw["slack_kib"] is None else raw["slack_kib"] / 1024,
        }
    clone = results["clone (sanity)"]["fraction_of_weight"]
    mixture = results["mixture_"]["fraction_of_weight"]
    return {
        "shape": list(shape),
        "weight_mib": weight_mib,
        "repeats": repeats,
        "contenders": results,
        "sanity_ok": CLONE_SANITY[0] <= clone <= CLONE_SANITY[1],
        "mixture_target": MEMORY_TARGET_MIXTURE,
        "mixture_pass": mixture < MEMORY_TARGET_MIXTURE,
    }


# --------------------------------------------------------------------------------------------
# 3. A whole model: eager vs meta
# --------------------------------------------------------------------------------------------


def build_model(width: int, depth: int) -> nn.Sequential:
    return nn.Sequential(*[nn.Linear(width, width) for _ in range(depth)])


def model_rules() -> list[Rule]:
    return [Rule(mixture_, module=nn.Linear, param="weight"), Rule(nn.init.zeros_, param="bias")]


def verify_model(model: nn.Module) -> dict[str, Any]:
    """Check that the weights follow the mixture and the biases are zero; digest all parameters."""
    zeros = total = nans = 0
    low, high = float("inf"), 0.0
    biases_zero = True
    digest: Any = hashlib.sha256()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("weight"):
                zeros += int((param == 0).sum())
                total += param.numel()
                nans += int(param.isnan().sum())
                nonzero = param[param != 0].abs()
                if nonzero.numel():
                    low, high = min(low, float(nonzero.min())), max(high, float(nonzero.max()))
            else:
                biases_zero = biases_zero and bool((param == 0).all())
            if digest is not None:
                try:
                    digest.update(param.detach().contiguous().numpy().data)
                except RuntimeError:  # torch without NumPy: no digest, no cross-check
                    digest = None
    fraction = zeros / total
    return {
        "zero_fraction": fraction,
        "nan_count": nans,
        "nonzero_abs_min": low,
        "nonzero_abs_max": high,
        "biases_zero": biases_zero,
        "initialized": nans == 0 and abs(fraction - 0.5) < 0.01 and 5 <= low <= high <= 10,
        "digest": None if digest is None else digest.hexdigest(),
    }


def _build(mode: str, width: int, depth: int) -> tuple[nn.Module, float, float]:
    """Build the model in `mode`; return it, the build time and the `to_empty` time."""
    start = time.perf_counter()
    if mode == "eager":
        model = build_model(width, depth)  # runs PyTorch's default init on every layer
        return model, time.perf_counter() - start, 0.0
    with torch.device("meta"):
        model = build_model(width, depth)  # shapes only: no storage, no init
    built = time.perf_counter()
    model.to_empty(device="cpu")  # uninitialized storage
    return model, built - start, time.perf_counter() - built


def _model_child(mode: str, width: int, depth: int, reps: int) -> dict[str, Any]:
    base = maxrss_kib()  # this process after `import torch`
    # First use, on a 1x1 layer: the first `to_empty` from meta imports torch's meta registrations
    # (sympy and all, ~0.4 s and ~40 MiB), once per process. Timed apart so that the model's own
    # cost is not mixed with it.
    start = time.perf_counter()
    apply_rules(_build(mode, 1, 1)[0], model_rules())
    first_use_s = time.perf_counter() - start
    warm = maxrss_kib()

    # `reps` builds in a row, each model freed before the next (so the peak is one model's), and
    # the fastest kept: on a shared machine noise only ever adds time.
    best: dict[str, float] = {}
    for rep in range(reps):
        model, build_s, to_empty_s = _build(mode, width, depth)
        start = time.perf_counter()
        torch.manual_seed(0)  # same draws in both modes, so both models must come out identical
        apply_rules(model, model_rules())
        rules_s = time.perf_counter() - start
        total_s = build_s + to_empty_s + rules_s
        if not best or total_s < best["total_s"]:
            best = {
                "build_s": build_s,
                "to_empty_s": to_empty_s,
                "apply_rules_s": rules_s,
                "total_s": total_s,
            }
        if rep < reps - 1:
            del model
    peak = maxrss_kib()
    return {
        "mode": mode,
        "params": sum(p.numel() for p in model.parameters()),
        "first_use_s": first_use_s,
        "first_use_mib": (warm - base) / 1024,
        **best,
        "peak_extra_mib": (peak - warm) / 1024,
        **verify_model(model),
    }


MODEL_KEYS = (
    "first_use_s",
    "first_use_mib",
    "build_s",
    "to_empty_s",
    "apply_rules_s",
    "total_s",
    "peak_extra_mib",
)


def bench_model(ctx: Any, width: int, depth: int, rounds: int, reps: int) -> dict[str, Any]:
    """Build + init a `depth`-layer MLP eagerly and on meta: `rounds` rounds of one process per
    mode (the order alternating), each process timing `reps` builds and keeping the fastest."""
    runs: dict[str, list[dict[str, Any]]] = {"eager": [], "meta": []}
    for order in rotations(["eager", "meta"], rounds):
        for mode in order:
            runs[mode].append(run_in_child(ctx, _model_child, mode, width, depth, reps))
    summary: dict[str, Any] = {}
    for mode, results in runs.items():
        summary[mode] = {key: statistics.median(r[key] for r in results) for key in MODEL_KEYS}
        summary[mode]["total_s_all"] = [r["total_s"] for r in results]
        summary[mode]["initialized"] = all(r["initialized"] and r["biases_zero"] for r in results)
        summary[mode]["zero_fraction"] = results[0]["zero_fraction"]
        summary[mode]["nonzero_abs_range"] = [
            results[0]["nonzero_abs_min"],
            results[0]["nonzero_abs_max"],
        ]
    per_round = [m["total_s"] / e["total_s"] for m, e in zip(runs["meta"], runs["eager"], strict=True)]
    digests = {r["digest"] for rs in runs.values() for r in rs}
    params = runs["eager"][0]["params"]
    return {
        "width": width,
        "depth": depth,
        "params": params,
        "param_mib": params * 4 / MIB,
        "rounds": rounds,
        "reps": reps,
        "eager": summary["eager"],
        "meta": summary["meta"],
        "ratio_meta_over_eager": statistics.median(per_round),
        "ratio_meta_over_eager_all": per_round,
        "identical": None if None in digests else len(digests) == 1,
    }


# --------------------------------------------------------------------------------------------
# 4. Environment
# --------------------------------------------------------------------------------------------


def _paraminit_version() -> str | None:
    try:
        return importlib.metadata.version("paraminit")
    except importlib.metadata.PackageNotFoundError:  # run from src/ without an install
        return None


def environment() -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = None
    return {
        "torch": torch.__version__,
        "paraminit": _paraminit_version(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
    }


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_environment(env: dict[str, Any]) -> None:
    print(
        f"torch {env['torch']}, python {env['python']}, torch threads {env['torch_threads']}, "
        f"CPUs {env['cpu_count']} (usable {env['cpus_usable']})\n{env['platform']}\n"
    )


def print_time(result: dict[str, Any]) -> None:
    rows, cols = result["shape"]
    print(
        f"1. Time, {rows}x{cols} float32 ({result['rounds']} interleaved rounds after "
        f"{result['warmup_rounds']} warm-up)\n   ratio: median over rounds of time / uniform_'s time in "
        "the same round; (min): best time / best uniform_ time"
    )
    print(f"   {'':<18}{'median ms':>10}{'min ms':>9}{'max ms':>9}{'ratio':>8}{'(min)':>8}  target")
    for name, r in result["contenders"].items():
        target = f"<= {r['target']:.2f}x  {verdict(r['pass'])}" if "target" in r else ""
        print(
            f"   {name:<18}{r['median_s'] * 1e3:>10.1f}{r['min_s'] * 1e3:>9.1f}"
            f"{r['max_s'] * 1e3:>9.1f}{r['ratio_median']:>7.2f}x{r['ratio_min']:>7.2f}x  {target}"
        )
    zeros = ", ".join(f"{n} {r['zero_fraction']:.3f}" for n, r in result["contenders"].items())
    print(f"   fraction of zeros in the output: {zeros}\n")


def print_memory(result: dict[str, Any]) -> None:
    rows, cols = result["shape"]
    print(
        f"2. Peak extra memory, {rows}x{cols} float32 (weight {result['weight_mib']:.0f} MiB; "
        f"ru_maxrss delta, fresh process each, {result['repeats']} calls)"
    )
    print(f"   {'':<18}{'extra MiB':>10}{'x weight':>10}  (weight seen as MiB, slack MiB)")
    for name, r in result["contenders"].items():
        slack = "n/a" if r["slack_mib"] is None else f"{r['slack_mib']:.1f}"
        note = ""
        if name == "mixture_":
            note = f"  target < {result['mixture_target']}x  {verdict(result['mixture_pass'])}"
        elif name == "clone (sanity)":
            low, high = CLONE_SANITY
            note = f"  method check {low}-{high}x  {verdict(result['sanity_ok'])}"
        print(
            f"   {name:<18}{r['extra_mib']:>10.1f}{r['fraction_of_weight']:>9.2f}x"
            f"  ({r['measured_weight_mib']:.1f}, {slack}){note}"
        )
    print()


def print_model(result: dict[str, Any]) -> None:
    print(
        f"3. Model: {result['depth']} x nn.Linear({result['width']}, {result['width']}), "
        f"{result['params'] / 1e6:.1f}M parameters ({result['param_mib']:.0f} MiB), "
        f"apply_rules(mixture_ / zeros_)\n   {result['rounds']} round(s) of one process per mode; "
        f"each keeps its best of {result['reps']} build(s); median over rounds\n   peak = ru_maxrss "
        "delta over the process after `import torch` and a 1x1 first use (1st use columns)"
    )
    print(
        f"   {'':<7}{'build s':>9}{'to_empty s':>12}{'rules s':>9}{'total s':>9}"
        f"{'peak MiB':>10}{'x params':>10}{'1st use s':>11}{'MiB':>5}  zeros  |w|!=0 range"
    )
    for mode in ("eager", "meta"):
        r = result[mode]
        low, high = r["nonzero_abs_range"]
        print(
            f"   {mode:<7}{r['build_s']:>9.3f}{r['to_empty_s']:>12.3f}{r['apply_rules_s']:>9.3f}"
            f"{r['total_s']:>9.3f}{r['peak_extra_mib']:>10.0f}"
            f"{r['peak_extra_mib'] / result['param_mib']:>9.2f}x"
            f"{r['first_use_s']:>11.3f}{r['first_use_mib']:>5.0f}  {r['zero_fraction']:.3f}"
            f"  [{low:.2f}, {high:.2f}]  initialized {verdict(r['initialized'])}"
        )
    identical = {None: "n/a (no NumPy)", True: "PASS", False: "FAIL"}[result["identical"]]
    rounds = ", ".join(f"{x:.2f}" for x in result["ratio_meta_over_eager_all"])
    print(
        f"   meta / eager total time: {result['ratio_meta_over_eager']:.2f}x "
        f"(median of the per-round ratios {rounds})"
    )
    print(f"   all runs' parameters bit-identical (same seed): {identical}\n")


def summarize(results: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(correctness failures, performance-target failures)."""
    broken, slow = [], []
    for name, r in results["time"]["contenders"].items():
        if not r["output_ok"]:
            broken.append(f"time: {name} output has the wrong fraction of zeros or NaN")
        if not r.get("pass", True):
            slow.append(f"time: {name} {r['ratio_median']:.2f}x > {r['target']}x")
    memory = results.get("memory")
    if memory is not None:
        if not memory["sanity_ok"]:
            broken.append("memory: the method does not see a clone() as ~1.0x the weight")
        if not memory["mixture_pass"]:
            frac = memory["contenders"]["mixture_"]["fraction_of_weight"]
            slow.append(f"memory: mixture_ {frac:.2f}x >= {memory['mixture_target']}x")
    model = results["model"]
    for mode in ("eager", "meta"):
        if not model[mode]["initialized"]:
            broken.append(f"model: {mode} weights are not mixture-distributed / biases not zero")
    if model["identical"] is False:
        broken.append("model: eager and meta runs gave different parameters")
    return broken, slow


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds (< 20 s)")
    parser.add_argument("--json", metavar="PATH", help="also write the results to PATH")
    parser.add_argument("--rounds", type=int, help="timing rounds (default 24, quick 8)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a performance target fails too")
    args = parser.parse_args(argv)

    size = 1024 if args.quick else 4096
    width, depth = (512, 6) if args.quick else (4096, 6)
    rounds = args.rounds or (8 if args.quick else 24)
    model_rounds, model_reps = (1, 1) if args.quick else (3, 3)

    started = time.perf_counter()
    results: dict[str, Any] = {"quick": args.quick, "environment": environment()}
    print_environment(results["environment"])

    # The child processes run first and one at a time, so that nothing else competes with the
    # timing loop in this process.
    ctx = make_context()
    if resource is not None:
        results["memory"] = bench_memory(ctx, (size, size))
    results["model"] = bench_model(ctx, width, depth, model_rounds, model_reps)
    results["time"] = bench_time((size, size), rounds)

    print_time(results["time"])
    if "memory" in results:
        print_memory(results["memory"])
    else:
        print("2. Peak extra memory: skipped (no `resource` module on this platform)\n")
    print_model(results["model"])

    broken, slow = summarize(results)
    results["correctness_failures"], results["target_failures"] = broken, slow
    results["wall_s"] = time.perf_counter() - started
    for line in broken:
        print(f"CHECK FAILED  {line}")
    for line in slow:
        print(f"TARGET MISSED {line}")
    print(f"done in {results['wall_s']:.1f} s")

    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"results written to {path}")
    return 1 if broken or (args.strict and slow) else 0


if __name__ == "__main__":
    sys.exit(main())
