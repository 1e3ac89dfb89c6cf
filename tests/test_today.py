"""Each claim of the "Initialization today" page, and of the chapter's exercises on it, checked.

Statistical checks run over several seeds, each with its tolerance stated next to it, and are also
run on a deliberately wrong variant (another gain, another activation, no zero), which they must
reject. Every test runs on the CPU, where the page's numbers were recorded (CUDA's generator draws
other numbers from the same seed); the page's blocks themselves run on every device through the
page tests.
"""

from __future__ import annotations

import inspect
import math
import re
from pathlib import Path

import pytest
import torch
from snippets_check import run_section, sections
from torch import nn
from torch.nn import functional as F

from paraminit import Rule, apply_rules
from paraminit.gpt2 import TinyGPT, gpt2_rules, residual_stream_rms
from paraminit.propagation import relu_moment_factor

ROOT = Path(__file__).parents[1]
SEEDS = (0, 1, 2)
SELU_SEEDS = (0, 1, 2, 3, 4)


@pytest.fixture(autouse=True)
def _on_the_cpu():
    with torch.device("cpu"):
        yield


def _section(name: str):
    return next(s for s in sections(ROOT / "snippets" / "today.py") if s.name == name)


# ---- LeCun normal and SELU --------------------------------------------------------------------


def test_kaiming_normal_with_the_linear_gain_is_lecun_normal():
    # 65,536 draws: the sample sd is within 0.3% of the true one (sd of the estimate: 1/sqrt(2N)).
    w = nn.init.kaiming_normal_(torch.empty(256, 256, dtype=torch.float64), nonlinearity="linear")
    assert float(w.std()) == pytest.approx(1 / 16, rel=0.01)
    wrong = nn.init.kaiming_normal_(torch.empty(256, 256, dtype=torch.float64), nonlinearity="relu")
    assert float(wrong.std()) != pytest.approx(1 / 16, rel=0.01)


def test_under_a_relu_lecun_normal_halves_the_second_moment_and_he_doubles_the_variance():
    assert relu_moment_factor(1 / 256, 256) == 0.5
    assert relu_moment_factor(2 / 256, 256) == 1.0  # He et al.: twice LeCun's variance


def _through_50_layers(activation, nonlinearity="linear", x_std=1.0, seed=0):
    """Mean and variance after layers 1, 10 and 50: the page's experiment, for any seed."""
    torch.manual_seed(seed)
    x = torch.randn(1024, 256) * x_std
    seen = {}
    for layer in range(1, 51):
        w = nn.init.kaiming_normal_(torch.empty(256, 256), nonlinearity=nonlinearity)
        x = activation(x @ w.T)
        if layer in (1, 10, 50):
            seen[layer] = (float(x.mean()), float(x.var()))
    return seen


def _keeps_mean_0_and_variance_1(seen) -> bool:
    # 262,144 activations a layer, but correlated through the same weights: over seeds 0 to 4 the
    # means reach 0.026 and the variances 0.957 and 1.031, inside 0.03 and 0.05.
    return all(abs(mean) < 0.03 and abs(var - 1) < 0.05 for mean, var in seen.values())


@pytest.mark.parametrize("seed", SELU_SEEDS)
def test_selu_with_lecun_normal_keeps_mean_0_and_variance_1_through_50_layers(seed):
    assert _keeps_mean_0_and_variance_1(_through_50_layers(torch.selu, seed=seed))


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_the_mean_variance_check_rejects_selu_with_gain_3_4_and_relu(seed):
    assert not _keeps_mean_0_and_variance_1(_through_50_layers(torch.selu, "selu", seed=seed))
    assert not _keeps_mean_0_and_variance_1(_through_50_layers(torch.relu, seed=seed))


@pytest.mark.parametrize("seed", SELU_SEEDS)
def test_selu_pulls_a_variance_of_4_back_within_0_2_of_1_by_layer_10_and_0_05_by_layer_50(seed):
    seen = _through_50_layers(torch.selu, x_std=2.0, seed=seed)
    assert seen[1][1] > 2 and abs(seen[10][1] - 1) < 0.2 and abs(seen[50][1] - 1) < 0.05


