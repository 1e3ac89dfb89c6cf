r"""Keys and counter bits: 64 random bits for every element of a global tensor, from its index.

This module is the bit generator of `paraminit.counter`: it turns a seed, a distribution's name
and a stream name into a key, and a key and an element's **global** index into 64 random bits. It
knows nothing of floats or distributions (those are `paraminit.exact_math` and
`paraminit.counter`, which build on it).

The generator
-------------
Each element's 64 bits are SplitMix64 (Steele, Lea and Flood, *Fast splittable pseudorandom
number generators*, OOPSLA 2014; the reference code is Vigna's `splitmix64.c`) evaluated at a
counter rather than stepped:

1. **Key.** BLAKE2b (16-byte digest) of `seed` (8 bytes, little-endian), the distribution's name,
   a zero byte and the stream name (UTF-8) gives two 64-bit words: the `state` and the `gamma`.
   Forcing `gamma` odd, and flipping every other bit when it has fewer than 24 bit transitions, is
   `java.util.SplittableRandom`'s rule for a good gamma. A cryptographic hash makes the keys of
   neighbouring seeds unrelated, and a different gamma per stream means two streams are never the
   same sequence shifted by a few elements.
2. **Counter.** Element `i` takes `x = state + (i + 1) * gamma (mod 2^64)`: the `(i + 1)`-th state
   of SplitMix64 started at `state`, without stepping through the first `i`.
3. **Mix.** `mix64(x)`, Stafford's "variant 13" finalizer, exactly as in SplitMix64:
   `x ^= x >> 30; x *= 0xBF58476D1CE4E5B9; x ^= x >> 27; x *= 0x94D049BB133111EB; x ^= x >> 31`.

Element `i` is counted in row-major order over the whole (global) tensor, and indices stop below
$2^{63}$, so that every index is an `int64`; a larger tensor is refused rather than wrapped.

Two engines compute the same bits. On the CPU, NumPy's `uint64` arrays (multiplication wraps
modulo $2^{64}$, `>>` is a logical shift, and each operation costs less than a torch call on a
small chunk); on other devices, `int64` tensors, where a logical shift is an arithmetic shift
followed by a mask. Integer arithmetic is exact on every CPU and GPU, so both give the same bits
(tested against each other and against a pure-Python model).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ._dtensor import Region, dtensor_region, is_dtensor

MASK64 = (1 << 64) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15
"""SplitMix64's own increment (the golden ratio times 2^64, made odd)."""
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
MAX_ELEMENTS = (1 << 63) - 1
"""The most elements a global tensor may have: indices `0 ... 2^63 - 2` all fit in an `int64`."""

CHUNK_CPU = 1 << 16
"""Elements per step on the CPU: NumPy's operations run on the calling thread, and a step's
buffers stay within a core's cache. The chunk size never changes a value, only the speed."""
TORCH_PIECE_CPU = (1 << 15) - 1
"""The most elements a torch operation gets on the CPU: below torch's parallel grain (32768), so
that it runs on the calling thread. Split across torch's threads, on a machine whose cores are
busy with other work, every operation waits for a descheduled thread: ten times slower or worse."""
CHUNK_CUDA = 1 << 22
"""Elements per step on other devices: large, so that kernel launches are amortized (the int64
buffers take 32 MiB each)."""


def signed(value: int) -> int:
    """`value` modulo 2^64 as a signed int64 (how torch stores it)."""
    value &= MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


@dataclass(frozen=True)
class Key:
    """The SplitMix64 start `state` and increment `gamma` of one (seed, distribution, stream)."""

    state: int
    gamma: int


def check_seed(seed: object, caller: str) -> int:
    """`seed` if it is an int in `[0, 2**64)` (NumPy integers included), else a clear error."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{caller}() seed must be an int in [0, 2**64), got {seed!r}")
    seed = int(seed)
    if not 0 <= seed < 1 << 64:
        raise ValueError(f"{caller}() seed must be in [0, 2**64), got {seed}")
    return seed


def check_stream(stream: object, caller: str) -> str:
    """`stream` if it is text that UTF-8 can encode (the key hashes its bytes), else a clear error."""
    if not isinstance(stream, str):
        raise TypeError(f"{caller}() stream must be a str (e.g. the parameter's name), got {stream!r}")
    try:
        stream.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"{caller}() stream must be text that UTF-8 can encode (no lone surrogates), got "
            f"{stream!r}: {error.reason} at position {error.start}"
        ) from None
    return stream


def key(seed: int, distribution: str, stream: str) -> Key:
    """The key of a fill: BLAKE2b-128 of the seed, the distribution's name and the stream."""
    message = seed.to_bytes(8, "little") + distribution.encode() + b"\0" + stream.encode()
    digest = hashlib.blake2b(message, digest_size=16).digest()
    state = int.from_bytes(digest[:8], "little")
    gamma = int.from_bytes(digest[8:], "little") | 1
    if (gamma ^ (gamma >> 1)).bit_count() < 24:
        gamma ^= 0xAAAAAAAAAAAAAAAA
    return Key(state, gamma)


