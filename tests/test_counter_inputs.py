"""The counter-based samplers at the edges of their input: bounds near a dtype's limits, intervals a
few ulps wide, huge global shapes, odd scalars and streams, overlapping tensors, flush-to-zero and
torch.compile. Each either gives values that keep the documented promise or raises an error that
names the problem before anything is written.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from paraminit import counter_mixture_, counter_normal_, counter_uniform_

SAMPLERS = (counter_uniform_, counter_normal_, counter_mixture_)
DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)


def rounded(value: float, dtype: torch.dtype) -> float:
    """`value` rounded once to `dtype` (numpy and the struct module round float64 to half once)."""
    if dtype == torch.float64:
        return value
    if dtype == torch.float32:
        return float(np.float32(value))
    if dtype == torch.float16:
        return float(np.float16(value))
    return _bfloat16(value)


def _bfloat16(value: float) -> float:
    """Round-to-nearest-even to 8 significant bits with float32's exponent range, on exact integers."""
    if value == 0.0 or not math.isfinite(value):
        return value
    exponent = math.frexp(abs(value))[1]  # |value| in [2^(exponent - 1), 2^exponent)
    step_exponent = max(exponent - 8, -133)  # spacing of bfloat16 numbers near value
    scaled = math.ldexp(abs(value), -step_exponent)  # exact: a power-of-two scaling
    whole = math.floor(scaled)
    rest = scaled - whole
    if rest > 0.5 or (rest == 0.5 and whole % 2):
        whole += 1
    return math.copysign(math.ldexp(whole, step_exponent), value)


def fill(sampler, dtype, *args, n=4096, **kwargs):
    return sampler(torch.empty(n, dtype=dtype), *args, seed=kwargs.pop("seed", 0), stream="w", **kwargs)


# ------------------------------------------------------------------------------------------------
# Bounds that the dtype cannot hold


@pytest.mark.parametrize(
    ("dtype", "a", "b", "message"),
    [
        (torch.float32, 0.0, 1e39, r"b=1e\+39 is beyond the largest float32 value 3\.40282e\+38"),
        (torch.float16, -1e5, 1e5, r"a=-100000\.0 is beyond the largest float16 value 65504"),
        (torch.float16, 0.0, 65520.0, r"b=65520\.0 is beyond the largest float16 value 65504"),
        (torch.bfloat16, 0.0, 3.4e38, r"b=3\.4e\+38 is beyond the largest bfloat16 value"),
    ],
)
def test_uniform_bounds_that_round_to_infinity_are_refused(dtype, a, b, message):
    tensor = torch.full((10,), 7.0, dtype=dtype)
    with pytest.raises(ValueError, match=message):
        counter_uniform_(tensor, a, b, seed=0, stream="w")
    assert (tensor == 7.0).all()  # refused before anything was written
    with pytest.raises(RuntimeError):  # as nn.init.uniform_ refuses them
        torch.nn.init.uniform_(tensor, a, b)


def test_uniform_over_nearly_all_of_float64_gives_finite_values_within_the_bounds():
    w = fill(counter_uniform_, torch.float64, -1e308, 1e308)
    assert torch.isfinite(w).all() and w.min() >= -1e308 and w.max() <= 1e308
    assert w.min() < -9e307 and w.max() > 9e307
    top = fill(counter_uniform_, torch.float64, 1.7e308, 1.79e308)
    assert torch.isfinite(top).all() and top.min() >= 1.7e308 and top.max() <= 1.79e308


def test_uniform_just_below_the_float16_limit_is_finite():
    w = fill(counter_uniform_, torch.float16, -65519.0, 65519.0)
    assert torch.isfinite(w).all() and w.abs().max() <= 65504


@pytest.mark.parametrize(
    ("dtype", "args", "message"),
    [
        (torch.float16, (7e4, 8e4), r"outer=80000\.0 is beyond the largest float16 value 65504"),
        (torch.float16, (1e-8, 2e-8), r"outer=2e-08 is below the smallest normal float16 value"),
        (torch.float32, (1.0, 1.00000001), r"inner=1\.0 and outer=1\.00000001 are the same float32 value 1"),
    ],
)
def test_mixture_bounds_that_the_dtype_cannot_hold_are_refused_like_mixture_(dtype, args, message):
    tensor = torch.full((10,), 7.0, dtype=dtype)
    with pytest.raises(ValueError, match="counter_mixture_\\(\\) " + message):
        counter_mixture_(tensor, *args, seed=0, stream="w")
    assert (tensor == 7.0).all()


