r"""Counter-based samplers: the same weights from the same seed on every device and every shard.

`torch.manual_seed` fixes a *stream*: the numbers depend on the order of the draws, on the device
(CUDA's generator draws other numbers than the CPU's), and even on the CPU kind (the vectorized
kernels that `ATEN_CPU_CAPABILITY` selects round differently). The samplers here fix a
*function* instead: element `i` of a tensor, counted in row-major order over the **global** tensor,
gets a value that depends only on the seed, the distribution, a stream name and `i`. Nothing else
enters: not the device, not the thread count, not the vector width, not which piece of the tensor
a process holds. Filling a shard at its global offset gives exactly that shard of the full fill.

The generator
-------------
Each element's 64 random bits are SplitMix64 (Steele, Lea and Flood, *Fast splittable pseudorandom
number generators*, OOPSLA 2014; the reference code is Vigna's `splitmix64.c`) evaluated at a
counter rather than stepped:

1. **Key.** BLAKE2b (16-byte digest) of `seed` (8 bytes, little-endian), the distribution's name,
   a zero byte and the stream name gives two 64-bit words: the `state` and the `gamma`. Forcing
   `gamma` odd, and flipping every other bit when it has fewer than 24 bit transitions, is
   `java.util.SplittableRandom`'s rule for a good gamma. A cryptographic hash makes the keys of
   neighbouring seeds unrelated, and a different gamma per stream means two streams are never the
   same sequence shifted by a few elements.
2. **Counter.** Element `i` takes `x = state + (i + 1) * gamma (mod 2^64)`: the `(i + 1)`-th state
   of SplitMix64 started at `state`, without stepping through the first `i`.
3. **Mix.** `mix64(x)`, Stafford's "variant 13" finalizer, exactly as in SplitMix64:
   `x ^= x >> 30; x *= 0xBF58476D1CE4E5B9; x ^= x >> 27; x *= 0x94D049BB133111EB; x ^= x >> 31`.

All of this is `int64` tensor arithmetic, which is exact: multiplication wraps modulo $2^{64}$ on
every CPU kind and on CUDA, and the logical shifts are arithmetic shifts followed by a mask. With
`gamma = 0x9E3779B97F4A7C15` and `state = 1234567` the kernel reproduces SplitMix64's published
reference outputs (tested), and a pure-Python model of the whole generator, on exact integers,
matches it value for value (tested).

From bits to floats, exactly
----------------------------
Every float is computed in float64 by single torch operations whose results IEEE 754 defines to
the last bit (`+`, `-`, `*`, `/` between tensors, comparisons, int-to-float conversion),
each one its own kernel: no fused multiply-add can form across kernels, and vector width cannot
change a correctly rounded result. Division by a scalar is avoided: CUDA computes it as a
multiplication by the reciprocal (PyTorch's `aten/src/ATen/native/cuda/BinaryDivTrueKernel.cu`).
So are `exp`, `log`, `erfinv` and the like, which are not correctly rounded and come from
different libraries on different devices, and `sqrt`, which torch's CPU build may hand to MKL
(`aten/src/ATen/cpu/vml.h`). Then:

- **Uniform source.** The top 54 bits of `mix64(x)`, read as a signed integer, with the lowest one
  forced to 1 (53 random bits), are an odd integer `k` with `|k| < 2^53`, so `c = k 2^-53` is
  exact in float64: $2^{53}$ equally likely values, symmetric about 0, strictly inside `(-1, 1)`.
- **Uniform** `U(a, b)`: `m + h c` with `m = (a + b) / 2`, `h = (b - a) / 2` (one rounding each;
  no addition when `m = 0`, so `U(-b, b)` is exactly symmetric).
- **Mixture**: `x = h c` with `h = (b - a) / (1 - p)`; `|x| <= p h` becomes 0 and the rest
  `sign(x) (|x| - p h + a)` (the inverse CDF, as in [mixture_][paraminit.mixture_]).
- **Normal**: the inverse CDF at `u = 1/2 + c/2`, by Wichura's algorithm AS 241 (`PPND16`,
  *Applied Statistics* 37(3), 1988, relative error about 1e-16): rational functions, plus
  `sqrt(-log(r))` in the tails, where `r = 1/2 - |c|/2` is exact, `log` is computed here from
  the float's bits with fdlibm's polynomial (`e_log.c`) and `sqrt` by Newton's method, in the
  same exact operations. The smallest tail probability is $2^{-54}$, so `|z| < 8.3`.

Results are then rounded once to float32 and, for float16 and bfloat16, once more (float32 to
half precision is round-to-nearest-even everywhere). So a float32 fill is the float64 fill rounded,
and a bfloat16 fill the float32 fill rounded. These guarantees hold in eager mode; a compiler that
fuses the operations (`torch.compile`) may contract them into fused multiply-adds.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ._checks import check_float_tensor
from ._dtensor import Region, dtensor_region, is_dtensor

_MASK64 = (1 << 64) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15
"""SplitMix64's own increment (the golden ratio times 2^64, made odd)."""
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB

