r"""Exact float arithmetic: `exp`, `log` and `sqrt` from correctly rounded operations, the normal's
ziggurat tables, and rounding to half precision once.

The counter samplers promise the same bits on every device and CPU kind. IEEE 754 defines the
result of `+`, `-`, `*`, `/`, comparisons, int-to-float conversion and rounding to an integer to
the last bit, so a sequence of those, each its own operation, gives the same bits everywhere.
Library functions do not: `exp`, `log` and `erfinv` are not correctly rounded and come from other
libraries on other devices (glibc, MKL, SLEEF, CUDA's libdevice), and torch's CPU build may hand
even `sqrt` to a vendor library (`aten/src/ATen/cpu/vml.h`). So the few transcendental functions
the samplers need are built here from the basic operations alone, each step its own torch call
(no fused multiply-add can form across calls), following fdlibm (`e_exp.c`, `e_log.c`):

- [exp][paraminit.exact_math.exp]: `x = k ln2 + r`, `exp(r)` by fdlibm's rational form, `2^k` added
  to the exponent bits; within an ulp of the true value (tested against NumPy).
- [log][paraminit.exact_math.log]: `x = 2^k m` read from the bits, fdlibm's polynomial for
  `log(m)`; within an ulp.
- [sqrt][paraminit.exact_math.sqrt]: half the exponent from the bits, then four Newton steps;
  within an ulp.

Division by a scalar is avoided as well (CUDA computes it as a multiplication by the reciprocal,
PyTorch's `aten/src/ATen/native/cuda/BinaryDivTrueKernel.cu`): divisions here are between
tensors, and constant divisors are multiplications by a constant defined as such.

The normal sampler's tables ([ziggurat][paraminit.exact_math.ziggurat]) are computed from the same
functions, once per process, so that every machine holds the same tables to the last bit. And
[round_half][paraminit.exact_math.round_half] rounds float64 values to float16 or bfloat16
*once*: torch converts float64 to half precision through float32, a double rounding.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

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
# fdlibm e_exp.c: 1 / ln 2 and the polynomial of its rational approximation of exp(r).
_INV_LN2 = float.fromhex("0x1.71547652b82fep+0")
_EXP_P = tuple(
    float.fromhex(h)
    for h in (
        "0x1.555555555553ep-3",
        "-0x1.6c16c16bebd93p-9",
        "0x1.1566aaf25de2cp-14",
        "-0x1.bbd41c5d26bf1p-20",
        "0x1.6376972bea4d0p-25",
    )
)


Real = float | np.ndarray | torch.Tensor
"""A Python float, a float64 NumPy array or a float64 tensor: the functions below take any of them
and give the same bits, since Python's `+ - * /` on floats, NumPy's and torch's are all IEEE 754's
correctly rounded operations."""


def _bits(x: Real) -> int | np.ndarray | torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.view(torch.int64)
    if isinstance(x, np.ndarray):
        return x.view(np.int64)
    return struct.unpack("<q", struct.pack("<d", x))[0]


def _from_bits(bits: int | np.ndarray | torch.Tensor) -> Real:
    if isinstance(bits, torch.Tensor):
        return bits.view(torch.float64)
    if isinstance(bits, np.ndarray):
        return bits.view(np.float64)
    return struct.unpack("<d", struct.pack("<q", bits))[0]


def _as_float(k: int | np.ndarray | torch.Tensor) -> Real:
    if isinstance(k, torch.Tensor):
        return k.to(torch.float64)
    return k.astype(np.float64) if isinstance(k, np.ndarray) else float(k)


def _as_int(k: Real) -> int | np.ndarray | torch.Tensor:
    """An integral float as an integer, exactly."""
    if isinstance(k, torch.Tensor):
        return k.to(torch.int64)
    return k.astype(np.int64) if isinstance(k, np.ndarray) else int(k)


def _rint(x: Real) -> Real:
    """The nearest integer, ties to even (exact)."""
    if isinstance(x, torch.Tensor):
        return torch.round(x)
    return np.rint(x) if isinstance(x, np.ndarray) else float(round(x))


def _greater(a: int | np.ndarray | torch.Tensor, b: int) -> int | np.ndarray | torch.Tensor:
    if isinstance(a, torch.Tensor):
        return (a > b).to(torch.int64)
    return (a > b).astype(np.int64) if isinstance(a, np.ndarray) else int(a > b)


def log(x: Real) -> Real:
    """Natural log of positive, normal float64 `x`, within an ulp, from exact operations.

    `x = 2^e m` with `m` in `[sqrt(2)/2, sqrt(2))` is read from the bits; then fdlibm's
    `k ln2_hi - ((f^2/2 - (s (f^2/2 + R) + k ln2_lo)) - f)` with `f = m - 1`, `s = f / (2 + f)`
    and `R = t1 + t2` its polynomial in `s^2`.
    """
    bits = _bits(x)
    mantissa = (bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000
    above = _greater(mantissa, _SQRT2_BITS)
    mantissa = mantissa - above * (1 << 52)  # m / 2, exactly
    k = _as_float((bits >> 52) - 1023 + above)
    f = _from_bits(mantissa) - 1.0
    s = f / (f + 2.0)
    z = s * s
    w = z * z
    t1 = w * (_LG[1] + w * (_LG[3] + w * _LG[5]))
    t2 = z * (_LG[0] + w * (_LG[2] + w * (_LG[4] + w * _LG[6])))
    r = t2 + t1
    hfsq = f * f * 0.5
    return k * _LN2_HI - ((hfsq - (s * (hfsq + r) + k * _LN2_LO)) - f)


def sqrt(x: Real) -> Real:
    """Square root of positive, normal float64 `x`, within an ulp, from exact operations.

    Halving the bits (exponent and mantissa together) gives a start within 4%; four Newton steps
    `y = (x / y + y) / 2` then reach the float64 result within an ulp.
    """
    y = _from_bits((_bits(x) >> 1) + 0x1FF7A3BEA91D9B1B)
    for _ in range(4):
        y = (x / y + y) * 0.5
    return y


def exp(x: Real) -> Real:
    """`e^x` for float64 `x` in `[-708, 708]`, within an ulp, from exact operations.

    fdlibm's method: `k = round(x / ln 2)`, `r = hi - lo` with `hi = x - k ln2_hi` and
    `lo = k ln2_lo`, `c = r - r^2 P(r^2)`, `e^r = 1 - ((lo - r c / (2 - c)) - hi)`, then `k` is
    added to the exponent bits (the result is a normal number on this range).
    """
    k = _rint(x * _INV_LN2)
    hi = x - k * _LN2_HI  # k ln2_hi is exact: ln2_hi has 32 significant bits
    lo = k * _LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * (_EXP_P[0] + t * (_EXP_P[1] + t * (_EXP_P[2] + t * (_EXP_P[3] + t * _EXP_P[4]))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    return _from_bits(_bits(y) + (_as_int(k) << 52))


def round_half(values: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """float64 `values` rounded once, to nearest with ties to even, to `dtype` (float16, bfloat16).

    torch converts float64 to half precision through float32, and the two roundings differ from
    one where a value lies just beyond a half-precision midpoint. Rounding to float32 *to odd*
    (truncate, then set the last bit if anything was lost) and then to nearest is one rounding
    exactly, since float32 has more than two bits beyond half precision's (Boldo and Melquiond,
    *Emulation of FMA and correctly rounded sums: proved algorithms using rounding to odd*, IEEE
    Transactions on Computers 57(4), 2008).
    """
    single = values.to(torch.float32)  # nearest, ties to even
    lost = values - single.to(torch.float64)  # exact: the two are within a float32 ulp
    # Where something was lost and the last bit is even, the odd neighbour is one ulp toward the
    # value: +1 on the bits moves away from zero, -1 toward it, whatever the sign.
    step = torch.sign(lost).mul_(torch.sign(values)).to(torch.int32)
    bits = single.view(torch.int32)
    step.mul_(1 - torch.bitwise_and(bits, 1))
    bits.add_(step)
    return single.to(dtype)


# ------------------------------------------------------------------------------------------------
# The normal's ziggurat

LAYERS = 1024
ZIGGURAT_R = float.fromhex("0x1.027c84109fad5p+2")
"""4.038849846109504: where the tail starts, for 1024 layers of equal area."""
ZIGGURAT_V = float.fromhex("0x1.417941005fc17p-10")
"""0.001226324646353088: the area of each layer, `r f(r) + sqrt(pi/2) erfc(r / sqrt 2)`.

