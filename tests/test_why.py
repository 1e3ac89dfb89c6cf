"""Each formula on the "Why initialization matters" page and in the exercises, checked numerically.

Monte Carlo estimates use fixed seeds and float64; each tolerance is several standard errors of the
estimate it bounds, stated next to it.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from paraminit import Mixture


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
