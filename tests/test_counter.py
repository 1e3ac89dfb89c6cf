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
from paraminit import LazyParameterError, counter_mixture_, counter_normal_, counter_uniform_

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


def test_kernel_reproduces_splitmix64_reference_outputs():
    """State 1234567 with SplitMix64's own gamma: Vigna's splitmix64.c gives these five numbers
    (also listed on Rosetta Code, "Pseudo-random numbers/Splitmix64")."""
    work = counter._Work(5, torch.device("cpu"), counter._Key(1234567, counter.GOLDEN_GAMMA), True)
    z = work.counters(5, 0, None)
    t = torch.empty_like(z)
    for shift, multiplier in ((30, counter._MIX1), (27, counter._MIX2)):
        torch.bitwise_right_shift(z, shift, out=t)
        t.bitwise_and_((1 << (64 - shift)) - 1)
        z.bitwise_xor_(t)
        z.mul_(counter._signed(multiplier))
    z.bitwise_xor_(torch.bitwise_right_shift(z, 31).bitwise_and_((1 << 33) - 1))
    expected = [
        6457827717110365317,
        3203168211198807973,
        9817491932198370423,
        4593380528125082431,
        16408922859458223821,
    ]
    assert [v & ref.MASK for v in z.tolist()] == expected
    assert [ref.mix64(ref.counter(1234567, counter.GOLDEN_GAMMA, i)) for i in range(5)] == expected


def test_key_matches_the_reference_and_gammas_are_odd():
    for seed in (0, 1, 2**63 + 5, 2**64 - 1):
        for distribution in counter.DISTRIBUTIONS:
            key = counter._key(seed, distribution, "layer.weight")
            assert (key.state, key.gamma) == ref.key(seed, distribution, "layer.weight")
            assert key.gamma & 1


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


CRAFTED = [1 - 2.0**-53, -(1 - 2.0**-53), 1 - 2.0**-40, -(1 - 2.0**-20), 0.85, 0.8500000000000001, 2.0**-53]


def test_normal_tails_including_the_far_branch_match_the_reference():
    """The far tail (r < e^-25) is too rare to meet at random: feed the transform chosen sources."""
    c = torch.tensor(CRAFTED, dtype=torch.float64)
    z = counter._standard_normal(c.clone())
    assert z.tolist() == [ref.standard_normal(x) for x in CRAFTED]
    assert z[0] == -z[1] and 8.2 < z[0] < 8.3  # the largest |z|: 1 - u = 2^-54


def test_as241_transcription_matches_scipy_ndtri():
    """Against SciPy's (Cephes) inverse normal CDF on the lower half, where `u = (1 + c) / 2` is
    exact; the upper half is the mirror image by construction (tested above)."""
    u = np.concatenate([np.linspace(1e-6, 0.5, 20_001), np.logspace(-16, -2, 300)])
    c = 2 * u - 1
    z = counter._standard_normal(torch.tensor(c, dtype=torch.float64)).cpu().numpy()
    np.testing.assert_allclose(z, special.ndtri((1 + c) / 2), rtol=4e-15, atol=1e-15)


def test_exact_log_and_sqrt_are_within_an_ulp_of_libm():
    x = torch.cat([torch.logspace(-300, 300, 5001, dtype=torch.float64), torch.tensor([0.5, 1.0, 2.0**-54])])
    log, sqrt = counter._log(x.clone()).cpu().numpy(), counter._sqrt(x.clone()).cpu().numpy()
    x = x.cpu().numpy()
    assert log.tolist() == [ref.log(v) for v in x.tolist()]
    assert sqrt.tolist() == [ref.sqrt(v) for v in x.tolist()]
    for got, want in ((log, np.log(x)), (sqrt, np.sqrt(x))):
        ulp = np.spacing(np.abs(want))
        assert np.all(np.abs(got - want) <= ulp), np.max(np.abs(got - want) / ulp)


# ------------------------------------------------------------------------------------------------
# Any split, any layout, any thread count