def test_mixture_with_slabs_near_the_float64_limit_is_finite_and_in_its_slabs():
    w = fill(counter_mixture_, torch.float64, 0.0, 1.7e308, 0.5)
    assert torch.isfinite(w).all()
    assert ((w == 0) | (w.abs() <= 1.7e308)).all()
    assert 0.4 < (w == 0).double().mean() < 0.6
    w = fill(counter_mixture_, torch.float64, 1e308, 1.7e308, 0.99)
    assert torch.isfinite(w).all() and ((w == 0) | ((w.abs() >= 1e308) & (w.abs() <= 1.7e308))).all()


@pytest.mark.parametrize(
    ("dtype", "mean", "std", "message"),
    [
        (torch.float64, 1e308, 1e308, r"mean=1e\+308, std=1e\+308 give values past the float64 range"),
        (torch.float32, 0.0, 1e38, r"beyond the largest float32 value"),
        (torch.float16, 0.0, 1e4, r"beyond the largest float16 value 65504"),
        (torch.float16, 7e4, 0.0, r"beyond the largest float16 value 65504"),
    ],
)
def test_normal_parameters_whose_values_can_overflow_are_refused(dtype, mean, std, message):
    tensor = torch.full((10,), 7.0, dtype=dtype)
    with pytest.raises(ValueError, match=message):
        counter_normal_(tensor, mean, std, seed=0, stream="w")
    assert (tensor == 7.0).all()


def test_normal_with_a_huge_but_safe_std_is_finite():
    w = fill(counter_normal_, torch.float64, 0.0, 1e306, n=100_000)
    assert torch.isfinite(w).all() and w.abs().max() > 1e306


# ------------------------------------------------------------------------------------------------
# Every value inside the interval


def ulps_above(a: float, count: int, dtype: torch.dtype) -> float:
    values = torch.tensor([a], dtype=dtype)
    for _ in range(count):
        values = torch.nextafter(values, torch.tensor([math.inf], dtype=dtype))
    return values.item()


STARTS = (1.0, -1.0, 0.75, -3.0, 2.0**-10, 1000.0, -(2.0**-3))


@pytest.mark.parametrize("dtype", DTYPES)
def test_uniform_stays_in_intervals_a_few_ulps_wide(dtype):
    """Every start, every width from 0 to 8 ulps of the dtype: no value below a or above b."""
    for a in STARTS:
        for count in range(9):
            b = ulps_above(a, count, dtype)
            w = fill(counter_uniform_, dtype, a, b, n=2048, seed=count)
            assert w.min().item() >= a and w.max().item() <= b, (a, b, dtype)
            if count:  # and the interval is used, not collapsed onto one endpoint
                assert w.unique().numel() > 1 or count == 1


@given(
    st.sampled_from(DTYPES),
    st.floats(-1e4, 1e4, allow_nan=False),
    st.one_of(st.floats(0.0, 1e4, allow_nan=False), st.integers(0, 12)),
    st.integers(0, 2**64 - 1),
)
@example(torch.float64, 1.0, 1, 0)  # the midpoint of [1, 1 + 2^-52] rounds down to 1
@example(torch.float64, 3.0, 5, 0)
@example(torch.float32, 1.0, 1.1920928955078125e-07, 0)  # 1 ulp of float32
def test_uniform_values_lie_between_the_bounds_rounded_to_the_dtype(dtype, a, width, seed):
    """`width` is a float, or a number of float64 ulps: intervals far narrower than the dtype's."""
    b = ulps_above(a, width, torch.float64) if isinstance(width, int) else a + width
    w = counter_uniform_(torch.empty(257, dtype=dtype), a, b, seed=seed, stream="w")
    assert w.min().item() >= rounded(a, dtype) and w.max().item() <= rounded(b, dtype)