def test_relu_does_not_pull_a_variance_of_4_back():
    relu = _through_50_layers(torch.relu, x_std=2.0)  # a factor 1/2 per layer: no fixed point
    assert abs(relu[10][1] - 1) > 0.2


def test_the_selu_gain_is_3_4_and_the_docs_say_to_use_linear_for_self_normalizing_networks():
    assert nn.init.calculate_gain("selu") == 0.75
    doc = " ".join(inspect.getdoc(nn.init.calculate_gain).split())
    assert "Self-Normalizing Neural Networks" in doc
    assert "you should use ``nonlinearity='linear'`` instead of ``nonlinearity='selu'``" in doc
    assert "a variance of ``1 / N``" in doc


# ---- orthogonal ---------------------------------------------------------------------------------


def _product_singular_values(init, seed=0, width=64, depth=50):
    torch.manual_seed(seed)
    product = torch.eye(width, dtype=torch.float64)
    for _ in range(depth):
        product = init(torch.empty(width, width, dtype=torch.float64)) @ product
    return torch.linalg.svdvals(product)


def _gaussian(w):
    return nn.init.normal_(w, std=1 / math.sqrt(w.shape[1]))


@pytest.mark.parametrize("seed", SEEDS)
def test_a_product_of_50_orthogonal_matrices_has_every_singular_value_1(seed):
    s = _product_singular_values(nn.init.orthogonal_, seed)
    assert float((s - 1).abs().max()) < 1e-12
    spread = _product_singular_values(_gaussian, seed)  # the wrong variant: Gaussian factors
    assert float((spread - 1).abs().max()) > 1


@pytest.mark.parametrize("seed", SEEDS)
def test_a_product_of_50_gaussian_matrices_spreads_its_singular_values_over_many_decades(seed):
    s = _product_singular_values(_gaussian, seed)
    assert float(s.max() / s.min()) > 1e10


def test_one_gaussian_layer_keeps_the_mean_square_singular_value_near_1():
    # ||W||_F^2 / n for n x n entries of variance 1/n: mean 1, sd sqrt(2) / n = 0.022 at n = 64.
    for seed in SEEDS:
        torch.manual_seed(seed)
        s = torch.linalg.svdvals(_gaussian(torch.empty(64, 64, dtype=torch.float64)))
        assert float(s.pow(2).mean()) == pytest.approx(1, abs=0.1)


def test_a_power_of_one_orthogonal_matrix_keeps_every_singular_value_1():
    torch.manual_seed(0)
    w = nn.init.orthogonal_(torch.empty(64, 64, dtype=torch.float64))
    s = torch.linalg.svdvals(torch.linalg.matrix_power(w, 100))
    assert float((s - 1).abs().max()) < 1e-12
    gaussian = torch.linalg.svdvals(torch.linalg.matrix_power(_gaussian(torch.empty_like(w)), 100))
    assert float((gaussian - 1).abs().max()) > 1


def test_orthogonal_gives_orthonormal_rows_or_columns_times_the_gain():
    wide = nn.init.orthogonal_(torch.empty(3, 5, dtype=torch.float64), gain=2.0)
    torch.testing.assert_close(wide @ wide.T, 4 * torch.eye(3, dtype=torch.float64))
    tall = nn.init.orthogonal_(torch.empty(5, 3, dtype=torch.float64))
    torch.testing.assert_close(tall.T @ tall, torch.eye(3, dtype=torch.float64))


# ---- residual branches that start at zero -------------------------------------------------------


def _branch():
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64))


def _zero_last_layer(branch):
    nn.init.zeros_(branch[2].weight)
    nn.init.zeros_(branch[2].bias)
    return branch


def test_a_stack_of_zero_branches_passes_input_and_gradient_through_unchanged():
    torch.manual_seed(0)
    stack = [_zero_last_layer(_branch()) for _ in range(10)]
    x = torch.randn(32, 64, requires_grad=True)
    h = x
    for branch in stack:
        h = h + branch(h)
    upstream = torch.randn(32, 64)
    h.backward(upstream)
    assert torch.equal(h, x) and torch.equal(x.grad, upstream)


def test_a_default_branch_is_not_the_identity():
    torch.manual_seed(0)
    x = torch.randn(32, 64)
    assert not torch.equal(x + _branch()(x), x)


