"""The counter-based samplers: the exact values of the specification, on any device, CPU kind,
thread count, layout and split of the tensor; and clear errors for bad input.

The specification is `counter_reference.py`, a pure-Python model on exact integers. Golden digests
pin the output of a fixed fill, so a change of the generator (which would change every model
initialized with it) cannot pass unnoticed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import textwrap
from pathlib import Path

import counter_reference as ref
import numpy as np
import pytest
import torch
from plain_cpu import probe
from scipy import special

import paraminit.counter as counter
import paraminit.counter_fill as counter_fill
from paraminit import LazyParameterError, counter_mixture_, counter_normal_, counter_uniform_, exact_math
from paraminit import counter_bits as bits
from paraminit._dtensor import Region

ROOT = Path(__file__).parents[1]
SAMPLERS = {
    "uniform": (counter_uniform_, (-0.5, 2.0)),
    "normal": (counter_normal_, (0.25, 3.0)),
    "mixture": (counter_mixture_, (1.0, 3.0, 0.2)),
}
DTYPES = {
    "float64": (torch.float64, torch.int64),
    "float32": (torch.float32, torch.int32),
    "float16": (torch.float16, torch.int16),
    "bfloat16": (torch.bfloat16, torch.int16),
}


def as_bits(tensor: torch.Tensor) -> list[int]:
    return (
        tensor.detach()
        .cpu()
        .contiguous()
        .view(DTYPES[str(tensor.dtype).removeprefix("torch.")][1])
        .view(-1)
        .tolist()
    )


# ------------------------------------------------------------------------------------------------
# The kernel against published values and against the reference


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_kernel_reproduces_splitmix64_reference_outputs(engine):
    """State 1234567 with SplitMix64's own gamma: Vigna's splitmix64.c gives these five numbers
    (also listed on Rosetta Code, "Pseudo-random numbers/Splitmix64"), on both engines."""
    key = bits.Key(1234567, bits.GOLDEN_GAMMA)
    if engine == "numpy":
        z = bits.NumpyBits(key, 5).words(0, 5).tolist()
    else:
        z = bits.TorchBits(key, 5, torch.device("cpu")).words(0, 5).tolist()
    expected = [
        6457827717110365317,
        3203168211198807973,
        9817491932198370423,
        4593380528125082431,
        16408922859458223821,
    ]
    assert [v & ref.MASK for v in z] == expected
    assert [ref.mix64(ref.counter(1234567, bits.GOLDEN_GAMMA, i)) for i in range(5)] == expected


def test_both_engines_give_the_same_words_and_sources():
    key = bits.key(3, "uniform", "w")
    indices = torch.tensor([0, 1, 2**40 + 7, 2**62 + 3, 2**63 - 2])
    on_numpy = bits.NumpyBits(key, 8)
    on_torch = bits.TorchBits(key, 8, torch.device("cpu"))
    assert on_numpy.words_at(indices).tolist() == on_torch.words_at(indices).tolist()
    assert on_numpy.words(2**40, 8).tolist() == on_torch.words(2**40, 8).tolist()
    z = on_numpy.words_at(indices)
    k = on_numpy.odd(z).tolist()
    assert k == on_torch.odd(torch.from_numpy(z)).tolist()
    state, gamma = ref.key(3, "uniform", "w")
    assert [kk * 2.0**-53 for kk in k] == [ref.source(state, gamma, i) for i in indices.tolist()]


def test_key_matches_the_reference_and_gammas_are_odd():
    for seed in (0, 1, 2**63 + 5, 2**64 - 1):
        for distribution in counter.DISTRIBUTIONS:
            key = bits.key(seed, distribution, "layer.weight")
            assert (key.state, key.gamma) == ref.key(seed, distribution, "layer.weight")
            assert key.gamma & 1


def test_gammas_with_fewer_than_24_bit_transitions_get_every_other_bit_flipped():
    """`java.util.SplittableRandom`'s rule for a good gamma, at its threshold: the raw gamma (the
    digest's second word, made odd) is flipped with 0xAAAAAAAAAAAAAAAA when `bitCount(z ^ (z >>> 1))`
    is 23 and kept when it is 25. (That count is odd for every odd `z`, so 23 and 25 are the cases
    either side of "fewer than 24".) About one stream in 70 meets 23, so a fixed set of streams
    could miss it."""
    found: dict[int, tuple[str, int]] = {}
    for i in range(10_000):  # 23 turns up by about i = 70, 25 by about i = 7
        stream = f"layer{i}.weight"
        message = (7).to_bytes(8, "little") + b"normal\0" + stream.encode()
        raw = int.from_bytes(hashlib.blake2b(message, digest_size=16).digest()[8:], "little") | 1
        found.setdefault((raw ^ (raw >> 1)).bit_count(), (stream, raw))
        if 23 in found and 25 in found:
            break
    else:
        pytest.fail(f"no stream with 23 or 25 transitions among 10000: {sorted(found)}")
    for transitions, expected in ((23, found[23][1] ^ 0xAAAAAAAAAAAAAAAA), (25, found[25][1])):
        stream = found[transitions][0]
        key = bits.key(7, "normal", stream)
        assert key.gamma == expected and key.gamma & 1
        assert (key.state, key.gamma) == ref.key(7, "normal", stream)


def test_the_spacing_of_normal_floats_is_their_ulp():
    """The subnormal checks bound the smallest magnitude a fill computes by float64 spacings."""
    for value in (1.0, -3.0, 2.0**-1000, 1.5 * 2.0**-1022, 1e300, 0.1):
        assert counter._ulp(value) == math.ulp(value)
    assert counter._smallest_sum(1.0, 2.0**-60) == math.ulp(2.0**-60)
    assert counter._smallest_sum(0.0, 3.0) == math.ulp(3.0)  # a zero term adds no spacing


def test_signed_reads_64_bits_as_the_int64_that_torch_stores():
    """The torch engine passes its 64-bit constants to int64 tensors: the top bit is the sign."""
    values = (0, 5, 2**63 - 1, 2**63, 2**64 - 1, 2**64 + 5)
    assert [bits.signed(v) for v in values] == [0, 5, 2**63 - 1, -(2**63), -1, 5]


def test_a_whole_tensor_or_a_block_of_whole_rows_is_one_run_of_indices():
    """The fill reads the words of one run of consecutive global indices with one addition per
    element; only a block that cuts the trailing dims needs the index of every element."""

    def runs(shape, global_shape, offset):
        return bits.layout(Region(torch.empty(shape), global_shape, offset))

    assert runs((6, 4, 5), (6, 4, 5), (0, 0, 0)) == bits.Layout(120, 120, (), (), 0)
    assert runs((2, 4, 5), (6, 4, 5), (3, 0, 0)) == bits.Layout(40, 40, (), (), 60)
    assert runs((2, 2, 5), (6, 4, 5), (3, 1, 0)) == bits.Layout(20, 10, (2,), (20,), 65)
    assert runs((), (), ()) == bits.Layout(1, 1, (), (), 0)


# Global indices far beyond 2^32, and blocks at offsets in several dimensions.
BLOCKS = [
    pytest.param((1000,), (1000,), (0,), id="whole-1d"),
    pytest.param((300,), (2**41,), (2**40 + 7,), id="offset-2^40"),
    pytest.param((4, 50), (2**20, 2**21), (2**19 - 3, 2**20 + 1), id="2d-block-offset-2^39"),
    pytest.param((3, 4, 25), (5, 6, 25), (1, 2, 0), id="3d-block"),
]


@pytest.mark.parametrize("distribution", SAMPLERS)
@pytest.mark.parametrize(("shape", "global_shape", "offset"), BLOCKS)
def test_values_match_the_pure_python_reference_bit_for_bit(
    distribution, shape, global_shape, offset, device
):
    sampler, args = SAMPLERS[distribution]
    seed = 2**64 - 3 if len(shape) == 3 else 12345
    tensor = torch.empty(shape, dtype=torch.float64, device=device)
    sampler(tensor, *args, seed=seed, stream="w", global_shape=global_shape, global_offset=offset)
    strides = [math.prod(global_shape[d + 1 :]) for d in range(len(shape))]
    indices = [
        sum((o + i) * s for o, i, s in zip(offset, position, strides, strict=True))
        for position in np.ndindex(*shape)
    ]
    assert as_bits(tensor) == ref.fill(distribution, args, seed, "w", indices, "float64")
    # The sample covers counters with the top bit set: negative as int64.
    state, gamma = ref.key(seed, distribution, "w")
    assert any(ref.counter(state, gamma, i) >> 63 for i in indices)
    assert any(not ref.counter(state, gamma, i) >> 63 for i in indices)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("distribution", SAMPLERS)
def test_every_dtype_is_the_float64_value_rounded(distribution, dtype, device):
    sampler, args = SAMPLERS[distribution]
    tensor = sampler(torch.empty(700, dtype=DTYPES[dtype][0], device=device), *args, seed=99, stream="s")
    assert as_bits(tensor) == ref.fill(distribution, args, 99, "s", range(700), dtype)


def _bfloat16_once(values: np.ndarray) -> np.ndarray:
    """float64 values in bfloat16's normal range rounded once to bfloat16 (nearest, ties to even),
    on the float64 bits: keep the top 7 of the 52 stored mantissa bits."""
    bits = values.view(np.int64)
    halfway = np.int64((1 << 44) - 1) + ((bits >> 45) & 1)
    return (((bits + halfway) >> 45) << 45).view(np.float64)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_fills_are_the_float64_fill_rounded_once(dtype, device):
    """Rounding to float32 first and then to half precision differs from one rounding when the
    float64 value lies just beyond a half-precision midpoint: about one value in 8,000 here."""
    wide = counter_uniform_(
        torch.empty(1 << 20, dtype=torch.float64, device=device), 1.0, 2.0, seed=5, stream="h"
    )
    half = counter_uniform_(torch.empty(1 << 20, dtype=dtype, device=device), 1.0, 2.0, seed=5, stream="h")
    values = wide.cpu().numpy()
    once = values.astype(np.float16) if dtype == torch.float16 else _bfloat16_once(values)
    assert np.array_equal(half.cpu().double().numpy(), once.astype(np.float64))
    twice = torch.from_numpy(values).float().to(dtype).double().numpy()
    assert not np.array_equal(twice, once.astype(np.float64))  # the case that tells them apart occurs


def test_ziggurat_tables_match_the_reference_and_close_at_the_top():
    exact_math.ziggurat.cache_clear()  # computed here, not read from an earlier test's cache
    zig = exact_math.ziggurat()
    assert list(zig.x) == ref.X and list(zig.f) == ref.F
    assert zig.k_max.tolist() == ref.K_MAX
    assert zig.width.tolist() == [x * 2.0**-53 for x in ref.X[: ref.LAYERS]]
    # The recurrence's last layer reaches f = 1 to within rounding: each layer has area v.
    assert abs(zig.closure) < 1e-13
    r, v = exact_math.ZIGGURAT_R, exact_math.ZIGGURAT_V
    expected_v = r * math.exp(-r * r / 2) + math.sqrt(math.pi / 2) * special.erfc(r / math.sqrt(2))
    assert v == pytest.approx(expected_v, rel=1e-15)
    assert 1.0 / r == exact_math.ZIGGURAT_INV_R
    assert all(a > b for a, b in zip(zig.x[1:], zig.x[2:], strict=False))  # layers narrow upwards
    # The fast test keeps 99.57% of draws: the mean of the layers' x_{i+1} / x_i.
    assert round(float(np.mean(zig.k_max / 2.0**53)), 4) == 0.9957


def test_the_normals_values_stay_below_12_62():
    """The tail method keeps r + a only when 2 b > a^2, and b = -log(u_2) is largest for the
    smallest uniform, 2^-53: so |z| < r + sqrt(2 b_max)."""
    b_max = -exact_math.log(2.0**-53)
    assert exact_math.ZIGGURAT_R + math.sqrt(2 * b_max) < counter.NORMAL_BOUND == 12.62
    assert max(exact_math.ziggurat().x) < exact_math.ZIGGURAT_R + 0.3  # the layers stay near r


def _rare_indices(seed: int, stream: str, n: int) -> tuple[list[int], list[int]]:
    """Global indices below `n` whose first draw the fast test rejects: in a wedge, in the tail."""
    zig = exact_math.ziggurat()
    z = bits.NumpyBits(bits.key(seed, "normal", stream), n).words(0, n)
    layer = z & (exact_math.LAYERS - 1)
    k = np.abs((z >> 10) | 1)
    rejected = np.flatnonzero(k >= zig.k_max[layer])
    return rejected[layer[rejected] > 0].tolist(), rejected[layer[rejected] == 0].tolist()


def test_the_normals_wedges_and_tail_match_the_reference(device):
    """The 0.43% of draws that the fast test rejects, in a fill and one by one, bit for bit."""
    n = 500_000
    wedges, tails = _rare_indices(9, "t", n)
    assert len(wedges) > 500 and len(tails) > 20
    full = counter_normal_(torch.empty(n, dtype=torch.float64, device=device), seed=9, stream="t")
    picked = wedges[:300] + tails
    expected = ref.fill("normal", (0.0, 1.0), 9, "t", picked, "float64")
    assert as_bits(full[picked]) == expected
    alone = [
        counter_normal_(
            torch.empty(1, dtype=torch.float64, device=device),
            seed=9,
            stream="t",
            global_shape=(n,),
            global_offset=(i,),
        ).item()
        for i in tails
    ]
    assert alone == full[tails].tolist()
    assert (full[tails].abs() > exact_math.ZIGGURAT_R).sum() > 0.8 * len(tails)


def test_exact_functions_are_within_an_ulp_of_libm_and_match_the_reference():
    x = torch.cat([torch.logspace(-300, 300, 5001, dtype=torch.float64), torch.tensor([0.5, 1.0, 2.0**-54])])
    log, sqrt = exact_math.log(x.clone()).numpy(), exact_math.sqrt(x.clone()).numpy()
    e = torch.linspace(-708, 708, 20_001, dtype=torch.float64)
    exp = exact_math.exp(e).numpy()
    assert log.tolist() == [ref.log(v) for v in x.tolist()]
    assert sqrt.tolist() == [ref.sqrt(v) for v in x.tolist()]
    assert exp.tolist() == [ref.exp(v) for v in e.tolist()]
    assert [exact_math.exp(v) for v in e[::100].tolist()] == exp[::100].tolist()  # floats too
    x, e = x.numpy(), e.numpy()
    for got, want in ((log, np.log(x)), (sqrt, np.sqrt(x)), (exp, np.exp(e))):
        ulp = np.spacing(np.abs(want))
        assert np.all(np.abs(got - want) <= ulp), np.max(np.abs(got - want) / ulp)


def test_rounding_to_half_precision_is_one_rounding_on_crafted_values():
    """Just beyond a midpoint: one rounding goes up, two (through float32) go down to even."""
    values = torch.tensor(
        [1 + 2**-11 + 2**-40, -(1 + 2**-11 + 2**-40), 1 + 2**-8 + 2**-40, 2.0**-150, -(2.0**-130)],
        dtype=torch.float64,
    )
    half = exact_math.round_half(values.double(), torch.float16).double().tolist()
    brain = exact_math.round_half(values.double(), torch.bfloat16).double().tolist()
    assert half[:2] == [1 + 2**-10, -(1 + 2**-10)]
    assert brain[2] == 1 + 2**-7
    assert brain[3:] == [0.0, -(2.0**-130)]  # bfloat16 keeps 2^-130 (a subnormal), not 2^-150
    assert [ref.round_to(v, "bfloat16") for v in values.double().tolist()] == (
        exact_math.round_half(values.double(), torch.bfloat16).view(torch.int16).tolist()
    )


# ------------------------------------------------------------------------------------------------
# Any split, any layout, any thread count


def test_any_split_of_a_tensor_gives_the_slices_of_the_full_fill(device):
    full = counter_normal_(torch.empty(7, 9, 5, device=device), seed=3, stream="w")
    for starts, sizes in [
        ((0, 0, 0), (7, 9, 5)),
        ((2, 0, 0), (3, 9, 5)),
        ((1, 4, 2), (6, 5, 3)),
        ((6, 8, 4), (1, 1, 1)),
    ]:
        part = torch.empty(sizes, device=device)
        counter_normal_(part, seed=3, stream="w", global_shape=(7, 9, 5), global_offset=starts)
        slices = tuple(slice(s, s + n) for s, n in zip(starts, sizes, strict=True))
        assert torch.equal(part, full[slices])


def test_non_contiguous_tensors_are_filled_by_logical_index(device):
    full = counter_mixture_(torch.empty(12, 10, device=device), seed=5, stream="w")
    transposed = torch.empty(10, 12, device=device).t()
    assert torch.equal(counter_mixture_(transposed, seed=5, stream="w"), full)
    every_other = torch.zeros(12, 20, device=device)[:, ::2]
    assert torch.equal(counter_mixture_(every_other, seed=5, stream="w"), full)


def test_chunk_size_does_not_change_a_value(monkeypatch):
    whole = counter_normal_(torch.empty(5000), seed=1, stream="w")
    monkeypatch.setattr(counter_fill, "CHUNK_CPU", 333)
    monkeypatch.setattr(counter_fill, "CHUNK_CUDA", 333)
    assert torch.equal(counter_normal_(torch.empty(5000), seed=1, stream="w"), whole)
    assert torch.equal(counter_normal_(torch.empty(50, 100).t(), seed=1, stream="w"), whole.view(100, 50))


def test_thread_count_does_not_change_a_value():
    threads = torch.get_num_threads()
    try:
        results = []
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            w = torch.empty(300, 400)
            counter_normal_(w, seed=4, stream="w")
            counter_mixture_(w[:, 100:300], seed=4, stream="w")  # non-contiguous: the scatter path
            results.append(w)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(results[0], results[1]) and torch.equal(results[0], results[2])


def test_streams_seeds_and_distributions_give_different_values():
    base = counter_uniform_(torch.empty(64), seed=0, stream="a")
    assert not torch.equal(base, counter_uniform_(torch.empty(64), seed=0, stream="b"))
    assert not torch.equal(base, counter_uniform_(torch.empty(64), seed=1, stream="a"))
    # uniform and mixture read the same source differently, and their keys differ too
    assert bits.key(0, "uniform", "a") != bits.key(0, "mixture", "a")


# Golden digests: the output of the generator is part of the library's contract (changing it
# changes every model initialized with it). SHA-256 of the float32 bytes of a 256 x 256 fill.
GOLDEN = {
    "uniform": "33d92e75efeacdb66de4e843251d3ddeb1deb4fcc893237d1d5ef2e177fac681",
    "normal": "a210399d7d2a1149fd315469bdae4e84df56ee6a92b528b74100162acf6a60f0",
    "mixture": "8fb5caf2a2f459d360eac7572b6255932ce9b1189001bbb0776abd601c386df6",
}


@pytest.mark.parametrize("distribution", SAMPLERS)
def test_golden_digests_pin_the_generator(distribution, device):
    sampler, args = SAMPLERS[distribution]
    tensor = sampler(torch.empty(256, 256, device=device), *args, seed=20_240_607, stream="golden")
    digest = hashlib.sha256(tensor.cpu().numpy().tobytes()).hexdigest()
    assert digest == GOLDEN[distribution]


# The script run under ATEN_CPU_CAPABILITY=default. 9,991 elements per fill (and a strided block):
# many full vectors for every vectorized loop, and a remainder for the scalar tail. Every public
# function that takes a `seed` and fills a tensor is run, so a seeded sampler added later is held
# to the same promise.
DIGEST_SCRIPT = textwrap.dedent(
    """
    import hashlib, inspect, json, torch
    import paraminit

    def digest(*tensors):
        data = b"".join(t.contiguous().view(torch.uint8).numpy().tobytes() for t in tensors)
        return hashlib.sha256(data).hexdigest()

    # Parameters whose products round: a fused multiply-add would show.
    ARGS = {"counter_uniform_": (-0.3, 1.1), "counter_normal_": (0.1, 0.37),
            "counter_mixture_": (1.0, 3.0, 0.2)}
    out = {"capability": torch.backends.cpu.get_cpu_capability(), "seeded": {}}
    for name in paraminit.__all__:
        function = getattr(paraminit, name)
        parameters = inspect.signature(function).parameters if inspect.isfunction(function) else {}
        if "seed" not in parameters or next(iter(parameters)) != "tensor":
            continue
        stream = {"stream": "w"} if "stream" in parameters else {}
        for dtype in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
            w = torch.empty(97, 103, dtype=dtype, device="cpu")
            b = torch.empty(60, 120, dtype=dtype, device="cpu")[:, 20:100]
            function(w, *ARGS.get(name, ()), seed=11, **stream)
            try:  # a strided block, where the sampler takes one
                function(b, *ARGS.get(name, ()), seed=11, **stream)
            except ValueError:
                b = w
            out["seeded"][f"{name}:{dtype}"] = digest(w, b)
    # PyTorch's own generators, for the pages' claim that they differ between CPU kinds.
    torch.manual_seed(0)
    normal = torch.nn.init.normal_(torch.empty(97, 103, device="cpu"), std=0.02)
    torch.manual_seed(0)
    uniform = torch.nn.init.uniform_(torch.empty(97, 103, device="cpu"), -0.3, 1.1)
    out["torch"] = [digest(normal), digest(uniform)]
    print(json.dumps(out))
    """
)


DIGESTS = probe("counter-digests", DIGEST_SCRIPT)


def test_every_public_seeded_sampler_gives_the_same_bits_under_every_cpu_capability(plain_cpu):
    """On the plain code paths (ATEN_CPU_CAPABILITY=default, and NumPy without its dispatched
    instructions) and here, with the machine's best: the same digests for every public sampler
    that takes a seed, in every dtype; and other digests for PyTorch's own `normal_` and
    `uniform_`."""
    here = io.StringIO()
    with contextlib.redirect_stdout(here):
        exec(DIGEST_SCRIPT, {"__name__": "__digests__"})
    best = json.loads(here.getvalue())
    if best["capability"] == "DEFAULT":
        pytest.skip("this CPU has no vector capability beyond the default: nothing to compare")
    default = json.loads(plain_cpu[DIGESTS])
    assert default["capability"] == plain_cpu["capability"] == "DEFAULT"
    assert plain_cpu["numpy_features"] == []  # NumPy on its baseline too
    names = {key.split(":")[0] for key in best["seeded"]}
    assert {"counter_uniform_", "counter_normal_", "counter_mixture_"} <= names
    different = sorted(k for k in best["seeded"] if best["seeded"][k] != default["seeded"][k])
    assert not different, f"other bits under ATEN_CPU_CAPABILITY=default: {different}"
    # PyTorch's generators give other bits: what the reproducibility page shows for normal_ and
    # says of uniform_.
    assert all(b != d for b, d in zip(best["torch"], default["torch"], strict=True))


# ------------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("sampler", [counter_uniform_, counter_normal_, counter_mixture_])
def test_bad_seeds_and_streams_are_rejected_with_the_value(sampler):
    with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*64\), got -1"):
        sampler(torch.empty(3), seed=-1, stream="w")
    with pytest.raises(ValueError, match=r"got 18446744073709551616"):
        sampler(torch.empty(3), seed=2**64, stream="w")
    with pytest.raises(TypeError, match="seed must be an int"):
        sampler(torch.empty(3), seed=1.5, stream="w")
    with pytest.raises(TypeError, match="seed must be an int"):
        sampler(torch.empty(3), seed=True, stream="w")
    with pytest.raises(TypeError, match="stream must be a str"):
        sampler(torch.empty(3), seed=0, stream=3)


@pytest.mark.parametrize("sampler", [counter_uniform_, counter_normal_, counter_mixture_])
def test_tensors_that_cannot_be_filled_are_rejected(sampler):
    with pytest.raises(TypeError, match="floating-point"):
        sampler(torch.empty(3, dtype=torch.int64), seed=0, stream="w")
    with pytest.raises(LazyParameterError):
        sampler(torch.nn.LazyLinear(3).weight, seed=0, stream="w")
    with pytest.raises(ValueError, match="meta device"):
        sampler(torch.empty(3, device="meta"), seed=0, stream="w")


def test_blocks_that_do_not_fit_are_rejected():
    with pytest.raises(ValueError, match=r"does not fit .*dimension 1: 3 \+ 4 > 6"):
        counter_uniform_(torch.empty(2, 4), seed=0, stream="w", global_shape=(5, 6), global_offset=(0, 3))
    with pytest.raises(ValueError, match="one entry per dimension"):
        counter_uniform_(torch.empty(2, 4), seed=0, stream="w", global_shape=(8,), global_offset=(0,))
    with pytest.raises(ValueError, match="does not fit"):
        counter_uniform_(torch.empty(2), seed=0, stream="w", global_shape=(5,), global_offset=(-1,))
    with pytest.raises(TypeError, match="global_offset must be a sequence of ints"):
        counter_uniform_(torch.empty(2), seed=0, stream="w", global_shape=(5,), global_offset=(1.0,))


def test_bad_distribution_parameters_are_rejected():
    with pytest.raises(ValueError, match=r"a <= b, got a=1\.0, b=0\.0"):
        counter_uniform_(torch.empty(3), 1.0, 0.0, seed=0, stream="w")
    with pytest.raises(ValueError, match="b must be finite, got inf"):
        counter_uniform_(torch.empty(3), 0.0, math.inf, seed=0, stream="w")
    with pytest.raises(ValueError, match=r"std >= 0, got std=-1\.0"):
        counter_normal_(torch.empty(3), std=-1.0, seed=0, stream="w")
    with pytest.raises(ValueError, match="mean must be finite, got nan"):
        counter_normal_(torch.empty(3), mean=math.nan, seed=0, stream="w")
    with pytest.raises(ValueError, match="wrong order"):
        counter_mixture_(torch.empty(3), 10.0, 5.0, seed=0, stream="w")


def test_edge_cases_fill_what_they_should(device):
    assert counter_uniform_(torch.empty(0, 3, device=device), seed=0, stream="w").numel() == 0
    scalar = counter_uniform_(torch.empty((), device=device), 2.0, 4.0, seed=0, stream="w")
    first = counter_uniform_(torch.empty(3, device=device), 2.0, 4.0, seed=0, stream="w")[0]
    assert 2.0 <= scalar.item() <= 4.0 and scalar.item() == first.item()  # element 0
    assert (counter_uniform_(torch.empty(10, device=device), 3.0, 3.0, seed=0, stream="w") == 3.0).all()
    assert (
        counter_mixture_(torch.full((10,), 7.0, device=device), p_zero=1.0, seed=0, stream="w") == 0
    ).all()
    assert (counter_normal_(torch.empty(10, device=device), 1.5, 0.0, seed=0, stream="w") == 1.5).all()
    parameter = torch.nn.Parameter(torch.empty(4, 4, device=device))
    assert counter_normal_(parameter, seed=0, stream="w") is parameter and parameter.grad_fn is None


def test_normal_tails_batched_over_chunks_give_the_same_values(monkeypatch, device):
    """Tails are gathered across chunks and written later: with tiny chunks and batches, several
    batches per fill, the values must not change (contiguous and strided)."""
    whole = counter_normal_(torch.empty(40, 50, device=device), seed=8, stream="w")
    strided = counter_normal_(torch.empty(50, 40, device=device).t(), seed=8, stream="w")
    monkeypatch.setattr(counter_fill, "CHUNK_CPU", 97)
    monkeypatch.setattr(counter_fill, "CHUNK_CUDA", 97)
    monkeypatch.setattr(counter_fill, "TAIL_BATCH_CPU", 3)
    monkeypatch.setattr(counter_fill, "TAIL_BATCH_CUDA", 3)
    assert torch.equal(counter_normal_(torch.empty(40, 50, device=device), seed=8, stream="w"), whole)
    assert torch.equal(counter_normal_(torch.empty(50, 40, device=device).t(), seed=8, stream="w"), strided)
    assert torch.equal(strided, whole)


def test_global_shape_may_be_a_torch_size():
    full = counter_uniform_(torch.empty(4, 3), seed=1, stream="w")
    part = counter_uniform_(
        torch.empty(1, 3), seed=1, stream="w", global_shape=full.shape, global_offset=(2, 0)
    )
    assert torch.equal(part, full[2:3])


# ------------------------------------------------------------------------------------------------
# The torch code of other devices, run on the CPU: the same bits as NumPy's


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("distribution", SAMPLERS)
def test_the_torch_engine_gives_the_numpy_engines_bits(distribution, dtype, monkeypatch):
    sampler, args = SAMPLERS[distribution]

    def fills() -> list[torch.Tensor]:
        whole = sampler(torch.empty(300, 401, dtype=dtype), *args, seed=6, stream="e")
        strided = sampler(torch.empty(401, 300, dtype=dtype).t(), *args, seed=6, stream="e")
        block = sampler(
            torch.empty(7, 401, dtype=dtype),
            *args,
            seed=6,
            stream="e",
            global_shape=(300, 401),
            global_offset=(50, 0),
        )
        return [whole, strided, block]

    on_numpy = fills()
    monkeypatch.setattr(counter_fill, "NUMPY_ON_CPU", False)
    monkeypatch.setattr(counter_fill, "TAIL_BATCH_CPU", 50)  # several batches of the normal's rare draws
    on_torch = fills()
    for a, b in zip(on_numpy, on_torch, strict=True):
        assert torch.equal(
            a.view(torch.int16) if dtype == torch.bfloat16 else a,
            b.view(torch.int16) if dtype == torch.bfloat16 else b,
        )
    assert torch.equal(on_numpy[0], on_numpy[1]) and torch.equal(on_numpy[2], on_numpy[0][50:57])
