"""Statistical tests of the samplers, and of the `torch.nn.init` calls the pages use.

Approach
--------
Each property is a plain function `check_xxx(samples, ...)` that returns a p-value (or, for an
exact property such as a bound, a bool). Every check is used twice: a correct sampler must pass
it, and a deliberately wrong sampler, chosen for what the check is meant to catch, must fail it.
A check that never fails proves nothing; the wrong samplers show that each one has teeth.

All draws use fixed seeds, so on a given device and torch version every result is reproducible.

Tolerances
----------
- `ALPHA = 1e-4`: a correct sampler passes when its p-value is above `ALPHA`. Under a true null
  hypothesis a p-value is uniform, so a new seed, device or torch version fails a given check with
  probability 1e-4, and the 25 accepting p-value checks here together with probability 0.25%.
- `REJECT = 1e-6`: a wrong sampler must give a p-value below `REJECT`. With `N = 200_000` draws
  each wrong sampler is off by many standard errors (the largest p-value among them is about
  1e-189), so this holds for any seed, not just the fixed one.
- Exact properties (support, bounds, constants) are compared
  exactly, with the bounds cast to the tensor's dtype: a float16 draw of `U(-a, a)` may round to
  `float16(a)`, which is a legitimate value.
- The zero fraction is tested against `p` exactly in every dtype. (Drawing directly on the coarse
  bfloat16 grid would zero the threshold's grid points too, 0.16% extra zeros; `mixture_` draws
  half precision in float32 and rounds once.)

The mixture has an atom at 0, so a KS test on the full sample is not valid (the KS distribution
assumes a continuous CDF). It is split instead: a binomial test for the number of exact zeros,
and a KS test of the nonzero part against the conditional CDF of the slabs,
`P(w <= x | w != 0) = (F(x) - p [x >= 0]) / (1 - p)`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from cached_draws import cached
from scipy import integrate, stats

from paraminit import Mixture, mixture_

ALPHA = 1e-4
"""A correct sampler passes a check when its p-value is above this."""
REJECT = 1e-6
"""A wrong sampler must give a p-value below this."""
N = 200_000
"""Draws per sample."""
SEED = 20_240_607
"""Seed of every draw."""

CHAPTER = Mixture()  # a = 5, b = 10, p = 1/2: a = p b, the shift-free hardshrink path
GENERAL = Mixture(1.0, 3.0, 0.2)  # a != p b: the path that shifts the slabs by a - p h
TWO_DRAWS = Mixture(5.0, 10.0, 0.99)  # past the single draw's coarsening: |w| and the sign drawn apart


# ------------------------------------------------------------------------------------------------
# Helpers


def generator(device: torch.device, seed: int = SEED) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """The values as a flat float64 NumPy array on the CPU (float64 holds every half value)."""
    return tensor.detach().to("cpu", torch.float64).numpy().ravel()


def in_dtype(value: float, dtype: torch.dtype) -> float:
    """`value` rounded to `dtype`, as the tensor itself would hold it."""
    return torch.tensor(value, dtype=dtype).item()


def label(dist: Mixture) -> str:
    return f"a{dist.inner:g}-b{dist.outer:g}-p{dist.p_zero:g}"


def fourth_moment(dist: Mixture) -> float:
    """`E[w^4] = (1 - p) (b^5 - a^5) / (5 (b - a))`: the variance of `w^2`, for the variance test."""
    a, b = dist.inner, dist.outer
    return (1.0 - dist.p_zero) * (b**5 - a**5) / (5.0 * (b - a))


def slab_cdf(dist: Mixture, x: np.ndarray) -> np.ndarray:
    """CDF of `w` given `w != 0`: remove the atom `p [x >= 0]` from `F` and renormalize."""
    x = np.asarray(x, dtype=np.float64)
    return (dist.cdf(x) - dist.p_zero * (x >= 0)) / (1.0 - dist.p_zero)


# ------------------------------------------------------------------------------------------------
# Checks: each returns a p-value (or a bool for an exact property)


def check_slabs_ks(samples: np.ndarray, dist: Mixture) -> float:
    """KS test of the nonzero draws against the slabs' conditional CDF."""
    nonzero = samples[samples != 0]
    return stats.kstest(nonzero, functools.partial(slab_cdf, dist)).pvalue


