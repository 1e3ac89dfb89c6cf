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
import struct

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
# log, sqrt and AS 241, in the same operations as paraminit.counter

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


CENTRAL = (
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
INTERMEDIATE = (
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
FAR = (
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


def horner(x: float, coefficients) -> float:
    out = x * coefficients[-1] + coefficients[-2]
    for c in reversed(coefficients[:-2]):
        out = out * x + c
    return out


def rational(x: float, pair) -> float:
    return horner(x, pair[0]) / horner(x, pair[1])


def standard_normal(c: float) -> float:
    q = c * 0.5
    r = 0.180625 - q * q
    if r >= 0.0:  # |q| <= 0.425, as rounded
        return rational(r, CENTRAL) * q
    s = sqrt(-log(-abs(q) + 0.5))
    z = rational(s - 1.6, INTERMEDIATE) if s <= 5.0 else rational(s - 5.0, FAR)
    return z if q > 0 else -z


# ------------------------------------------------------------------------------------------------
# The samplers, element by element, in float64; then rounding to a dtype


def uniform(c: float, a: float, b: float) -> float:
    mid, half = (a + b) / 2.0, (b - a) / 2.0
    x = c * half
    return x + mid if mid != 0.0 else x


def normal(c: float, mean: float, std: float) -> float:
    z = standard_normal(c) * std
    return z + mean if mean != 0.0 else z


def mixture(c: float, a: float, b: float, p: float) -> float:
    if p == 1.0:
        return 0.0
    half = (b - a) / (1.0 - p)
    gap = p * half
    shift = a - gap
    x = c * half
    if -gap <= x <= gap:
        return 0.0
    if shift != 0.0:
        x = x + (1.0 if x > 0 else -1.0) * shift
    return x


def round_to(x: float, dtype: str) -> int:
    """The bits of `x` rounded to `dtype` ('float64', 'float32', 'float16', 'bfloat16'), as an int."""
    if dtype == "float64":
        return struct.unpack("<q", struct.pack("<d", x))[0]
    as32 = struct.unpack("<i", struct.pack("<f", x))[0]
    if dtype == "float32":
        return as32
    x32 = struct.unpack("<f", struct.pack("<f", x))[0]  # float64 -> float32 -> half, as the library
    if dtype == "float16":
        return struct.unpack("<h", struct.pack("<e", x32))[0]
    u = as32 & 0xFFFFFFFF  # bfloat16: round the float32 bits to nearest even on the top 16
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u - (1 << 16) if u >= 1 << 15 else u


SAMPLERS = {
    "uniform": lambda c, args: uniform(c, *args),
    "normal": lambda c, args: normal(c, *args),
    "mixture": lambda c, args: mixture(c, *args),
}


def fill(
    distribution: str, args: tuple, seed: int, stream: str, indices, dtype: str = "float32"
) -> list[int]:
    """The bits of the values at the given global `indices`."""
    state, gamma = key(seed, distribution, stream)
    sampler = SAMPLERS[distribution]
    return [round_to(sampler(source(state, gamma, i), args), dtype) for i in indices]
