"""The training runs behind the "why" page's figure, and what the page and the exercises say of them.

Every run is seeded; the statements about outcomes are checked on four seeds and on PyTorch's plain
CPU code path too, since a training run amplifies low-bit differences into other curves.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from plain_cpu import probe
from torch import nn

from paraminit import check_init
from paraminit import training as T
from paraminit.training import TRAINING_INITS, TrainingRun, compare_training, digits_mlp, load_digits

ROOT = Path(__file__).parents[1]
LOG10 = math.log(10)


OUTCOME_PROBE = probe(
    "training",
    """
    import json
    from paraminit.training import compare_training

    print(json.dumps({
        optimizer: {
            name: [run.final_loss, run.accuracy, max(run.unit_spread), run.first_nonfinite_step]
            for name, run in compare_training(optimizer=optimizer).items()
        }
        for optimizer in ("sgd", "adam")
    }))
    """,
)


def _assert_sgd_outcome(final: dict[str, float], nan_step: int | None) -> None:
    """What the page says of the SGD runs, whatever the seed or the code path."""
    assert final["Kaiming"] < 1.0
    assert math.isnan(final["N(0, 1)"]) and nan_step == 2
    for name in ("N(0, 0.01²)", "constant 1/64", "PyTorch default", "Xavier"):
        assert final[name] > 2.0, name


# --- the runs -----------------------------------------------------------------------------------


def test_only_kaiming_learns_with_sgd():
    runs = compare_training()
    _assert_sgd_outcome({n: r.final_loss for n, r in runs.items()}, runs["N(0, 1)"].first_nonfinite_step)
    kaiming = runs["Kaiming"]
    assert kaiming.initial_loss == pytest.approx(2.96, abs=0.005)
    assert kaiming.accuracy > 0.9 and kaiming.final_loss < 0.3


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_only_kaiming_learns_with_sgd_from_other_seeds(seed):
    runs = compare_training(seed=seed)
    _assert_sgd_outcome({n: r.final_loss for n, r in runs.items()}, runs["N(0, 1)"].first_nonfinite_step)


def test_the_outcome_is_the_same_on_the_plain_cpu_path(plain_cpu):
    assert plain_cpu["capability"] == "DEFAULT"
    result = json.loads(plain_cpu[OUTCOME_PROBE])
    sgd = result["sgd"]
    _assert_sgd_outcome(
        {n: v[0] if v[0] is not None else math.nan for n, v in sgd.items()}, sgd["N(0, 1)"][3]
    )
    _assert_adam_outcome({n: (v[0], v[1], v[2]) for n, v in result["adam"].items()})
    # The curves themselves differ: the plain path draws and rounds other low bits.
    assert sgd["Kaiming"][0] != compare_training()["Kaiming"].final_loss


CAPABILITY = torch.backends.cpu.get_cpu_capability()


@pytest.mark.processes
@pytest.mark.skipif(
    CAPABILITY != "AVX512", reason=f"needs a CPU with AVX-512 to compare with AVX2 (this one: {CAPABILITY})"
)
def test_avx2_and_avx512_give_the_same_runs():
    code = (
        "import json, torch\n"
        "from paraminit.training import compare_training\n"
        "assert torch.backends.cpu.get_cpu_capability() == 'AVX2'\n"
        "runs = compare_training(optimizer='adam')\n"
        "print(json.dumps({n: [r.final_loss, r.accuracy, r.batch_losses] for n, r in runs.items()}))\n"
    )
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2", "PARAMINIT_DEVICE": "cpu"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    avx2 = json.loads(done.stdout.strip().splitlines()[-1])
    for name, run in compare_training(optimizer="adam").items():
        final, accuracy, batch_losses = avx2[name]
        # Every step's loss to 12 digits (a float64 mean of float32 terms: its last bit may differ);
        # had the steps differed, chaos would have made the losses differ in the first digits.
        assert len(batch_losses) == len(run.batch_losses), name
        for theirs, ours in zip(batch_losses, run.batch_losses, strict=True):
            assert theirs == pytest.approx(ours, rel=1e-12, nan_ok=True), name
        assert accuracy == run.accuracy and final == pytest.approx(run.final_loss, rel=1e-12), name


def test_each_run_is_the_same_whichever_inits_train_beside_it():
    together = compare_training()
    for name in ("constant 1/64", "Kaiming"):
        alone = T.train_digits(name)
        assert alone.batch_losses == together[name].batch_losses  # the same steps, bit for bit
        # The loss on all 1,797 digits at once: one large float32 product, rounded otherwise.
        assert alone.final_loss == pytest.approx(together[name].final_loss, rel=1e-6)
        assert alone.accuracy == together[name].accuracy


def test_the_exploding_init_starts_near_1e15_and_is_nan_after_its_first_update():
    run = compare_training()["N(0, 1)"]
    assert 1e14 < run.initial_loss < 1e16
    assert math.isfinite(run.batch_losses[0]) and math.isnan(run.batch_losses[1])
    assert run.first_nonfinite_step == 2 and run.diverged
    assert math.sqrt(0.5 * 64) == pytest.approx(5.66, abs=0.005)  # the scale's factor per layer


def test_the_vanishing_init_stays_at_log_10():
    run = compare_training()["N(0, 0.01²)"]
    assert abs(run.final_loss - LOG10) < 1e-3 and abs(run.initial_loss - LOG10) < 1e-3
    assert run.accuracy < 0.11
    assert round(LOG10, 3) == 2.303


def test_the_default_and_xavier_move_their_loss_by_less_than_0_002():
    runs = compare_training()
    for name in ("PyTorch default", "Xavier"):
        assert abs(runs[name].final_loss - runs[name].initial_loss) < 0.002, name


def test_the_constant_inits_units_stay_copies_of_each_other():
    for optimizer in ("sgd", "adam"):
        run = compare_training(optimizer=optimizer)["constant 1/64"]
        assert abs(run.initial_loss - LOG10) < 1e-6  # ten equal logits
        assert max(run.unit_spread) < (1e-8 if optimizer == "sgd" else 1e-6), optimizer
        assert run.accuracy < 0.25
    for name in ("N(0, 0.01²)", "Kaiming"):  # random inits: units far apart
        assert min(compare_training()[name].unit_spread) > 0.5


def test_the_constant_init_passes_relu_of_the_mean_pixel_through_every_layer():
    x, _ = load_digits()
    net = digits_mlp()
    for layer in net[::2]:
        TRAINING_INITS["constant 1/64"](layer)
    expected = x.mean(1, keepdim=True).relu()
    h = x
    for index in range(0, len(net) - 1, 2):
        h = net[index + 1](net[index](h))
        torch.testing.assert_close(h, expected.expand_as(h), atol=1e-6, rtol=1e-5)


def _assert_adam_outcome(adam: dict[str, tuple[float, float, float]]) -> None:
    """What the chapter's exercise says of the Adam runs (final loss, accuracy, unit spread)."""
    assert adam["Xavier"][0] < 1.0 and adam["Xavier"][1] > 0.6
    assert 1.0 < adam["PyTorch default"][0] < 2.0
    assert abs(adam["N(0, 0.01²)"][0] - LOG10) < 1e-3
    assert adam["constant 1/64"][1] < 0.25 and adam["constant 1/64"][2] < 1e-6
    assert 1e12 < adam["N(0, 1)"][0] < math.inf
    assert adam["Kaiming"][0] < 0.5