def test_any_split_of_a_tensor_gives_the_slices_of_the_full_fill(device):
    full = counter_normal_(torch.empty(7, 9, 5, device=device), seed=3)
    for starts, sizes in [
        ((0, 0, 0), (7, 9, 5)),
        ((2, 0, 0), (3, 9, 5)),
        ((1, 4, 2), (6, 5, 3)),
        ((6, 8, 4), (1, 1, 1)),
    ]:
        part = torch.empty(sizes, device=device)
        counter_normal_(part, seed=3, global_shape=(7, 9, 5), global_offset=starts)
        slices = tuple(slice(s, s + n) for s, n in zip(starts, sizes, strict=True))
        assert torch.equal(part, full[slices])


def test_non_contiguous_tensors_are_filled_by_logical_index(device):
    full = counter_mixture_(torch.empty(12, 10, device=device), seed=5)
    transposed = torch.empty(10, 12, device=device).t()
    assert torch.equal(counter_mixture_(transposed, seed=5), full)
    every_other = torch.zeros(12, 20, device=device)[:, ::2]
    assert torch.equal(counter_mixture_(every_other, seed=5), full)


def test_chunk_size_does_not_change_a_value(monkeypatch):
    whole = counter_normal_(torch.empty(5000), seed=1)
    monkeypatch.setattr(counter, "CHUNK_CPU", 333)
    monkeypatch.setattr(counter, "CHUNK_CUDA", 333)
    assert torch.equal(counter_normal_(torch.empty(5000), seed=1), whole)
    assert torch.equal(counter_normal_(torch.empty(50, 100).t(), seed=1), whole.view(100, 50))


def test_thread_count_does_not_change_a_value():
    threads = torch.get_num_threads()
    try:
        results = []
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            w = torch.empty(300, 400)
            counter_normal_(w, seed=4)
            counter_mixture_(w[:, 100:300], seed=4)  # non-contiguous: the scatter path
            results.append(w)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(results[0], results[1]) and torch.equal(results[0], results[2])


def test_streams_seeds_and_distributions_give_different_values():
    base = counter_uniform_(torch.empty(64), seed=0, stream="a")
    assert not torch.equal(base, counter_uniform_(torch.empty(64), seed=0, stream="b"))
    assert not torch.equal(base, counter_uniform_(torch.empty(64), seed=1, stream="a"))
    # uniform and mixture read the same source differently, and their keys differ too
    assert counter._key(0, "uniform", "a") != counter._key(0, "mixture", "a")


# Golden digests: the output of the generator is part of the library's contract (changing it
# changes every model initialized with it). SHA-256 of the float32 bytes of a 256 x 256 fill.
GOLDEN = {
    "uniform": "33d92e75efeacdb66de4e843251d3ddeb1deb4fcc893237d1d5ef2e177fac681",
    "normal": "324a3ba0495e1085662d61409fb2df7609310840ce4d00ccf069eb1a31357501",
    "mixture": "8fb5caf2a2f459d360eac7572b6255932ce9b1189001bbb0776abd601c386df6",
}


@pytest.mark.parametrize("distribution", SAMPLERS)
def test_golden_digests_pin_the_generator(distribution, device):
    sampler, args = SAMPLERS[distribution]
    tensor = sampler(torch.empty(256, 256, device=device), *args, seed=20_240_607, stream="golden")
    digest = hashlib.sha256(tensor.cpu().numpy().tobytes()).hexdigest()
    assert digest == GOLDEN[distribution]