def check_zero_fraction(samples: np.ndarray, p_zero: float) -> float:
    """Binomial test of `P(w == 0) = p_zero`."""
    zeros, n = int((samples == 0).sum()), samples.size
    return stats.binomtest(zeros, n, p_zero).pvalue


def check_sign_balance(samples: np.ndarray) -> float:
    """Binomial test of `P(w > 0 | w != 0) = 1/2`."""
    positives, nonzeros = int((samples > 0).sum()), int((samples != 0).sum())
    return stats.binomtest(positives, nonzeros, 0.5).pvalue


def check_support(samples: np.ndarray, inner: float, outer: float) -> bool:
    """Every draw is 0 or has `inner <= |w| <= outer`."""
    size = np.abs(samples)
    return bool(np.all((size == 0) | ((size >= inner) & (size <= outer))))


def check_mean(samples: np.ndarray, mean: float, var: float) -> float:
    """Two-sided z-test of the sample mean, with the known variance."""
    z = (samples.mean() - mean) / math.sqrt(var / samples.size)
    return 2.0 * stats.norm.sf(abs(z))


def check_second_moment(samples: np.ndarray, var: float, fourth: float) -> float:
    """Two-sided z-test of `mean(w^2)` against `Var[w]` (the mean is known to be 0).

    `mean(w^2)` is a mean of `N` independent copies of `w^2`, whose variance is
    `E[w^4] - Var[w]^2`, so by the CLT `(mean(w^2) - Var[w]) / sqrt((E[w^4] - Var[w]^2) / N)` is
    standard normal. For the chapter's values that standard error is 0.6% of the variance.
    """
    se = math.sqrt((fourth - var**2) / samples.size)
    z = (np.mean(samples**2) - var) / se
    return 2.0 * stats.norm.sf(abs(z))


def check_ks(samples: np.ndarray, cdf: Callable[[np.ndarray], np.ndarray]) -> float:
    """KS test against a continuous CDF."""
    return stats.kstest(samples, cdf).pvalue


def check_bound(samples: np.ndarray, bound: float) -> bool:
    """Every `|w| <= bound`."""
    return bool(np.all(np.abs(samples) <= bound))


def check_all_equal(samples: np.ndarray, value: float) -> bool:
    """Every entry is exactly `value`."""
    return bool(np.all(samples == value))


def accepted(p_value: float) -> bool:
    return p_value > ALPHA


def assert_verdict(p_value: float, expected: bool) -> None:
    """A correct sampler's p-value is above ALPHA, a wrong one's below REJECT."""
    if expected:
        assert p_value > ALPHA, f"correct sampler rejected: p = {p_value:.3g} <= ALPHA = {ALPHA}"
    else:
        assert p_value < REJECT, f"wrong sampler not rejected: p = {p_value:.3g} >= {REJECT}"


# ------------------------------------------------------------------------------------------------
# Samplers of the mixture: the real ones, and wrong ones that each check should catch


@dataclass(frozen=True)
class Sampler:
    """A named way to fill a tensor from a `Mixture`, with a seed."""

    name: str
    fill: Callable[[torch.Tensor, Mixture, int], torch.Tensor]


def _mixture(t: torch.Tensor, d: Mixture, seed: int) -> torch.Tensor:
    return mixture_(t, d.inner, d.outer, d.p_zero, generator=generator(t.device, seed))


def _no_shrink(t: torch.Tensor, d: Mixture, seed: int) -> torch.Tensor:
    """`U(-b, b)`: the chapter's first step without zeroing the middle."""
    return t.uniform_(-d.outer, d.outer, generator=generator(t.device, seed))


def _shrink_below(threshold: Callable[[Mixture], float]) -> Callable:
    """`U(-b, b)` with `|w| <= threshold(dist)` zeroed."""

    def fill(t: torch.Tensor, d: Mixture, seed: int) -> torch.Tensor:
        t.uniform_(-d.outer, d.outer, generator=generator(t.device, seed))
        return torch.hardshrink(t, threshold(d), out=t)

    return fill


