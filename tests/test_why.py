"""Each formula on the "Why initialization matters" page and in the exercises, checked numerically.

Monte Carlo estimates use fixed seeds and float64; each tolerance is several standard errors of the
estimate it bounds, stated next to it.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from paraminit import Mixture, mixture_


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(20_100_613)


def test_variance_of_a_linear_layer_output_is_n_in_sigma2_var_x():
    n_in, n_out, sigma, var_x = 200, 100, 0.07, 2.5
    outputs = []
    for _ in range(10):  # fresh weights each time: the formula averages over weights and inputs
        w = torch.randn(n_out, n_in, dtype=torch.float64) * sigma
        x = torch.randn(2000, n_in, dtype=torch.float64) * math.sqrt(var_x)
        outputs.append(x @ w.T)
    # 2,000,000 outputs, but correlated through the 10 weight draws: about 1% relative error.
    assert float(torch.cat(outputs).var()) == pytest.approx(n_in * sigma**2 * var_x, rel=0.03)


def test_variance_of_the_gradient_sent_back_is_n_out_sigma2_var_upstream():
    n_in, n_out, sigma = 100, 300, 0.05
    grads = []
    for _ in range(10):
        w = torch.randn(n_out, n_in, dtype=torch.float64) * sigma
        x = torch.randn(1000, n_in, dtype=torch.float64, requires_grad=True)
        (x @ w.T).backward(torch.randn(1000, n_out, dtype=torch.float64) * 1.5)
        grads.append(x.grad)
    assert float(torch.cat(grads).var()) == pytest.approx(n_out * sigma**2 * 1.5**2, rel=0.03)


def test_xavier_variance_is_2_over_fan_sum_and_its_uniform_bound_sqrt3_sigma():
    n_in, n_out = 600, 400
    w = nn.init.xavier_uniform_(torch.empty(n_out, n_in, dtype=torch.float64))
    sigma2 = 2 / (n_in + n_out)
    assert float(w.var()) == pytest.approx(sigma2, rel=0.01)  # 240,000 draws: sd 0.3%
    bound = math.sqrt(3 * sigma2)
    assert bound == pytest.approx(math.sqrt(6 / (n_in + n_out)))
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.999 * bound
    assert round(math.sqrt(6 / (4 + 8)), 4) == 0.7071  # the chapter's first layer


def test_relu_halves_the_second_moment_of_a_symmetric_input():
    for z in (
        torch.randn(400_000, dtype=torch.float64) * 3,
        torch.rand(400_000, dtype=torch.float64) * 2 - 1,
    ):
        ratio = float(z.relu().pow(2).mean() / z.pow(2).mean())
        assert ratio == pytest.approx(0.5, abs=0.005)  # sd of the ratio about 0.001
    skewed = torch.rand(1_000_000, dtype=torch.float64)  # not symmetric: the claim needs symmetry
    assert float(skewed.relu().pow(2).mean() / skewed.pow(2).mean()) == 1.0


def test_he_variance_keeps_the_second_moment_through_a_relu_layer():
    n = 400
    h = torch.randn(1500, n, dtype=torch.float64).relu()
    moments = []
    for _ in range(10):
        w = torch.randn(n, n, dtype=torch.float64) * math.sqrt(2 / n)
        moments.append(float((h @ w.T).relu().pow(2).mean() / h.pow(2).mean()))
    assert sum(moments) / len(moments) == pytest.approx(1.0, abs=0.03)


def test_gain_values_and_the_default_bound():
    assert nn.init.calculate_gain("relu") == math.sqrt(2)
    assert nn.init.calculate_gain("tanh") == 5 / 3
    assert nn.init.calculate_gain("linear") == 1
    for slope in (0.01, 0.2, math.sqrt(5)):
        assert nn.init.calculate_gain("leaky_relu", slope) == pytest.approx(math.sqrt(2 / (1 + slope**2)))
    gain = nn.init.calculate_gain("leaky_relu", math.sqrt(5))
    assert gain == pytest.approx(math.sqrt(1 / 3))
    for n_in in (4, 256, 1000):
        assert gain * math.sqrt(3 / n_in) == pytest.approx(1 / math.sqrt(n_in))
        assert (1 / math.sqrt(n_in)) ** 2 / 3 == pytest.approx(1 / (3 * n_in))  # the default's variance
    assert pytest.approx(1 / 6) == 0.5 * 256 * (1 / (3 * 256))  # its factor per ReLU layer


def test_xavier_with_relu_gain_equals_kaiming_for_square_layers():
    n = 512
    xavier = nn.init.xavier_uniform_(
        torch.empty(n, n, dtype=torch.float64), gain=nn.init.calculate_gain("relu")
    )
    kaiming = nn.init.kaiming_normal_(torch.empty(n, n, dtype=torch.float64), nonlinearity="relu")
    assert float(xavier.var()) == pytest.approx(2 / n, rel=0.01)
    assert float(kaiming.var()) == pytest.approx(2 / n, rel=0.01)
    assert 4 / (n + n) == 2 / n


def test_truncated_normal_at_two_sigma_has_sd_0_880_sigma():
    phi = math.exp(-2) / math.sqrt(2 * math.pi)
    mass = math.erf(2 / math.sqrt(2))
    factor = math.sqrt(1 - 2 * 2 * phi / mass)
    assert round(factor, 3) == 0.880
    w = nn.init.trunc_normal_(torch.empty(300_000, dtype=torch.float64), std=1.0, a=-2.0, b=2.0)
    assert float(w.std()) == pytest.approx(factor, rel=0.008)
    assert float(w.abs().max()) <= 2.0


def test_trunc_normal_bounds_are_absolute_not_in_sds():
    w = nn.init.trunc_normal_(torch.empty(65_536), std=0.01)  # default a=-2, b=2
    assert float(w.abs().max()) > 0.03  # 3 sd: nothing was cut at 2 sd


def test_mixture_variance_formula_for_the_chapter():
    assert Mixture().var == pytest.approx(0.5 * 175 / 3)
    assert round(Mixture().var, 3) == 29.167


def test_relu_and_leaky_relu_scale_the_second_moment_by_a_constant_that_the_gain_undoes():
    for slope in (0.0, 0.01, 0.2, math.sqrt(5)):
        gain = nn.init.calculate_gain("leaky_relu", slope) if slope else nn.init.calculate_gain("relu")
        for scale in (0.01, 1.0, 30.0):  # "whatever its scale"
            z = torch.randn(400_000, dtype=torch.float64) * scale
            factor = float(nn.functional.leaky_relu(z, slope).pow(2).mean() / z.pow(2).mean())
            assert factor == pytest.approx((1 + slope**2) / 2, rel=0.01)  # sd of the ratio < 0.3%
            assert gain**2 * (1 + slope**2) / 2 == pytest.approx(1.0)


def test_tanh_scales_the_second_moment_by_a_factor_that_depends_on_the_scale():
    factors = []
    for scale in (0.01, 1.0, 30.0):
        z = torch.randn(400_000, dtype=torch.float64) * scale
        factors.append(float(torch.tanh(z).pow(2).mean() / z.pow(2).mean()))
    assert factors[0] == pytest.approx(1.0, abs=0.001)  # near zero, tanh is the identity
    assert factors[1] < 0.5 and factors[2] < 0.01  # no constant gain can undo all three


def test_xavier_and_orthogonal_take_a_gain_and_kaiming_computes_it_from_nonlinearity_and_a():
    import inspect

    for init in (nn.init.xavier_uniform_, nn.init.xavier_normal_, nn.init.orthogonal_):
        assert "gain" in inspect.signature(init).parameters, init.__name__
    for init in (nn.init.kaiming_uniform_, nn.init.kaiming_normal_):
        assert "gain" not in inspect.signature(init).parameters, init.__name__
        assert {"a", "nonlinearity", "mode"} <= set(inspect.signature(init).parameters)
        with pytest.raises(TypeError, match="gain"):
            init(torch.empty(4, 4), gain=2.0)
    n = 400
    for nonlinearity, slope in (("relu", 0), ("leaky_relu", 0.2), ("tanh", 0), ("linear", 0)):
        w = nn.init.kaiming_normal_(
            torch.empty(n, n, dtype=torch.float64), a=slope, nonlinearity=nonlinearity
        )
        std = nn.init.calculate_gain(nonlinearity, slope) / math.sqrt(n)
        assert float(w.std()) == pytest.approx(std, rel=0.01)  # 160,000 draws: sd 0.18%


def test_with_fan_in_kaiming_the_backward_factors_telescope_to_the_width_ratio():
    """He et al. (2015), section 2.2: with sigma^2 = 2 / n_in the backward product is n_L / n_0."""
    widths = [256, 1024, 512, 2048, 256, 768, 1024]  # n_0 .. n_6: n_6 / n_0 = 4
    ratios = []
    for seed in range(6):
        generator = torch.Generator().manual_seed(seed)
        h = torch.randn(512, widths[0], dtype=torch.float64, generator=generator)
        x = h.requires_grad_()
        for n_in, n_out in itertools.pairwise(widths):
            w = torch.randn(n_out, n_in, dtype=torch.float64, generator=generator) * math.sqrt(2 / n_in)
            h = (h @ w.T).relu()
        upstream = torch.randn(h.shape, dtype=torch.float64, generator=generator)
        (grad,) = torch.autograd.grad((h * upstream).sum(), x)
        ratios.append(float(grad.pow(2).mean() / upstream.pow(2).mean()))
    mean = sum(ratios) / len(ratios)
    assert mean == pytest.approx(widths[-1] / widths[0], rel=0.1)
    assert mean != pytest.approx(1.0, rel=0.5)  # wrong: "the gradients keep their scale exactly"
    per_layer = [n_out / n_in for n_in, n_out in itertools.pairwise(widths)]
    assert max(per_layer) == 4 and min(per_layer) == 0.125  # the factors themselves are far from 1


def test_the_default_is_lua_torchs_and_glorot_and_bengios_standard_initialization():
    """U(-1/sqrt(n), 1/sqrt(n)) for weights and biases, so n Var[W] = 1/3 (Glorot and Bengio's eq. 15)."""
    n = 300
    layer = nn.Linear(n, 400, dtype=torch.float64)
    bound = 1 / math.sqrt(n)
    for values in (layer.weight.detach(), layer.bias.detach()):
        assert float(values.abs().max()) <= bound
    assert n * float(layer.weight.detach().var()) == pytest.approx(1 / 3, rel=0.01)  # 120,000 draws


@pytest.mark.parametrize(("fan_in", "fan_out"), [(512, 256), (256, 512), (256, 256)])
def test_xavier_in_a_relu_layer_scales_the_rms_by_sqrt_fan_in_over_fan_sum(fan_in, fan_out):
    """The chapter: 0.71 per layer holds for square layers; in general sqrt(fan_in / (fan_in + fan_out))."""
    h = torch.randn(2000, fan_in, dtype=torch.float64).relu()
    factors = []
    for _ in range(10):  # fresh weights each time
        w = nn.init.xavier_uniform_(torch.empty(fan_out, fan_in, dtype=torch.float64))
        factors.append(float((h @ w.T).relu().pow(2).mean() / h.pow(2).mean()))
    rms_factor = math.sqrt(sum(factors) / len(factors))
    assert rms_factor == pytest.approx(math.sqrt(fan_in / (fan_in + fan_out)), rel=0.02)
    if fan_in != fan_out:
        assert rms_factor != pytest.approx(math.sqrt(0.5), rel=0.05)  # wrong: the square layers' 0.71
    assert round(math.sqrt(512 / (512 + 256)), 2) == 0.82


def test_xavier_with_the_relu_gain_is_a_third_too_large_for_a_512_to_256_layer():
    """Exercise 1: gain^2 * 2 / (fan_in + fan_out) = 4 / 768 against He's 2 / 512."""
    ratio = (4 / 768) / (2 / 512)
    assert ratio == pytest.approx(4 / 3)
    w = nn.init.xavier_normal_(
        torch.empty(256, 512, dtype=torch.float64), gain=nn.init.calculate_gain("relu")
    )
    assert float(w.var()) == pytest.approx(4 / 768, rel=0.02)  # 131,072 draws: sd 0.4%
    k = nn.init.kaiming_normal_(torch.empty(256, 512, dtype=torch.float64), nonlinearity="relu")
    assert float(k.var()) == pytest.approx(2 / 512, rel=0.02)  # Kaiming: fan_in alone, any shape


def test_the_largest_of_n_uniform_draws_lies_a_over_n_plus_1_below_the_bound():
    """Exercise 7: E[a - max |w|] = a / (n + 1); over 400 layers the mean gap is within 3 standard
    errors of it (the gap is about exponential, so its sd is about its mean); a gap of a / n^2 or of
    a / sqrt(n) is rejected."""
    a, n = math.sqrt(6 / 400), 300 * 100
    gaps = torch.tensor(
        [a - float(nn.init.xavier_uniform_(torch.empty(100, 300)).abs().max()) for _ in range(400)],
        dtype=torch.float64,
    )
    error = float(gaps.std()) / math.sqrt(len(gaps))
    assert abs(float(gaps.mean()) - a / (n + 1)) < 3 * error
    for wrong in (a / n**2, a / math.sqrt(n)):
        assert abs(float(gaps.mean()) - wrong) > 3 * error
    assert f"{a / (n + 1):.0e}" == "4e-06"


def test_the_mixtures_fourth_moment_and_the_standard_errors_of_a_million_draws():
    """Exercise 8: E[w^4] = (1 - p)(b^5 - a^5) / (5 (b - a)) = 1937.5; standard errors 0.033 and 0.0005."""
    a, b, p = 5.0, 10.0, 0.5
    fourth = (1 - p) * (b**5 - a**5) / (5 * (b - a))
    assert fourth == 1937.5
    w = mixture_(torch.empty(2_000_000, dtype=torch.float64))
    assert float(w.pow(4).mean()) == pytest.approx(fourth, rel=0.01)  # sd of the estimate about 0.2%
    var = Mixture().var
    assert round(math.sqrt((fourth - var**2) / 1e6), 3) == 0.033
    assert round(math.sqrt(p * (1 - p) / 1e6), 4) == 0.0005


def test_fan_in_and_fan_out_are_a_linear_layers_in_features_and_out_features():
    layer = nn.Linear(300, 200)
    assert nn.init._calculate_fan_in_and_fan_out(layer.weight) == (300, 200)  # what the inits use