# The script run under ATEN_CPU_CAPABILITY=default. 9,991 elements per fill (and a strided block):
# many full vectors for every vectorized loop, and a remainder for the scalar tail.
DIGEST_SCRIPT = textwrap.dedent(
    """
    import hashlib, torch
    from paraminit import counter_mixture_, counter_normal_, counter_uniform_, mixture_parallel_

    out = [torch.backends.cpu.get_cpu_capability()]
    # Parameters whose products round: a fused multiply-add would show.
    for sampler, args in ((counter_uniform_, (-0.3, 1.1)), (counter_normal_, (0.1, 0.37)),
                          (counter_mixture_, (1.0, 3.0, 0.2))):
        for dtype in (torch.float64, torch.float32, torch.bfloat16):
            w = torch.empty(97, 103, dtype=dtype, device="cpu")
            b = torch.empty(60, 120, dtype=dtype, device="cpu")[:, 20:100]
            sampler(w, *args, seed=11, stream="w")
            sampler(b, *args, seed=11, stream="w")
            data = w.view(torch.uint8).numpy().tobytes()
            data += b.contiguous().view(torch.uint8).numpy().tobytes()
            out.append(hashlib.sha256(data).hexdigest())
    # PyTorch's own generators, for the pages' claim that they differ between CPU kinds.
    torch.manual_seed(0)
    drawn = [torch.nn.init.normal_(torch.empty(97, 103, device="cpu"), std=0.02)]
    torch.manual_seed(0)
    drawn.append(torch.nn.init.uniform_(torch.empty(97, 103, device="cpu"), -0.3, 1.1))
    drawn.append(mixture_parallel_(torch.empty(97, 103, device="cpu"), seed=0))
    out += [hashlib.sha256(w.numpy().tobytes()).hexdigest() for w in drawn]
    print(" ".join(out))
    """
)


DIGESTS = probe("counter-digests", DIGEST_SCRIPT)


def test_bits_are_identical_under_every_cpu_capability(plain_cpu):
    """On the plain code path (ATEN_CPU_CAPABILITY=default, no vector instructions) and here, with
    the machine's best: the same digests for every counter sampler and dtype, and other digests
    for PyTorch's own `normal_` and `uniform_` and for `mixture_parallel_`."""
    here = io.StringIO()
    with contextlib.redirect_stdout(here):
        exec(DIGEST_SCRIPT, {"__name__": "__digests__"})
    best = here.getvalue().split()
    if best[0] == "DEFAULT":
        pytest.skip("this CPU has no vector capability beyond the default: nothing to compare")
    default = plain_cpu[DIGESTS].split()
    assert default[0] == plain_cpu["capability"] == "DEFAULT", default[0]
    assert len(best) == len(default) == 13
    assert best[1:10] == default[1:10]  # the counter samplers: the same bits
    # PyTorch's generators, and mixture_parallel_ built on them, give other bits: what the
    # reproducibility page shows for normal_ and says of uniform_ and mixture_parallel_.
    assert all(b != d for b, d in zip(best[10:], default[10:], strict=True))


# ------------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("sampler", [counter_uniform_, counter_normal_, counter_mixture_])
def test_bad_seeds_and_streams_are_rejected_with_the_value(sampler):
    with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*64\), got -1"):
        sampler(torch.empty(3), seed=-1)
    with pytest.raises(ValueError, match=r"got 18446744073709551616"):
        sampler(torch.empty(3), seed=2**64)
    with pytest.raises(TypeError, match="seed must be an int"):
        sampler(torch.empty(3), seed=1.5)
    with pytest.raises(TypeError, match="seed must be an int"):
        sampler(torch.empty(3), seed=True)
    with pytest.raises(TypeError, match="stream must be a str"):
        sampler(torch.empty(3), seed=0, stream=3)


@pytest.mark.parametrize("sampler", [counter_uniform_, counter_normal_, counter_mixture_])
def test_tensors_that_cannot_be_filled_are_rejected(sampler):
    with pytest.raises(TypeError, match="floating-point"):
        sampler(torch.empty(3, dtype=torch.int64), seed=0)
    with pytest.raises(LazyParameterError):
        sampler(torch.nn.LazyLinear(3).weight, seed=0)
    with pytest.raises(ValueError, match="meta device"):
        sampler(torch.empty(3, device="meta"), seed=0)