def test_zero_gamma_zero_last_layer_and_alpha_0_each_make_the_block_the_identity_in_training():
    torch.manual_seed(0)
    x = torch.randn(32, 64)
    goyal = nn.Sequential(_branch(), nn.BatchNorm1d(64)).train()
    nn.init.zeros_(goyal[1].weight)
    assert torch.equal(x + goyal(x), x)
    assert torch.equal(x + _zero_last_layer(_branch())(x), x)
    assert torch.equal(x + torch.zeros(()) * _branch()(x), x)


def test_behind_a_zero_last_layer_the_first_layer_learns_from_the_second_step():
    torch.manual_seed(0)
    branch = _zero_last_layer(_branch())
    x, target = torch.randn(32, 64), torch.randn(32, 64)
    optimizer = torch.optim.SGD(branch.parameters(), lr=0.1)
    grads = []
    for _ in range(2):
        optimizer.zero_grad()
        (x + branch(x) - target).pow(2).mean().backward()
        grads.append((branch[0].weight.grad.clone(), branch[2].weight.grad.clone()))
        optimizer.step()
    (first_0, last_0), (first_1, _) = grads
    assert (first_0 == 0).all() and (first_1 != 0).any()
    assert len(last_0.unique(dim=0)) == 64  # every row of the zero layer gets its own gradient


def test_the_chapters_constant_init_in_contrast_gives_identical_rows():
    # Both layers constant: every hidden unit has the same incoming and outgoing weights.
    torch.manual_seed(0)
    net = _branch()
    for layer in (net[0], net[2]):
        nn.init.constant_(layer.weight, 0.01)
        nn.init.zeros_(layer.bias)
    (net(torch.randn(32, 64)) - torch.randn(32, 64)).pow(2).mean().backward()
    assert len(net[0].weight.grad.unique(dim=0)) == 1


# ---- truncated normals -------------------------------------------------------------------------


def test_trunc_normal_defaults_to_absolute_bounds_of_2_which_cut_nothing_at_std_0_02():
    defaults = inspect.signature(nn.init.trunc_normal_).parameters
    assert (defaults["a"].default, defaults["b"].default) == (-2.0, 2.0)
    torch.manual_seed(0)
    w = nn.init.trunc_normal_(torch.empty(1_000_000, dtype=torch.float64), std=0.02)
    # A normal has 4.55% beyond 2 sd; the estimate from 10^6 draws has sd 0.02 points.
    assert float((w.abs() > 0.04).double().mean()) == pytest.approx(0.0455, abs=0.001)
    assert float(w.std()) == pytest.approx(0.02, rel=0.005)


def test_cut_at_two_sd_the_standard_deviation_is_0_0176_twelve_percent_less():
    torch.manual_seed(0)
    w = nn.init.trunc_normal_(torch.empty(1_000_000, dtype=torch.float64), std=0.02, a=-0.04, b=0.04)
    assert float(w.abs().max()) <= 0.04
    assert float(w.std()) == pytest.approx(0.0176, rel=0.005)
    assert round(1 - 0.0176 / 0.02, 2) == 0.12


# ---- embeddings --------------------------------------------------------------------------------


def test_nn_embedding_draws_its_table_from_a_standard_normal():
    torch.manual_seed(0)
    table = nn.Embedding(1000, 256).weight.detach()
    assert float(table.mean()) == pytest.approx(0, abs=0.01)
    assert float(table.std()) == pytest.approx(1, rel=0.01)


def _logits_and_loss(model, seed=0):
    torch.manual_seed(seed)
    tokens = torch.randint(512, (8, 33))
    with torch.no_grad():
        logits = model(tokens[:, :-1])
    return logits, float(F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten()))


@pytest.mark.parametrize("seed", SEEDS)
def test_with_a_tied_standard_normal_table_logits_have_sd_sqrt_d_and_the_softmax_picks_one_token(seed):
    torch.manual_seed(seed)
    model = TinyGPT(n_layer=4)  # PyTorch's defaults
    logits, loss = _logits_and_loss(model, seed)
    assert float(logits.std()) == pytest.approx(math.sqrt(128), rel=0.2)
    assert float(logits.softmax(-1).max(-1).values.mean()) > 0.9
    assert loss > 5 * math.log(512)
    apply_rules(model, gpt2_rules(4))  # std 0.02: the wrong variant for both checks
    logits, loss = _logits_and_loss(model, seed)
    assert float(logits.softmax(-1).max(-1).values.mean()) < 0.1
    assert loss == pytest.approx(math.log(512), abs=0.2)