Both constants were computed with mpmath at 60 digits, `r` as the root that closes the ziggurat
(the last layer's top at `f = 1`), and are checked by a test."""
ZIGGURAT_INV_R = float.fromhex("0x1.fb1336ad53b70p-3")
"""`1 / r`, rounded: the tail multiplies by it rather than divide."""


@dataclass(frozen=True)
class Ziggurat:
    """Marsaglia and Tsang's ziggurat for `|z|` of the standard normal, in 1024 layers.

    With `f(x) = exp(-x^2 / 2)`: `x[1] = r`, `f[i + 1] = v / x[i] + f[i]` and
    `x[i + 1] = sqrt(-2 log f[i + 1])`, so that each layer `i >= 1`, of width `x[i]` between the
    heights `f[i]` and `f[i + 1]`, has area `v`; `x[1024] = 0`, `f[1024] = 1` close the top; the base
    layer 0 is the rectangle of width `r` under `f(r)` plus the tail beyond `r`, whose area is `v`
    too, drawn as a rectangle of width `x[0] = v / f(r)`. A point drawn in layer `i` at `u x[i]`
    is under the curve for sure when `|u| x[i] < x[i + 1]`, which the integer threshold `k_max[i]`
    tests on the raw bits.

    The per-layer tables are NumPy arrays (float64, int64); [on][paraminit.exact_math.Ziggurat.on]
    gives them as tensors on a device.
    """

    x: tuple[float, ...]
    """The layers' widths, `x[0] ... x[1024]`."""
    f: tuple[float, ...]
    """`f(x[i])`, `f[0] = 0` (unused) ... `f[1024] = 1`."""
    width: np.ndarray | torch.Tensor
    """`x[i] 2^-53`, so that `k width[i]` is `u x[i]` for the source `u = k 2^-53`."""
    k_max: np.ndarray | torch.Tensor
    """`floor(2^53 x[i + 1] / x[i])`: `|k| < k_max[i]` puts `k width[i]` under the curve."""
    bottom: np.ndarray | torch.Tensor
    """`f[i]`, the bottom of each layer."""
    height: np.ndarray | torch.Tensor
    """`f[i + 1] - f[i]`, the height of each layer."""
    closure: float
    """`v / x[1023] + f[1023] - 1`: how far the recurrence's last step is from the top, `f = 1`."""

    @property
    def records(self) -> np.ndarray:
        """`width` and `k_max` side by side (a NumPy structured array): one look-up gets both."""
        records = np.empty(LAYERS, dtype=[("width", np.float64), ("k_max", np.int64)])
        records["width"], records["k_max"] = self.width, self.k_max
        return records

    def on(self, device: torch.device) -> Ziggurat:
        """The tables as tensors on `device`."""
        tables = ("width", "k_max", "bottom", "height")
        moved = {name: torch.as_tensor(getattr(self, name)).to(device) for name in tables}
        return Ziggurat(self.x, self.f, closure=self.closure, **moved)


@functools.cache
def ziggurat() -> Ziggurat:
    """The ziggurat's tables, computed from the exact functions above (the same bits everywhere),
    once per process."""
    return _tables()


def _tables() -> Ziggurat:
    r, v = ZIGGURAT_R, ZIGGURAT_V
    x = [0.0] * (LAYERS + 1)
    f = [0.0] * (LAYERS + 1)
    x[1], f[1] = r, exp(-(r * r) * 0.5)
    x[0] = v / f[1]
    for i in range(1, LAYERS - 1):  # on Python floats: each operation rounded once
        f[i + 1] = v / x[i] + f[i]
        x[i + 1] = sqrt(-2.0 * log(f[i + 1]))
    x[LAYERS], f[LAYERS] = 0.0, 1.0
    k_max = [int(Fraction(x[i + 1]) / Fraction(x[i]) * (1 << 53)) for i in range(LAYERS)]
    return Ziggurat(
        x=tuple(x),
        f=tuple(f),
        width=np.array([xi * 2.0**-53 for xi in x[:LAYERS]], dtype=np.float64),
        k_max=np.array(k_max, dtype=np.int64),
        bottom=np.array(f[:LAYERS], dtype=np.float64),
        height=np.array([f[i + 1] - f[i] for i in range(LAYERS)], dtype=np.float64),
        closure=v / x[LAYERS - 1] + f[LAYERS - 1] - 1.0,
    )
