r"""Counter-based samplers: the same weights from the same seed on every device and every shard.

`torch.manual_seed` fixes a *stream*: the numbers depend on the order of the draws, on the device
(CUDA's generator draws other numbers than the CPU's), and even on the CPU kind (the vectorized
kernels that `ATEN_CPU_CAPABILITY` selects round differently). The samplers here fix a
*function* instead: element `i` of a tensor, counted in row-major order over the **global** tensor,
gets a value that depends only on the seed, the distribution, a stream name and `i`. Nothing else
enters: not the device, not the thread count, not the vector width, not which piece of the tensor
a process holds. Filling a shard at its global offset gives exactly that shard of the full fill.

Four modules do this, each on the ones below it: `paraminit.counter_bits` turns a key and an
index into 64 random bits (SplitMix64 at a counter), `paraminit.exact_math` holds the float
functions built from correctly rounded operations, `paraminit.counter_fill` turns bits into the
distributions' values chunk by chunk and writes them, and this module checks the arguments and
decides what can be filled.

From bits to floats, exactly
----------------------------
Every value is computed in float64 by single operations whose results IEEE 754 defines to the
last bit (`+`, `-`, `*`, `/`, comparisons, int-to-float conversion, table look-ups), each one its
own NumPy or torch call, so no fused multiply-add can form and vector width cannot change a
correctly rounded result. Then:

- **Uniform source.** `k`, the top 54 bits of a word read as a signed integer with the lowest one
  forced to 1: `c = k 2^-53` is exact in float64, one of 2^53 equally likely values, symmetric
  about 0, strictly inside `(-1, 1)`.
- **Uniform** `U(a, b)`: `m + h c` with `m = (a + b) / 2`, `h = (b - a) / 2` (one rounding each;
  no addition when `m = 0`, so `U(-b, b)` is exactly symmetric), then clamped to `[a, b]` (the
  rounded midpoint of an interval a few ulps wide can put `m + h c` just outside).
- **Mixture**: `x = h c` with `h = (b - a) / (1 - p)`; `|x| <= p h` becomes 0 and the rest
  `sign(x) (|x| - p h + a)` (the inverse CDF, as in [mixture_][paraminit.mixture_]), clamped to
  `[a, b]` in magnitude.
- **Normal**: Marsaglia and Tsang's ziggurat in 1024 layers ([Ziggurat][paraminit.exact_math.Ziggurat];
  *The Ziggurat Method for Generating Random Variables*, Journal of Statistical Software 5(8),
  2000). The low 10 bits of the word pick a layer `i`, `k` the point `x = k 2^-53 x_i`, which is
  accepted at once when `|k|` is below the layer's threshold (99.57% of draws). The rest go to the
  layer's wedge test `f_i + v (f_{i+1} - f_i) < exp(-x^2 / 2)`, or for the base layer to
  Marsaglia's tail method (`a = -log(u_1) (1/r)`, `b = -log(u_2)`, accept `r + a` if `2 b > a^2`),
  with `exp` and `log` from `paraminit.exact_math`. Their uniforms, and a fresh draw after a
  rejection, come from words of further keys of the same seed and stream (`"normal#1"`,
  `"normal#2"`, ...), at the same index: every value is still a function of the seed, the stream
  and the index alone. `|z| < 12.62`.

Results are then rounded once to the tensor's dtype, half precision included (torch's own
float64 to float16 conversion rounds twice, through float32). So a float32 fill is the float64
fill rounded, and a float16 fill the float64 fill rounded once. These guarantees hold in IEEE 754's
default mode: under `torch.set_flush_denormal(True)`, a fill that could have subnormal values is
refused, and other fills are unaffected. Called inside `torch.compile`, the samplers run eagerly
(a graph break), so compiled code gets the same bits.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ._checks import check_bounds_fit, check_float_tensor, dtype_name
from ._dtensor import is_dtensor
from .counter_bits import Key, check_seed, check_stream, key, region
from .counter_fill import MixtureFill, NormalFill, UniformFill, Writer, fill_, times
from .exact_math import ziggurat

__all__ = ["check_seed", "counter_mixture_", "counter_normal_", "counter_uniform_"]

DISTRIBUTIONS = ("uniform", "normal", "mixture")
NORMAL_BOUND = 12.62
"""No standard normal value of `counter_normal_` reaches this: the tail's `a` needs
`2 b > a^2` with `b = -log(u_2) <= 53 ln 2`, so `|z| < r + sqrt(106 ln 2) = 12.6105`."""
_SMALLEST_NORMAL = {torch.float64: 2.0**-1022, torch.float32: 2.0**-126, torch.bfloat16: 2.0**-126}


# ------------------------------------------------------------------------------------------------
# Arguments


def _real(value: object, name: str, caller: str) -> float:
    """`value` as a finite float: Python and NumPy reals and 0-d real tensors, as `nn.init` takes."""
    if isinstance(value, torch.Tensor):
        if value.dim() != 0:
            raise TypeError(
                f"{caller}() {name} must be a real number or a 0-d tensor, got a tensor of shape "
                f"{tuple(value.shape)}"
            )
        if value.dtype == torch.bool or value.is_complex():
            raise TypeError(
                f"{caller}() {name} must be a real number, got a {dtype_name(value.dtype)} tensor"
            )
        value = value.item()
    elif isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{caller}() {name} must be a real number, got {value!r} ({type(value).__name__})")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(
            f"{caller}() {name} must be finite, got an int of {int(value).bit_length()} bits (beyond float64)"
        ) from None
    if not math.isfinite(number):
        raise ValueError(f"{caller}() {name} must be finite, got {number!r}")
    return number


def _check_tensor(tensor: object, caller: str) -> None:
    local = tensor.to_local() if is_dtensor(tensor) else tensor
    check_float_tensor(local, caller)
    if local.device.type == "meta":
        raise ValueError(
            f"{caller}() got a tensor on the meta device: it has no storage, so there is nothing "
            "to fill. Allocate it first (model.to_empty(device=...)), then initialize"
        )
    if _may_overlap(local):
        raise ValueError(
            f"{caller}() got a tensor of shape {tuple(local.shape)} with strides {local.stride()}, in "
            "which more than one element refers to the same memory (an expand()ed or as_strided "
            "view): filling it would write several values into one place. Fill a tensor that owns "
            "its memory (e.g. .clone() it first)"
        )


def _may_overlap(tensor: torch.Tensor) -> bool:
    """Whether two elements of `tensor` may share memory: dims by stride must nest without overlap."""
    dims = sorted(
        (stride, size) for size, stride in zip(tensor.shape, tensor.stride(), strict=True) if size > 1
    )
    extent = 0  # one past the farthest element the smaller dims reach
    for stride, size in dims:
        if stride <= extent:
            return True
        extent += (size - 1) * stride
    return False


def _ulp(value: float) -> float:
    """The spacing of float64 numbers at `value` (nonzero)."""
    return math.ldexp(1.0, math.frexp(abs(value))[1] - 53)


def _smallest_sum(first: float, second: float) -> float:
    """A lower bound of the magnitude of `first + second` when it is not 0 (a multiple of the ulps)."""
    return min(_ulp(v) for v in (first, second) if v != 0.0)


def _check_subnormals(floor: float, dtype: torch.dtype, caller: str, why: str) -> None:
    """Refuse a fill whose smallest nonzero magnitude may be below `dtype`'s (or float64's) smallest
    normal number while the CPU flushes subnormal numbers to zero: those values would change."""
    limit = _SMALLEST_NORMAL.get(dtype, 2.0**-1022)
    if floor >= limit or not _flushes_subnormals():
        return
    raise ValueError(
        f"{caller}() {why} can give values below {limit:g}, the smallest normal "
        f"{dtype_name(dtype) if dtype in _SMALLEST_NORMAL else 'float64'} number, and "
        "torch.set_flush_denormal(True) is in effect: such values would be flushed to zero instead "
        "of rounded, and differ from every other machine's. Call torch.set_flush_denormal(False) "
        "around the fill, or use bounds farther from zero"
    )


_TINY = 5e-324
_ONE = 1.0


def _flushes_subnormals() -> bool:
    """Whether this thread's floating-point unit flushes subnormal numbers to zero."""
    return _TINY * _ONE == 0.0  # evaluated at run time, in the calling thread's mode