CHUNK_CPU = (1 << 15) - 1
"""Elements per step on the CPU: below torch's parallel grain (32768), so each torch op on a chunk
runs on one thread, from cache.

Larger chunks let torch split every op across its threads, and on a machine whose cores are busy
with other work each of those splits waits for a descheduled thread: ten times slower or worse.
The chunk size never changes a value, only the speed."""
CHUNK_CUDA = 1 << 22
"""Elements per step on other devices: large, so that kernel launches are amortized (the int64
buffers take 32 MiB each)."""

DISTRIBUTIONS = ("uniform", "normal", "mixture")


def _signed(value: int) -> int:
    """`value` modulo 2^64 as a signed int64 (how torch stores it)."""
    value &= _MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


@dataclass(frozen=True)
class _Key:
    state: int
    gamma: int


def check_seed(seed: object, caller: str) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"{caller}() seed must be an int in [0, 2**64), got {seed!r}")
    if not 0 <= seed < 1 << 64:
        raise ValueError(f"{caller}() seed must be in [0, 2**64), got {seed}")
    return seed


def _key(seed: int, distribution: str, stream: str) -> _Key:
    message = seed.to_bytes(8, "little") + distribution.encode() + b"\0" + stream.encode()
    digest = hashlib.blake2b(message, digest_size=16).digest()
    state = int.from_bytes(digest[:8], "little")
    gamma = int.from_bytes(digest[8:], "little") | 1
    if (gamma ^ (gamma >> 1)).bit_count() < 24:
        gamma ^= 0xAAAAAAAAAAAAAAAA
    return _Key(state, gamma)


# ------------------------------------------------------------------------------------------------
# Which global indices a local tensor holds


@dataclass(frozen=True)
class _Layout:
    """The local tensor's elements, in row-major order, as runs of consecutive global indices.

    Dimensions `split` onwards are whole (except `split` itself), so each run is `run` elements long;
    Run `r` starts at `base` plus its multi-index over the leading dims times their global strides.
    """

    numel: int
    run: int
    leading: tuple[int, ...]  # local sizes of the dims before `split`
    strides: tuple[int, ...]  # global strides of those dims
    base: int  # global index of the local tensor's first element

    @property
    def contiguous(self) -> bool:
        return self.run == self.numel


def _layout(region: Region) -> _Layout:
    shape, gshape, offset = tuple(region.local.shape), region.global_shape, region.offset
    gstrides = [1] * len(gshape)
    for d in range(len(gshape) - 2, -1, -1):
        gstrides[d] = gstrides[d + 1] * gshape[d + 1]
    numel = math.prod(shape)
    # The first dim from which on every later dim is whole: a run spans it and all dims after it.
    split = len(shape) - 1
    while split > 0 and shape[split] == gshape[split]:
        split -= 1
    if not shape:
        return _Layout(numel, numel, (), (), 0)
    base = sum(start * stride for start, stride in zip(offset, gstrides, strict=True))
    run = math.prod(shape[split:])
    return _Layout(numel, run, shape[:split], tuple(gstrides[:split]), base)


def _region(tensor: torch.Tensor, global_shape, global_offset, caller: str) -> Region:
    if is_dtensor(tensor):
        if global_shape is not None or global_offset is not None:
            raise ValueError(
                f"{caller}() got a DTensor and an explicit global_shape/global_offset: a DTensor "
                "knows its own layout, pass neither"
            )
        return dtensor_region(tensor)
    shape = tuple(tensor.shape)
    gshape = shape if global_shape is None else _int_tuple(global_shape, "global_shape", caller)
    offset = (
        (0,) * len(shape) if global_offset is None else _int_tuple(global_offset, "global_offset", caller)
    )
    if len(gshape) != len(shape) or len(offset) != len(shape):
        raise ValueError(
            f"{caller}() global_shape {gshape} and global_offset {offset} need one entry per "
            f"dimension of the tensor's shape {shape}"
        )
    for d, (size, total, start) in enumerate(zip(shape, gshape, offset, strict=True)):
        if start < 0 or start + size > total:
            raise ValueError(
                f"{caller}() a tensor of shape {shape} at global_offset {offset} does not fit in "
                f"global_shape {gshape} (dimension {d}: {start} + {size} > {total})"
            )
    return Region(tensor, gshape, offset)


