"""A pure-Python model of the counter-based generator, on exact integers and Python floats.

This is the specification the tests hold `paraminit.counter` to. Integers are Python's unbounded
ints reduced modulo 2^64 by hand, so an overflow, a sign-extension or a shift bug in the tensor
code shows up as a different value. Python floats are IEEE 754 doubles and each `+ - * /` below is
one correctly rounded operation, in the order the library's tensor code performs it, so the
float64 results must agree to the last bit; `struct` rounds them to float32 and float16
(round-to-nearest-even), and bfloat16 is rounded from the float32 bits by hand.
"""

from __future__ import annotations

import hashlib
import math
import struct
from fractions import Fraction

MASK = (1 << 64) - 1


def key(seed: int, distribution: str, stream: str) -> tuple[int, int]:
    """(state, gamma): BLAKE2b-128 of seed, distribution and stream; gamma odd with >= 24 transitions."""
    digest = hashlib.blake2b(
        seed.to_bytes(8, "little") + distribution.encode() + b"\0" + stream.encode(), digest_size=16
    ).digest()
    state = int.from_bytes(digest[:8], "little")
    gamma = int.from_bytes(digest[8:], "little") | 1
    if bin(gamma ^ (gamma >> 1)).count("1") < 24:
        gamma ^= 0xAAAAAAAAAAAAAAAA
    return state, gamma