def _rounds_to_infinity(value: float, dtype: torch.dtype) -> bool:
    """Whether `value` rounded to `dtype` (to nearest, ties to even) is infinite."""
    if dtype == torch.float64:
        return False
    info = torch.finfo(dtype)
    digits = {torch.float32: 24, torch.float16: 11, torch.bfloat16: 8}[dtype]
    emax = math.frexp(info.max)[1] - 1
    return abs(value) >= math.ldexp(1.0, emax + 1) - math.ldexp(1.0, emax - digits)


def _check_finite_bound(value: float, name: str, dtype: torch.dtype, caller: str) -> None:
    if _rounds_to_infinity(value, dtype):
        info = torch.finfo(dtype)
        raise ValueError(
            f"{caller}() {name}={value!r} is beyond the largest {dtype_name(dtype)} value "
            f"{info.max:g}: the weights would be infinite. Keep the bounds within "
            f"[{-info.max:g}, {info.max:g}] or use a wider dtype"
        )


def _required(function: Callable) -> Callable:
    """The public sampler: `seed` and `stream` are required with errors that say why, and a call
    inside `torch.compile` runs eagerly (a graph break), so compiled code gets the eager bits."""

    @functools.wraps(function)
    def sampler(*args, **kwargs):
        return _call(function, args, kwargs)

    sampler.counter_sampler = True  # type: ignore[attr-defined]
    return sampler