# ------------------------------------------------------------------------------------------------
# Which global indices a local tensor holds


@dataclass(frozen=True)
class Layout:
    """The local tensor's elements, in row-major order, as runs of consecutive global indices.

    Dimensions `split` onwards are whole (except `split` itself), so each run is `run` elements long;
    run `r` starts at `base` plus its multi-index over the leading dims times their global strides.
    """

    numel: int
    run: int
    leading: tuple[int, ...]  # local sizes of the dims before `split`
    strides: tuple[int, ...]  # global strides of those dims
    base: int  # global index of the local tensor's first element

    @property
    def contiguous(self) -> bool:
        return self.run == self.numel


def layout(region: Region) -> Layout:
    shape, gshape, offset = tuple(region.local.shape), region.global_shape, region.offset
    gstrides = [1] * len(gshape)
    for d in range(len(gshape) - 2, -1, -1):
        gstrides[d] = gstrides[d + 1] * gshape[d + 1]
    numel = math.prod(shape)
    # The first dim from which on every later dim is whole: a run spans it and all dims after it.
    split = len(shape) - 1
    while split > 0 and shape[split] == gshape[split]:
        split -= 1
    base = sum(start * stride for start, stride in zip(offset, gstrides, strict=True))
    run = math.prod(shape[split:])
    return Layout(numel, run, shape[:split], tuple(gstrides[:split]), base)


def region(tensor: torch.Tensor, global_shape: object, global_offset: object, caller: str) -> Region:
    """Where `tensor` sits in the global tensor; every bad layout is refused with what was wrong."""
    if is_dtensor(tensor):
        if global_shape is not None or global_offset is not None:
            raise ValueError(
                f"{caller}() got a DTensor and an explicit global_shape/global_offset: a DTensor "
                "knows its own layout, pass neither"
            )
        found = dtensor_region(tensor)
    else:
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
        found = Region(tensor, gshape, offset)
    total = math.prod(found.global_shape)
    if total > MAX_ELEMENTS:
        exponent = total.bit_length() - 1
        size = f"2**{exponent}" if total == 1 << exponent else f"{total} (about 2**{exponent})"
        raise ValueError(
            f"{caller}() global_shape {tuple(found.global_shape)} has {size} elements; the counter "
            "samplers number the elements of a tensor with int64 indices, so it may have at most "
            "2**63 - 1 (a larger one would repeat the numbers of its first elements)"
        )
    return found


def _int_tuple(value: object, name: str, caller: str) -> tuple[int, ...]:
    if isinstance(value, torch.Size):
        return tuple(value)
    if not isinstance(value, Sequence) or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in value
    ):
        raise TypeError(f"{caller}() {name} must be a sequence of ints, got {value!r}")
    return tuple(int(v) for v in value)


