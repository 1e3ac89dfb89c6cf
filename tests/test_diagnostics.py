"""check_init: what it reports about a classifier's init, and that it leaves the model as it was."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from paraminit import InitCheck, LayerCheck, LazyParameterError, check_init
from paraminit.diagnostics import SATURATED, _rms
from paraminit.training import TRAINING_INITS, digits_mlp, load_digits


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    x, y = load_digits()
    return x[:256], y[:256]


def _deep_net(init: str) -> nn.Sequential:
    torch.manual_seed(0)  # the training runs' networks before their first step
    net = digits_mlp()
    for layer in net[::2]:
        TRAINING_INITS[init](layer)
    return net


def test_the_uniform_loss_for_10_balanced_classes_is_log_10():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 10))
    nn.init.zeros_(net[0].weight)
    nn.init.zeros_(net[0].bias)
    report = check_init(net, torch.randn(50, 4), torch.arange(50) % 10)
    assert report.uniform_loss == math.log(10) and round(report.uniform_loss, 4) == 2.3026
    assert report.loss == pytest.approx(math.log(10), rel=1e-6)  # equal logits: the uniform loss
    assert report.classes == 10


def test_a_net_whose_hidden_biases_are_all_very_negative_has_every_relu_dead(digits):
    x, y = digits
    torch.manual_seed(0)
    net = digits_mlp()
    for layer in net[::2]:
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        nn.init.constant_(layer.bias, -100.0 if layer is not net[-1] else 0.0)
    report = check_init(net, x, y)
    assert [layer.dead for layer in report.layers[:-1]] == [1.0] * 19
    assert report.loss == pytest.approx(math.log(10), rel=1e-6)
    assert all(layer.grad_rms == 0.0 and layer.update_ratio == 0.0 for layer in report.layers)
    # Why the first layer is dead on every digit: its weights times a digit stay far below 100.
    all_x, _ = load_digits()
    assert float((all_x @ net[0].weight.detach().T).abs().max()) < 50


def test_dead_counts_units_zero_on_every_example_not_zero_outputs():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]]))
        net[0].bias.copy_(torch.tensor([0.0, 0.0, -1.0]))
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [2.0, 0.0]])
    report = check_init(net, x, torch.tensor([0, 1, 0]))
    # Unit 0 and unit 1 are each zero on some examples but alive on others; unit 2 is always 0.
    assert report.layers[0].dead == pytest.approx(1 / 3)
    assert report.layers[1].dead is None and report.layers[1].kind == "Linear"


def test_saturated_tanh_units_are_those_beyond_0_97():
    torch.manual_seed(0)
    x, y = torch.randn(500, 16), torch.randint(0, 4, (500,))
    for scale in (0.01, 0.5, 3.0):
        net = nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 4))
        with torch.no_grad():
            net[0].weight.normal_(0, scale)
        expected = float((torch.tanh(net[0](x)).abs() > 0.97).double().mean())
        report = check_init(net, x, y)
        assert report.layers[0].kind == "Linear+Tanh"
        assert report.layers[0].dead == pytest.approx(expected, abs=1e-12)
    assert SATURATED == 0.97 and expected > 0.5  # large weights: most units saturated
    assert 1 - math.tanh(math.atanh(0.97)) ** 2 < 0.06  # the derivative there


def test_the_model_its_gradients_buffers_mode_and_the_generator_are_left_as_they_were():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    net.train()
    for p in net.parameters():
        p.grad = torch.full_like(p, 7.0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    grads = [p.grad.clone() for p in net.parameters()]
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    state = torch.get_rng_state()
    report = check_init(net, x, y, lr=0.5)  # draws dropout masks, on the copy
    assert all(layer.update_ratio > 0 for layer in report.layers)  # the copy did move
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and running stats
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, net.parameters(), strict=True))
    assert net.training and torch.equal(torch.get_rng_state(), state)


def test_the_sgd_update_ratio_is_lr_times_the_gradient_over_the_weight():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))
    x, y = torch.randn(64, 10), torch.randint(0, 5, (64,))
    report = check_init(net, x, y, lr=0.1)
    for layer, linear in zip(report.layers, (net[0], net[2]), strict=True):
        weight_rms = float(linear.weight.detach().double().pow(2).mean().sqrt())
        assert layer.update_ratio == pytest.approx(0.1 * layer.grad_rms / weight_rms, rel=1e-5)


def test_an_optimizer_factory_takes_the_measured_step():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))
    x, y = torch.randn(64, 10), torch.randint(0, 5, (64,))
    report = check_init(net, x, y, optimizer=lambda params: torch.optim.Adam(params, lr=1e-3))
    # Adam's first step is lr * g / (|g| + eps): about lr for every weight with a gradient.
    weight_rms = float(net[2].weight.detach().double().pow(2).mean().sqrt())
    assert report.layers[1].update_ratio == pytest.approx(1e-3 / weight_rms, rel=1e-3)


def test_tiny_scales_are_measured_not_flushed_to_zero():
    tiny = torch.full((8,), 1e-24)
    assert float(tiny.pow(2).mean().sqrt()) == 0.0  # float32 squares underflow: the naive RMS is 0
    assert _rms(tiny) == pytest.approx(1e-24, rel=1e-6)


def test_an_in_place_relu_is_read_as_it_acts():
    torch.manual_seed(0)
    x, y = torch.randn(40, 5), torch.randint(0, 3, (40,))
    plain = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))
    in_place = nn.Sequential(nn.Linear(5, 7), nn.ReLU(inplace=True), nn.Linear(7, 3))
    in_place.load_state_dict(plain.state_dict())
    assert check_init(plain, x, y) == check_init(in_place, x, y)


def test_an_activation_called_as_a_function_leaves_the_layer_on_its_own():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(3, 4), nn.Linear(4, 2)

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x)))

    report = check_init(Functional(), torch.randn(5, 3), torch.tensor([0, 1, 0, 1, 1]))
    assert [(layer.name, layer.kind, layer.dead) for layer in report.layers] == [
        ("fc1", "Linear", None),
        ("fc2", "Linear", None),
    ]


def test_the_table_shows_the_loss_and_the_chosen_rows():
    report = InitCheck(
        (
            LayerCheck("0", "Linear+ReLU", 0.9, 0.012, 0.0, 2e-3),
            LayerCheck("2", "Linear", 1.4, 0.07, None, 1e-2),
        ),
        loss=2.8177,
        uniform_loss=math.log(10),
        classes=10,
    )
    lines = str(report).splitlines()
    assert lines[0] == "loss 2.818; log(10) = 2.3026 for 10 balanced classes"
    assert lines[1].split() == ["#", "module", "kind", "out", "RMS", "grad", "RMS", "dead", "update"]
    assert lines[2].split() == ["1", "0", "Linear+ReLU", "9.00e-01", "1.20e-02", "0.00", "2.00e-03"]
    assert lines[3].split() == ["2", "2", "Linear", "1.40e+00", "7.00e-02", "-", "1.00e-02"]
    assert report.table(rows=[1]).splitlines()[2:] == lines[3:]
    assert max(len(line) for line in lines) <= 72
    with pytest.raises(IndexError, match=r"rows \[5\] are outside the report's 2 layers"):
        report.table(rows=[5])


def test_kaiming_keeps_the_scale_and_moves_every_layer_by_2e_3_to_1_2e_2(digits):
    report = check_init(_deep_net("Kaiming"), *digits, lr=0.03)
    hidden = [layer.output_rms for layer in report.layers[:-1]]
    assert min(hidden) > 0.6 and max(hidden) < 0.9
    ratios = [layer.update_ratio for layer in report.layers]
    assert min(ratios) > 2e-3 and max(ratios) < 1.25e-2
    assert report.loss == pytest.approx(2.818, abs=5e-4) and report.loss > math.log(10)
    assert round(report.layers[-1].output_rms, 1) == 1.4  # the logits' RMS


def test_kaiming_with_a_zero_last_layer_starts_at_log_10(digits):
    net = _deep_net("Kaiming")
    nn.init.zeros_(net[-1].weight)
    assert check_init(net, *digits).loss == pytest.approx(math.log(10), rel=1e-6)


def test_the_defaults_loss_looks_ideal_while_its_first_layer_cannot_move(digits):
    report = check_init(_deep_net("PyTorch default"), *digits, lr=0.03)
    assert abs(report.loss - math.log(10)) < 0.002
    first = report.layers[0]
    assert 5e-10 < first.grad_rms < 1e-9 and 5e-11 < first.update_ratio < 1e-10
    assert min(layer.output_rms for layer in report.layers[:-1]) > 0.04  # its bias floor


def test_the_vanishing_init_changes_no_weight_in_its_first_step(digits):
    report = check_init(_deep_net("N(0, 0.01²)"), *digits, lr=0.03)
    assert all(1e-27 < layer.grad_rms < 1e-25 for layer in report.layers)
    assert all(layer.update_ratio == 0.0 for layer in report.layers)


def test_the_exploding_and_xavier_scales_at_the_last_layer(digits):
    exploding = check_init(_deep_net("N(0, 1)"), *digits)
    assert 1e14 < exploding.layers[-1].output_rms < 1e16 and 1e14 < exploding.loss < 1e16
    xavier = check_init(_deep_net("Xavier"), *digits)
    assert 5e-4 < xavier.layers[-2].output_rms < 5e-3  # "about 1e-3 by the last layer"
    assert all(5e-6 < layer.grad_rms < 5e-5 for layer in xavier.layers)  # "about 1e-5"


def test_bad_input_is_refused_with_what_was_expected():
    net = nn.Sequential(nn.Linear(4, 3))
    x, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    cases = [
        ((nn.Linear, x, y), TypeError, "needs an nn.Module as model, got type"),
        ((net, [[1.0] * 4], y), TypeError, "inputs must be a torch.Tensor, got list"),
        ((net, torch.randn(0, 4), y[:0]), ValueError, r"at least one example, got shape \(0, 4\)"),
        ((net, x, y.float()), ValueError, "1-D int64 tensor of class indices, got shape"),
        ((net, x, y[:4]), ValueError, "inputs hold 5 examples but targets 4"),
        ((net, x, torch.tensor([0, 1, 2, 3, 0])), ValueError, r"class indices in 0\.\.2 .* from 0 to 3"),
        ((net, x.to("meta"), y), ValueError, "must be on one device"),
        ((nn.Sequential(nn.ReLU()), x, y), ValueError, "no layer with a weight"),
        (
            (nn.Sequential(nn.Linear(4, 3), nn.Unflatten(1, (3, 1))), x, y),
            ValueError,
            r"logits .* got \(5, 3, 1\)",
        ),
    ]
    for args, error, message in cases:
        with pytest.raises(error, match=message):
            check_init(*args)
    for lr in (0, -1.0, math.inf, True):
        with pytest.raises(ValueError, match=f"lr must be a finite number > 0, got {lr!r}"):
            check_init(net, x, y, lr=lr)
    with pytest.raises(LazyParameterError, match="uninitialized"):
        check_init(nn.Sequential(nn.LazyLinear(3)), x, y)


def test_modules_that_return_no_tensor_and_unused_layers_are_taken_in_stride():
    class Attending(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = nn.MultiheadAttention(4, 1, batch_first=True)  # returns a tuple
            self.unused = nn.Linear(4, 4)
            self.head = nn.Linear(4, 3)

        def forward(self, x):
            out, _ = self.attention(x, x, x)
            return self.head(out.mean(1))

    torch.manual_seed(0)
    report = check_init(Attending(), torch.randn(6, 5, 4), torch.tensor([0, 1, 2, 0, 1, 2]))
    # The attention returns a tuple, and uses its out_proj's weight without calling it: no rows.
    # The unused layer gets no gradient and no row either; the head does.
    assert [layer.name for layer in report.layers] == ["head"]
    assert report.layers[0].update_ratio > 0