# ---- normalization layers ----------------------------------------------------------------------

NORMS = [
    nn.LayerNorm(16),
    nn.RMSNorm(16),
    nn.GroupNorm(4, 16),
    nn.BatchNorm1d(16),
    nn.BatchNorm2d(16),
    nn.BatchNorm3d(16),
    nn.SyncBatchNorm(16),
    nn.InstanceNorm1d(16, affine=True),
    nn.InstanceNorm2d(16, affine=True),
    nn.InstanceNorm3d(16, affine=True),
]


@pytest.mark.parametrize("norm", NORMS, ids=lambda n: type(n).__name__)
def test_normalization_layers_start_with_gamma_1_and_beta_0(norm):
    assert (norm.weight == 1).all() and norm.weight.requires_grad
    bias = getattr(norm, "bias", None)
    assert bias is None or ((bias == 0).all() and bias.requires_grad)


@pytest.mark.parametrize(("scale", "shift"), [(5.0, 3.0), (0.1, -7.0), (100.0, 0.0)])
def test_layernorm_gives_every_row_mean_0_and_variance_1_when_rows_vary_well_above_sqrt_eps(scale, shift):
    torch.manual_seed(0)
    y = nn.LayerNorm(64)(torch.randn(32, 64) * scale + shift).detach()
    assert float(y.mean(1).abs().max()) < 1e-5
    torch.testing.assert_close(y.var(1, unbiased=False), torch.ones(32), rtol=2e-3, atol=0)


def test_layernorm_does_not_reach_variance_1_for_rows_that_vary_on_the_scale_of_sqrt_eps():
    torch.manual_seed(0)
    y = nn.LayerNorm(64)(torch.randn(32, 64) * 1e-3).detach()  # the condition's other side
    assert float(y.var(1, unbiased=False).mean()) < 0.2


# ---- muP ---------------------------------------------------------------------------------------


def _change_after_one_adam_step(width, lr):
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(width, width) / width**0.5)
    x, upstream = torch.randn(32, width), torch.randn(32, width)
    before = (x @ w.T).detach()
    (x @ w.T * upstream).sum().backward()
    torch.optim.Adam([w], lr=lr).step()
    return float((x @ w.T).detach().sub(before).pow(2).mean().sqrt())


def test_adams_first_step_moves_every_weight_by_the_lr_and_the_gradient_is_a_sum_of_outer_products():
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(64, 64) / 8)
    x, upstream = torch.randn(32, 64), torch.randn(32, 64)
    (x @ w.T * upstream).sum().backward()
    torch.testing.assert_close(w.grad, upstream.T @ x)
    before = w.detach().clone()
    torch.optim.Adam([w], lr=1e-3).step()
    torch.testing.assert_close((w.detach() - before).abs(), torch.full((64, 64), 1e-3), rtol=1e-4, atol=0)
    sgd = nn.Parameter(before.clone())  # the wrong variant: SGD moves each weight by lr * gradient
    sgd.grad = w.grad.clone()
    torch.optim.SGD([sgd], lr=1e-3).step()
    assert float((sgd.detach() - before).abs().std()) > 1e-4


def test_one_steps_change_grows_12_fold_from_width_64_to_1024_and_the_mup_lr_holds_it_within_25_percent():
    plain = {n: _change_after_one_adam_step(n, 1e-3) for n in (64, 256, 1024)}
    mup = {n: _change_after_one_adam_step(n, 1e-3 * 64 / n) for n in (64, 256, 1024)}
    assert round(plain[1024] / plain[64]) == 12
    assert all(abs(mup[n] / mup[64] - 1) < 0.25 for n in mup)
    # A learning rate divided by the square root of the width multiplier does not hold it.
    root = _change_after_one_adam_step(1024, 1e-3 * (64 / 1024) ** 0.5)
    assert abs(root / mup[64] - 1) > 0.25


