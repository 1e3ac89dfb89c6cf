"""Samplers: fill a tensor in place from a distribution, in the style of `torch.nn.init`.

The chapter's custom distribution is a three-part mixture: a slab `U(inner, outer)`, an atom at zero,
and the mirrored slab `U(-outer, -inner)`. [Mixture][paraminit.Mixture] holds its closed forms (CDF,
density, inverse CDF, mean, variance); [mixture_][paraminit.mixture_] draws from it in place, from
PyTorch's generator. Its seeded twin, the same on every machine, is
[counter_mixture_][paraminit.counter_mixture_].
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import torch

from ._checks import check_bounds_fit, check_float_tensor

LOW_PRECISION = (torch.float16, torch.bfloat16)

MAX_COARSENING = 4.0
"""How much coarser than two draws the single-draw grid may be (a loss of at most two bits)."""


@dataclass(frozen=True)
class Mixture:
    r"""The chapter's mixture: a zero atom between two mirrored uniform slabs.

    $$
    w \sim \begin{cases}
    U(a, b) & \text{with probability } \tfrac{1 - p}{2} \\
    0 & \text{with probability } p \\
    U(-b, -a) & \text{with probability } \tfrac{1 - p}{2}
    \end{cases}
    $$

    with `a = inner`, `b = outer` and `p = p_zero`. The chapter's values are the defaults:
    `a = 5`, `b = 10`, `p = 1/2`.

    Args:
        inner: Inner magnitude `a >= 0`: no nonzero weight is smaller than this in absolute value.
        outer: Outer magnitude `b > a`: no weight is larger than this in absolute value.
        p_zero: Probability `p` in `[0, 1]` of drawing exactly zero.

    Raises:
        ValueError: a bound is negative, not finite, the bounds are in the wrong order, or `p_zero`
            is outside `[0, 1]`.

    Example:
        ```python
        from paraminit import Mixture

        chapter = Mixture()  # a = 5, b = 10, p = 1/2
        assert chapter.var == 0.5 * (5**2 + 5 * 10 + 10**2) / 3
        assert float(chapter.cdf(0.0)) == 0.75  # 1/4 below -5, then the atom of 1/2 at 0
        ```
    """

    inner: float = 5.0
    outer: float = 10.0
    p_zero: float = 0.5

    def __post_init__(self) -> None:
        for name in ("inner", "outer", "p_zero"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"Mixture {name} must be a real number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"Mixture {name} must be finite, got {value!r}")
        if self.inner < 0:
            raise ValueError(f"Mixture inner must be >= 0 (it is a magnitude), got inner={self.inner}")
        if not self.outer > self.inner:
            raise ValueError(
                "Mixture bounds are in the wrong order: expected 0 <= inner < outer, got "
                f"inner={self.inner}, outer={self.outer}"
            )
        if not 0.0 <= self.p_zero <= 1.0:
            raise ValueError(f"Mixture p_zero is a probability in [0, 1], got p_zero={self.p_zero}")

    @property
    def mean(self) -> float:
        """`E[w] = 0`: the two slabs are mirror images with equal weight."""
        return 0.0

    @property
    def var(self) -> float:
        r"""The variance, the slabs' second moment times their weight.

        $$
        \operatorname{Var}[w] = (1 - p)\,\frac{a^2 + a b + b^2}{3}
        $$
        """
        a, b = self.inner, self.outer
        return (1.0 - self.p_zero) * (a * a + a * b + b * b) / 3.0

    def cdf(self, x: Any) -> Any:
        r"""Cumulative distribution function `F(x) = P(w <= x)`.

        With $q = \frac{1 - p}{2}$ and $c(t) = \min(\max(t, 0), 1)$:

        $$
        F(x) = q\, c\!\left(\frac{x + b}{b - a}\right) + p\,[x \ge 0]
             + q\, c\!\left(\frac{x - a}{b - a}\right)
        $$

        Args:
            x: A number, a sequence of numbers, a tensor or a NumPy array.

        Returns:
            A NumPy array if `x` is one; else a float64 tensor, on `x`'s device if `x` is a tensor
            and on the CPU otherwise. The same holds for [pdf][paraminit.samplers.Mixture.pdf] and
            [ppf][paraminit.samplers.Mixture.ppf]: NumPy is never needed.
        """
        t = _as_float64(x)
        a, b, p = self.inner, self.outer, self.p_zero
        q = (1.0 - p) / 2.0
        width = b - a
        out = (
            q * ((t + b) / width).clamp(0.0, 1.0)
            + p * (t >= 0).to(torch.float64)
            + q * ((t - a) / width).clamp(0.0, 1.0)
        )
        return out.numpy() if _is_ndarray(x) else out

    def pdf(self, x: Any) -> Any:
        """Density of the continuous part: `(1 - p) / (2 (b - a))` on each slab, 0 elsewhere.

        The atom at zero has no density; its mass `p` is the jump of
        [cdf][paraminit.samplers.Mixture.cdf] at 0. The density integrates to `1 - p`.
        """
        t = _as_float64(x)
        height = (1.0 - self.p_zero) / (2.0 * (self.outer - self.inner))
        on_slab = (t.abs() >= self.inner) & (t.abs() <= self.outer) & (t != 0)
        out = on_slab.to(torch.float64) * height
        return out.numpy() if _is_ndarray(x) else out

    def ppf(self, u: Any) -> Any:
        """Inverse CDF: the `w` with `F(w) = u`, for `u` in `[0, 1]`.

        `u` below `q = (1 - p) / 2` maps linearly onto `[-b, -a)`, the middle `p` onto 0, the top `q`
        onto `[a, b)`. Drawing `u` uniformly and applying this is exactly what `mixture_` does.
        """
        t = _as_float64(u)
        a, b, p = self.inner, self.outer, self.p_zero
        q = (1.0 - p) / 2.0
        if q == 0.0:
            out = torch.zeros_like(t)
        else:
            low = -b + (b - a) * t / q
            high = a + (b - a) * (t - q - p) / q
            out = torch.where(t < q, low, torch.where(t >= q + p, high, torch.zeros_like(t)))
        return out.numpy() if _is_ndarray(u) else out

    def sample_(self, tensor: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Fill `tensor` in place from this mixture; see [mixture_][paraminit.mixture_]."""
        check_float_tensor(tensor, "mixture_")
        check_bounds_fit(self.inner, self.outer, tensor.dtype, "mixture_")
        with torch.no_grad():
            return _sample_(tensor, self, generator)