def _no_shift(t: torch.Tensor, d: Mixture, seed: int) -> torch.Tensor:
    """The general path without its shift: `hardshrink(U(-h, h), p h)`, slabs `(p h, h)`."""
    half = (d.outer - d.inner) / (1.0 - d.p_zero)
    t.uniform_(-half, half, generator=generator(t.device, seed))
    return torch.hardshrink(t, d.p_zero * half, out=t)


def _positive_share(share: float) -> Callable:
    """The real mixture, then each nonzero made positive with probability `share`."""

    def fill(t: torch.Tensor, d: Mixture, seed: int) -> torch.Tensor:
        _mixture(t, d, seed).abs_()
        u = torch.rand(t.shape, device=t.device, generator=generator(t.device, seed + 1))
        return t.mul_(torch.where(u < share, 1.0, -1.0).to(t.dtype))

    return fill


REAL = Sampler("mixture_", _mixture)
NO_SHRINK = Sampler("wrong:no-shrink", _no_shrink)
NO_SHIFT = Sampler("wrong:no-shift", _no_shift)
P_ZERO_LOW = Sampler(
    "wrong:p_zero-0.1", lambda t, d, s: _mixture(t, Mixture(d.inner, d.outer, d.p_zero - 0.1), s)
)
SLABS_TOO_WIDE = Sampler(  # chapter: slabs U(4, 10)
    "wrong:slabs-from-0.8a", lambda t, d, s: _mixture(t, Mixture(0.8 * d.inner, d.outer, d.p_zero), s)
)
OUTER_TOO_FAR = Sampler(  # chapter: slabs U(5, 10.5)
    "wrong:outer-1.05b", lambda t, d, s: _mixture(t, Mixture(d.inner, 1.05 * d.outer, d.p_zero), s)
)
SHRINK_TOO_NARROW = Sampler(  # chapter: U(-10, 10), zero |w| <= 4
    "wrong:shrink-below-0.8a", _shrink_below(lambda d: 0.8 * d.inner)
)
SHRINK_TOO_WIDE = Sampler(  # chapter: U(-10, 10), zero |w| <= 6
    "wrong:shrink-too-wide", _shrink_below(lambda d: d.inner + (d.outer - d.inner) / 5)
)
SIXTY_PERCENT_POSITIVE = Sampler("wrong:60%-positive", _positive_share(0.6))


@cached
def draw(
    sampler: Sampler,
    dist: Mixture,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    seed: int = SEED,
) -> np.ndarray:
    """N draws of `sampler`, as float64 NumPy; cached, since several checks share a sample."""
    tensor = torch.empty(N, dtype=dtype, device=device)
    return to_numpy(sampler.fill(tensor, dist, seed))


def cases(*triples: tuple[Mixture, Sampler, bool]) -> list:
    return [pytest.param(d, s, e, id=f"{label(d)}:{s.name}") for d, s, e in triples]


# ------------------------------------------------------------------------------------------------
# mixture_


@pytest.mark.parametrize(
    ("dist", "sampler", "expected"),
    cases(
        (CHAPTER, REAL, True),
        (CHAPTER, SLABS_TOO_WIDE, False),
        (CHAPTER, NO_SHRINK, False),
        (GENERAL, REAL, True),
        (GENERAL, SLABS_TOO_WIDE, False),
        (GENERAL, NO_SHIFT, False),
        (TWO_DRAWS, REAL, True),
        (TWO_DRAWS, SLABS_TOO_WIDE, False),
        (TWO_DRAWS, NO_SHRINK, False),
    ),
)
def test_mixture_nonzero_weights_are_uniform_on_the_two_slabs(dist, sampler, expected, device):
    assert_verdict(check_slabs_ks(draw(sampler, dist, device), dist), expected)


@pytest.mark.parametrize(
    ("dist", "sampler", "expected"),
    cases(
        (CHAPTER, REAL, True),
        (CHAPTER, P_ZERO_LOW, False),
        (CHAPTER, SHRINK_TOO_WIDE, False),
        (GENERAL, REAL, True),
        (GENERAL, P_ZERO_LOW, False),
        (GENERAL, SHRINK_TOO_WIDE, False),
        (TWO_DRAWS, REAL, True),
        (TWO_DRAWS, P_ZERO_LOW, False),
    ),
)
def test_mixture_zeroes_a_fraction_p_zero_of_the_weights(dist, sampler, expected, device):
    assert_verdict(check_zero_fraction(draw(sampler, dist, device), dist.p_zero), expected)


