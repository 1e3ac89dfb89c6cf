"""paraminit.gpt2: GPT-2's init as rules, the small GPT-2-style model, and its residual stream's scale.

The statistical checks use fixed seeds; each tolerance is stated next to it, and each check is also
run on a deliberately wrong init, which it must reject.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from paraminit import apply_rules
from paraminit.gpt2 import TinyGPT, gpt2_rules, residual_stream_rms

DEPTHS = (6, 12, 24, 48)


def _initialized(n_layer: int, **options) -> TinyGPT:
    torch.manual_seed(0)
    model = TinyGPT(n_layer=n_layer)
    apply_rules(model, gpt2_rules(n_layer, **options))
    return model


def _weight_stds(model: TinyGPT) -> tuple[float, float]:
    """Sample standard deviation of every c_proj weight pooled, and of every other Linear weight."""
    c_proj, other = [], []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and module is not model.lm_head:
            (c_proj if name.endswith("c_proj") else other).append(module.weight.detach().reshape(-1))
    return float(torch.cat(c_proj).std()), float(torch.cat(other).std())


def _has_gpt2_stds(model: TinyGPT, n_layer: int) -> bool:
    # 12 blocks pool about a million c_proj weights: the sample sd is within 0.1% of the true one,
    # so 2% is 20 standard errors and more.
    c_proj, other = _weight_stds(model)
    return math.isclose(c_proj, 0.02 / math.sqrt(2 * n_layer), rel_tol=0.02) and math.isclose(
        other, 0.02, rel_tol=0.02
    )


def test_gpt2_rules_give_every_parameter_tensor_of_tinygpt_a_rule():
    torch.manual_seed(0)
    model = TinyGPT(n_layer=12)
    report = apply_rules(model, gpt2_rules(12))
    assert report.names("untouched") == [] and report.names("deferred") == []
    assert report.counts() == {
        "normal_(std=0.02) on Linear/Embedding.weight": 26,  # 12 c_attn, 12 c_fc, wte (= lm_head), wpe
        "ones_ on LayerNorm.weight": 25,
        "zeros_ on LayerNorm.bias": 25,
        "zeros_ on Linear.bias": 48,
        "normal_(std=0.02/sqrt(2*12)) on *c_proj.weight": 24,
    }


def test_c_proj_weights_have_std_0_02_over_sqrt_2l_and_every_other_weight_0_02():
    assert _has_gpt2_stds(_initialized(12), 12)


def test_the_std_check_rejects_unscaled_or_wrongly_scaled_projections():
    assert not _has_gpt2_stds(_initialized(12, scale_residual=False), 12)
    assert not _has_gpt2_stds(_initialized(12), 24)  # 1/sqrt(2 * 12) is not 1/sqrt(2 * 24)
    assert not _has_gpt2_stds(_initialized(12, std=0.03), 12)


def test_biases_are_zero_and_layernorms_the_identity():
    model = _initialized(2)
    for module in model.modules():
        if isinstance(module, nn.Linear) and module.bias is not None:
            assert (module.bias == 0).all()
        if isinstance(module, nn.LayerNorm):
            assert (module.weight == 1).all() and (module.bias == 0).all()


def test_tinygpt_ties_the_output_layer_to_the_token_embedding():
    model = TinyGPT(n_layer=1)
    assert model.lm_head.weight is model.wte.weight
    defaults = TinyGPT()
    assert (defaults.wte.embedding_dim, len(defaults.blocks[0].attn.c_attn.weight)) == (128, 3 * 128)
    assert defaults.blocks[0].attn.n_head == 4
    assert isinstance(defaults.blocks[0].ln_1, nn.LayerNorm)


def test_tinygpt_is_causal_and_gives_one_logit_per_token():
    model = _initialized(2)
    tokens = torch.randint(512, (2, 10))
    logits = model(tokens)
    assert logits.shape == (2, 10, 512)
    changed = tokens.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 512  # the last token cannot change earlier positions
    torch.testing.assert_close(model(changed)[:, :-1], logits[:, :-1])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"n_layer": 0}, "n_layer must be a positive integer, got 0"),
        ({"n_layer": True}, "n_layer must be a positive integer, got True"),
        ({"n_layer": 1.5}, "n_layer must be a positive integer, got 1.5"),
        ({"n_layer": 2, "std": 0.0}, "std must be a finite number > 0, got 0.0"),
        ({"n_layer": 2, "std": float("nan")}, "std must be a finite number > 0, got nan"),
        ({"n_layer": 2, "std": float("inf")}, "std must be a finite number > 0, got inf"),
        ({"n_layer": 2, "std": "0.02"}, "std must be a finite number > 0, got '0.02'"),
    ],
)
def test_gpt2_rules_refuse_bad_arguments_naming_them(arguments, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        gpt2_rules(**arguments)


def test_tinygpt_refuses_bad_sizes_and_too_long_input():
    with pytest.raises(ValueError, match="n_head must divide n_embd, got n_head=3 and n_embd=128"):
        TinyGPT(n_head=3)
    with pytest.raises(ValueError, match="block_size must be a positive integer, got 0"):
        TinyGPT(block_size=0)
    with pytest.raises(ValueError, match=r"length <= 64, got shape \(1, 65\)"):
        TinyGPT(n_layer=1).residual_stream(torch.zeros(1, 65, dtype=torch.long))


def test_residual_stream_rms_is_seeded_and_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = residual_stream_rms(2, n_embd=32, n_head=2, seed=5)
    assert torch.equal(torch.rand(3), expected_next)
    residual_stream_rms.cache_clear()
    assert residual_stream_rms(2, n_embd=32, n_head=2, seed=5) == first
    assert residual_stream_rms(2, n_embd=32, n_head=2, seed=6) != first
    assert len(first) == 3


def test_a_branch_adds_the_same_whatever_the_scale_of_the_stream():
    """Each branch reads a LayerNorm of the stream, so its output does not depend on the stream's scale."""
    block = _initialized(1).blocks[0]
    torch.manual_seed(1)
    x = torch.randn(2, 16, 128)
    with torch.no_grad():
        for scale in (0.5, 10.0):
            torch.testing.assert_close(
                block.attn(block.ln_1(scale * x)), block.attn(block.ln_1(x)), rtol=1e-3, atol=1e-5
            )
            torch.testing.assert_close(
                block.mlp(block.ln_2(scale * x)), block.mlp(block.ln_2(x)), rtol=1e-3, atol=1e-5
            )