def _call(function: Callable, args: tuple, kwargs: dict) -> torch.Tensor:
    """`function(*args, **kwargs)`, once `seed` and `stream` are known to be given."""
    name = function.__name__
    if "seed" not in kwargs:
        raise TypeError(f"{name}() seed is required: pass seed=... (an int in [0, 2**64))")
    if "stream" not in kwargs:
        raise TypeError(
            f"{name}() stream is required: the same seed and stream give the same numbers, so "
            "name what you fill (e.g. stream='layer1.weight', its parameter's name); "
            "apply_counter_rules() names every parameter's stream itself"
        )
    if torch.compiler.is_compiling():  # traced by torch.compile: run it outside the graph
        return torch.compiler.disable(function)(*args, **kwargs)
    return function(*args, **kwargs)


def _prepare(tensor: object, seed: object, stream: object, global_shape, global_offset, caller: str):
    _check_tensor(tensor, caller)
    seed = check_seed(seed, caller)
    stream = check_stream(stream, caller)
    return seed, stream, region(tensor, global_shape, global_offset, caller)


@_required
def counter_uniform_(
    tensor: torch.Tensor,
    a: float = 0.0,
    b: float = 1.0,
    *,
    seed: int,
    stream: str,
    global_shape: Sequence[int] | None = None,
    global_offset: Sequence[int] | None = None,
) -> torch.Tensor:
    r"""Fill `tensor` in place from `U(a, b)`; the values depend only on the seed, stream and index.

    Element `i` (row-major over the global tensor) is `m + h c_i` with `m = (a + b) / 2`,
    `h = (b - a) / 2` and `c_i` the counter generator's uniform source in `(-1, 1)` (see the module
    description), clamped to `[a, b]`: the same bits on any device, thread count, CPU kind and
    split of the tensor. Values lie in `[a, b]`; in float32 and half precision, in `[a, b]` rounded
    to the dtype (rounding keeps order). `a = b` fills `a` itself, sign of zero included.

    Args:
        tensor: A floating-point tensor, a parameter, or a `DTensor` (its local shard is filled from
            its global offsets). Not one whose elements share memory (an `expand()`ed view).
        a: Lower bound: a real number (Python, NumPy or a 0-d tensor).
        b: Upper bound, `b >= a`.
        seed: An integer in `[0, 2**64)`.
        stream: A name for what is filled, e.g. the parameter's qualified name; required, since the
            same seed and stream give the same numbers: two tensors filled on one stream would
            repeat each other. ([apply_counter_rules][paraminit.apply_counter_rules] names each
            parameter's stream itself.)
        global_shape: Shape of the whole tensor this one is a block of; default: its own shape.
            At most `2**63 - 1` elements.
        global_offset: Index of this block's first element in each dimension; default: zeros.

    Returns:
        `tensor`, filled.

    Raises:
        TypeError: not a floating-point tensor, a bound that is not a real number, a bad seed or
            stream type, or no seed or stream.
        ValueError: a bound is not finite or rounds to infinity in the tensor's dtype, `b < a`, the
            seed is out of range, the stream is not valid UTF-8, the tensor is on the `meta` device
            or overlaps itself, the block does not fit in `global_shape`, or the fill could give
            subnormal values while `torch.set_flush_denormal(True)` is in effect.

    Example:
        ```python
        import torch
        from paraminit import counter_uniform_

        full = counter_uniform_(torch.empty(6, 4), -1.0, 1.0, seed=7, stream="w")
        part = torch.empty(2, 4)  # rows 3 and 4 of the same fill, drawn on their own
        counter_uniform_(part, -1.0, 1.0, seed=7, stream="w", global_shape=(6, 4), global_offset=(3, 0))
        assert torch.equal(part, full[3:5])
        ```
    """
    return _uniform(tensor, a, b, seed, stream, global_shape, global_offset)


