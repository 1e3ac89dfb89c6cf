"""Filling a tensor from counter bits: the distributions' maps from bits to values, chunk by chunk.

`paraminit.counter` checks the arguments and describes the samplers; this module does their work.
For each chunk of the local tensor (in row-major order), the engine of `paraminit.counter_bits`
gives the words of its global indices, a transform turns them into float64 values with the
correctly rounded operations of `paraminit.exact_math`, and the writer rounds them once to the
tensor's dtype and stores them. On the CPU each step is a NumPy call on a chunk of 65,536
elements (cheaper per call than torch's, and on the calling thread); on other devices, torch
calls on chunks of 4M elements. Both give the same bits (tested on the CPU).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import numpy as np
import torch
from torch.autograd.graph import increment_version

from ._dtensor import Region
from .counter_bits import (
    CHUNK_CPU,
    CHUNK_CUDA,
    TORCH_PIECE_CPU,
    Key,
    Layout,
    bits_engine,
    global_indices,
    layout,
    words_at,
)
from .exact_math import LAYERS, ZIGGURAT_INV_R, ZIGGURAT_R, Ziggurat, exp, log, round_half, ziggurat

TAIL_BATCH_CPU = (1 << 15) - 1
"""Most rejected draws of the normal kept before they are finished together, on the CPU."""
TAIL_BATCH_CUDA = 1 << 20
"""Most rejected draws of the normal kept before they are finished together, on other devices."""
NUMPY_ON_CPU = True
"""Compute the CPU's fills with NumPy (faster on small chunks); the torch code that other devices
run gives the same bits, and the tests run it on the CPU too by setting this to False."""
_HALF = (torch.float16, torch.bfloat16)


# ------------------------------------------------------------------------------------------------
# Writing float64 values into the local tensor


class Writer:
    """Writes float64 values (a NumPy array on the CPU, else a tensor) into the local tensor,
    rounded once to its dtype."""

    def __init__(self, local: torch.Tensor) -> None:
        self.local = local
        self.dtype = local.dtype
        self.flat = local.view(-1) if local.is_contiguous() else None
        self.numpy = None
        if self.flat is not None and _on_numpy(local.device) and self.dtype not in _HALF:
            self.numpy = self.flat.detach().numpy()  # NumPy rounds float64 to float32 once too

    def _rounded(self, values: torch.Tensor) -> torch.Tensor:
        if self.dtype in _HALF:
            return round_half(values, self.dtype)
        return values.to(self.dtype)

    def range(self, first: int, values: np.ndarray | torch.Tensor) -> None:
        """Local elements `first, ..., first + len(values) - 1` (row-major)."""
        if self.numpy is not None:
            np.copyto(self.numpy[first : first + len(values)], values, casting="same_kind")
            return
        values = torch.from_numpy(values) if isinstance(values, np.ndarray) else values
        if self.flat is not None:
            piece = TORCH_PIECE_CPU if self.local.device.type == "cpu" else values.numel()
            for start in range(0, values.numel(), piece):
                part = values[start : start + piece]
                self.flat[first + start : first + start + part.numel()].copy_(self._rounded(part))
        else:
            positions = torch.arange(first, first + values.numel(), device=self.local.device)
            self.at(positions, values)

    def at(self, positions: np.ndarray | torch.Tensor, values: np.ndarray | torch.Tensor) -> None:
        """Local elements at the row-major `positions`."""
        if self.numpy is not None:
            self.numpy[positions] = values
            return
        positions, values = torch.as_tensor(positions), torch.as_tensor(values)
        piece = TORCH_PIECE_CPU if self.local.device.type == "cpu" else max(1, values.numel())
        for start in range(0, values.numel(), piece):
            part = self._rounded(values[start : start + piece].to(self.local.device))
            where = positions[start : start + piece].to(self.local.device)
            if self.flat is not None:
                self.flat.index_copy_(0, where, part)
            else:
                self.local[torch.unravel_index(where, self.local.shape)] = part

    def fill(self, value: float) -> None:
        self.local.fill_(self._rounded(torch.tensor(value, dtype=torch.float64)).item())

    def done(self) -> None:
        if self.numpy is not None:  # NumPy's writes do not move autograd's version counter
            with contextlib.suppress(RuntimeError):  # an inference tensor keeps none
                increment_version(self.local)


# ------------------------------------------------------------------------------------------------
# The samplers' work on each chunk: bits -> float64 values, on NumPy (CPU) or torch (others)


class Transform:
    """Turns the words of local elements `first, ...` into float64 values and writes them."""

    def start(self, bits, size: int, device: torch.device, writer: Writer, layout: Layout) -> None:
        self.bits, self.writer, self.layout = bits, writer, layout
        self.cpu = _on_numpy(device)
        self.k = np.empty(size, np.int64) if self.cpu else torch.empty(size, dtype=torch.int64, device=device)
        self.c = (
            np.empty(size, np.float64) if self.cpu else torch.empty(size, dtype=torch.float64, device=device)
        )

    def steps(self, c, first: int, steps: list[tuple[Callable, float]]) -> None:
        """Apply `steps` (NumPy ufunc or torch function, constant) to `c` in place, and write it.
        (Writing the last step's result into a float32 tensor directly took longer than computing
        it in float64 and copying: NumPy's casting loop is slower than a copy.)"""
        for function, constant in steps:
            function(c, constant, out=c)
        self.writer.range(first, c)

    def finish(self) -> None:
        """Write whatever was left for later."""


def scale_factors(constant: float) -> list[float]:
    """Factors by which `k` is multiplied, in order, so that the result is `(k 2^-53) constant`
    rounded once: `[constant 2^-53]` when that is a normal number (a power of two is exact),
    else `[2^-53, constant]`."""
    scaled = constant * 2.0**-53
    return [scaled] if abs(scaled) >= 2.0**-1022 or scaled == 0.0 else [2.0**-53, constant]


def times(k: int, factors: list[float]) -> float:
    """`k` times the factors, rounded after each, as the fill computes it."""
    value = float(k)
    for factor in factors:
        value *= factor
    return value


def _float_of(k, c):
    """`c = float64(k)` (exact: `|k| < 2^53`)."""
    if isinstance(c, np.ndarray):
        np.copyto(c, k, casting="unsafe")
    else:
        c.copy_(k)
    return c


class UniformFill(Transform):
    def __init__(self, a: float, b: float) -> None:
        mid, half = (a + b) / 2.0, (b - a) / 2.0
        if not math.isfinite(mid):
            mid = a / 2.0 + b / 2.0
        if not math.isfinite(half):
            half = b / 2.0 - a / 2.0
        self.a, self.b, self.mid = a, b, mid
        self.factors = scale_factors(half)
        # m + h c grows with c, so the extremes, at k = +-(2^53 - 1), say whether to clamp.
        top = times((1 << 53) - 1, self.factors)
        low, high = (-top + mid, top + mid) if mid != 0.0 else (-top, top)
        self.clamp = low < a or high > b

    def start(self, bits, size, device, writer, layout) -> None:
        super().start(bits, size, device, writer, layout)
        multiply, add = (np.multiply, np.add) if self.cpu else (torch.mul, torch.add)
        self.chain = [(multiply, factor) for factor in self.factors]
        if self.mid != 0.0:
            self.chain.append((add, self.mid))
        if self.clamp:
            clip = (
                (lambda c, _, **kw: np.clip(c, self.a, self.b, **kw))
                if self.cpu
                else (lambda c, _, out: torch.clamp(c, self.a, self.b, out=out))
            )
            self.chain.append((clip, None))

    def __call__(self, z, first: int) -> None:
        n = len(z)
        c = _float_of(self.bits.odd(z, self.k[:n]), self.c[:n])
        self.steps(c, first, self.chain)


class MixtureFill(Transform):
    def __init__(self, a: float, b: float, p: float) -> None:
        # h = (b - a) / (1 - p) may overflow near the float64 limit: then everything is computed
        # at a scale 2^-s and multiplied back, which changes no value (powers of two are exact).
        self.unscale = 1.0
        half = (b - a) / (1.0 - p)
        while not math.isfinite(half):
            a, b, self.unscale = a * 0.5, b * 0.5, self.unscale * 2.0
            half = (b - a) / (1.0 - p)
        self.a, self.b = a, b
        self.gap = p * half
        self.shift = a - self.gap
        self.factors = scale_factors(half)
        # Without a shift, |x| > p h = a, and only the largest |x| may pass b.
        self.clamp = self.shift != 0.0 or times((1 << 53) - 1, self.factors) > b

    def start(self, bits, size, device, writer, layout) -> None:
        super().start(bits, size, device, writer, layout)
        self.piece = TORCH_PIECE_CPU if device.type == "cpu" else size
        if self.cpu:
            self.y = np.empty(size, np.float64)
            self.ct = torch.from_numpy(self.c)
            multiply = np.multiply
        else:
            self.y = torch.empty(size, dtype=torch.float64, device=device)
            self.ct = self.c
            multiply = torch.mul
        self.unscaled = [(multiply, self.unscale)] if self.unscale != 1.0 else []
        self.pieces = self.ct.split(self.piece)  # views for a whole chunk, made once

    def __call__(self, z, first: int) -> None:
        n = len(z)
        c = _float_of(self.bits.odd(z, self.k[:n]), self.c[:n])
        for factor in self.factors:  # x = h c
            c *= factor
        pieces = self.pieces if n == len(self.c) else self.ct[:n].split(self.piece)
        for piece in pieces:  # 0 (+0.0) where |x| <= p h
            torch.hardshrink(piece, self.gap, out=piece)
        if not self.clamp:
            self.steps(c, first, self.unscaled)
            return
        y = self.y[:n]  # sign(x) clamp(|x| + shift, a, b): 0 stays 0
        if self.cpu:
            np.abs(c, out=y)
            np.add(y, self.shift, out=y)
            np.clip(y, self.a, self.b, out=y)
            np.sign(c, out=c)
        else:
            torch.abs(c, out=y).add_(self.shift).clamp_(self.a, self.b)
            c.sign_()
        multiply = np.multiply if self.cpu else torch.mul
        self.steps(c, first, [(multiply, y), *self.unscaled])


class NormalFill(Transform):
    """`mean + std z` with `z` from the ziggurat. The 0.43% of draws that its fast test rejects are
    written as they are, their positions kept, and finished together, `batch` at a time."""

    def __init__(self, mean: float, std: float, keys: Callable[[int], Key], device: torch.device) -> None:
        self.mean, self.std = mean, std
        self.keys = keys
        self.zig = ziggurat() if _on_numpy(device) else ziggurat().on(device)
        self.batch = TAIL_BATCH_CPU if device.type == "cpu" else TAIL_BATCH_CUDA
        self.pending: list = []
        self.count = 0

    def start(self, bits, size, device, writer, layout) -> None:
        super().start(bits, size, device, writer, layout)
        multiply, add = (np.multiply, np.add) if self.cpu else (torch.mul, torch.add)
        self.affine = ([(multiply, self.std)] if self.std != 1.0 else []) + (
            [(add, self.mean)] if self.mean != 0.0 else []
        )
        if self.cpu:
            self.records = self.zig.records
            self.layer = np.empty(size, np.int64)
            self.looked_up = np.empty(size, self.records.dtype)
            self.magnitude = np.empty(size, np.int64)
            self.reject = np.empty(size, np.bool_)
        else:
            self.layer = torch.empty(size, dtype=torch.int64, device=device)
            self.width = torch.empty(size, dtype=torch.float64, device=device)
            self.k_max = torch.empty(size, dtype=torch.int64, device=device)

    def __call__(self, z, first: int) -> None:
        n = len(z)
        k = self.bits.odd(z, self.k[:n])
        c, layer = self.c[:n], self.layer[:n]
        if self.cpu:
            np.bitwise_and(z, LAYERS - 1, out=layer)
            looked_up = np.take(self.records, layer, out=self.looked_up[:n], mode="wrap")
            np.copyto(c, k, casting="unsafe")
            np.multiply(c, looked_up["width"], out=c)  # x = k 2^-53 x_i
            magnitude = np.abs(k, out=self.magnitude[:n])
            rejected = np.greater_equal(magnitude, looked_up["k_max"], out=self.reject[:n]).nonzero()[0]
        else:
            torch.bitwise_and(z, LAYERS - 1, out=layer)
            width = torch.index_select(self.zig.width, 0, layer, out=self.width[:n])
            k_max = torch.index_select(self.zig.k_max, 0, layer, out=self.k_max[:n])
            c.copy_(k).mul_(width)
            rejected = torch.nonzero(torch.abs(k) >= k_max).squeeze(1)
        if len(rejected):
            if self.count + len(rejected) > self.batch:
                self.finish()
            self.pending.append(rejected + first)
            self.count += len(rejected)
        self.steps(c, first, self.affine)

    def finish(self) -> None:
        if not self.pending:
            return
        positions = np.concatenate(self.pending) if self.cpu else torch.cat(self.pending)
        self.pending, self.count = [], 0
        device = torch.device("cpu") if self.cpu else positions.device
        indices = global_indices(self.layout, torch.as_tensor(positions), device)
        z = _finish_ziggurat(self.zig, self.keys, indices.numpy() if self.cpu else indices)
        for function, constant in self.affine:
            function(z, constant, out=z)
        self.writer.at(positions, z)


def _on_numpy(device: torch.device) -> bool:
    return device.type == "cpu" and NUMPY_ON_CPU


def _nonzero(mask):
    return np.flatnonzero(mask) if isinstance(mask, np.ndarray) else torch.nonzero(mask).squeeze(1)


def _float64(k):
    return k.astype(np.float64) if isinstance(k, np.ndarray) else k.to(torch.float64)


def _uniform(word):
    """`u = |k| 2^-53` in `(0, 1)` from a word's `k` (its top 54 bits, odd, signed)."""
    return _float64(abs((word >> 10) | 1)) * 2.0**-53


def _layer_draw(zig: Ziggurat, word):
    """A word's layer (low 10 bits), `k`, the point `x = k 2^-53 x_layer` and the fast test."""
    layer = word & (LAYERS - 1)
    k = (word >> 10) | 1
    return layer, k, _float64(k) * zig.width[layer], abs(k) < zig.k_max[layer]


def _sign(k):
    return _float64(k > 0) * 2.0 - 1.0


def _finish_ziggurat(zig: Ziggurat, keys: Callable[[int], Key], indices):
    """Standard normal values at the global `indices`, whose first draw (key 0) the fast test
    rejected; NumPy arrays on the CPU, tensors elsewhere.

    Round `j` reads the words of keys `2j` and `2j + 1` at each index. A draw in layer `i >= 1`
    takes the wedge test with `v` from the second word, and a rejected one draws afresh (layer and
    point from the first word of the next round). A draw in the base layer becomes a tail draw with
    the sign of its `k`: each round, `u_1` and `u_2` from the two words, until `2 b > a^2`.
    """
    layer, k, x, _ = _layer_draw(zig, words_at(keys(0), indices))
    out = x
    todo = _nonzero(indices >= 0)  # rows still to find: all, each with its layer draw
    tail = indices < 0  # no row is a tail draw yet
    sign = x * 0.0
    second = words_at(keys(1), indices)
    round_ = 0
    while len(todo):
        done = todo < 0
        if round_:  # this round's words
            first = words_at(keys(2 * round_), indices[todo])
            second = words_at(keys(2 * round_ + 1), indices[todo])
            rows = _nonzero(tail)
            if len(rows):  # tail draws: Marsaglia's method on the two uniforms
                a = log(_uniform(first[rows])) * -ZIGGURAT_INV_R
                b = -log(_uniform(second[rows]))
                accept = _nonzero(b + b > a * a)
                out[todo[rows[accept]]] = (ZIGGURAT_R + a[accept]) * sign[rows[accept]]
                done[rows[accept]] = True
            rows = _nonzero(~tail)  # the others draw afresh: the fast test first
            layer, k, x, fast = _layer_draw(zig, first[rows])
            out[todo[rows[fast]]] = x[fast]
            done[rows[fast]] = True
            pick = _nonzero(~fast)
            rows, layer, k, x, second = rows[pick], layer[pick], k[pick], x[pick], second[rows[pick]]
        else:
            rows = todo
        # The wedge test for layers above the base, with v from the second word.
        y = zig.bottom[layer] + _uniform(second) * zig.height[layer]
        under = (y < exp((x * x) * -0.5)) & (layer > 0)
        out[todo[rows[under]]] = x[under]
        done[rows[under]] = True
        base = _nonzero(layer == 0)  # the base layer beyond r: a tail draw from the next round on
        tail[rows[base]] = True
        sign[rows[base]] = _sign(k[base])
        keep = _nonzero(~done)
        todo, tail, sign = todo[keep], tail[keep], sign[keep]
        round_ += 1
    return out


# ------------------------------------------------------------------------------------------------
# The fill


def fill_(tensor: torch.Tensor, found: Region, key_: Key, transform: Transform) -> torch.Tensor:
    """Fill `found.local` from the counter generator, chunk by chunk, through `transform`."""
    local = found.local
    lay = layout(found)
    if lay.numel == 0:
        return tensor
    device = local.device
    chunk = min(lay.numel, CHUNK_CPU if device.type == "cpu" else CHUNK_CUDA)
    bits = bits_engine(key_, chunk, device, _on_numpy(device))
    writer = Writer(local)
    transform.start(bits, chunk, device, writer, lay)
    for first in range(0, lay.numel, chunk):
        n = min(chunk, lay.numel - first)
        if lay.contiguous:
            z = bits.words(lay.base + first, n)
        else:
            z = bits.words_at(global_indices(lay, torch.arange(first, first + n), device))
        transform(z, first)
    transform.finish()
    writer.done()
    return tensor