# ---- LoRA --------------------------------------------------------------------------------------


def _lora(seed=0, zero_b=True):
    torch.manual_seed(seed)
    base = nn.Linear(64, 64)
    a = nn.Linear(64, 4, bias=False)
    b = nn.Linear(4, 64, bias=False)
    if zero_b:
        nn.init.zeros_(b.weight)
    return base, a, b


@pytest.mark.parametrize("seed", SEEDS)
def test_lora_with_b_0_gives_the_base_models_output_bit_for_bit(seed):
    base, a, b = _lora(seed)
    x = torch.randn(16, 64)
    assert torch.equal(base(x) + 2.0 * b(a(x)), base(x))
    base, a, b = _lora(seed, zero_b=False)  # the wrong variant: B random as well
    assert not torch.equal(base(x) + 2.0 * b(a(x)), base(x))


def test_the_pages_lora_layer_starts_as_the_base_and_trains_only_a_and_b():
    scope = _snippet_globals("lora")
    adapted, base, x = scope["adapted"], scope["base"], scope["x"]
    assert torch.equal(adapted(x), base(x))
    trainable = [name for name, p in adapted.named_parameters() if p.requires_grad]
    assert trainable == ["A.weight", "B.weight"]
    frozen = base.weight.detach().clone()
    optimizer = torch.optim.SGD([p for p in adapted.parameters() if p.requires_grad], lr=0.1)
    (adapted(x) - torch.randn_like(x)).pow(2).mean().backward()
    optimizer.step()
    assert torch.equal(base.weight, frozen) and not torch.equal(adapted(x), base(x))


def test_the_lora_factor_gradients_are_m_a_transposed_and_b_transposed_m():
    torch.manual_seed(0)
    w0, x, y = torch.randn(8, 6), torch.randn(20, 6), torch.randn(20, 8)
    a, b = torch.randn(3, 6, requires_grad=True), torch.randn(8, 3, requires_grad=True)
    full = (w0 + b @ a).detach().requires_grad_()
    (x @ full.T - y).pow(2).mean().backward()
    m = full.grad
    grad_a, grad_b = torch.autograd.grad((x @ (w0 + b @ a).T - y).pow(2).mean(), (a, b))
    torch.testing.assert_close(grad_b, m @ a.T)
    torch.testing.assert_close(grad_a, b.T @ m)


def _lora_exercise_table() -> dict[str, list[float]]:
    printed = "".join(run_section(_section("ex_lora_zero")).values()).splitlines()[1:]
    return {line[:12].strip(): [float(v) for v in line[12:].split()] for line in printed}


def test_in_the_lora_exercise_only_both_zero_never_moves_and_b_0_ends_lowest():
    table = _lora_exercise_table()  # loss at 0, |grad A|, |grad B|, loss at 100
    assert table["B = 0 (LoRA)"][0] == table["A = 0"][0] == table["both 0"][0] == 0.9297
    assert table["B = 0 (LoRA)"][1] == 0 and table["A = 0"][2] == 0
    assert table["both 0"][1:] == [0.0, 0.0, 0.9297]
    assert table["neither 0"][0] > 0.9297
    ends = {name: row[3] for name, row in table.items()}
    assert min(ends, key=ends.get) == "B = 0 (LoRA)" and ends["A = 0"] == 0.4329


def test_with_both_lora_factors_zero_gradient_descent_never_moves_them():
    torch.manual_seed(0)
    w0, x = torch.randn(16, 16), torch.randn(64, 16)
    y = x @ torch.randn(16, 16).T
    a, b = torch.zeros(2, 16, requires_grad=True), torch.zeros(16, 2, requires_grad=True)
    for _ in range(100):
        grad_a, grad_b = torch.autograd.grad((x @ (w0 + b @ a).T - y).pow(2).mean(), (a, b))
        assert not grad_a.any() and not grad_b.any()
        with torch.no_grad():
            a -= 0.5 * grad_a
            b -= 0.5 * grad_b
    assert not a.any() and not b.any()