def _int_tuple(value: object, name: str, caller: str) -> tuple[int, ...]:
    if isinstance(value, torch.Size):
        return tuple(value)
    if not isinstance(value, Sequence) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise TypeError(f"{caller}() {name} must be a sequence of ints, got {value!r}")
    return tuple(value)


# ------------------------------------------------------------------------------------------------
# The kernel: global indices -> 64 random bits -> a uniform source in (-1, 1)


class _Work:
    """Buffers for one chunk, reused across chunks (no allocation of the tensor's size)."""

    def __init__(self, size: int, device: torch.device, key: _Key, contiguous: bool) -> None:
        self.key = key
        self.z = torch.empty(size, dtype=torch.int64, device=device)
        self.t = torch.empty(size, dtype=torch.int64, device=device)
        # (j + 1) * gamma for j < size: a contiguous chunk starting at global index s is then
        # steps + (state + s * gamma), one addition.
        self.steps = None
        if contiguous:
            self.steps = torch.arange(1, size + 1, dtype=torch.int64, device=device)
            self.steps.mul_(_signed(key.gamma))

    def counters(self, n: int, start: int | None, indices: torch.Tensor | None) -> torch.Tensor:
        """`state + (i + 1) * gamma` for the global indices `start, ..., start + n - 1` or `indices`."""
        z = self.z[:n]
        if indices is None:
            torch.add(self.steps[:n], _signed(self.key.state + start * self.key.gamma), out=z)
        else:
            torch.add(indices, 1, out=z)
            z.mul_(_signed(self.key.gamma))
            z.add_(_signed(self.key.state))
        return z

    def source(self, z: torch.Tensor, scale: float = 2.0**-53) -> torch.Tensor:
        """mix64 of the counters, then `c = k 2^-53` in float64 (returned in `z`'s memory).

        `scale` may be another power of two (exact): the normal takes `q = c / 2 = k 2^-54`.
        """
        t = self.t[: z.numel()]
        for shift, multiplier in ((30, _MIX1), (27, _MIX2)):
            torch.bitwise_right_shift(z, shift, out=t)
            t.bitwise_and_((1 << (64 - shift)) - 1)  # a logical shift: clear the copied sign bits
            z.bitwise_xor_(t)
            z.mul_(_signed(multiplier))
        torch.bitwise_right_shift(z, 31, out=t)
        t.bitwise_and_((1 << 33) - 1)
        z.bitwise_xor_(t)
        # Top 54 bits as a signed integer (an arithmetic shift), made odd: |k| < 2^53, exact in float64.
        torch.bitwise_right_shift(z, 10, out=t)
        t.bitwise_or_(1)
        c = z.view(torch.float64)
        c.copy_(t)
        c.mul_(scale)
        return c


def _global_indices(layout: _Layout, first: int, n: int, device: torch.device) -> torch.Tensor:
    """Global indices of local elements `first ... first + n - 1` (the non-contiguous case)."""
    local = torch.arange(first, first + n, dtype=torch.int64, device=device)
    runs = torch.div(local, layout.run, rounding_mode="floor")
    index = local - runs * layout.run + layout.base
    for size, stride in zip(reversed(layout.leading), reversed(layout.strides), strict=True):
        position = torch.remainder(runs, size)
        runs = torch.div(runs, size, rounding_mode="floor")
        index += position * stride
    return index


class _Writer:
    """Writes float64 values into the local tensor, rounded as the module description says."""

    def __init__(self, local: torch.Tensor) -> None:
        self.local = local
        self.flat = local.view(-1) if local.is_contiguous() else None
        self.half = local.dtype in (torch.float16, torch.bfloat16)
        self.staging = torch.empty(0, dtype=torch.float32, device=local.device)

    def _rounded(self, values: torch.Tensor) -> torch.Tensor:
        # float64 -> float32 -> half precision: each rounding is the same on every device.
        if not self.half:
            return values
        if self.staging.numel() < values.numel():
            self.staging = torch.empty(values.numel(), dtype=torch.float32, device=values.device)
        return self.staging[: values.numel()].copy_(values)

    def range(self, first: int, values: torch.Tensor) -> None:
        """Local elements `first, ..., first + len(values) - 1` (row-major)."""
        if self.flat is not None:
            self.flat[first : first + values.numel()].copy_(self._rounded(values))
        else:
            positions = torch.arange(first, first + values.numel(), device=values.device)
            self.at(positions, values)

    def at(self, positions: torch.Tensor, values: torch.Tensor) -> None:
        """Local elements at the row-major `positions`."""
        values = self._rounded(values).to(self.local.dtype)
        if self.flat is not None:
            self.flat.index_copy_(0, positions, values)
        else:
            self.local[torch.unravel_index(positions, self.local.shape)] = values