def _as_float64(x: Any) -> torch.Tensor:
    # Numbers, sequences and arrays are put on the CPU (an array's result goes back to NumPy);
    # tensors keep their device.
    device = x.device if isinstance(x, torch.Tensor) else "cpu"
    return torch.as_tensor(x, dtype=torch.float64, device=device)


def _is_ndarray(x: Any) -> bool:
    """Whether `x` is a NumPy array, without importing NumPy: if no module has, nothing is one."""
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(x, numpy.ndarray)


def _buffer_size(tensor: torch.Tensor) -> int:
    # On a CPU, about a core's L2 cache (1 MiB of float32), and large enough that torch's intra-op
    # threads are not woken for slivers of work (2^16 elements were several times slower on a busy
    # 2-core machine); on a GPU, large enough to amortize the launches. The output of the CPU
    # generator does not depend on it.
    return 1 << 18 if tensor.device.type == "cpu" else 1 << 22


def _sample_(tensor: torch.Tensor, dist: Mixture, generator: torch.Generator | None) -> torch.Tensor:
    if tensor.dtype not in LOW_PRECISION:
        return _sample_exact_(tensor, dist, generator)
    # float16 / bfloat16: a draw on their coarse grid puts real mass on the threshold itself, which the
    # shrink would zero (0.16% extra zeros in bfloat16). Draw in float32, then round once.
    if not tensor.is_contiguous():
        return tensor.copy_(_sample_exact_(torch.empty_like(tensor, dtype=torch.float32), dist, generator))
    flat = tensor.view(-1)
    buffer = torch.empty(min(flat.numel(), _buffer_size(flat)), dtype=torch.float32, device=flat.device)
    for chunk in flat.split(buffer.numel()):
        chunk.copy_(_sample_exact_(buffer[: chunk.numel()], dist, generator))
    return tensor