def test_adam_rescues_xavier_and_in_part_the_default_but_not_the_others():
    sgd, adam = compare_training(), compare_training(optimizer="adam")
    _assert_adam_outcome({n: (r.final_loss, r.accuracy, max(r.unit_spread)) for n, r in adam.items()})
    assert sgd["Xavier"].final_loss > 2.0 and math.isnan(sgd["N(0, 1)"].final_loss)


def test_the_vanishing_gradients_are_far_below_adams_eps():
    torch.manual_seed(0)
    net = digits_mlp()
    for layer in net[::2]:
        TRAINING_INITS["N(0, 0.01²)"](layer)
    x, y = load_digits()
    report = check_init(net, x[:256], y[:256])
    assert all(1e-27 < layer.grad_rms < 1e-25 for layer in report.layers)
    eps = torch.optim.Adam([nn.Parameter(torch.zeros(1))]).defaults["eps"]
    assert eps == 1e-8 and 0.001 * 1e-25 / eps < 1e-19  # lr g / eps: the size of Adam's steps here


def test_the_hand_written_sgd_and_adam_take_torch_optims_steps():
    torch.manual_seed(0)
    start = [torch.randn(5, 3), torch.randn(3)]
    grads = [[torch.randn(5, 3), torch.randn(3)] for _ in range(4)]
    for ours, theirs in ((T._sgd(0.03), torch.optim.SGD), (T._adam(1e-3), torch.optim.Adam)):
        mine = [p.clone().requires_grad_() for p in start]
        reference = [p.clone().requires_grad_() for p in start]
        optimizer = theirs(reference, lr=0.03 if theirs is torch.optim.SGD else 1e-3)
        for step_grads in grads:
            for p, q, g in zip(mine, reference, step_grads, strict=True):
                p.grad, q.grad = g.clone(), g.clone()
            ours(mine)
            optimizer.step()
        for p, q in zip(mine, reference, strict=True):
            torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_training_restores_the_generator_and_the_thread_count():
    threads = torch.get_num_threads()
    state = torch.get_rng_state()
    compare_training(["Kaiming"], depth=3, width=8, steps=3)
    assert torch.equal(torch.get_rng_state(), state) and torch.get_num_threads() == threads