def global_indices(layout: Layout, positions: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Global indices (int64) of the local elements at the row-major `positions` (int64)."""
    local = positions.to(device, torch.int64)
    if layout.contiguous:
        return local + layout.base
    runs = torch.div(local, layout.run, rounding_mode="floor")
    index = local - runs * layout.run + layout.base
    for size, stride in zip(reversed(layout.leading), reversed(layout.strides), strict=True):
        position = torch.remainder(runs, size)
        runs = torch.div(runs, size, rounding_mode="floor")
        index += position * stride
    return index


def words_at(key: Key, indices: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """`mix64` of the counters of the global `indices` (int64: a NumPy array, or a tensor on any
    device), as int64 of the same kind."""
    if isinstance(indices, np.ndarray):
        return _mix_numpy(
            indices.astype(np.uint64) * np.uint64(key.gamma) + np.uint64((key.state + key.gamma) & MASK64)
        )
    z = indices.to(torch.int64) + 1
    z.mul_(signed(key.gamma)).add_(signed(key.state))
    return _mix_tensor(z, torch.empty_like(z))


def _mix_numpy(z: np.ndarray, t: np.ndarray | None = None) -> np.ndarray:
    """`mix64` of uint64 `z` in place (`t` a buffer of its size), read as int64."""
    t = np.empty_like(z) if t is None else t
    np.right_shift(z, 30, out=t)
    np.bitwise_xor(z, t, out=z)
    np.multiply(z, MIX1, out=z)
    np.right_shift(z, 27, out=t)
    np.bitwise_xor(z, t, out=z)
    np.multiply(z, MIX2, out=z)
    np.right_shift(z, 31, out=t)
    np.bitwise_xor(z, t, out=z)
    return z.view(np.int64)


def _mix_tensor(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    for shift, multiplier in ((30, MIX1), (27, MIX2)):
        torch.bitwise_right_shift(z, shift, out=t)
        t.bitwise_and_((1 << (64 - shift)) - 1)  # a logical shift: clear the copied sign bits
        z.bitwise_xor_(t)
        z.mul_(signed(multiplier))
    torch.bitwise_right_shift(z, 31, out=t)
    t.bitwise_and_((1 << 33) - 1)
    return z.bitwise_xor_(t)


# ------------------------------------------------------------------------------------------------
# The engines: global indices -> 64 random bits -> `k`, an odd signed integer of 54 bits


def bits_engine(key: Key, size: int, device: torch.device, numpy: bool) -> NumpyBits | TorchBits:
    """The NumPy engine (`numpy`, for the CPU) or the torch one on `device`, with buffers for
    chunks of up to `size` elements.

    Both engines have the same methods. `words(start, n)` gives `mix64` of the counters of global
    indices `start ... start + n - 1` (in a reused buffer), `words_at(indices)` those of any global
    indices (a new array or tensor); both read as int64. `odd(z, out)` is `k`: the top 54 bits of
    each word read as a signed integer, with the lowest one forced to 1, so `|k| < 2^53` and
    `k 2^-53` is exact: 2^53 equally likely values, symmetric about 0, strictly inside `(-1, 1)`.
    The low 10 bits of a word are left for other uses (the normal takes its layer from them).
    """
    return NumpyBits(key, size) if numpy else TorchBits(key, size, device)


class NumpyBits:
    """The CPU engine: NumPy `uint64` arithmetic on buffers that torch tensors share."""

    def __init__(self, key: Key, size: int) -> None:
        self.key = key
        self.z = np.empty(size, np.uint64)
        self.t = np.empty(size, np.uint64)
        # j * gamma for j < size: the counters of a chunk starting at global index s are then
        # steps + (state + (s + 1) gamma), one addition.
        self.steps = np.arange(size, dtype=np.uint64) * np.uint64(key.gamma)

    def words(self, start: int, n: int) -> np.ndarray:
        z = self.z[:n]
        np.add(self.steps[:n], (self.key.state + (start + 1) * self.key.gamma) & MASK64, out=z)
        return _mix_numpy(z, self.t[:n])

    def words_at(self, indices: torch.Tensor) -> np.ndarray:
        return words_at(self.key, indices.cpu().numpy())  # indices < 2^63: the same bits as uint64

    def odd(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        k = np.empty(z.size, np.int64) if out is None else out
        np.right_shift(z, 10, out=k)
        np.bitwise_or(k, 1, out=k)
        return k


class TorchBits:
    """The engine for other devices: `int64` tensors, logical shifts by masking."""

    def __init__(self, key: Key, size: int, device: torch.device) -> None:
        self.key = key
        self.device = device
        self.z = torch.empty(size, dtype=torch.int64, device=device)
        self.t = torch.empty(size, dtype=torch.int64, device=device)
        self.steps = torch.arange(size, dtype=torch.int64, device=device).mul_(signed(key.gamma))

    def words(self, start: int, n: int) -> torch.Tensor:
        z = self.z[:n]
        torch.add(self.steps[:n], signed(self.key.state + (start + 1) * self.key.gamma), out=z)
        return _mix_tensor(z, self.t[:n])

    def words_at(self, indices: torch.Tensor) -> torch.Tensor:
        return words_at(self.key, indices.to(self.device))

    def odd(self, z: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        k = torch.empty_like(z) if out is None else out
        torch.bitwise_right_shift(z, 10, out=k)  # arithmetic: the sign of the top bit
        return k.bitwise_or_(1)