@given(
    st.sampled_from(DTYPES),
    st.floats(0.0, 100.0, allow_nan=False),
    st.floats(1e-3, 100.0, allow_nan=False),
    st.floats(0.0, 1.0),
    st.integers(0, 2**64 - 1),
)
def test_mixture_values_are_zero_or_in_the_slabs_rounded_to_the_dtype(dtype, a, width, p, seed):
    b = a + width
    if rounded(a, dtype) == rounded(b, dtype):
        return  # refused: the slabs would have no width (tested above)
    w = counter_mixture_(torch.empty(257, dtype=dtype), a, b, p, seed=seed, stream="w").abs()
    nonzero = w[w != 0]
    assert (nonzero >= rounded(a, dtype)).all() and (nonzero <= rounded(b, dtype)).all()


# ------------------------------------------------------------------------------------------------
# Global indices


def test_a_global_tensor_beyond_2_to_the_63_elements_is_refused():
    with pytest.raises(ValueError, match=r"global_shape \(4611686018427387904, 8\) has 2\*\*65 elements"):
        counter_uniform_(
            torch.empty(1, 8), seed=0, stream="w", global_shape=(2**62, 8), global_offset=(2**61, 0)
        )
    with pytest.raises(ValueError, match=r"has 2\*\*63 elements"):
        counter_uniform_(
            torch.empty(2, 4)[:, ::2], seed=0, stream="w", global_shape=(2**62, 2), global_offset=(0, 0)
        )