def test_a_run_that_diverges_reports_nan_from_then_on():
    run = compare_training()["N(0, 1)"]
    assert len(run.batch_losses) == len(run.batch_accuracies) == 300
    assert all(math.isnan(v) for v in run.batch_losses[1:] + run.batch_accuracies[1:])
    steps, losses, _ = run.smoothed(10)
    assert steps[:2] == (10, 20) and all(math.isnan(v) for v in losses)


def test_smoothed_averages_each_window_and_a_short_last_one():
    run = TrainingRun(
        "Kaiming", "sgd", (1.0, 2.0, 3.0, 4.0, 5.0), (0.0, 0.5, 1.0, 0.5, 0.0), 3.0, 1.0, 0.9, ()
    )
    assert run.smoothed(2) == ((2, 4, 5), (1.5, 3.5, 5.0), (0.25, 0.75, 0.0))
    with pytest.raises(ValueError, match="window must be a positive integer, got 0"):
        run.smoothed(0)


def test_the_figures_alt_text_numbers():
    runs = compare_training()
    kaiming_steps, kaiming_losses, kaiming_accuracy = runs["Kaiming"].smoothed(10)
    assert kaiming_steps[-1] == 300 and 0.2 < kaiming_losses[-1] < 0.4  # "to about 0.3"
    assert 0.85 < kaiming_accuracy[-1] < 0.95  # "to about 0.9"
    rises = [b - a for a, b in itertools.pairwise(kaiming_losses)]
    assert sum(rise > 0.4 for rise in rises) == 2  # "with two spikes"
    constant = runs["constant 1/64"].smoothed(10)
    assert 2.1 < constant[1][-1] < 2.25 and max(constant[2]) < 0.21  # "to about 2.2", "below 0.2"
    for name in ("N(0, 0.01²)", "PyTorch default", "Xavier"):
        _, losses, accuracies = runs[name].smoothed(10)
        assert all(abs(loss - 2.30) < 0.01 for loss in losses), name  # "flat at 2.30"
        assert all(abs(a - 0.1) < 0.06 for a in accuracies), name  # "near chance"
    assert f"{runs['N(0, 1)'].initial_loss:.1e}" == "2.1e+15"


def test_bad_arguments_are_refused_with_the_bad_value():
    cases = [
        ({"names": ["Orthogonal"]}, r"unknown init\(s\) \['Orthogonal'\]"),
        ({"names": []}, "needs at least one init"),
        ({"names": ["Xavier", "Xavier"]}, "each init may be named once"),
        ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'"),
        ({"depth": 1}, "depth must be an integer >= 2, got 1"),
        ({"width": 0}, "width must be an integer >= 1, got 0"),
        ({"steps": 2.5}, "steps must be an integer >= 1, got 2.5"),
        ({"batch": True}, "batch must be an integer >= 1, got True"),
        ({"lr": 0.0}, "lr must be a finite number > 0, got 0.0"),
        ({"lr": math.nan}, "lr must be a finite number > 0, got nan"),
    ]
    for options, message in cases:
        with pytest.raises(ValueError, match=message):
            compare_training(**options)
    with pytest.raises(ValueError, match="depth must be an integer >= 2"):
        digits_mlp(depth=1)


def test_adams_steps_are_about_lr_whatever_the_gradients_scale_until_eps_dominates():
    torch.manual_seed(0)
    g = torch.randn(1000, dtype=torch.float64)

    def step_rms(scale: float) -> float:
        p = torch.zeros(1000, dtype=torch.float64, requires_grad=True)
        step = T._adam(1e-3)
        for _ in range(3):
            p.grad = g * scale
            step([p])
        return float(p.detach().pow(2).mean().sqrt())

    assert step_rms(1.0) == pytest.approx(3e-3, rel=0.01)  # three steps of lr each, same sign
    assert step_rms(1e-5) == pytest.approx(step_rms(1.0), rel=0.01)  # Xavier's gradients here
    assert step_rms(1e-26) < 1e-19  # the vanishing init's: lr g / eps
