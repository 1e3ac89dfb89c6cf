"""Statistical tests of the counter-based samplers, each check paired with wrong samplers it must reject.

The house pattern of `tests/test_statistics.py`: a check returns a p-value; a correct sampler
passes at `p > ALPHA = 1e-4`, and each wrong sampler, chosen for the bug the check is meant to
catch, must give `p < REJECT = 1e-6`. Draws use fixed seeds, and since these samplers give the same
bits on every device, every p-value below is the same on every machine.

Besides the distributions (Kolmogorov-Smirnov, binomial tests for the zero atom and the sign),
a counter-based generator must not relate *neighbours*: the lag-1 correlation between adjacent
elements, the correlation between vertically adjacent elements of a matrix (a stream that restarts
at each row, as a shard would if it used local instead of global indices), and the correlation
between the same tensor drawn with neighbouring seeds, also one element apart (seeding by
shifting one stream). Under independence, the sample correlation `r` of `n` pairs has
`r sqrt(n)` approximately standard normal; with several lags the smallest p-value is multiplied by
their number (Bonferroni).

The normal's ziggurat takes rare paths (0.43% of draws) that a sample of 200,000 barely shows, so
three checks use 2^22 draws: the chi-square of `|z|` over the ziggurat's layers (a wedge test
that lets points above the curve through shows there), the mass beyond `r`, and the
Kolmogorov-Smirnov test of the values beyond `r` against the normal's tail.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from cached_draws import cached
from scipy import stats

from paraminit import Mixture, counter_bits, counter_mixture_, counter_normal_, counter_uniform_, exact_math
from paraminit.counter_bits import GOLDEN_GAMMA

ALPHA = 1e-4
REJECT = 1e-6
N = 200_000
SEED = 20_240_607
ROW = 500
"""Row length of the matrices: N = 400 rows of 500."""

CHAPTER = Mixture()
GENERAL = Mixture(1.0, 3.0, 0.2)


def assert_verdict(p_value: float, expected: bool) -> None:
    if expected:
        assert p_value > ALPHA, f"correct sampler rejected: p = {p_value:.3g} <= {ALPHA}"
    else:
        assert p_value < REJECT, f"wrong sampler not rejected: p = {p_value:.3g} >= {REJECT}"


def flat(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float64).numpy().ravel()


# ------------------------------------------------------------------------------------------------
# Checks


def check_ks(samples: np.ndarray, cdf: Callable) -> float:
    return stats.kstest(samples, cdf).pvalue


def check_binomial(hits: int, n: int, p: float) -> float:
    return stats.binomtest(hits, n, p).pvalue


def correlation_p(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided p-value of the sample correlation of `x` and `y` under independence."""
    r = np.corrcoef(x, y)[0, 1]
    return float(2.0 * stats.norm.sf(abs(r) * math.sqrt(x.size)))


def check_lag_correlation(samples: np.ndarray, lags: tuple[int, ...]) -> float:
    """Smallest p-value over the lags, times their number."""
    p = min(correlation_p(samples[:-lag], samples[lag:]) for lag in lags)
    return min(1.0, p * len(lags))


def check_seed_correlation(one: np.ndarray, two: np.ndarray) -> float:
    """Two fills, neighbouring seeds: element i against elements i - 1, i, i + 1 of the other."""
    ps = [
        correlation_p(one[1:], two[:-1]),
        correlation_p(one, two),
        correlation_p(one[:-1], two[1:]),
    ]
    return min(1.0, 3 * min(ps))


# ------------------------------------------------------------------------------------------------
# Samplers: the real ones and wrong ones