def _sample_exact_(tensor: torch.Tensor, dist: Mixture, generator: torch.Generator | None) -> torch.Tensor:
    a, b, p = dist.inner, dist.outer, dist.p_zero
    if p == 1.0:
        return tensor.zero_()
    if not _single_draw_is_fine(dist, tensor.dtype):
        return _two_draws_(tensor, dist, generator)
    # Inverse CDF in two passes and no temporary: draw x ~ U(-h, h) with h = (b - a) / (1 - p), so
    # that |x| < p h has probability p; zero those (hardshrink); the rest, |x| in (p h, h), are the
    # slabs: sign(x) (|x| - p h + a) maps them onto (a, b). In the chapter's case a = p b: no shift.
    half = (b - a) / (1.0 - p)
    gap = p * half
    tensor.uniform_(-half, half, generator=generator)
    torch.hardshrink(tensor, gap, out=tensor)
    shift = a - gap
    if shift != 0.0:
        _add_signed_(tensor, shift)
    return tensor


def _single_draw_is_fine(dist: Mixture, dtype: torch.dtype) -> bool:
    """Whether one `U(-h, h)` draw keeps the slabs' resolution in `dtype` (float32 or float64).

    `uniform_` puts its draws on a grid of step `2 h / 2^t` (`t = 24` bits in float32, 53 in
    float64), that is `h eps`, and the slabs inherit it. The slab's own resolution is the dtype's
    spacing just below `b` (drawing `U(a, b)` alone, with step `(b - a) eps / 2`, is never coarser).
    The single draw is kept while its step is at most `MAX_COARSENING` times that, so it loses at
    most two bits; as `p` nears 1, `h = (b - a) / (1 - p)` grows without bound (at `p = 0.99999`
    the chapter's slab holds only about 84 float32 values), and past `2 h > max` `uniform_` cannot
    draw it at all.
    """
    a, b, p = dist.inner, dist.outer, dist.p_zero
    info = torch.finfo(dtype)
    half = (b - a) / (1.0 - p)
    if 2.0 * half > info.max:
        return False
    mantissa, exponent = math.frexp(b)
    spacing = math.ldexp(info.eps, exponent - (2 if mantissa == 0.5 else 1))
    return half * info.eps <= MAX_COARSENING * spacing


def _two_draws_(tensor: torch.Tensor, dist: Mixture, generator: torch.Generator | None) -> torch.Tensor:
    """The mixture from two independent draws: `|w| ~ U(a, b)` and a float64 `v ~ U(-1/2, 1/2)`.

    `|v| <= p / 2` gives the zero atom and the rest the sign of `v`, so `P(w = 0)` is `p` to float64
    precision however close `p` is to 1, and the slabs keep the dtype's resolution. Contiguous
    tensors go through a float64 buffer, chunk by chunk (magnitudes, then `v`); others are drawn
    into a contiguous temporary, so a view gets the values a contiguous tensor would.
    """
    if not tensor.is_contiguous():
        temporary = torch.empty(tensor.shape, dtype=tensor.dtype, device=tensor.device)
        return tensor.copy_(_two_draws_(temporary, dist, generator))
    flat = tensor.view(-1)
    buffer = torch.empty(min(flat.numel(), _buffer_size(flat)), dtype=torch.float64, device=flat.device)
    for chunk in flat.split(buffer.numel()):
        _slab_and_sign_(chunk, buffer[: chunk.numel()], dist, generator)
    return tensor


def _slab_and_sign_(
    values: torch.Tensor, v: torch.Tensor, dist: Mixture, generator: torch.Generator | None
) -> None:
    values.uniform_(dist.inner, dist.outer, generator=generator)
    v.uniform_(-0.5, 0.5, generator=generator)
    torch.hardshrink(v, dist.p_zero / 2.0, out=v)
    values.mul_(v.sign_())