@pytest.mark.parametrize(
    ("dist", "sampler", "expected"),
    cases(
        (CHAPTER, REAL, True),
        (CHAPTER, SIXTY_PERCENT_POSITIVE, False),
        (GENERAL, REAL, True),
        (GENERAL, SIXTY_PERCENT_POSITIVE, False),
        (TWO_DRAWS, REAL, True),
        (TWO_DRAWS, SIXTY_PERCENT_POSITIVE, False),
    ),
)
def test_mixture_nonzero_weights_are_positive_half_the_time(dist, sampler, expected, device):
    assert_verdict(check_sign_balance(draw(sampler, dist, device)), expected)


@pytest.mark.parametrize(
    ("dist", "sampler", "expected"),
    cases(
        (CHAPTER, REAL, True),
        (CHAPTER, NO_SHRINK, False),
        (CHAPTER, SHRINK_TOO_NARROW, False),
        (CHAPTER, OUTER_TOO_FAR, False),
        (GENERAL, REAL, True),
        (GENERAL, SHRINK_TOO_NARROW, False),
        (GENERAL, OUTER_TOO_FAR, False),
        (GENERAL, NO_SHIFT, False),
        (TWO_DRAWS, REAL, True),
        (TWO_DRAWS, OUTER_TOO_FAR, False),
    ),
)
def test_mixture_has_no_weights_strictly_inside_inner_or_beyond_outer(dist, sampler, expected, device):
    """Chapter: no weight with 0 < |w| < 5 and none with |w| > 10."""
    assert check_support(draw(sampler, dist, device), dist.inner, dist.outer) is expected


@pytest.mark.parametrize(
    ("dist", "sampler", "expected"),
    cases(
        (CHAPTER, REAL, True),
        (CHAPTER, SIXTY_PERCENT_POSITIVE, False),
        (GENERAL, REAL, True),
        (GENERAL, SIXTY_PERCENT_POSITIVE, False),
    ),
)
def test_mixture_mean_is_zero(dist, sampler, expected, device):
    assert_verdict(check_mean(draw(sampler, dist, device), dist.mean, dist.var), expected)


@pytest.mark.parametrize(
    ("dist", "sampler", "expected"),
    cases(
        (CHAPTER, REAL, True),
        (CHAPTER, NO_SHRINK, False),
        (GENERAL, REAL, True),
        (GENERAL, NO_SHIFT, False),
    ),
)
def test_mixture_variance_matches_the_closed_form(dist, sampler, expected, device):
    samples = draw(sampler, dist, device)
    assert_verdict(check_second_moment(samples, dist.var, fourth_moment(dist)), expected)


DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(
    ("dist", "sampler", "expected"),
    cases(
        (CHAPTER, REAL, True),
        (CHAPTER, OUTER_TOO_FAR, False),
        (GENERAL, REAL, True),
        (GENERAL, NO_SHIFT, False),
    ),
)
def test_mixture_support_holds_in_every_dtype(dist, sampler, expected, dtype, device):
    samples = draw(sampler, dist, device, dtype)
    inner, outer = in_dtype(dist.inner, dtype), in_dtype(dist.outer, dtype)
    assert check_support(samples, inner, outer) is expected


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(
    ("dist", "sampler", "expected"),
    cases(
        (CHAPTER, REAL, True),
        (CHAPTER, P_ZERO_LOW, False),
        (GENERAL, REAL, True),
        (GENERAL, P_ZERO_LOW, False),
    ),
)
def test_mixture_zero_fraction_holds_in_every_dtype(dist, sampler, expected, dtype, device):
    """The zero fraction is `p` in every dtype: half precision is drawn in float32, then rounded."""
    samples = draw(sampler, dist, device, dtype)
    p_value = check_zero_fraction(samples, dist.p_zero)
    assert_verdict(p_value, expected)


# ------------------------------------------------------------------------------------------------
# torch.nn.init calls the pages use


