"""The chapter's network trained under each of its inits: which learn, which end with every hidden
ReLU off, and the errors for bad arguments."""

from __future__ import annotations

import pytest
import torch

from paraminit.chapter_training import CHAPTER_INITS, fit_chapter_net, regression_data

LEARN = ("PyTorch default", "N(0, 0.01²)")
DIE = ("constant 1", "Xavier, then 42")


def test_not_every_chapter_init_trains_the_chapter_net():
    """The page once said that any of the network's inits trains; two of them end where they began."""
    fits = {name: fit_chapter_net(name, seed=0) for name in CHAPTER_INITS}
    assert not all(fit.learned for fit in fits.values())
    for name in LEARN:
        assert fits[name].final_loss < 0.1 * fits[name].target_variance, name  # "below a tenth"
    for name in (*DIE, "mixture_"):
        fit = fits[name]
        assert fit.active_units == 0, name  # "none of the 8 hidden ReLUs active for any input"
        # "end at the target's variance": the loss of predicting the mean, to 4 digits.
        assert fit.final_loss == pytest.approx(fit.target_variance, rel=1e-4), name
    initial = sorted(fits[name].initial_loss for name in (*DIE, "mixture_"))
    assert round(initial[0]) == 265 and round(initial[-1]) == 8979  # "initial losses of 265 to 8,979"
    assert round(fits["constant 1"].target_variance, 2) == 0.31


@pytest.mark.slow  # 25 runs of 2,000 steps
def test_the_outcome_holds_for_five_seeds():
    for seed in range(5):
        for name in LEARN:
            fit = fit_chapter_net(name, seed=seed)
            assert fit.final_loss < 0.1 * fit.target_variance, (name, seed)
        for name in DIE:
            fit = fit_chapter_net(name, seed=seed)
            assert fit.active_units == 0 and fit.final_loss == pytest.approx(fit.target_variance, rel=1e-4)
        mixture = fit_chapter_net("mixture_", seed=seed)
        assert mixture.active_units <= 1 and not mixture.learned, seed  # "at most one"


def test_a_dead_net_is_dead_after_its_first_steps_and_stays_so():
    assert fit_chapter_net("Xavier, then 42", steps=1).active_units == 0  # one step suffices
    assert fit_chapter_net("constant 1", steps=50).active_units == 8  # all alive, all alike...
    assert fit_chapter_net("constant 1", steps=100).active_units == 0  # ...then all off together


def test_regression_data_is_seeded_and_leaves_the_global_generator_alone():
    torch.manual_seed(3)
    expected = torch.rand(2)
    torch.manual_seed(3)
    X, y = regression_data(16, seed=1)
    assert torch.equal(torch.rand(2), expected)
    assert X.shape == (16, 4) and y.shape == (16, 1)
    assert float(X.min()) >= 0 and float(X.max()) < 1
    assert torch.equal(regression_data(16, seed=1)[0], X)
    assert torch.equal(y, torch.sin(X @ torch.tensor([[1.0], [-2.0], [0.5], [1.5]])))


def test_a_fit_is_seeded_and_leaves_the_thread_count_and_generator_alone():
    threads = torch.get_num_threads()
    torch.manual_seed(3)
    expected = torch.rand(2)
    torch.manual_seed(3)
    first = fit_chapter_net("N(0, 0.01²)", steps=20, seed=4)
    assert torch.equal(torch.rand(2), expected)
    assert torch.get_num_threads() == threads
    fit_chapter_net.cache_clear()
    assert fit_chapter_net("N(0, 0.01²)", steps=20, seed=4) == first  # trained again: the same
    assert fit_chapter_net("N(0, 0.01²)", steps=20, seed=5) != first


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fit_chapter_net("xavier"), "unknown init 'xavier'"),
        (lambda: fit_chapter_net("constant 1", steps=0), "steps must be a positive integer, got 0"),
        (lambda: fit_chapter_net("constant 1", lr=float("nan")), "lr must be a finite number > 0, got nan"),
        (lambda: regression_data(1), "n must be an integer >= 2"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
