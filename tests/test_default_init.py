"""PyTorch's own default for nn.Linear, as the chapter states it: weights and biases from
U(-1/sqrt(fan_in), 1/sqrt(fan_in)), through kaiming_uniform_(a=sqrt(5)).

House pattern (see tests/test_statistics.py): a Kolmogorov-Smirnov test against the stated
distribution accepts at p > ALPHA, and each wrong sampler that a careless statement could describe
is rejected by the same test at p < REJECT. Fixed seeds; the sample is pooled over many layers.
"""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats
from torch import nn

ALPHA, REJECT = 1e-4, 1e-6
FAN_IN, FAN_OUT, LAYERS = 64, 32, 40  # 81,920 weights and 1,280 biases


def default_layers(seed: int = 0) -> list[nn.Linear]:
    torch.manual_seed(seed)
    return [nn.Linear(FAN_IN, FAN_OUT, device="cpu") for _ in range(LAYERS)]


def ks_uniform(samples: torch.Tensor, bound: float) -> float:
    return stats.kstest(
        samples.detach().double().numpy(), stats.uniform(loc=-bound, scale=2 * bound).cdf
    ).pvalue


BOUND = 1 / math.sqrt(FAN_IN)
WRONG = {
    "kaiming_uniform_ with a=0 (bound sqrt(6/fan_in))": lambda w: nn.init.kaiming_uniform_(w, a=0),
    "xavier_uniform_ (bound sqrt(6/(fan_in+fan_out)))": nn.init.xavier_uniform_,
    "U(-1/fan_in, 1/fan_in)": lambda w: nn.init.uniform_(w, -1 / FAN_IN, 1 / FAN_IN),
    "N(0, 1/(3 fan_in)) (right variance, wrong shape)": lambda w: nn.init.normal_(w, 0, BOUND / math.sqrt(3)),
}


def test_default_weights_are_uniform_on_plus_minus_1_over_sqrt_fan_in():
    weights = torch.cat([layer.weight.detach().reshape(-1) for layer in default_layers()])
    assert float(weights.abs().max()) <= BOUND
    assert ks_uniform(weights, BOUND) > ALPHA


def test_default_biases_are_uniform_on_the_same_interval():
    biases = torch.cat([layer.bias.detach() for layer in default_layers(1)])
    assert float(biases.abs().max()) <= BOUND
    assert ks_uniform(biases, BOUND) > ALPHA


def test_the_default_is_kaiming_uniform_with_a_sqrt5():
    torch.manual_seed(3)
    layer = nn.Linear(FAN_IN, FAN_OUT)
    torch.manual_seed(3)
    weight = nn.init.kaiming_uniform_(torch.empty(FAN_OUT, FAN_IN), a=math.sqrt(5))
    assert torch.equal(layer.weight.detach(), weight)


@pytest.mark.parametrize("wrong", list(WRONG), ids=list(WRONG))
def test_the_ks_test_rejects_wrong_defaults(wrong):
    torch.manual_seed(0)
    weights = torch.cat([WRONG[wrong](torch.empty(FAN_OUT, FAN_IN)).reshape(-1) for _ in range(LAYERS)])
    assert ks_uniform(weights, BOUND) < REJECT