def test_the_residual_exercises_predictions_are_2_percent_low_unscaled_and_5_percent_high_scaled():
    six = residual_stream_rms(6, scale_residual=False)
    per_branch = (six[-1] ** 2 - six[0] ** 2) / 12
    assert round(six[0], 3) == 0.028 and round(six[-1], 3) == 0.159 and round(per_branch, 4) == 0.0020
    off = {}
    for scaled, added in ((False, 96 * per_branch), (True, per_branch)):
        predicted = math.sqrt(six[0] ** 2 + added)
        off[scaled] = predicted / residual_stream_rms(48, scale_residual=scaled)[-1] - 1
    assert round(off[False], 2) == -0.02 and round(off[True], 2) == 0.05


# ---- reset_parameters, skip_init, _init_weights ------------------------------------------------

LAYERS = {
    nn.Linear: (32, 16),
    nn.Conv2d: (3, 8, 3),
    nn.Embedding: (100, 16),
    nn.LayerNorm: (16,),
    nn.BatchNorm1d: (16,),
}


@pytest.mark.parametrize("cls", LAYERS, ids=lambda c: c.__name__)
def test_layers_call_reset_parameters_in_init_and_calling_it_again_redraws_the_defaults(cls, monkeypatch):
    calls = []
    original = cls.reset_parameters
    monkeypatch.setattr(cls, "reset_parameters", lambda self: calls.append(1) or original(self))
    torch.manual_seed(0)
    built = cls(*LAYERS[cls])
    assert calls == [1]
    monkeypatch.undo()
    torch.manual_seed(0)
    redrawn = cls(*LAYERS[cls])
    with torch.no_grad():
        for p in redrawn.parameters():
            p.fill_(7.0)
    torch.manual_seed(0)
    redrawn.reset_parameters()
    for mine, theirs in zip(redrawn.parameters(), built.parameters(), strict=True):
        assert torch.equal(mine, theirs)


def test_multihead_attention_keeps_its_reset_private():
    assert hasattr(nn.MultiheadAttention, "_reset_parameters")
    assert not hasattr(nn.MultiheadAttention, "reset_parameters")


def test_skip_init_then_reset_parameters_gives_the_ordinary_constructors_tensors():
    torch.manual_seed(0)
    built = nn.Linear(256, 128)
    torch.manual_seed(0)
    skipped = torch.nn.utils.skip_init(nn.Linear, 256, 128, device=built.weight.device)
    skipped.reset_parameters()
    assert torch.equal(skipped.weight, built.weight) and torch.equal(skipped.bias, built.bias)
    torch.manual_seed(1)  # the wrong variant: another seed
    other = torch.nn.utils.skip_init(nn.Linear, 256, 128)
    other.reset_parameters()
    assert not torch.equal(other.weight, built.weight)


def _snippet_globals(name: str) -> dict:
    scope: dict = {"__name__": f"snippet_{name}"}
    exec(compile(_section(name).code, "<snippet>", "exec"), scope)
    return scope


def test_the_init_weights_pattern_writes_every_named_parameter_and_never_the_gate():
    model = _snippet_globals("init_weights")["model"]
    assert model.gate._version == 0  # never written in place: torch.empty's bytes
    for name, p in model.named_parameters():
        if name != "gate":
            assert p._version > 0, name
    assert float(model.embed.weight.detach().std()) == pytest.approx(0.02, rel=0.05)


def test_apply_visits_each_submodule_then_the_model():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU()))
    visited = []
    model.apply(lambda m: visited.append(type(m).__name__))
    assert visited == ["Linear", "ReLU", "Sequential", "Sequential"]


def test_the_rules_report_names_the_parameter_no_rule_matched():
    model = nn.Sequential(nn.Embedding(10, 4), nn.LayerNorm(4), nn.Linear(4, 4))
    model.gate = nn.Parameter(torch.empty(4))
    report = apply_rules(
        model,
        [
            Rule(nn.init.normal_, module=(nn.Linear, nn.Embedding), param="weight"),
            Rule(nn.init.zeros_, module=(nn.Linear, nn.LayerNorm), param="bias"),
            Rule(nn.init.ones_, module=nn.LayerNorm, param="weight"),
        ],
    )
    assert report.names("untouched") == ["gate"]
    assert re.search(r"^gate +\(4,\) +untouched", str(report), re.M)