def _normal(std: float) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    return lambda t, g: torch.nn.init.normal_(t, mean=0.0, std=std, generator=g)


@pytest.mark.parametrize(
    ("init", "expected"),
    [
        pytest.param(_normal(0.01), True, id="normal_(std=0.01)"),
        pytest.param(_normal(0.02), False, id="wrong:normal_(std=0.02)"),
    ],
)
def test_normal_init_draws_from_normal_with_std_0_01(init, expected, device):
    samples = to_numpy(init(torch.empty(N, device=device), generator(device)))
    assert_verdict(check_ks(samples, stats.norm(0.0, 0.01).cdf), expected)


CONSTANT_CASES = [
    pytest.param(torch.nn.init.zeros_, 0.0, True, id="zeros_"),
    pytest.param(lambda t: torch.nn.init.constant_(t, 1.0), 1.0, True, id="constant_(1)"),
    pytest.param(lambda t: torch.nn.init.constant_(t, 42.0), 42.0, True, id="constant_(42)"),
    pytest.param(torch.nn.init.ones_, 0.0, False, id="wrong:ones_-for-0"),
    pytest.param(lambda t: torch.nn.init.constant_(t, 42.5), 42.0, False, id="wrong:constant_(42.5)"),
    pytest.param(
        lambda t: torch.nn.init.constant_(t, 42.0).view(-1)[-1:].fill_(41.0),
        42.0,
        False,
        id="wrong:one-entry-off",
    ),
]


@pytest.mark.parametrize(("init", "value", "expected"), CONSTANT_CASES)
def test_constant_inits_set_every_entry_to_exactly_the_value(init, value, expected, device):
    tensor = torch.empty(300, 100, device=device)
    init(tensor)
    assert check_all_equal(to_numpy(tensor), value) is expected


XAVIER_SHAPES = [(300, 100), (1000, 400)]


def xavier_bound(shape: tuple[int, int], gain: float = 1.0) -> float:
    """`a = gain sqrt(6 / (fan_in + fan_out))` with `fan_in = shape[1]`, `fan_out = shape[0]`."""
    fan_out, fan_in = shape
    return gain * math.sqrt(6.0 / (fan_in + fan_out))