def test_the_last_elements_below_2_to_the_63_are_filled_from_their_own_indices():
    n = 2**63 - 1
    last = counter_uniform_(torch.empty(3), seed=0, stream="w", global_shape=(n,), global_offset=(n - 3,))
    first = counter_uniform_(torch.empty(3), seed=0, stream="w", global_shape=(n,), global_offset=(0,))
    assert not torch.equal(last, first)
    strided = counter_uniform_(
        torch.empty(3, 2)[:, :1], seed=0, stream="w", global_shape=(n // 7, 7), global_offset=(n // 7 - 3, 0)
    )
    assert torch.isfinite(strided).all()


# ------------------------------------------------------------------------------------------------
# Zeros, overlapping tensors, flush-to-zero


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_zero_width_interval_fills_its_bound_with_the_bounds_sign(dtype):
    zero = fill(counter_uniform_, dtype, 0.0, 0.0)
    assert (zero == 0).all() and not torch.signbit(zero).any()
    negative_zero = fill(counter_uniform_, dtype, -0.0, -0.0)
    assert torch.signbit(negative_zero).all()
    still = fill(counter_normal_, dtype, 0.0, 0.0)
    assert (still == 0).all() and not torch.signbit(still).any()
    assert not torch.signbit(torch.nn.init.uniform_(torch.empty(10, dtype=dtype), 0.0, 0.0)).any()


def test_a_negative_value_that_rounds_to_zero_is_negative_zero():
    wide = fill(counter_uniform_, torch.float64, -1e-7, 1e-7)
    half = fill(counter_uniform_, torch.float16, -1e-7, 1e-7)  # below 3e-8: zero in float16
    zeros = half == 0
    assert zeros.any()
    assert torch.equal(torch.signbit(half[zeros]), wide[zeros] < 0)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_tensors_whose_elements_overlap_in_memory_are_refused(sampler):
    base = torch.zeros(3)
    with pytest.raises(ValueError, match=r"more than one element .* the same memory"):
        sampler(base.expand(4, 3), seed=0, stream="w")
    with pytest.raises(ValueError, match=r"more than one element .* the same memory"):
        sampler(torch.zeros(9).as_strided((3, 3), (1, 1)), seed=0, stream="w")
    assert (base == 0).all()
    with pytest.raises(RuntimeError, match="single memory location"):  # as nn.init refuses it
        torch.nn.init.uniform_(base.expand(4, 3))


def test_an_overlap_that_only_three_dims_together_make_is_refused():
    """Strides (1, 2, 3) over sizes (2, 2, 2): each pair of dims nests, but element (1, 1, 0) and
    element (0, 0, 1) are both at offset 3. Strides (1, 2, 4) are a permuted contiguous tensor."""
    overlapping = torch.zeros(8).as_strided((2, 2, 2), (1, 2, 3))
    with pytest.raises(ValueError, match=r"strides \(1, 2, 3\), in which more than one element"):
        counter_uniform_(overlapping, seed=0, stream="w")
    nested = torch.zeros(8).as_strided((2, 2, 2), (1, 2, 4))
    expected = counter_uniform_(torch.empty(2, 2, 2), seed=0, stream="w")
    assert torch.equal(counter_uniform_(nested, seed=0, stream="w"), expected)


def test_a_dimension_of_size_one_with_stride_zero_is_no_overlap():
    """A dim of size one may have any stride, 0 included: no two elements share memory."""
    tensor = torch.zeros(3).as_strided((1, 3), (0, 1))
    expected = counter_uniform_(torch.empty(1, 3), seed=0, stream="w")
    assert torch.equal(counter_uniform_(tensor, seed=0, stream="w"), expected)


# The float64 bounds from which a value rounds to infinity: halfway between the largest value and
# the next power of two (a tie, rounded to even: up).
ROUNDS_TO_INFINITY = [
    pytest.param(torch.float32, 2.0**128 - 2.0**103, id="float32"),
    pytest.param(torch.bfloat16, 2.0**128 - 2.0**119, id="bfloat16"),
    pytest.param(torch.float16, 65520.0, id="float16"),
]


@pytest.mark.parametrize(("dtype", "edge"), ROUNDS_TO_INFINITY)
def test_bounds_from_halfway_past_the_largest_value_are_refused_and_those_below_are_not(dtype, edge):
    with pytest.raises(ValueError, match=r"is beyond the largest"):
        counter_uniform_(torch.empty(4, dtype=dtype), 0.0, edge, seed=0, stream="w")
    below = counter_uniform_(
        torch.empty(1000, dtype=dtype), 0.0, math.nextafter(edge, 0.0), seed=0, stream="w"
    )
    assert torch.isfinite(below).all()


def test_tensors_with_gaps_or_unusual_strides_are_still_filled():
    full = counter_uniform_(torch.empty(3, 4), seed=0, stream="w")
    gaps = torch.zeros(30).as_strided((3, 4), (10, 2))
    assert torch.equal(counter_uniform_(gaps, seed=0, stream="w"), full)
    interleaved = torch.zeros(24).as_strided((3, 4), (1, 6))  # transposed with gaps
    assert torch.equal(counter_uniform_(interleaved, seed=0, stream="w"), full)


@pytest.fixture
def flush_denormal():
    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU cannot flush subnormal numbers to zero")
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


SUBNORMAL_FILLS = [
    pytest.param(counter_uniform_, torch.float64, (-1e-307, 1e-307), id="uniform-float64"),
    pytest.param(counter_uniform_, torch.float32, (-1e-37, 1e-37), id="uniform-float32"),
    pytest.param(counter_uniform_, torch.bfloat16, (-1e-37, 1e-37), id="uniform-bfloat16"),
    pytest.param(counter_normal_, torch.float32, (0.0, 1e-38), id="normal-float32"),
    pytest.param(counter_mixture_, torch.float32, (0.0, 1e-37, 0.5), id="mixture-float32"),
]


@pytest.mark.parametrize(("sampler", "dtype", "args"), SUBNORMAL_FILLS)
def test_fills_with_subnormal_values_are_refused_under_flush_to_zero(sampler, dtype, args, flush_denormal):
    tensor = torch.full((10,), 7.0, dtype=dtype)
    with pytest.raises(ValueError, match=r"torch\.set_flush_denormal\(True\)"):
        sampler(tensor, *args, seed=0, stream="w")
    assert (tensor == 7.0).all()


@pytest.mark.parametrize(("sampler", "dtype", "args"), SUBNORMAL_FILLS)
def test_fills_with_subnormal_values_are_exact_without_flush_to_zero(sampler, dtype, args):
    w = sampler(torch.empty(20_000, dtype=dtype), *args, seed=0, stream="w")
    tiny = torch.finfo(dtype).tiny
    assert ((w != 0) & (w.abs() < tiny)).any()  # some values are subnormal, as IEEE 754 rounds them


# A fill is refused under flush-to-zero when its lower bound on the nonzero magnitudes it computes
# is below the smallest normal number, and accepted, with the same bits, when the bound is at or
# above it. Uniform with a < 0 < b, h = 2^-21 and m = 2^-30: the bound is the ulp of h 2^-53, at
# the edge (2^-126). Mixture with no zeros (p = 0): the smallest |x| = h 2^-53; with inner > 0:
# inner; with bounds so wide that h overflows, the fill runs at half scale.
H, M = 2.0**-21, 2.0**-30
# Normal: |z| >= x_1023 2^-53 (layer 1023, k = +-1), so std x_1023 2^-53 bounds the values; here
# STD times that is float32's smallest normal.
STD = 2.0**-126 / (0.13506355863523245 * 2.0**-53)
EDGES_ACCEPTED = [
    pytest.param(counter_uniform_, torch.float32, (M - H, M + H), id="uniform-ulp-is-tiny"),
    pytest.param(counter_uniform_, torch.float32, (0.0, 2.0**-29), id="uniform-from-zero"),
    pytest.param(counter_normal_, torch.float32, (0.0, 1.01 * STD), id="normal-smallest-z-1.01-tiny"),
    pytest.param(counter_uniform_, torch.float32, (-(2.0**-29), 0.0), id="uniform-to-zero"),
    pytest.param(counter_mixture_, torch.float32, (0.0, 1.5 * 2.0**-73, 0.0), id="mixture-x-1.5-tiny"),
    pytest.param(counter_mixture_, torch.float32, (2.0**-23, 2.0**-22, 0.5), id="mixture-inner"),
    pytest.param(counter_mixture_, torch.bfloat16, (2.0**-23, 2.0**-22, 0.5), id="mixture-inner-bf16"),
    pytest.param(counter_mixture_, torch.float64, (6e-308, 1.7e308, 0.5), id="mixture-half-scale"),
]


@pytest.mark.parametrize(("sampler", "dtype", "args"), EDGES_ACCEPTED)
def test_fills_whose_magnitudes_stay_normal_are_filled_alike_under_flush_to_zero(
    sampler, dtype, args, flush_denormal
):
    flushed = sampler(torch.empty(20_000, dtype=dtype), *args, seed=0, stream="w")
    torch.set_flush_denormal(False)
    assert torch.equal(flushed, sampler(torch.empty(20_000, dtype=dtype), *args, seed=0, stream="w"))


# Fills whose values reach a subnormal number only at k = +-1 (one index in 2^52), so no sample
# shows one, refused all the same: U(0, 2h) gives h 2^-53 = 0.75 * 2^-126 in float32; U(m - h, m + h)
# with m = 2^-1021 and h 2^-53 = 1.5 * 2^-1022 gives m - h 2^-53 = 2^-1023 in float64.
RARE_SUBNORMALS = [
    pytest.param(torch.float32, (0.0, 1.5 * 2.0**-73), id="float32-from-zero"),
    pytest.param(
        torch.float64, (2.0**-1021 - 1.5 * 2.0**-969, 2.0**-1021 + 1.5 * 2.0**-969), id="float64-cancel"
    ),
]


@pytest.mark.parametrize(("dtype", "bounds"), RARE_SUBNORMALS)
def test_uniforms_that_reach_a_subnormal_value_at_one_index_are_refused_under_flush_to_zero(
    dtype, bounds, flush_denormal
):
    tensor = torch.full((10,), 7.0, dtype=dtype)
    with pytest.raises(ValueError) as caught:
        counter_uniform_(tensor, *bounds, seed=0, stream="w")
    tiny = torch.finfo(dtype).tiny
    assert str(caught.value).startswith(
        f"counter_uniform_() U({bounds[0]!r}, {bounds[1]!r}) can give values below {tiny:g}"
    )
    assert "torch.set_flush_denormal(True) is in effect" in str(caught.value)
    assert (tensor == 7.0).all()


def test_a_constant_fill_below_the_smallest_normal_is_refused_under_flush_to_zero_and_zero_is_not(
    flush_denormal,
):
    tensor = torch.full((10,), 7.0)
    with pytest.raises(ValueError) as caught:
        counter_uniform_(tensor, 1e-40, 1e-40, seed=0, stream="w")
    assert str(caught.value).startswith(
        "counter_uniform_() a=b=1e-40 can give values below 1.17549e-38, the smallest normal float32 "
        "number, and torch.set_flush_denormal(True) is in effect"
    )
    assert (tensor == 7.0).all()
    assert (counter_uniform_(tensor, 0.0, 0.0, seed=0, stream="w") == 0).all()


def test_a_normal_whose_smallest_value_is_subnormal_is_refused_under_flush_to_zero(flush_denormal):
    tensor = torch.full((10,), 7.0)
    std = 0.9 * STD  # std x_1023 2^-53 = 0.9 * 2^-126
    with pytest.raises(ValueError) as caught:
        counter_normal_(tensor, 0.0, std, seed=0, stream="w")
    assert str(caught.value).startswith(
        f"counter_normal_() mean=0.0, std={std!r} can give values below 1.17549e-38, the smallest normal "
        "float32 number, and torch.set_flush_denormal(True) is in effect"
    )
    with pytest.raises(ValueError) as caught:
        counter_normal_(tensor, 1e-40, 0.0, seed=0, stream="w")  # the constant mean
    assert str(caught.value).startswith("counter_normal_() mean=1e-40 can give values below 1.17549e-38,")
    assert (tensor == 7.0).all()
    assert (counter_normal_(tensor, 0.0, 0.0, seed=0, stream="w") == 0).all()


def test_a_half_precision_fill_is_held_to_float64s_smallest_normal_under_flush_to_zero(flush_denormal):
    """Half precision is rounded from float64 in software: only float64 arithmetic is flushed."""
    tensor = torch.full((10,), 7.0, dtype=torch.float16)
    with pytest.raises(ValueError) as caught:
        counter_uniform_(tensor, -1e-300, 1e-300, seed=0, stream="w")
    assert str(caught.value) == (
        "counter_uniform_() U(-1e-300, 1e-300) can give values below 2.22507e-308, the smallest normal "
        "float64 number, and torch.set_flush_denormal(True) is in effect: such values would be flushed "
        "to zero instead of rounded, and differ from every other machine's. Call "
        "torch.set_flush_denormal(False) around the fill, or use bounds farther from zero"
    )
    assert (tensor == 7.0).all()


def test_a_mixture_whose_smallest_step_is_subnormal_is_refused_under_flush_to_zero(flush_denormal):
    tensor = torch.full((10,), 7.0)
    b = 0.75 * 2.0**-73  # |x| = h 2^-53 = 0.75 * 2^-126 for k = +-1: below float32's smallest normal
    with pytest.raises(ValueError) as caught:
        counter_mixture_(tensor, 0.0, b, 0.0, seed=0, stream="w")
    assert str(caught.value).startswith(
        f"counter_mixture_() inner=0.0, outer={b!r} can give values below 1.17549e-38, the smallest "
        "normal float32 number, and torch.set_flush_denormal(True) is in effect"
    )
    assert (tensor == 7.0).all()


@pytest.mark.parametrize(
    ("sampler", "args"),
    [(counter_uniform_, (-0.02, 0.02)), (counter_normal_, (0.0, 0.02)), (counter_mixture_, ())],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_ordinary_fills_give_the_same_bits_under_flush_to_zero(sampler, args, dtype):
    plain = sampler(torch.empty(20_000, dtype=dtype), *args, seed=0, stream="w")
    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU cannot flush subnormal numbers to zero")
    try:
        flushed = sampler(torch.empty(20_000, dtype=dtype), *args, seed=0, stream="w")
    finally:
        torch.set_flush_denormal(False)
    assert torch.equal(plain, flushed)


# ------------------------------------------------------------------------------------------------
# Scalars, streams and calls


@pytest.mark.parametrize(
    "value", [np.float32(0.5), np.float64(0.5), np.int64(0), torch.tensor(0.5), torch.tensor(0.5).double()]
)
def test_real_scalars_of_numpy_and_torch_are_accepted_like_floats(value):
    expected = counter_uniform_(torch.empty(50), float(value), 1.0, seed=0, stream="w")
    assert torch.equal(counter_uniform_(torch.empty(50), value, 1.0, seed=0, stream="w"), expected)
    normal = counter_normal_(torch.empty(50), 0.0, value, seed=0, stream="w")
    assert torch.equal(normal, counter_normal_(torch.empty(50), 0.0, float(value), seed=0, stream="w"))


def test_mixture_accepts_numpy_and_torch_scalars():
    expected = counter_mixture_(torch.empty(50), 1.0, 3.0, 0.25, seed=0, stream="w")
    got = counter_mixture_(
        torch.empty(50), np.float32(1.0), torch.tensor(3.0), np.float64(0.25), seed=0, stream="w"
    )
    assert torch.equal(got, expected)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (True, TypeError, r"a must be a real number, got True \(bool\)"),
        (np.bool_(True), TypeError, r"a must be a real number, got .*True.* \(bool_?\)"),
        (1 + 2j, TypeError, r"a must be a real number, got \(1\+2j\) \(complex\)"),
        (torch.tensor([0.5, 1.0]), TypeError, r"a must be a real number or a 0-d tensor, got a tensor of "),
        (torch.tensor(True), TypeError, r"a must be a real number, got a bool tensor"),
        (torch.tensor(1j), TypeError, r"a must be a real number, got a complex64 tensor"),
        ("0.5", TypeError, r"a must be a real number, got '0\.5' \(str\)"),
        (math.nan, ValueError, r"a must be finite, got nan"),
        (-(10**400), ValueError, r"a must be finite, got an int of 1329 bits \(beyond float64\)"),
    ],
)
def test_bad_scalars_are_refused_with_what_they_are(value, error, message):
    with pytest.raises(error, match="counter_uniform_\\(\\) " + message):
        counter_uniform_(torch.empty(3), value, 1.0, seed=0, stream="w")