def mix64(z: int) -> int:
    """Stafford's variant 13, as in SplitMix64 (unsigned 64-bit)."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def counter(state: int, gamma: int, index: int) -> int:
    """The unsigned 64-bit counter of global element `index`."""
    return (state + (index + 1) * gamma) & MASK


def bits(state: int, gamma: int, index: int) -> int:
    return mix64(counter(state, gamma, index))


def source(state: int, gamma: int, index: int) -> float:
    """`c = k 2^-53` in (-1, 1): the top 54 bits as a signed number, made odd."""
    value = bits(state, gamma, index)
    signed = value - (1 << 64) if value >> 63 else value
    k = (signed >> 10) | 1  # Python's >> on a negative int is floor division: arithmetic
    return k * 2.0**-53


# ------------------------------------------------------------------------------------------------
# log, sqrt and exp, in the same operations as paraminit.exact_math

LN2_HI = float.fromhex("0x1.62e42fee00000p-1")
LN2_LO = float.fromhex("0x1.a39ef35793c76p-33")
LG = [
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
]
INV_LN2 = 1.44269504088896338700e00
P = [
    1.66666666666666019037e-01,
    -2.77777777770155933842e-03,
    6.61375632143793436117e-05,
    -1.65339022054652515390e-06,
    4.13813679705723846039e-08,
]


def float_bits(x: float) -> int:
    return struct.unpack("<q", struct.pack("<d", x))[0]


def bits_float(b: int) -> float:
    return struct.unpack("<d", struct.pack("<q", b))[0]


def log(x: float) -> float:
    b = float_bits(x)
    e = (b >> 52) - 1023
    m = (b & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000
    if m > 0x3FF6A09E667F3BCD:
        m -= 1 << 52
        e += 1
    k = float(e)
    f = bits_float(m) - 1.0
    s = f / (f + 2.0)
    z = s * s
    w = z * z
    t1 = w * (LG[1] + w * (LG[3] + w * LG[5]))
    t2 = z * (LG[0] + w * (LG[2] + w * (LG[4] + w * LG[6])))
    r = t2 + t1
    hfsq = f * f * 0.5
    return k * LN2_HI - ((hfsq - (s * (hfsq + r) + k * LN2_LO)) - f)


def sqrt(x: float) -> float:
    y = bits_float((float_bits(x) >> 1) + 0x1FF7A3BEA91D9B1B)
    for _ in range(4):
        y = (x / y + y) * 0.5
    return y


def exp(x: float) -> float:
    """fdlibm's e_exp.c for x in [-708, 708], with k = round(x / ln 2) (ties to even)."""
    k = round(x * INV_LN2)  # Python's round: to nearest, ties to even
    hi = x - k * LN2_HI
    lo = k * LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * (P[0] + t * (P[1] + t * (P[2] + t * (P[3] + t * P[4]))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    return bits_float(float_bits(y) + (k << 52))


# ------------------------------------------------------------------------------------------------
# The ziggurat: tables from the recurrence, then the per-element algorithm

LAYERS = 1024
R = float.fromhex("0x1.027c84109fad5p+2")
V = float.fromhex("0x1.417941005fc17p-10")
INV_R = 1.0 / R


def ziggurat_tables() -> tuple[list[float], list[float]]:
    """x[0..1024] and f[0..1024], as Marsaglia and Tsang define them for 1024 layers of area V."""
    x, f = [0.0] * (LAYERS + 1), [0.0] * (LAYERS + 1)
    x[1], f[1] = R, exp(-(R * R) * 0.5)
    x[0] = V / f[1]
    for i in range(1, LAYERS - 1):
        f[i + 1] = V / x[i] + f[i]
        x[i + 1] = sqrt(-2.0 * log(f[i + 1]))
    x[LAYERS], f[LAYERS] = 0.0, 1.0
    return x, f


X, F = ziggurat_tables()
K_MAX = [int(Fraction(X[i + 1]) * 2**53 / Fraction(X[i])) for i in range(LAYERS)]


def odd(word: int) -> int:
    """k: the top 54 bits of the (unsigned) word as a signed number, made odd."""
    signed = word - (1 << 64) if word >> 63 else word
    return (signed >> 10) | 1  # Python's >> on a negative int is floor division: arithmetic


def word(seed: int, stream: str, j: int, index: int) -> int:
    state, gamma = key(seed, "normal" if j == 0 else f"normal#{j}", stream)
    return bits(state, gamma, index)


def standard_normal(seed: int, stream: str, index: int) -> float:
    """The ziggurat, draw by draw: round j reads the words of keys 2j and 2j + 1 at the index."""
    j = 0
    tail_sign = None
    while True:
        first, second = word(seed, stream, 2 * j, index), word(seed, stream, 2 * j + 1, index)
        if tail_sign is not None:  # Marsaglia's tail: r + a, a = -log(u1) / r, if 2b > a^2
            a = log(abs(odd(first)) * 2.0**-53) * -INV_R
            b = -log(abs(odd(second)) * 2.0**-53)
            if b + b > a * a:
                return (R + a) * tail_sign
        else:
            layer, k = first & (LAYERS - 1), odd(first)
            x = k * (X[layer] * 2.0**-53)
            if abs(k) < K_MAX[layer]:
                return x
            if layer == 0:
                tail_sign = 1.0 if k > 0 else -1.0
            else:
                v = abs(odd(second)) * 2.0**-53
                if F[layer] + v * (F[layer + 1] - F[layer]) < exp((x * x) * -0.5):
                    return x
        j += 1


# ------------------------------------------------------------------------------------------------
# The samplers, element by element, in float64; then rounding to a dtype


def uniform(c: float, a: float, b: float) -> float:
    if a == b:
        return a
    mid, half = (a + b) / 2.0, (b - a) / 2.0
    if mid in (math.inf, -math.inf):
        mid = a / 2.0 + b / 2.0
    if half == math.inf:
        half = b / 2.0 - a / 2.0
    x = c * half
    x = x + mid if mid != 0.0 else x
    return min(max(x, a), b)


def normal(z: float, mean: float, std: float) -> float:
    if std == 0.0:
        return mean
    z = z * std
    return z + mean if mean != 0.0 else z


def mixture(c: float, a: float, b: float, p: float) -> float:
    if p == 1.0:
        return 0.0
    scale = 1.0
    half = (b - a) / (1.0 - p)
    while half == math.inf:
        a, b, scale = a * 0.5, b * 0.5, scale * 2.0
        half = (b - a) / (1.0 - p)
    gap = p * half
    shift = a - gap
    x = c * half
    if -gap <= x <= gap:
        return 0.0
    y = min(max(abs(x) + shift, a), b)
    return math.copysign(y, x) * scale


def round_to(x: float, dtype: str) -> int:
    """The bits of `x` rounded once to `dtype` ('float64', 'float32', 'float16', 'bfloat16'), as an int."""
    if dtype == "float64":
        return struct.unpack("<q", struct.pack("<d", x))[0]
    if dtype == "float32":
        return struct.unpack("<i", struct.pack("<f", x))[0]
    if dtype == "float16":  # struct rounds a double to half once, to nearest even
        return struct.unpack("<h", struct.pack("<e", x))[0]
    return _bfloat16_bits(x)


def _bfloat16_bits(x: float) -> int:
    """bfloat16: 8 significant bits, float32's exponent range; nearest, ties to even, on exact
    rationals; then the bits of that value as a float32, top half."""
    if x == 0.0:
        value = x
    else:
        exponent = math.frexp(abs(x))[1]  # |x| in [2^(exponent-1), 2^exponent)
        step = Fraction(2) ** max(exponent - 8, -133)
        scaled = Fraction(abs(x)) / step
        whole = math.floor(scaled)
        rest = scaled - whole
        if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and whole % 2):
            whole += 1
        value = math.copysign(float(whole * step), x)
    as32 = struct.unpack("<I", struct.pack("<f", value))[0]  # exact: value has 8 significant bits
    u = as32 >> 16
    return u - (1 << 16) if u >= 1 << 15 else u


def fill(
    distribution: str, args: tuple, seed: int, stream: str, indices, dtype: str = "float32"
) -> list[int]:
    """The bits of the values at the given global `indices`."""
    if distribution == "normal":
        return [round_to(normal(standard_normal(seed, stream, i), *args), dtype) for i in indices]
    state, gamma = key(seed, distribution, stream)
    sampler = uniform if distribution == "uniform" else mixture
    return [round_to(sampler(source(state, gamma, i), *args), dtype) for i in indices]