def uniform(seed: int = SEED) -> torch.Tensor:
    return counter_uniform_(torch.empty(N // ROW, ROW), seed=seed, stream="w")


def normal(seed: int = SEED, std: float = 1.0) -> torch.Tensor:
    return counter_normal_(torch.empty(N // ROW, ROW), std=std, seed=seed, stream="w")


def normal_tails_unsigned(seed: int = SEED) -> torch.Tensor:
    """AS 241 with the sign of the tails forgotten: every |q| > 0.425 comes out positive."""
    z = normal(seed)
    u = torch.from_numpy(stats.norm.cdf(flat(z))).view_as(z).to(z.device)
    tails = (u < 0.075) | (u > 0.925)
    return torch.where(tails, z.abs(), z)


def weyl(seed: int = SEED) -> torch.Tensor:
    """The counter without the mix: `frac(x / 2^64)` of `x = state + (i + 1) gamma`."""
    x = torch.arange(1, N + 1, dtype=torch.int64).mul_(GOLDEN_GAMMA - 2**64).add_(seed)
    top = torch.bitwise_right_shift(x, 11).bitwise_and_((1 << 53) - 1)
    return (top.to(torch.float64) * 2.0**-53).view(N // ROW, ROW)


def restarting_rows(seed: int = SEED) -> torch.Tensor:
    """Each row drawn from local index 0: the bug of a shard that forgot its global offset."""
    return counter_uniform_(torch.empty(1, ROW), seed=seed, stream="w").expand(N // ROW, ROW).contiguous()


def shifted_seed(seed: int = SEED) -> torch.Tensor:
    """Seeding by position in one stream: seed s + 1 is seed s moved by one element."""
    longer = counter_uniform_(torch.empty(N + 64), seed=0, stream="w")
    return longer[seed - SEED : seed - SEED + N].view(N // ROW, ROW)


def additive_seed(seed: int = SEED) -> torch.Tensor:
    """The seed added to the value (mod 1): neighbouring seeds give nearly the same tensor."""
    return torch.remainder(uniform(SEED) + 1e-3 * (seed - SEED), 1.0)


def mixture(dist: Mixture, seed: int = SEED) -> torch.Tensor:
    return counter_mixture_(torch.empty(N), dist.inner, dist.outer, dist.p_zero, seed=seed, stream="w")


@cached
def draw(name: str, seed: int = SEED) -> np.ndarray:
    samplers = {
        "uniform": uniform,
        "normal": normal,
        "wrong:uniform-0-to-1.02": lambda s: counter_uniform_(torch.empty(N), 0.0, 1.02, seed=s, stream="w"),
        "wrong:normal-std-1.05": lambda s: normal(s, std=1.05),
        "wrong:normal-tails-unsigned": normal_tails_unsigned,
        "wrong:weyl-without-mix": weyl,
        "wrong:rows-restart": restarting_rows,
        "wrong:seed-shifts-stream": shifted_seed,
        "wrong:seed-added": additive_seed,
        "mixture-chapter": functools.partial(mixture, CHAPTER),
        "mixture-general": functools.partial(mixture, GENERAL),
        "wrong:mixture-p_zero-0.4": functools.partial(mixture, Mixture(5.0, 10.0, 0.4)),
        "wrong:mixture-slabs-from-4": functools.partial(mixture, Mixture(4.0, 10.0, 0.5)),
    }
    return flat(samplers[name](seed))


def params(*pairs: tuple[str, bool]) -> list:
    return [pytest.param(name, expected, id=name) for name, expected in pairs]


# ------------------------------------------------------------------------------------------------
# Distributions


@pytest.mark.parametrize(("name", "expected"), params(("uniform", True), ("wrong:uniform-0-to-1.02", False)))
def test_counter_uniform_is_uniform_on_0_1(name, expected):
    assert_verdict(check_ks(draw(name), stats.uniform(0, 1).cdf), expected)


@pytest.mark.parametrize(
    ("name", "expected"),
    params(("normal", True), ("wrong:normal-std-1.05", False), ("wrong:normal-tails-unsigned", False)),
)
def test_counter_normal_is_standard_normal(name, expected):
    assert_verdict(check_ks(draw(name), stats.norm.cdf), expected)


@pytest.mark.parametrize(
    ("name", "expected"), params(("normal", True), ("wrong:normal-tails-unsigned", False))
)
def test_counter_normal_is_positive_half_the_time(name, expected):
    samples = draw(name)
    assert_verdict(check_binomial(int((samples > 0).sum()), samples.size, 0.5), expected)


def slab_cdf(dist: Mixture, x: np.ndarray) -> np.ndarray:
    return (dist.cdf(x) - dist.p_zero * (x >= 0)) / (1.0 - dist.p_zero)


@pytest.mark.parametrize(
    ("name", "dist", "expected"),
    [
        pytest.param("mixture-chapter", CHAPTER, True, id="chapter"),
        pytest.param("mixture-general", GENERAL, True, id="general"),
        pytest.param("wrong:mixture-slabs-from-4", CHAPTER, False, id="wrong:slabs-from-4"),
    ],
)
def test_counter_mixture_nonzero_weights_are_uniform_on_the_slabs(name, dist, expected):
    samples = draw(name)
    nonzero = samples[samples != 0]
    assert_verdict(check_ks(nonzero, functools.partial(slab_cdf, dist)), expected)


@pytest.mark.parametrize(
    ("name", "dist", "expected"),
    [
        pytest.param("mixture-chapter", CHAPTER, True, id="chapter"),
        pytest.param("mixture-general", GENERAL, True, id="general"),
        pytest.param("wrong:mixture-p_zero-0.4", CHAPTER, False, id="wrong:p_zero-0.4"),
    ],
)
def test_counter_mixture_zeroes_a_fraction_p_zero(name, dist, expected):
    samples = draw(name)
    assert_verdict(check_binomial(int((samples == 0).sum()), samples.size, dist.p_zero), expected)


@pytest.mark.parametrize("name", ["mixture-chapter", "mixture-general"])
def test_counter_mixture_has_no_weight_inside_inner_or_beyond_outer(name):
    dist = CHAPTER if name.endswith("chapter") else GENERAL
    size = np.abs(draw(name))
    assert np.all((size == 0) | ((size >= dist.inner) & (size <= dist.outer)))


# ------------------------------------------------------------------------------------------------
# Neighbours


@pytest.mark.parametrize(
    ("name", "expected"),
    params(("uniform", True), ("normal", True), ("wrong:weyl-without-mix", False)),
)
def test_neighbouring_elements_are_uncorrelated(name, expected):
    assert_verdict(check_lag_correlation(draw(name), (1,)), expected)


@pytest.mark.parametrize(
    ("name", "expected"),
    params(("uniform", True), ("normal", True), ("wrong:rows-restart", False)),
)
def test_neighbouring_rows_are_uncorrelated(name, expected):
    assert_verdict(check_lag_correlation(draw(name), (ROW,)), expected)


@pytest.mark.parametrize(
    ("name", "expected"),
    params(
        ("uniform", True),
        ("normal", True),
        ("wrong:seed-shifts-stream", False),
        ("wrong:seed-added", False),
    ),
)
def test_neighbouring_seeds_give_uncorrelated_tensors(name, expected):
    assert_verdict(check_seed_correlation(draw(name, SEED), draw(name, SEED + 1)), expected)


# ------------------------------------------------------------------------------------------------
# The normal's ziggurat: its rare paths, on a larger sample

N_LARGE = 1 << 22
"""Draws for the ziggurat's rare paths: about 225 beyond r, 18,000 rejected by the fast test."""
R = exact_math.ZIGGURAT_R


@cached
def first_draws() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layer, point `x` and fast-test verdict of every element's first draw (key "normal")."""
    zig = exact_math.ziggurat()
    z = counter_bits.NumpyBits(counter_bits.key(SEED, "normal", "w"), N_LARGE).words(0, N_LARGE)
    layer, k = z & (exact_math.LAYERS - 1), (z >> 10) | 1
    x = k * zig.width[layer]
    return layer, x, np.abs(k) < zig.k_max[layer]


@cached
def large(name: str) -> np.ndarray:
    z = flat(counter_normal_(torch.empty(N_LARGE, dtype=torch.float64), seed=SEED, stream="w"))
    layer, x, fast = first_draws()
    if name == "wrong:wedge-always-accepted":  # the wedge test skipped: every first draw kept
        wedge = ~fast & (layer > 0)
        z = np.where(wedge, x, z)
    elif name == "wrong:tail-from-the-base-rectangle":  # no tail method: the base layer's point kept
        base = ~fast & (layer == 0)
        z = np.where(base, x, z)
    elif name == "wrong:tail-drawn-again":  # a tail draw restarted as an ordinary draw
        base = ~fast & (layer == 0)
        z = np.where(base, np.roll(z, -1), z)
    return z


def tail_cdf(x: np.ndarray) -> np.ndarray:
    """`P(|z| <= x | |z| > r)` for the standard normal."""
    return (stats.norm.sf(R) - stats.norm.sf(x)) / stats.norm.sf(R)


@pytest.mark.parametrize(
    ("name", "expected"),
    params(("normal", True), ("wrong:tail-from-the-base-rectangle", False)),
)
def test_counter_normal_values_beyond_r_follow_the_normal_tail(name, expected):
    samples = np.abs(large(name))
    beyond = samples[samples > R]
    assert beyond.size > 150
    assert_verdict(check_ks(beyond, tail_cdf), expected)


@pytest.mark.parametrize(("name", "expected"), params(("normal", True), ("wrong:tail-drawn-again", False)))
def test_counter_normal_puts_the_normal_mass_beyond_r(name, expected):
    samples = large(name)
    assert_verdict(
        check_binomial(int((np.abs(samples) > R).sum()), samples.size, 2 * stats.norm.sf(R)), expected
    )


def wedge_acceptance() -> float:
    """The probability that a first draw in a wedge (a layer's point beyond its rectangle) lies
    under the curve. Layer `i` is drawn with probability 1/1024, its point falls in the wedge with
    probability `(x_i - x_{i+1}) / x_i`, and then lies under the curve with probability the
    wedge's area under the curve over its box's, `(x_i - x_{i+1}) (f_{i+1} - f_i)`."""
    x, f = np.array(exact_math.ziggurat().x), np.array(exact_math.ziggurat().f)
    i = np.arange(1, exact_math.LAYERS)
    width, height = x[i] - x[i + 1], f[i + 1] - f[i]
    under = np.sqrt(2 * np.pi) * (stats.norm.cdf(x[i]) - stats.norm.cdf(x[i + 1])) - f[i] * width
    in_wedge = width / x[i]
    return float((in_wedge * under / (width * height)).sum() / in_wedge.sum())


def check_wedge_acceptance(samples: np.ndarray) -> float:
    """Binomial test of how many first draws that fell in a wedge were kept (the value is that
    draw's point), against the area under the curve: a wedge test that keeps too many, or too
    few, shows here."""
    layer, x, fast = first_draws()
    wedge = ~fast & (layer > 0)
    kept = int((samples[wedge] == x[wedge]).sum())
    return check_binomial(kept, int(wedge.sum()), wedge_acceptance())


@pytest.mark.parametrize(
    ("name", "expected"),
    params(("normal", True), ("wrong:wedge-always-accepted", False)),
)
def test_counter_normal_keeps_the_wedge_draws_under_the_curve(name, expected):
    assert_verdict(check_wedge_acceptance(large(name)), expected)