def _add_signed_(tensor: torch.Tensor, shift: float) -> None:
    """`tensor += shift * sign(tensor)`, through a chunk-sized buffer when the tensor is contiguous."""
    if not tensor.is_contiguous():
        tensor.add_(tensor.sign(), alpha=shift)
        return
    flat = tensor.view(-1)
    buffer = torch.empty(min(flat.numel(), _buffer_size(flat)), dtype=flat.dtype, device=flat.device)
    for chunk in flat.split(buffer.numel()):
        sign = buffer[: chunk.numel()]
        torch.sign(chunk, out=sign)
        chunk.add_(sign, alpha=shift)


def mixture_(
    tensor: torch.Tensor,
    inner: float = 5.0,
    outer: float = 10.0,
    p_zero: float = 0.5,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Fill `tensor` in place with values drawn from the chapter's mixture.

    $$
    w \sim \begin{cases}
    U(a, b) & \text{with probability } \tfrac{1 - p}{2} \\
    0 & \text{with probability } p \\
    U(-b, -a) & \text{with probability } \tfrac{1 - p}{2}
    \end{cases}
    $$

    It draws `x ~ U(-h, h)` with `h = (b - a) / (1 - p)` and maps it through the inverse CDF in
    place: `|x| < p h` becomes 0 and the rest becomes `sign(x) (|x| - p h + a)`, which maps
    `|x|` in `(p h, h)` onto `(a, b)`. For the chapter's values (`a = p b`) that shift is 0 and the
    map is exactly `hardshrink(x, a)`: the chapter's `uniform_(-10, 10)` followed by zeroing
    `|w| < 5`, without the temporary mask, at the cost of one `uniform_` plus one elementwise pass
    (other values add a pass through a small buffer). Works for float16, bfloat16, float32 and
    float64, any shape (empty included), on any device; half-precision tensors are drawn in float32
    through a small buffer and rounded once (exactly the float32 result, rounded), so the fraction
    of zeros stays exactly `p`. Runs under `torch.no_grad()`.

    As `p` nears 1, `h` grows and the single draw's grid (`h` times the dtype's epsilon) gets
    coarse: at `p = 0.99999` the chapter's slab would hold only about 84 float32 values. Once that
    grid is more than 4 times the dtype's spacing just below `b` (for the chapter's bounds in
    float32: `p > 1 - 5/32`), or `2 h` overflows, it draws twice instead: `|w| ~ U(a, b)` at the
    dtype's resolution, and a float64 `v ~ U(-1/2, 1/2)` whose `|v| <= p / 2` gives the zero atom
    (to float64 precision however close `p` is to 1) and whose sign gives the sign. The chapter's
    default arguments always take the single draw, and their seeded output is pinned by a test.

    Args:
        tensor: A floating-point tensor (or parameter), filled in place.
        inner: Inner magnitude `a >= 0`.
        outer: Outer magnitude `b > a`.
        p_zero: Probability `p` in `[0, 1]` of an exact zero.
        generator: Optional `torch.Generator` to draw from (on `tensor`'s device).

    Returns:
        `tensor`, filled.

    Raises:
        TypeError: `tensor` is not a tensor, or not floating point.
        ValueError: the bounds or the probability are out of range (see [Mixture][paraminit.Mixture]),
            or the bounds do not survive `tensor`'s dtype: `outer` beyond its largest finite value
            (65504 in float16: the weights would be infinite), below its smallest normal value,
            or `inner` and `outer` rounding to one value.
        paraminit.LazyParameterError: `tensor` is a lazy module's uninitialized parameter.

    Example:
        ```python
        import torch
        from paraminit import mixture_

        w = torch.empty(8, 4)
        mixture_(w, generator=torch.Generator(w.device).manual_seed(0))
        assert ((w == 0) | ((w.abs() >= 5) & (w.abs() <= 10))).all()
        ```
    """
    return Mixture(inner, outer, p_zero).sample_(tensor, generator=generator)