def _uniform(tensor, a, b, seed, stream, global_shape, global_offset) -> torch.Tensor:
    """The work of `counter_uniform_`, which holds the signature and the documentation."""
    caller = "counter_uniform_"
    a, b = _real(a, "a", caller), _real(b, "b", caller)
    seed, stream, found = _prepare(tensor, seed, stream, global_shape, global_offset, caller)
    if b < a:
        raise ValueError(f"{caller}() needs a <= b, got a={a}, b={b}")
    dtype = found.local.dtype
    _check_finite_bound(a, "a", dtype, caller)
    _check_finite_bound(b, "b", dtype, caller)
    with torch.no_grad():
        if a == b:
            if a != 0.0:
                _check_subnormals(abs(a), dtype, caller, f"a=b={a!r}")
            writer = Writer(found.local)
            writer.fill(a)
            return tensor
        transform = UniformFill(a, b)
        _check_subnormals(_uniform_floor(transform, a, b), dtype, caller, f"U({a!r}, {b!r})")
        return fill_(tensor, found, key(seed, "uniform", stream), transform)


def _uniform_floor(transform: UniformFill, a: float, b: float) -> float:
    """A lower bound of every nonzero magnitude the uniform computes (values and `h c`)."""
    smallest_hc = abs(times(1, transform.factors))  # |h c| >= h 2^-53
    if transform.mid == 0.0:
        return smallest_hc
    if a < 0.0 < b:  # m + h c can cancel
        return min(smallest_hc, _smallest_sum(transform.mid, smallest_hc))
    nearest = min(abs(a), abs(b))  # the values lie in [a, b], on one side of zero
    return min(smallest_hc, nearest) if nearest > 0.0 else smallest_hc


