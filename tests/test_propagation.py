"""The depth study: measured signal scales follow the variance argument, runs are seeded and
isolated, and bad arguments are refused with a clear error."""

from __future__ import annotations

import math

import pytest
import torch

from paraminit.propagation import (
    ACTIVATION_GAIN,
    ACTIVATIONS,
    INITS,
    compare_inits,
    expected_log_norm_drift,
    init_variances,
    layer_activations,
    log_norm_drift,
    predicted_profile,
    profile_grid,
    relu_moment_factor,
    signal_profile,
    tanh_profile,
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


@pytest.mark.parametrize("name", list(INITS))
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
        (lambda: log_norm_drift("Kaiming", width=8, seeds=0), "seeds must be a positive integer"),
        (lambda: expected_log_norm_drift(0, 5), "width must be a positive integer"),
        (lambda: tanh_profile(1.0, depth=-1), "depth must be a positive integer"),
        (lambda: signal_profile("Kaiming", activation="gelu"), "unknown activation 'gelu'"),
        (lambda: profile_grid(["Kaiming"], ["relu"], [4, 0]), "depth must be a positive integer, got 0"),
        (lambda: profile_grid(["Kaiming", "He"], ["relu"], [4]), "unknown init 'He'"),
        (lambda: profile_grid(["Kaiming"], ["relu", "elu"], [4]), "unknown activation 'elu'"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_weight_gradients_are_alike_in_every_layer_without_biases_and_graded_under_the_default():
    """dL/dW_l = delta_l^T h_{l-1}: the gradient from above shrinks going down as fast as the
    activation from below grows going up, so without biases every layer's step has the same scale."""
    spreads = {}
    for name in INITS:
        weights = signal_profile(name, depth=DEPTH, width=WIDTH).weight_gradients
        assert len(weights) == DEPTH
        spreads[name] = max(weights) / min(weights)
    for name, spread in spreads.items():
        if name != "PyTorch default":
            assert spread < 3, name  # the activation gradients of the same runs span up to 1e47
    assert spreads["PyTorch default"] > 1e15  # its bias floor holds the activations, not the gradients
    default = signal_profile("PyTorch default", depth=DEPTH, width=WIDTH).weight_gradients
    assert default[0] < 1e-17 < 0.1 < default[-1]  # "7e-19 ... 0.15"


def test_normal_inits_scale_the_same_matrices_so_every_weight_gradient_scales_by_c_to_the_49():
    """From one seed, normal_ gives N(0, 0.01^2), Kaiming and N(0, 0.1^2) the same matrices scaled;
    a bias-free ReLU net is positively homogeneous, so h_l scales by c^l, dL/dh_{l-1} by c^(L-l+1)
    and dL/dW_l by c^(L-1) at every layer."""
    kaiming = signal_profile("Kaiming", depth=DEPTH, width=WIDTH)
    for name, std in (("N(0, 0.01²)", 0.01), ("N(0, 0.1²)", 0.1)):
        scaled = signal_profile(name, depth=DEPTH, width=WIDTH)
        c = std / math.sqrt(2 / WIDTH)
        for layer in range(DEPTH):
            assert scaled.weight_gradients[layer] == pytest.approx(
                kaiming.weight_gradients[layer] * c ** (DEPTH - 1), rel=1e-9
            )
            assert scaled.activations[layer] == pytest.approx(kaiming.activations[layer] * c ** (layer + 1))


def test_ratios_to_the_prediction_come_from_three_draws_of_weights():
    """The 12 ratios in the page's table: the three normal inits share one, the two Xaviers another."""

    def ratios(name):
        measured = signal_profile(name, depth=DEPTH, width=WIDTH)
        predicted = predicted_profile(name, depth=DEPTH, width=WIDTH)
        return (
            measured.activations[-1] / predicted.activations[-1],
            measured.gradients[0] / predicted.gradients[0],
        )

    all_ratios = {name: ratios(name) for name in INITS}
    for first, second in (
        ("N(0, 0.01²)", "Kaiming"),
        ("N(0, 0.1²)", "Kaiming"),
        ("Xavier", "Xavier, ReLU gain"),
    ):
        assert all_ratios[first] == pytest.approx(all_ratios[second], rel=1e-9)
    values = [r for pair in all_ratios.values() for r in pair]
    below = [r for r in values if r < 1]
    assert len(values) == 12 and len(below) == 11  # "11 of the 12 ... below"
    assert round(min(below), 2) == 0.67 and round(max(below), 2) == 0.98  # "by factors from 0.67 to 0.98"
    assert [r for r in values if r > 1] == [all_ratios["PyTorch default"][1]]  # the default's gradient
    assert round(all_ratios["PyTorch default"][1], 2) == 1.44
    assert [round(r, 2) for r in all_ratios["Kaiming"]] == [0.82, 0.89]
    assert [round(r, 2) for r in all_ratios["Xavier"]] == [0.67, 0.82]


def test_too_large_normal_makes_the_signal_grow_by_1_13_per_layer():
    grown = signal_profile("N(0, 0.1²)", depth=DEPTH, width=WIDTH)
    assert relu_moment_factor(0.1**2, WIDTH) == pytest.approx(1.28)
    assert per_layer(grown.activations) == pytest.approx(math.sqrt(1.28), rel=0.02)
    assert round(grown.activations[-1]) == 395 and round(grown.gradients[0]) == 427
    assert round(predicted_profile("N(0, 0.1²)", depth=DEPTH, width=WIDTH).activations[-1]) == 479


def _mean_and_error(values: tuple[float, ...]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(variance / len(values))


@pytest.mark.parametrize("width", [32, 128])
def test_a_finite_width_network_ends_below_the_prediction_by_the_exact_log_drift(width):
    """Over 100 seeded networks (Gaussian weights, one input), the mean of log(measured / predicted)
    is the exact value of expected_log_norm_drift, within 4 standard errors; the variance argument's
    own answer, 0, is rejected, and so is a drift that does not depend on the width."""
    mean, error = _mean_and_error(log_norm_drift("Kaiming", width=width, depth=DEPTH, seeds=100))
    expected = expected_log_norm_drift(width, DEPTH)
    assert abs(mean - expected) < 4 * error
    assert abs(mean - 0.0) > 4 * error  # wrong: "measured = predicted, up to noise"
    other = expected_log_norm_drift(160 - width, DEPTH)  # wrong: the drift of the other width
    assert abs(mean - other) > 4 * error


def test_expected_log_drift_is_about_minus_5_l_over_4_n_and_0_78_at_width_256():
    for width in (64, 256, 1024):
        assert expected_log_norm_drift(width, DEPTH) == pytest.approx(-5 * DEPTH / (4 * width), rel=0.04)
    assert round(math.exp(expected_log_norm_drift(256, DEPTH)), 2) == 0.78
    # One layer, by simulation: log of sigma^2 chi^2_K against the prediction n sigma^2 / 2.
    generator = torch.Generator().manual_seed(5)
    n, draws = 16, 400_000
    g = torch.randn(draws, n, dtype=torch.float64, generator=generator)
    logs = (g.relu().pow(2).sum(dim=1) / (n / 2)).log()
    logs = logs[torch.isfinite(logs)]
    one_layer = expected_log_norm_drift(n, 2) - expected_log_norm_drift(n, 1)
    assert float(logs.mean()) == pytest.approx(2 * one_layer, abs=4 * float(logs.std()) / math.sqrt(draws))


def test_tanh_with_gain_1_decays_and_with_gain_5_3_holds_the_activations_but_not_the_gradients():
    one = tanh_profile(1.0, depth=DEPTH, width=WIDTH)
    five_thirds = tanh_profile(5 / 3, depth=DEPTH, width=WIDTH)
    assert round(one.activations[0], 2) == 0.63 and round(one.activations[-1], 2) == 0.10
    assert one.activations[-1] == pytest.approx(1 / math.sqrt(2 * DEPTH), rel=0.1)  # q_l ~ 1 / (2l)
    assert round(one.gradients[0] / one.gradients[-1], 2) == 0.11
    assert round(five_thirds.activations[-1], 2) == 0.65
    assert all(0.6 < a < 0.7 for a in five_thirds.activations[9:])  # "holds them near 0.65"
    assert round(five_thirds.gradients[0] / five_thirds.gradients[-1]) == 85
    with pytest.raises(ValueError, match="gain must be a finite number > 0"):
        tanh_profile(0.0, depth=2, width=4)


def test_most_networks_end_below_the_prediction_and_a_few_far_above():
    """The mean of the second moment is the prediction; the typical network is below, a few far above."""
    logs = log_norm_drift("Kaiming", width=128, depth=DEPTH, seeds=100)
    above = [math.exp(2 * v) for v in logs if v > 0]  # second moment / predicted, for those above
    assert len(above) < 25 and max(above) > 10
    squares = [math.exp(2 * v) for v in logs]
    assert sorted(squares)[50] < 0.5  # the median network: below half the predicted second moment
    assert sum(squares) / len(squares) == pytest.approx(1.0, abs=0.5)  # the mean: near the prediction


def test_a_grid_of_profiles_is_each_signal_profile_to_the_last_bit():
    names = [*INITS, ACTIVATION_GAIN]
    grid = profile_grid(names, list(ACTIVATIONS), [3, 5], width=16, batch=4, seed=3)
    assert list(grid) == [(n, a, d) for n in names for d in (3, 5) for a in ACTIVATIONS]
    for (name, activation, depth), profile in grid.items():
        alone = signal_profile(name, activation=activation, depth=depth, width=16, batch=4, seed=3)
        assert profile == alone, (name, activation, depth)


def test_the_activations_gain_is_the_relu_gain_under_relu_gain_1_when_linear_and_5_3_under_tanh():
    def same(name, activation, other, other_activation="relu"):
        one, two = (
            signal_profile(n, activation=a, depth=4, width=16)
            for n, a in ((name, activation), (other, other_activation))
        )
        return (one.activations, one.gradients, one.weight_gradients) == (
            two.activations,
            two.gradients,
            two.weight_gradients,
        )

    assert same(ACTIVATION_GAIN, "relu", "Xavier, ReLU gain")
    assert same(ACTIVATION_GAIN, "linear", "Xavier", "linear")
    tanh = signal_profile(ACTIVATION_GAIN, activation="tanh", depth=4, width=16)
    assert tanh.activations == tanh_profile(5 / 3, depth=4, width=16).activations
    assert signal_profile("Xavier", activation="tanh", depth=4, width=16).gradients == (
        tanh_profile(1.0, depth=4, width=16).gradients
    )
    assert not same(ACTIVATION_GAIN, "tanh", "Xavier", "tanh")  # the wrong gain is told apart


def test_a_shallow_run_is_not_the_first_layers_of_a_deep_one():
    """The weights are drawn before the input, and the gradient starts at the top: each depth is a
    run of its own (so a figure cannot show the first 10 layers of a 50-layer run as 10 layers)."""
    deep = signal_profile("Kaiming", depth=50, width=32)
    shallow = signal_profile("Kaiming", depth=10, width=32)
    assert deep.activations[:10] != shallow.activations
    assert deep.gradients[:10] != shallow.gradients


# ---- the interactive figure's runs, as the "why" page describes them -------------------------------


def test_under_tanh_xavier_decays_slowly_from_0_63_to_0_10():
    tanh = signal_profile("Xavier", activation="tanh", depth=DEPTH, width=WIDTH)
    relu = signal_profile("Xavier", depth=DEPTH, width=WIDTH)
    assert round(tanh.activations[0], 2) == 0.63 and round(tanh.activations[-1], 2) == 0.10
    # Slowly: about 1 / sqrt(2 l) after l layers, not the factor 0.71 per layer that ReLU gives.
    assert per_layer(tanh.activations) > 0.95 and per_layer(relu.activations) < 0.72


def test_without_an_activation_xavier_keeps_the_scale_between_0_97_and_1_08():
    weight_var, _ = init_variances("Xavier", WIDTH, WIDTH)
    assert WIDTH * weight_var == 1.0  # the factor per layer of a linear layer, n sigma^2: exactly 1
    linear = signal_profile("Xavier", activation="linear", depth=DEPTH, width=WIDTH)
    assert min(linear.activations) >= 0.97 and max(linear.activations) <= 1.08
    relu = signal_profile("Xavier", depth=DEPTH, width=WIDTH)  # the same weights, ReLU: not kept
    assert min(relu.activations) < 0.97


def test_without_an_activation_kaiming_grows_the_scale_by_sqrt_2_per_layer_to_4_3e7():
    linear = signal_profile("Kaiming", activation="linear", depth=DEPTH, width=WIDTH)
    assert per_layer(linear.activations) == pytest.approx(math.sqrt(2), rel=0.01)
    assert f"{linear.activations[-1]:.1e}" == "4.3e+07"
    relu = signal_profile("Kaiming", depth=DEPTH, width=WIDTH)  # made for ReLU: there it holds
    assert per_layer(relu.activations) == pytest.approx(1.0, abs=0.01)


def test_under_tanh_the_activations_gain_holds_0_65_and_the_gradient_grows_85_fold():
    held = signal_profile(ACTIVATION_GAIN, activation="tanh", depth=DEPTH, width=WIDTH)
    assert all(0.6 < a < 0.7 for a in held.activations[9:]) and round(held.activations[-1], 2) == 0.65
    assert round(held.gradients[0] / held.gradients[-1]) == 85
    gain_1 = signal_profile("Xavier", activation="tanh", depth=DEPTH, width=WIDTH)
    assert not all(0.6 < a < 0.7 for a in gain_1.activations[9:])