def test_a_bound_too_large_for_a_float_is_refused_by_name():
    with pytest.raises(ValueError, match=r"b must be finite, got an int of 1329 bits \(beyond float64\)"):
        counter_uniform_(torch.empty(3), 0, 10**400, seed=0, stream="w")
    with pytest.raises(ValueError, match=r"std must be finite"):
        counter_normal_(torch.empty(3), 0.0, 10**400, seed=0, stream="w")
    with pytest.raises(ValueError, match=r"outer must be finite"):
        counter_mixture_(torch.empty(3), 1.0, 10**400, seed=0, stream="w")


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_a_stream_utf8_cannot_encode_is_refused_by_name(sampler):
    with pytest.raises(ValueError, match=r"stream must be text that UTF-8 can encode .*'\\ud800'"):
        sampler(torch.empty(3), seed=0, stream="\ud800")


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_the_stream_is_required_and_the_error_says_why(sampler):
    with pytest.raises(
        TypeError, match=r"stream is required: .*the same seed and stream give the same numbers"
    ):
        sampler(torch.empty(3), seed=0)
    with pytest.raises(TypeError, match=r"seed is required"):
        sampler(torch.empty(3), stream="w")


COMPILED = """
import torch
from paraminit import counter_normal_

same = []
# The second function meets the sampler's code compiled already for another shape and stream: the
# compiler traces it again with symbolic sizes (where the old code failed to compile: an int64
# overflow).
for shape, args, stream in (((6, 5), (0.1, 2.0), "w"), ((4096,), (), "")):
    eager = counter_normal_(torch.empty(shape), *args, seed=1, stream=stream)
    compiled = torch.compile(lambda t, a=args, s=stream: counter_normal_(t, *a, seed=1, stream=s))
    same.append(torch.equal(compiled(torch.empty(shape)), eager))
print(all(same))
"""


@pytest.mark.slow
def test_a_compiled_call_gives_the_eager_bits():
    """In a process of its own: torch.compile's compilers (dynamo, inductor) stay out of this one,
    where the browser checks import in a thread of their own."""
    run = subprocess.run(
        [sys.executable, "-c", COMPILED], capture_output=True, text=True, timeout=900, env=os.environ
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split()[-1] == "True"


def test_while_torch_compile_traces_a_sampler_it_is_run_outside_the_graph(monkeypatch):
    """What dynamo sees (coverage cannot follow it there): the sampler hands itself to
    torch.compiler.disable, which runs it eagerly."""
    disabled = []

    def disable(function):
        disabled.append(function.__name__)
        return function

    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    monkeypatch.setattr(torch.compiler, "disable", disable)
    w = counter_uniform_(torch.empty(5), seed=1, stream="w")
    monkeypatch.undo()
    assert disabled == ["counter_uniform_"]
    assert torch.equal(w, counter_uniform_(torch.empty(5), seed=1, stream="w"))