@_required
def counter_normal_(
    tensor: torch.Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    *,
    seed: int,
    stream: str,
    global_shape: Sequence[int] | None = None,
    global_offset: Sequence[int] | None = None,
) -> torch.Tensor:
    r"""Fill `tensor` in place from `N(mean, std^2)`; the values depend only on seed, stream and index.

    Element `i` is `mean + std z_i`, where `z_i` is drawn by the ziggurat method from the counter
    generator's words at index `i` (see the module description), with correctly rounded
    operations only, so it has the same bits on every device and CPU kind. `|z_i| < 12.62`.

    Args:
        tensor: A floating-point tensor, a parameter, or a `DTensor`. Not one whose elements
            share memory.
        mean: Mean: a real number (Python, NumPy or a 0-d tensor).
        std: Standard deviation, `>= 0`.
        seed: An integer in `[0, 2**64)`.
        stream: A name for what is filled, e.g. the parameter's qualified name (required: see
            [counter_uniform_][paraminit.counter_uniform_]).
        global_shape: Shape of the whole tensor this one is a block of; default: its own shape.
        global_offset: Index of this block's first element in each dimension; default: zeros.

    Returns:
        `tensor`, filled.

    Raises:
        TypeError: not a floating-point tensor, `mean` or `std` not a real number, a bad seed or
            stream type, or no seed or stream.
        ValueError: `mean` or `std` not finite, `std < 0`, `|mean| + 12.62 std` beyond the dtype's
            largest value, a bad seed or stream, a `meta` or self-overlapping tensor, a block that
            does not fit in `global_shape`, or subnormal values under
            `torch.set_flush_denormal(True)`.

    Example:
        ```python
        import torch
        from paraminit import counter_normal_

        w = counter_normal_(torch.empty(3, 5), std=0.01, seed=0, stream="w")
        w64 = counter_normal_(torch.empty(3, 5, dtype=torch.float64), std=0.01, seed=0, stream="w")
        assert torch.equal(w, w64.float())  # float32 is the float64 fill, rounded once
        ```
    """
    return _normal(tensor, mean, std, seed, stream, global_shape, global_offset)


def _normal(tensor, mean, std, seed, stream, global_shape, global_offset) -> torch.Tensor:
    """The work of `counter_normal_`, which holds the signature and the documentation."""
    caller = "counter_normal_"
    mean, std = _real(mean, "mean", caller), _real(std, "std", caller)
    seed, stream, found = _prepare(tensor, seed, stream, global_shape, global_offset, caller)
    if std < 0:
        raise ValueError(f"{caller}() needs std >= 0, got std={std}")
    dtype = found.local.dtype
    largest = abs(mean) + NORMAL_BOUND * std
    if _rounds_to_infinity(largest, dtype) or not math.isfinite(largest):
        info = torch.finfo(dtype)
        reach = f"up to {largest:g}" if math.isfinite(largest) else "past the float64 range"
        raise ValueError(
            f"{caller}() mean={mean!r}, std={std!r} give values {reach} in magnitude "
            f"(|mean| + {NORMAL_BOUND} std), beyond the largest {dtype_name(dtype)} value "
            f"{info.max:g}: some weights could be infinite. Use a smaller mean or std, or a wider dtype"
        )
    with torch.no_grad():
        if std == 0.0:
            if mean != 0.0:
                _check_subnormals(abs(mean), dtype, caller, f"mean={mean!r}")
            Writer(found.local).fill(mean)
            return tensor
        smallest_z = ziggurat().x[-2] * 2.0**-53  # |z| >= x_1023 2^-53 (k = +-1)
        floor = std * smallest_z
        if mean != 0.0:
            floor = min(floor, _smallest_sum(mean, floor))
        _check_subnormals(floor, dtype, caller, f"mean={mean!r}, std={std!r}")

        def keys(j: int) -> Key:
            return key(seed, "normal" if j == 0 else f"normal#{j}", stream)

        transform = NormalFill(mean, std, functools.cache(keys), found.local.device)
        return fill_(tensor, found, keys(0), transform)