class _Transform:
    """Maps the uniform source `c` of local elements `first, ...` (float64, in place) to their
    values when called as `transform(c, first, writer)`; may write some elements later."""

    scale = 2.0**-53
    """The source it takes: `k scale` (the normal takes `q = c / 2`)."""

    def finish(self, writer: _Writer) -> None:
        """Write whatever was left for later."""


class _Elementwise(_Transform):
    def __init__(self, function: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.function = function

    def __call__(self, c: torch.Tensor, first: int, writer: _Writer) -> torch.Tensor:
        return self.function(c)


def _fill_(tensor: torch.Tensor, region: Region, key: _Key, transform: _Transform) -> torch.Tensor:
    """Fill `region.local` from the counter generator, chunk by chunk, through `transform`."""
    local = region.local
    layout = _layout(region)
    if layout.numel == 0:
        return tensor
    device = local.device
    chunk = min(layout.numel, CHUNK_CPU if device.type == "cpu" else CHUNK_CUDA)
    work = _Work(chunk, device, key, layout.contiguous)
    writer = _Writer(local)
    for first in range(0, layout.numel, chunk):
        n = min(chunk, layout.numel - first)
        if layout.contiguous:
            z = work.counters(n, layout.base + first, None)
        else:
            z = work.counters(n, None, _global_indices(layout, first, n, device))
        writer.range(first, transform(work.source(z, transform.scale), first, writer))
    transform.finish(writer)
    return tensor


# ------------------------------------------------------------------------------------------------
# Exact float64 functions built from correctly rounded operations only

# fdlibm e_log.c: ln(2) split so that k * LN2_HI is exact, and its polynomial for log(1 + f).
_LN2_HI = float.fromhex("0x1.62e42fee00000p-1")
_LN2_LO = float.fromhex("0x1.a39ef35793c76p-33")
_LG = tuple(
    float.fromhex(h)
    for h in (
        "0x1.5555555555593p-1",
        "0x1.999999997fa04p-2",
        "0x1.2492494229359p-2",
        "0x1.c71c51d8e78afp-3",
        "0x1.7466496cb03dep-3",
        "0x1.39a09d078c69fp-3",
        "0x1.2f112df3e5244p-3",
    )
)
_SQRT2_BITS = 0x3FF6A09E667F3BCD  # the bits of float64(sqrt(2))


class _Workspace:
    """Named buffers, allocated once per fill and reused for every batch.

    A temporary of a chunk's size is 256 KiB, which the C allocator serves with a fresh `mmap`
    and page faults each time: allocating dozens of them per chunk cost more than the arithmetic.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.buffers: dict[str, torch.Tensor] = {}

    def __call__(self, name: str, n: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        buffer = self.buffers.get(name)
        if buffer is None or buffer.numel() < n or buffer.dtype != dtype:
            buffer = self.buffers[name] = torch.empty(n, dtype=dtype, device=self.device)
        return buffer[:n]


def _log(x: torch.Tensor, ws: _Workspace | None = None) -> torch.Tensor:
    """Natural log of positive, normal float64 `x` (1-D), to within an ulp, from exact operations.

    `x = 2^e m` with `m` in `[sqrt(2)/2, sqrt(2))` is read from the bits; then fdlibm's
    `k ln2_hi - ((f^2/2 - (s (f^2/2 + R) + k ln2_lo)) - f)` with `f = m - 1`, `s = f / (2 + f)`,
    `R = t1 + t2` its polynomial in `s^2`, each operation in place in `ws`'s buffers.
    """
    ws = ws if ws is not None else _Workspace(x.device)
    n = x.numel()
    bits = x.view(torch.int64)
    k_int = torch.bitwise_right_shift(bits, 52, out=ws("log.e", n, torch.int64)).sub_(1023)
    mantissa = torch.bitwise_and(bits, 0x000FFFFFFFFFFFFF, out=ws("log.m", n, torch.int64))
    mantissa.bitwise_or_(0x3FF0000000000000)
    above = torch.gt(mantissa, _SQRT2_BITS, out=ws("log.above", n, torch.bool))
    mantissa.add_(above, alpha=-(1 << 52))  # m / 2, exactly
    k_int.add_(above)
    k = ws("log.k", n).copy_(k_int)
    f = mantissa.view(torch.float64).sub_(1.0)
    s = torch.add(f, 2.0, out=ws("log.s", n))
    torch.div(f, s, out=s)
    z = torch.mul(s, s, out=ws("log.z", n))
    w = torch.mul(z, z, out=ws("log.w", n))
    t1 = torch.mul(w, _LG[5], out=ws("log.t1", n)).add_(_LG[3]).mul_(w).add_(_LG[1]).mul_(w)
    r = torch.mul(w, _LG[6], out=ws("log.r", n)).add_(_LG[4]).mul_(w).add_(_LG[2]).mul_(w)
    r.add_(_LG[0]).mul_(z).add_(t1)  # R = t2 + t1
    hfsq = torch.mul(f, f, out=ws("log.h", n)).mul_(0.5)
    r.add_(hfsq).mul_(s)  # s (f^2/2 + R)
    r.add_(torch.mul(k, _LN2_LO, out=t1))
    torch.sub(hfsq, r, out=r).sub_(f)
    return torch.sub(k.mul_(_LN2_HI), r, out=r)


def _sqrt(x: torch.Tensor, ws: _Workspace | None = None) -> torch.Tensor:
    """Square root of positive, normal float64 `x` (1-D), from exact operations.

    `torch.sqrt` would do, but on the CPU it may run through a vendor math library (MKL) that
    nothing here controls. Halving the bits (exponent and mantissa together) gives a start within
    4%; four Newton steps `y = (y + x / y) / 2` then reach the float64 result within an ulp.
    """
    ws = ws if ws is not None else _Workspace(x.device)
    n = x.numel()
    y = ws("sqrt.y", n)
    torch.bitwise_right_shift(x.view(torch.int64), 1, out=y.view(torch.int64)).add_(0x1FF7A3BEA91D9B1B)
    t = ws("sqrt.t", n)
    for _ in range(4):
        torch.div(x, y, out=t).add_(y).mul_(0.5)
        y, t = t, y
    return y


# AS 241 (Wichura 1988), PPND16: numerator and denominator coefficients, constant term first.
_AS241_CENTRAL = (
    (
        3.3871328727963666080e0,
        1.3314166789178437745e2,
        1.9715909503065514427e3,
        1.3731693765509461125e4,
        4.5921953931549871457e4,
        6.7265770927008700853e4,
        3.3430575583588128105e4,
        2.5090809287301226727e3,
    ),
    (
        1.0,
        4.2313330701600911252e1,
        6.8718700749205790830e2,
        5.3941960214247511077e3,
        2.1213794301586595867e4,
        3.9307895800092710610e4,
        2.8729085735721942674e4,
        5.2264952788528545610e3,
    ),
)
_AS241_INTERMEDIATE = (
    (
        1.42343711074968357734e0,
        4.63033784615654529590e0,
        5.76949722146069140550e0,
        3.64784832476320460504e0,
        1.27045825245236838258e0,
        2.41780725177450611770e-1,
        2.27238449892691845833e-2,
        7.74545014278341407640e-4,
    ),
    (
        1.0,
        2.05319162663775882187e0,
        1.67638483018380384940e0,
        6.89767334985100004550e-1,
        1.48103976427480074590e-1,
        1.51986665636164571966e-2,
        5.47593808499534494600e-4,
        1.05075007164441684324e-9,
    ),
)
_AS241_FAR = (
    (
        6.65790464350110377720e0,
        5.46378491116411436990e0,
        1.78482653991729133580e0,
        2.96560571828504891230e-1,
        2.65321895265761230930e-2,
        1.24266094738807843860e-3,
        2.71155556874348757815e-5,
        2.01033439929228813265e-7,
    ),
    (
        1.0,
        5.99832206555887937690e-1,
        1.36929880922735805310e-1,
        1.48753612908506148525e-2,
        7.86869131145613259100e-4,
        1.84631831751005468180e-5,
        1.42151175831644588870e-7,
        2.04426310338993978564e-15,
    ),
)


def _horner(x: torch.Tensor, coefficients: Sequence[float], out: torch.Tensor | None = None) -> torch.Tensor:
    """`sum(coefficients[i] x^i)` by Horner's rule, one rounded multiplication and addition a step."""
    out = torch.mul(x, coefficients[-1], out=out).add_(coefficients[-2])
    for coefficient in reversed(coefficients[:-2]):
        out.mul_(x).add_(coefficient)
    return out


def _rational(
    x: torch.Tensor,
    pair: tuple[Sequence[float], Sequence[float]],
    out: tuple[torch.Tensor, torch.Tensor] | tuple[None, None] = (None, None),
) -> torch.Tensor:
    numerator = _horner(x, pair[0], out[0])
    return numerator.div_(_horner(x, pair[1], out[1]))


def _central(
    q: torch.Tensor, buffers: tuple[torch.Tensor, ...] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """AS 241's central branch `q A(r) / B(r)`, `r = 0.180625 - q^2`, for `q = u - 1/2`; and `r`.

    The branch is meant for `|q| <= 0.425`, that is `r >= 0`: elements with `r < 0` are the tails.
    `buffers`, three float64 tensors of `q`'s size, hold `r` and the two polynomials (a fill
    reuses them for every chunk instead of allocating).
    """
    r, numerator, denominator = buffers if buffers is not None else (None, None, None)
    r = torch.mul(q, q, out=r).neg_().add_(0.180625)
    return _rational(r, _AS241_CENTRAL, (numerator, denominator)).mul_(q), r


def _tail(q: torch.Tensor, ws: _Workspace | None = None) -> torch.Tensor:
    """AS 241 for `|q| > 0.425`: rational functions of `s = sqrt(-log(1/2 - |q|))`."""
    ws = ws if ws is not None else _Workspace(q.device)
    n = q.numel()
    p = torch.abs(q, out=ws("tail.p", n)).neg_().add_(0.5)  # min(u, 1 - u), exact
    s = _sqrt(_log(p, ws).neg_(), ws)
    shifted = torch.sub(s, 1.6, out=ws("tail.x", n))
    z = _rational(shifted, _AS241_INTERMEDIATE, (ws("tail.num", n), ws("tail.den", n)))
    far = torch.nonzero(s > 5.0).squeeze(1)  # r < e^-25: about one element in 3e10
    if far.numel():
        z.index_copy_(0, far, _rational(s.index_select(0, far) - 5.0, _AS241_FAR))
    return z.copysign_(q)


def _standard_normal(c: torch.Tensor) -> torch.Tensor:
    """`Phi^-1((1 + c) / 2)` for `c` in (-1, 1), in place, by AS 241 in exact operations."""
    q = c.mul_(0.5)  # q = u - 1/2, exact
    z, r = _central(q)
    tail = torch.nonzero(r < 0.0).squeeze(1)
    if tail.numel():
        z.index_copy_(0, tail, _tail(q.index_select(0, tail)))
    return c.copy_(z)


TAIL_BATCH_CPU = (1 << 15) - 1
"""Most tail elements of the normal computed together on the CPU: below torch's parallel grain."""
TAIL_BATCH_CUDA = 1 << 22
"""Most tail elements of the normal computed together on other devices."""


class _Normal(_Transform):
    """`mean + std z` with `z = _standard_normal(c)`, the tails gathered over chunks.

    15% of the elements take the tail branch, about 80 operations each. Computed chunk by chunk,
    those operations would run on a few thousand elements at a time, where each call costs more
    than its arithmetic; so the central value is written first, and the tails' sources and
    positions are kept until the next chunk's would make more than `batch` (float64 and int64: no
    temporary of the tensor's size), then computed and written over it.
    """

    scale = 2.0**-54  # q = c / 2 = u - 1/2, exact

    def __init__(self, mean: float, std: float, device: torch.device) -> None:
        self.mean, self.std = mean, std
        self.batch = TAIL_BATCH_CPU if device.type == "cpu" else TAIL_BATCH_CUDA
        self.ws = _Workspace(device)
        self.pending = 0

    def _affine(self, z: torch.Tensor) -> torch.Tensor:
        z.mul_(self.std)
        return z.add_(self.mean) if self.mean != 0.0 else z

    def __call__(self, q: torch.Tensor, first: int, writer: _Writer) -> torch.Tensor:
        n, ws = q.numel(), self.ws
        central = (ws("central.r", n), ws("central.num", n), ws("central.den", n))
        z, r = _central(q, central)
        tail = torch.nonzero(torch.lt(r, 0.0, out=ws("central.mask", n, torch.bool))).squeeze(1)
        count = tail.numel()
        if count:
            if self.pending + count > self.batch:
                self.finish(writer)
            end = self.pending + count
            torch.index_select(q, 0, tail, out=ws("pending.q", self.batch)[self.pending : end])
            torch.add(tail, first, out=ws("pending.at", self.batch, torch.int64)[self.pending : end])
            self.pending = end
        return self._affine(z)

    def finish(self, writer: _Writer) -> None:
        if not self.pending:
            return
        n, self.pending = self.pending, 0
        values = _tail(self.ws("pending.q", self.batch)[:n], self.ws)
        writer.at(self.ws("pending.at", self.batch, torch.int64)[:n], self._affine(values))


# ------------------------------------------------------------------------------------------------
# The samplers


def _prepare(tensor: object, seed: object, stream: object, caller: str) -> int:
    if is_dtensor(tensor):
        check_float_tensor(tensor.to_local(), caller)
    else:
        check_float_tensor(tensor, caller)
    if tensor.device.type == "meta":
        raise ValueError(
            f"{caller}() got a tensor on the meta device: it has no storage, so there is nothing "
            "to fill. Allocate it first (model.to_empty(device=...)), then initialize"
        )
    if not isinstance(stream, str):
        raise TypeError(f"{caller}() stream must be a str (e.g. the parameter's name), got {stream!r}")
    return check_seed(seed, caller)


def _finite(value: object, name: str, caller: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{caller}() {name} must be a finite number, got {value!r}")
    return float(value)


def counter_uniform_(
    tensor: torch.Tensor,
    a: float = 0.0,
    b: float = 1.0,
    *,
    seed: int,
    stream: str = "",
    global_shape: Sequence[int] | None = None,
    global_offset: Sequence[int] | None = None,
) -> torch.Tensor:
    r"""Fill `tensor` in place from `U(a, b)`; the values depend only on the seed and the index.

    Element `i` (row-major over the global tensor) is `m + h c_i` with `m = (a + b) / 2`,
    `h = (b - a) / 2` and `c_i` the counter generator's uniform source in `(-1, 1)` (see the module
    description): the same bits on any device, thread count, CPU kind and split of the tensor.
    Values lie in `[a, b]` (an endpoint only by rounding to the tensor's dtype).

    Args:
        tensor: A floating-point tensor, a parameter, or a `DTensor` (its local shard is filled from
            its global offsets).
        a: Lower bound.
        b: Upper bound, `b >= a`.
        seed: An integer in `[0, 2**64)`.
        stream: A name that gives an independent stream under the same seed, e.g. the
            parameter's qualified name ([apply_counter_rules][paraminit.apply_counter_rules] uses
            that).
        global_shape: Shape of the whole tensor this one is a block of; default: its own shape.
        global_offset: Index of this block's first element in each dimension; default: zeros.

    Returns:
        `tensor`, filled.

    Raises:
        TypeError: not a floating-point tensor, or a bad seed or stream type.
        ValueError: a bound is not finite, `b < a`, the seed is out of range, the tensor is on the
            `meta` device, or the block does not fit in `global_shape`.

    Example:
        ```python
        import torch
        from paraminit import counter_uniform_

        full = counter_uniform_(torch.empty(6, 4), -1.0, 1.0, seed=7)
        part = torch.empty(2, 4)  # rows 3 and 4 of the same fill, drawn on their own
        counter_uniform_(part, -1.0, 1.0, seed=7, global_shape=(6, 4), global_offset=(3, 0))
        assert torch.equal(part, full[3:5])
        ```
    """
    seed = _prepare(tensor, seed, stream, "counter_uniform_")
    a, b = _finite(a, "a", "counter_uniform_"), _finite(b, "b", "counter_uniform_")
    if b < a:
        raise ValueError(f"counter_uniform_() needs a <= b, got a={a}, b={b}")
    mid, half = (a + b) / 2.0, (b - a) / 2.0

    def transform(c: torch.Tensor) -> torch.Tensor:
        c.mul_(half)
        return c.add_(mid) if mid != 0.0 else c

    region = _region(tensor, global_shape, global_offset, "counter_uniform_")
    with torch.no_grad():
        return _fill_(tensor, region, _key(seed, "uniform", stream), _Elementwise(transform))


def counter_normal_(
    tensor: torch.Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    *,
    seed: int,
    stream: str = "",
    global_shape: Sequence[int] | None = None,
    global_offset: Sequence[int] | None = None,
) -> torch.Tensor:
    r"""Fill `tensor` in place from `N(mean, std^2)`; the values depend only on the seed and the index.

    Element `i` is `mean + std z_i`, where `z_i` is the standard normal quantile of the counter
    generator's uniform source, computed by Wichura's AS 241 from correctly rounded operations
    only (see the module description), so it has the same bits on every device and CPU kind.
    `|z_i| <= 8.3`.

    Args:
        tensor: A floating-point tensor, a parameter, or a `DTensor`.
        mean: Mean.
        std: Standard deviation, `>= 0`.
        seed: An integer in `[0, 2**64)`.
        stream: A name that gives an independent stream under the same seed.
        global_shape: Shape of the whole tensor this one is a block of; default: its own shape.
        global_offset: Index of this block's first element in each dimension; default: zeros.

    Returns:
        `tensor`, filled.

    Raises:
        TypeError: not a floating-point tensor, or a bad seed or stream type.
        ValueError: `mean` or `std` not finite, `std < 0`, a bad seed, a `meta` tensor, or a block
            that does not fit in `global_shape`.

    Example:
        ```python
        import torch
        from paraminit import counter_normal_

        w = counter_normal_(torch.empty(3, 5), std=0.01, seed=0)
        w64 = counter_normal_(torch.empty(3, 5, dtype=torch.float64), std=0.01, seed=0)
        assert torch.equal(w, w64.float())  # float32 is the float64 fill, rounded once
        ```
    """
    seed = _prepare(tensor, seed, stream, "counter_normal_")
    mean, std = _finite(mean, "mean", "counter_normal_"), _finite(std, "std", "counter_normal_")
    if std < 0:
        raise ValueError(f"counter_normal_() needs std >= 0, got std={std}")

    region = _region(tensor, global_shape, global_offset, "counter_normal_")
    with torch.no_grad():
        return _fill_(tensor, region, _key(seed, "normal", stream), _Normal(mean, std, region.local.device))


def counter_mixture_(
    tensor: torch.Tensor,
    inner: float = 5.0,
    outer: float = 10.0,
    p_zero: float = 0.5,
    *,
    seed: int,
    stream: str = "",
    global_shape: Sequence[int] | None = None,
    global_offset: Sequence[int] | None = None,
) -> torch.Tensor:
    r"""Fill `tensor` in place from the chapter's mixture; the values depend only on the seed and index.

    The distribution of [mixture_][paraminit.mixture_] (see [Mixture][paraminit.Mixture]): 0 with
    probability `p`, else uniform on `[a, b]` or `[-b, -a]`, each with probability `(1 - p) / 2`.
    Element `i` is `x = h c_i` with `h = (b - a) / (1 - p)`, set to 0 when `|x| <= p h` and to
    `sign(x) (|x| - p h + a)` otherwise, where `c_i` is the counter generator's uniform source.

    Args:
        tensor: A floating-point tensor, a parameter, or a `DTensor`.
        inner: Inner magnitude `a >= 0`.
        outer: Outer magnitude `b > a`.
        p_zero: Probability `p` in `[0, 1]` of an exact zero.
        seed: An integer in `[0, 2**64)`.
        stream: A name that gives an independent stream under the same seed.
        global_shape: Shape of the whole tensor this one is a block of; default: its own shape.
        global_offset: Index of this block's first element in each dimension; default: zeros.

    Returns:
        `tensor`, filled.

    Raises:
        TypeError: not a floating-point tensor, or a bad seed or stream type.
        ValueError: bad bounds or probability (see [Mixture][paraminit.Mixture]), a bad seed, a
            `meta` tensor, or a block that does not fit in `global_shape`.

    Example:
        ```python
        import torch
        from paraminit import counter_mixture_

        w = counter_mixture_(torch.empty(8, 4), seed=0)
        assert ((w == 0) | ((w.abs() >= 5) & (w.abs() <= 10))).all()
        ```
    """
    from .samplers import Mixture  # the closed forms and their argument checks

    dist = Mixture(inner, outer, p_zero)
    seed = _prepare(tensor, seed, stream, "counter_mixture_")
    a, b, p = dist.inner, dist.outer, dist.p_zero
    region = _region(tensor, global_shape, global_offset, "counter_mixture_")
    if p == 1.0:
        with torch.no_grad():
            region.local.zero_()
        return tensor
    half = (b - a) / (1.0 - p)
    gap = p * half
    shift = a - gap
    ws = _Workspace(region.local.device)

    def transform(c: torch.Tensor) -> torch.Tensor:
        c.mul_(half)
        torch.hardshrink(c, gap, out=c)
        if shift != 0.0:
            c.add_(torch.sign(c, out=ws("sign", c.numel())).mul_(shift))
        return c

    with torch.no_grad():
        return _fill_(tensor, region, _key(seed, "mixture", stream), _Elementwise(transform))


counter_uniform_.counter_sampler = True  # type: ignore[attr-defined]
counter_normal_.counter_sampler = True  # type: ignore[attr-defined]
counter_mixture_.counter_sampler = True  # type: ignore[attr-defined]
