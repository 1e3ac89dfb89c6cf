"""The depth study: measured signal scales follow the variance argument, runs are seeded and
isolated, and bad arguments are refused with a clear error."""

from __future__ import annotations

import math

import pytest
import torch

from paraminit.propagation import (
    INITS,
    compare_inits,
    init_variances,
    layer_activations,
    predicted_profile,
    relu_moment_factor,
    signal_profile,
)

DEPTH, WIDTH = 50, 256


def per_layer(values: tuple[float, ...]) -> float:
    """Average factor per layer between the first and the last value (geometric mean)."""
    return (values[-1] / values[0]) ** (1 / (len(values) - 1))


@pytest.mark.parametrize("name", list(INITS))
def test_gradients_shrink_per_layer_as_the_variance_argument_predicts(name):
    measured = signal_profile(name, depth=DEPTH, width=WIDTH)
    predicted = predicted_profile(name, depth=DEPTH, width=WIDTH)
    assert per_layer(measured.gradients[::-1]) == pytest.approx(
        per_layer(predicted.gradients[::-1]), rel=0.02
    )


@pytest.mark.parametrize("name", [n for n in INITS if n != "PyTorch default"])
def test_activations_shrink_per_layer_as_the_variance_argument_predicts(name):
    measured = signal_profile(name, depth=DEPTH, width=WIDTH)
    predicted = predicted_profile(name, depth=DEPTH, width=WIDTH)
    assert per_layer(measured.activations) == pytest.approx(per_layer(predicted.activations), rel=0.02)


def test_the_default_init_settles_on_a_floor_made_of_biases():
    measured = signal_profile("PyTorch default", depth=DEPTH, width=WIDTH)
    floor = math.sqrt(1 / (5 * WIDTH))  # q = q/6 + 1/(6n)
    assert predicted_profile("PyTorch default", depth=DEPTH, width=WIDTH).activations[-1] == pytest.approx(
        floor
    )
    assert measured.activations[-1] == pytest.approx(floor, rel=0.05)
    assert measured.activations[20] == pytest.approx(floor, rel=0.05)  # reached long before the top


def test_the_numbers_the_chapter_quotes_for_xavier_in_a_relu_net():
    xavier = signal_profile("Xavier", depth=DEPTH, width=WIDTH)
    assert round(xavier.activations[0], 2) == 0.71  # "falls from 0.71"
    assert f"{xavier.activations[-1]:.1e}" == "2.0e-08"  # "to 2.0 x 10^-8"
    assert per_layer(xavier.activations) == pytest.approx(math.sqrt(0.5), rel=0.02)  # "about 0.71 per layer"


@pytest.mark.parametrize("name", ["Xavier, ReLU gain", "Kaiming"])
def test_relu_gain_and_kaiming_hold_the_scale(name):
    profile = signal_profile(name, depth=DEPTH, width=WIDTH)
    for values in (profile.activations, profile.gradients):
        assert min(values) > 0.5 and max(values) < 2.0


def test_relu_moment_factor_is_one_for_kaiming_and_one_half_for_xavier():
    assert relu_moment_factor(2 / 512, 512) == 1.0
    assert relu_moment_factor(2 / (512 + 512), 512) == 0.5
    assert relu_moment_factor(1e-4, 256) == pytest.approx(0.0128)


def test_init_variances_match_what_the_inits_draw():
    torch.manual_seed(0)
    layer = torch.nn.Linear(300, 200, dtype=torch.float64)
    for name, init in INITS.items():
        init(layer)
        weight_var, bias_var = init_variances(name, 300, 200)
        assert float(layer.weight.detach().var()) == pytest.approx(weight_var, rel=0.02), name
        if bias_var == 0:
            assert (layer.bias == 0).all(), name
        else:
            assert float(layer.bias.detach().var()) == pytest.approx(bias_var, rel=0.25), name  # 200 biases


def test_runs_are_seeded_and_leave_the_global_generator_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = signal_profile("Kaiming", depth=4, width=16, seed=7)
    after = torch.rand(3)
    assert torch.equal(after, expected)
    again = compare_inits(["Kaiming"], depth=4, width=16, seed=7)["Kaiming"]
    assert again == first
    assert signal_profile("Kaiming", depth=4, width=16, seed=8) != first


def test_layer_activations_are_copies_from_the_same_run():
    kept = layer_activations("Xavier", [1, 3], depth=3, width=16)
    profile = signal_profile("Xavier", depth=3, width=16)
    assert float(kept[3].pow(2).mean().sqrt()) == profile.activations[2]
    kept[3].zero_()  # the cached run is not touched
    assert float(layer_activations("Xavier", [3], depth=3, width=16)[3].abs().sum()) > 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: signal_profile("xavier"), "unknown init 'xavier'"),
        (lambda: signal_profile("Kaiming", depth=0), "depth must be a positive integer"),
        (lambda: signal_profile("Kaiming", width=2.5), "width must be a positive integer"),
        (lambda: layer_activations("Kaiming", [0], depth=3, width=8), r"layers must be in 1\.\.3"),
        (lambda: relu_moment_factor(0.0, 4), "weight_var must be a finite number > 0"),
        (lambda: relu_moment_factor(0.1, 0), "fan must be a positive integer"),
        (lambda: init_variances("He", 4, 4), "unknown init 'He'"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