@_required
def counter_mixture_(
    tensor: torch.Tensor,
    inner: float = 5.0,
    outer: float = 10.0,
    p_zero: float = 0.5,
    *,
    seed: int,
    stream: str,
    global_shape: Sequence[int] | None = None,
    global_offset: Sequence[int] | None = None,
) -> torch.Tensor:
    r"""Fill `tensor` in place from the chapter's mixture; the values depend only on seed, stream and index.

    The distribution of [mixture_][paraminit.mixture_] (see [Mixture][paraminit.Mixture]): 0 with
    probability `p`, else uniform on `[a, b]` or `[-b, -a]`, each with probability `(1 - p) / 2`.
    Element `i` is `x = h c_i` with `h = (b - a) / (1 - p)`, set to 0 when `|x| <= p h` and to
    `sign(x) (|x| - p h + a)` otherwise (clamped to `[a, b]` in magnitude), where `c_i` is the
    counter generator's uniform source. Zeros are `+0.0`.

    Args:
        tensor: A floating-point tensor, a parameter, or a `DTensor`. Not one whose elements
            share memory.
        inner: Inner magnitude `a >= 0`: a real number (Python, NumPy or a 0-d tensor).
        outer: Outer magnitude `b > a`.
        p_zero: Probability `p` in `[0, 1]` of an exact zero.
        seed: An integer in `[0, 2**64)`.
        stream: A name for what is filled, e.g. the parameter's qualified name (required: see
            [counter_uniform_][paraminit.counter_uniform_]).
        global_shape: Shape of the whole tensor this one is a block of; default: its own shape.
        global_offset: Index of this block's first element in each dimension; default: zeros.

    Returns:
        `tensor`, filled.

    Raises:
        TypeError: not a floating-point tensor, a parameter that is not a real number, a bad seed
            or stream type, or no seed or stream.
        ValueError: bad bounds or probability (see [Mixture][paraminit.Mixture]), bounds that the
            dtype cannot hold (as for [mixture_][paraminit.mixture_]: beyond its largest value,
            below its smallest normal value, or equal once rounded), a bad seed or stream, a
            `meta` or self-overlapping tensor, a block that does not fit in `global_shape`, or
            subnormal values under `torch.set_flush_denormal(True)`.

    Example:
        ```python
        import torch
        from paraminit import counter_mixture_

        w = counter_mixture_(torch.empty(8, 4), seed=0, stream="w")
        assert ((w == 0) | ((w.abs() >= 5) & (w.abs() <= 10))).all()
        ```
    """
    return _mixture(tensor, inner, outer, p_zero, seed, stream, global_shape, global_offset)


def _mixture(tensor, inner, outer, p_zero, seed, stream, global_shape, global_offset) -> torch.Tensor:
    """The work of `counter_mixture_`, which holds the signature and the documentation."""
    from .samplers import Mixture  # the closed forms and their argument checks

    caller = "counter_mixture_"
    inner, outer = _real(inner, "inner", caller), _real(outer, "outer", caller)
    p_zero = _real(p_zero, "p_zero", caller)
    dist = Mixture(inner, outer, p_zero)
    seed, stream, found = _prepare(tensor, seed, stream, global_shape, global_offset, caller)
    dtype = found.local.dtype
    check_bounds_fit(inner, outer, dtype, caller)
    a, b, p = dist.inner, dist.outer, dist.p_zero
    with torch.no_grad():
        if p == 1.0:
            found.local.zero_()
            return tensor
        transform = MixtureFill(a, b, p)
        smallest_x = abs(times(1, transform.factors))  # |x| >= h 2^-53 (at the scale used)
        if a > 0.0:
            floor = min(smallest_x, a / transform.unscale)
        elif transform.gap == 0.0:
            floor = smallest_x
        else:  # |x| - p h can cancel
            floor = min(smallest_x, _smallest_sum(transform.gap, smallest_x))
        _check_subnormals(floor * transform.unscale, dtype, caller, f"inner={inner!r}, outer={outer!r}")
        return fill_(tensor, found, key(seed, "mixture", stream), transform)