def _uniform_wider(t: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    bound = 1.2 * xavier_bound(tuple(t.shape))
    return t.uniform_(-bound, bound, generator=generator)


XAVIER_CASES = [
    pytest.param(torch.nn.init.xavier_uniform_, True, id="xavier_uniform_"),
    pytest.param(_uniform_wider, False, id="wrong:uniform-1.2a"),
    pytest.param(torch.nn.init.kaiming_uniform_, False, id="wrong:kaiming_uniform_"),
]


def xavier_sample(init: Callable, shape: tuple[int, int], device: torch.device) -> np.ndarray:
    return to_numpy(init(torch.empty(shape, device=device), generator=generator(device)))


@pytest.mark.parametrize("shape", XAVIER_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize(("init", "expected"), XAVIER_CASES)
def test_xavier_uniform_stays_within_its_bound(init, expected, shape, device):
    bound = in_dtype(xavier_bound(shape), torch.float32)
    assert check_bound(xavier_sample(init, shape, device), bound) is expected


@pytest.mark.parametrize("shape", XAVIER_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize(("init", "expected"), XAVIER_CASES)
def test_xavier_uniform_is_uniform_on_minus_a_to_a(init, expected, shape, device):
    a = xavier_bound(shape)
    p_value = check_ks(xavier_sample(init, shape, device), stats.uniform(-a, 2 * a).cdf)
    assert_verdict(p_value, expected)


# ------------------------------------------------------------------------------------------------
# Mixture closed forms against numerics

CLOSED_FORM_CASES = [
    pytest.param(d, id=label(d)) for d in (CHAPTER, GENERAL, Mixture(0.0, 1.0, 0.3), Mixture(2, 4, 0))
]


def integrate_pdf(dist: Mixture, power: int) -> float:
    """`integral of x^power pdf(x) dx` over the slabs, by adaptive quadrature."""
    a, b = dist.inner, dist.outer

    def integrand(x: float) -> float:
        return x**power * float(dist.pdf(x))

    return sum(integrate.quad(integrand, lo, hi)[0] for lo, hi in ((-b, -a), (a, b)))


@pytest.mark.parametrize("dist", CLOSED_FORM_CASES)
def test_mixture_cdf_is_monotone_from_0_to_1_with_a_jump_p_zero_at_0(dist):
    a, b = dist.inner, dist.outer
    x = np.linspace(-1.5 * b, 1.5 * b, 30_001)
    cdf = dist.cdf(x)
    assert np.all(np.diff(cdf) >= 0)
    assert np.all(cdf[x < -b] == 0)
    np.testing.assert_allclose(cdf[x >= b], 1.0, rtol=0, atol=1e-12)
    jump = float(dist.cdf(0.0)) - float(dist.cdf(-1e-9))
    assert jump == pytest.approx(dist.p_zero, abs=1e-6)
    # Between the slabs the CDF is flat: all the mass of [-a, a] is the atom.
    if a > 0:
        assert float(dist.cdf(a)) - float(dist.cdf(-a)) == pytest.approx(dist.p_zero, abs=1e-12)


@pytest.mark.parametrize("dist", CLOSED_FORM_CASES)
def test_mixture_pdf_integrates_to_one_minus_p_zero(dist):
    assert integrate_pdf(dist, 0) == pytest.approx(1.0 - dist.p_zero, abs=1e-9)


@pytest.mark.parametrize("dist", CLOSED_FORM_CASES)
def test_mixture_ppf_inverts_the_cdf_on_the_slabs(dist):
    """`ppf(cdf(x)) == x` on `[-b, -a)` and `[a, b]`.

    `-a` itself is left out: `cdf` is flat at `q = (1 - p) / 2` on `[-a, 0)`, and `ppf(q)` returns
    0 (the right end of that flat piece), a valid choice for the measure-zero point `u = q`.
    """
    a, b = dist.inner, dist.outer
    x = np.concatenate([np.linspace(-b, -a, 5_001)[:-1], np.linspace(a, b, 5_001)])
    np.testing.assert_allclose(dist.ppf(dist.cdf(x)), x, rtol=0, atol=1e-12 * b)


@pytest.mark.parametrize("dist", CLOSED_FORM_CASES)
def test_mixture_moments_match_numerical_integrals(dist):
    assert integrate_pdf(dist, 1) == pytest.approx(dist.mean, abs=1e-9)
    assert integrate_pdf(dist, 2) == pytest.approx(dist.var, rel=1e-9)
    assert integrate_pdf(dist, 4) == pytest.approx(fourth_moment(dist), rel=1e-9)


# ------------------------------------------------------------------------------------------------
# Precision at the edges: p_zero close to 1, and half precision drawn in float32

NEAR_ONE = [Mixture(5.0, 10.0, 0.99999), Mixture(5.0, 10.0, 0.999999)]
SPARSE_N = {NEAR_ONE[0]: 10_000_000, NEAR_ONE[1]: 20_000_000}
"""Draws per sample at p_zero close to 1: about 100 nonzero values at 0.99999, 20 at 0.999999."""
MAX_REPEATS = {NEAR_ONE[0]: 1, NEAR_ONE[1]: 0}
"""Repeated magnitudes a continuous slab may show among those draws (probability < 1e-4 of more)."""


def _single_draw(t: torch.Tensor, d: Mixture, seed: int) -> torch.Tensor:
    """The single-draw trick at any `p`: `U(-h, h)`, zero `|x| < p h`, shift the rest by `a - p h`.

    Exact in distribution, but its grid is `2 h / 2^24` in float32 with `h = (b - a) / (1 - p)`:
    the slab holds about `2^23 (1 - p)` distinct values, 84 at `p = 0.99999`, 8 at `0.999999`.
    """
    half = (d.outer - d.inner) / (1.0 - d.p_zero)
    gap = d.p_zero * half
    t.uniform_(-half, half, generator=generator(t.device, seed))
    torch.hardshrink(t, gap, out=t)
    return t.add_(t.sign(), alpha=d.inner - gap)


SINGLE_DRAW = Sampler("wrong:single-draw-near-p-1", _single_draw)
DRAWN_IN_DTYPE = Sampler("wrong:drawn-in-bfloat16", _single_draw)  # called on the bfloat16 tensor itself


@cached
def nonzero_draws(sampler: Sampler, dist: Mixture, device: torch.device) -> np.ndarray:
    """The nonzero values among SPARSE_N[dist] float32 draws (only those are kept)."""
    tensor = sampler.fill(torch.empty(SPARSE_N[dist], device=device), dist, SEED)
    return to_numpy(tensor[tensor != 0])


def repeated_magnitudes(nonzero: np.ndarray) -> int:
    """How many nonzero draws repeat the magnitude of another: 0 for a continuous slab."""
    return nonzero.size - np.unique(np.abs(nonzero)).size


@pytest.mark.slow
@pytest.mark.parametrize(
    ("dist", "sampler", "expected"),
    cases(
        (NEAR_ONE[0], REAL, True),
        (NEAR_ONE[0], SINGLE_DRAW, False),
        (NEAR_ONE[1], REAL, True),
        (NEAR_ONE[1], SINGLE_DRAW, False),
    ),
)
def test_mixture_slabs_keep_their_resolution_when_p_zero_is_close_to_one(dist, sampler, expected, device):
    """Distinct values. Float32 holds about 8.4 million values in (5, 10): 100 uniform draws repeat a
    magnitude with probability about 6e-4 (two repeats: 2e-7), 20 draws with probability 2e-5. The
    single draw has 84 values at 0.99999 (100 draws: about 45 repeats; at most 1 has probability
    below 1e-20) and 8 at 0.999999, where any 9 draws must repeat one (fewer than 9 nonzero draws
    of the 20 expected has probability 0.2%: that, not chance, bounds this pairing)."""
    nonzero = nonzero_draws(sampler, dist, device)
    assert (repeated_magnitudes(nonzero) <= MAX_REPEATS[dist]) is expected


@pytest.mark.slow
@pytest.mark.parametrize(
    ("dist", "sampler", "expected"),
    cases((NEAR_ONE[0], REAL, True), (NEAR_ONE[0], NO_SHIFT, False), (NEAR_ONE[1], REAL, True)),
)
def test_mixture_slabs_stay_uniform_when_p_zero_is_close_to_one(dist, sampler, expected, device):
    """KS of the ~100 (~20) nonzero draws against the slabs, and binomial tests of the sign and of the
    number of nonzero draws, `Binomial(n, 1 - p)`. With so few draws the KS test rejects only gross
    errors (the unshifted slabs here); the resolution test above is the sharp one."""
    nonzero = nonzero_draws(sampler, dist, device)
    assert check_support(nonzero, dist.inner, dist.outer) is expected
    assert_verdict(check_slabs_ks(nonzero, dist), expected)
    if expected:
        assert_verdict(stats.binomtest(int((nonzero > 0).sum()), nonzero.size, 0.5).pvalue, True)
        assert_verdict(stats.binomtest(nonzero.size, SPARSE_N[dist], 1.0 - dist.p_zero).pvalue, True)


BFLOAT16_FIVE = 0.5 * 2.0**-6 / 5.0
"""P(|w| rounds to bfloat16 5.0) for the chapter's mixture: |w| in [5, 5 + 2^-6) on either slab."""


@pytest.mark.parametrize(
    ("sampler", "expected"),
    [pytest.param(s, e, id=s.name) for s, e in [(REAL, True), (DRAWN_IN_DTYPE, False)]],
)
def test_bfloat16_keeps_the_inner_bound_so_the_zero_fraction_stays_p(sampler, expected, device):
    """Drawn on bfloat16's own grid, `U(-10, 10)` puts mass on the grid point 5 itself, which the shrink
    then zeroes: 0.16% extra zeros and no weight at 5. Drawn in float32 and rounded once, |w| = 5
    occurs with probability (1 - p) / 2 * 2 * 2^-6 / 5 = 0.16%: about 312 of N = 200,000 draws,
    while the wrong sampler has none (p-value e^-312)."""
    samples = draw(sampler, CHAPTER, device, torch.bfloat16)
    fives = int((np.abs(samples) == 5.0).sum())
    assert_verdict(stats.binomtest(fives, samples.size, BFLOAT16_FIVE).pvalue, expected)
