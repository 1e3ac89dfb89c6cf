"""The figure shows what mixture_ draws, next to the closed form it should match."""

from __future__ import annotations

import pytest
import torch

from paraminit import Mixture, mixture_
from paraminit.figures import mixture_figure, mixture_histogram


def test_histogram_matches_the_density_and_the_atom():
    dist = Mixture()
    w = torch.empty(400_000)
    mixture_(w, generator=torch.Generator(w.device).manual_seed(0))
    edges, heights, zeros = mixture_histogram(w, dist, bins=40)  # bins of width 0.5: none straddles 5
    centers = (edges[:-1] + edges[1:]) / 2
    expected = dist.pdf(centers)
    on_slab = expected > 0
    # 10,000 draws a bin: relative sd 1%, so 5% is 5 sd.
    torch.testing.assert_close(heights[on_slab], expected[on_slab], rtol=0.05, atol=0)
    assert (heights[~on_slab] == 0).all()
    assert zeros == pytest.approx(0.5, abs=0.005)
    assert float((heights * (edges[1] - edges[0])).sum()) == pytest.approx(1 - zeros)


def test_histogram_rejects_bad_input():
    with pytest.raises(ValueError, match="bins must be >= 1"):
        mixture_histogram(torch.zeros(3), Mixture(), bins=0)
    with pytest.raises(ValueError, match="empty tensor"):
        mixture_histogram(torch.zeros(0), Mixture())


def test_figure_draws_the_seeded_samples_and_the_zero_mass():
    figure = mixture_figure(Mixture(1.0, 3.0, 0.2), n=20_000, seed=1)
    density_axis, mass_axis = figure.axes
    assert "p_zero=0.2" in density_axis.get_title()
    labels = [text.get_text() for text in density_axis.get_legend().get_texts()]
    assert labels[0] == "20,000 draws" and labels[-1] == "p = 0.2"
    zero_label = next(label for label in labels if label.startswith("zeros: "))
    assert float(zero_label.removeprefix("zeros: ")) == pytest.approx(0.2, abs=0.01)
    assert mass_axis.get_ylim() == (0.0, 1.0)