def test_blocks_that_do_not_fit_are_rejected():
    with pytest.raises(ValueError, match=r"does not fit .*dimension 1: 3 \+ 4 > 6"):
        counter_uniform_(torch.empty(2, 4), seed=0, global_shape=(5, 6), global_offset=(0, 3))
    with pytest.raises(ValueError, match="one entry per dimension"):
        counter_uniform_(torch.empty(2, 4), seed=0, global_shape=(8,), global_offset=(0,))
    with pytest.raises(ValueError, match="does not fit"):
        counter_uniform_(torch.empty(2), seed=0, global_shape=(5,), global_offset=(-1,))
    with pytest.raises(TypeError, match="global_offset must be a sequence of ints"):
        counter_uniform_(torch.empty(2), seed=0, global_shape=(5,), global_offset=(1.0,))


def test_bad_distribution_parameters_are_rejected():
    with pytest.raises(ValueError, match=r"a <= b, got a=1\.0, b=0\.0"):
        counter_uniform_(torch.empty(3), 1.0, 0.0, seed=0)
    with pytest.raises(ValueError, match="b must be a finite number, got inf"):
        counter_uniform_(torch.empty(3), 0.0, math.inf, seed=0)
    with pytest.raises(ValueError, match=r"std >= 0, got std=-1\.0"):
        counter_normal_(torch.empty(3), std=-1.0, seed=0)
    with pytest.raises(ValueError, match="mean must be a finite number"):
        counter_normal_(torch.empty(3), mean=math.nan, seed=0)
    with pytest.raises(ValueError, match="wrong order"):
        counter_mixture_(torch.empty(3), 10.0, 5.0, seed=0)


def test_edge_cases_fill_what_they_should(device):
    assert counter_uniform_(torch.empty(0, 3, device=device), seed=0).numel() == 0
    scalar = counter_uniform_(torch.empty((), device=device), 2.0, 4.0, seed=0)
    assert 2.0 <= scalar.item() <= 4.0
    assert (counter_uniform_(torch.empty(10, device=device), 3.0, 3.0, seed=0) == 3.0).all()
    assert (counter_mixture_(torch.full((10,), 7.0, device=device), p_zero=1.0, seed=0) == 0).all()
    assert (counter_normal_(torch.empty(10, device=device), 1.5, 0.0, seed=0) == 1.5).all()
    parameter = torch.nn.Parameter(torch.empty(4, 4, device=device))
    assert counter_normal_(parameter, seed=0) is parameter and parameter.grad_fn is None


def test_normal_tails_batched_over_chunks_give_the_same_values(monkeypatch, device):
    """Tails are gathered across chunks and written later: with tiny chunks and batches, several
    batches per fill, the values must not change (contiguous and strided)."""
    whole = counter_normal_(torch.empty(40, 50, device=device), seed=8)
    strided = counter_normal_(torch.empty(50, 40, device=device).t(), seed=8)
    monkeypatch.setattr(counter, "CHUNK_CPU", 97)
    monkeypatch.setattr(counter, "CHUNK_CUDA", 97)
    monkeypatch.setattr(counter, "TAIL_BATCH_CPU", 101)
    monkeypatch.setattr(counter, "TAIL_BATCH_CUDA", 101)
    assert torch.equal(counter_normal_(torch.empty(40, 50, device=device), seed=8), whole)
    assert torch.equal(counter_normal_(torch.empty(50, 40, device=device).t(), seed=8), strided)
    assert torch.equal(strided, whole)


def test_global_shape_may_be_a_torch_size_and_central_only_normals_need_no_tail():
    full = counter_uniform_(torch.empty(4, 3), seed=1)
    part = counter_uniform_(torch.empty(1, 3), seed=1, global_shape=full.shape, global_offset=(2, 0))
    assert torch.equal(part, full[2:3])
    central = [0.1, -0.5, 0.84]
    z = counter._standard_normal(torch.tensor(central, dtype=torch.float64))
    assert z.tolist() == [ref.standard_normal(c) for c in central]