def _added_per_branch(rms: tuple[float, ...]) -> float:
    """The variance each of the 2 L branches added to the stream, on average."""
    return (rms[-1] ** 2 - rms[0] ** 2) / (2 * (len(rms) - 1))


def _grows_like_the_square_root_of_depth(tops: dict[int, tuple[float, ...]]) -> bool:
    # Variances add: the variance added per branch is the same at every depth (within 15%, the
    # spread of one seeded run per depth), and 8 times the depth gives sqrt(8) times the RMS.
    per_branch = [_added_per_branch(rms) for rms in tops.values()]
    ratio = tops[48][-1] / tops[6][-1]
    return max(per_branch) / min(per_branch) < 1.15 and math.isclose(ratio, math.sqrt(8), rel_tol=0.05)


def _stays_flat(tops: dict[int, tuple[float, ...]]) -> bool:
    top = [rms[-1] for rms in tops.values()]
    return max(top) / min(top) < 1.05


def test_without_the_scaling_the_residual_stream_rms_grows_like_the_square_root_of_depth():
    plain = {n: residual_stream_rms(n, scale_residual=False) for n in DEPTHS}
    assert _grows_like_the_square_root_of_depth(plain)
    assert not _stays_flat(plain)
    assert round(plain[6][-1], 3) == 0.159 and round(plain[48][-1], 3) == 0.451


def test_with_the_scaling_the_residual_stream_rms_at_the_top_does_not_grow_with_depth():
    scaled = {n: residual_stream_rms(n) for n in DEPTHS}
    assert _stays_flat(scaled)
    assert not _grows_like_the_square_root_of_depth(scaled)
    assert {round(rms[-1], 3) for rms in scaled.values()} <= {0.049, 0.050, 0.051}


def test_all_scaled_branches_together_add_about_what_one_unscaled_branch_adds():
    for n_layer in DEPTHS:
        scaled, plain = residual_stream_rms(n_layer), residual_stream_rms(n_layer, scale_residual=False)
        together = scaled[-1] ** 2 - scaled[0] ** 2
        assert 0.7 < together / _added_per_branch(plain) < 1.3, n_layer


def test_residual_stream_rms_runs_on_one_thread_whatever_the_callers_count_and_restores_it():
    before = torch.get_num_threads()
    residual_stream_rms.cache_clear()
    try:
        torch.set_num_threads(2)
        two = residual_stream_rms(3, n_embd=32, n_head=2)
        assert torch.get_num_threads() == 2
        residual_stream_rms.cache_clear()
        torch.set_num_threads(1)
        one = residual_stream_rms(3, n_embd=32, n_head=2)
        assert torch.get_num_threads() == 1 and one == two
    finally:
        torch.set_num_threads(before)
