"""Figures: what a sampler drew next to what the closed form says it should draw.

Needs matplotlib (`pip install paraminit[docs]`); the rest of the library does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .samplers import Mixture

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def mixture_histogram(
    samples: torch.Tensor, dist: Mixture, bins: int = 60
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Density histogram of the nonzero samples, scaled so it compares with `dist.pdf`.

    Args:
        samples: Draws from the mixture (any shape).
        dist: The mixture they should follow.
        bins: Number of bins over `[-outer, outer]`.

    Returns:
        `(edges, heights, zero_fraction)`: bin edges (`bins + 1`), the estimated density of the
        continuous part in each bin (it integrates to the nonzero fraction, like `dist.pdf`
        integrates to `1 - p`), and the fraction of exact zeros, to compare with `p_zero`.

    Example:
        ```python
        import torch
        from paraminit import Mixture, mixture_
        from paraminit.figures import mixture_histogram

        w = torch.empty(10_000)
        mixture_(w, generator=torch.Generator(w.device).manual_seed(0))
        edges, heights, zeros = mixture_histogram(w, Mixture())
        assert len(edges) == 61 and abs(zeros - 0.5) < 0.02
        ```
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    flat = samples.detach().reshape(-1).to("cpu", torch.float64)
    if flat.numel() == 0:
        raise ValueError("mixture_histogram() needs at least one sample, got an empty tensor")
    nonzero = flat[flat != 0]
    edges = torch.linspace(-dist.outer, dist.outer, bins + 1, dtype=torch.float64, device="cpu")
    counts = torch.histc(nonzero, bins=bins, min=-dist.outer, max=dist.outer)
    heights = counts / (flat.numel() * (edges[1] - edges[0]))
    return edges, heights, float((flat == 0).double().mean())


def mixture_figure(dist: Mixture | None = None, *, n: int = 200_000, seed: int = 0, bins: int = 60) -> Figure:
    """Plot `n` draws of [mixture_][paraminit.mixture_] against the mixture's density and atom.

    Bars: the histogram of the nonzero draws; line: `dist.pdf`; the stem at 0: the fraction of
    exact zeros, next to `p_zero` (a mass, read on the right-hand axis).

    Args:
        dist: The mixture; default the chapter's.
        n: Number of draws (on the CPU, from a generator seeded with `seed`).
        seed: Seed of the draws, so the figure is the same on every build.
        bins: Histogram bins.

    Returns:
        A matplotlib `Figure`.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    dist = dist if dist is not None else Mixture()
    # On the CPU whatever the default device, so the figure is the same on every machine.
    samples = dist.sample_(torch.empty(n, device="cpu"), generator=torch.Generator().manual_seed(seed))
    edges, heights, zero_fraction = mixture_histogram(samples, dist, bins)

    figure = Figure(figsize=(7.0, 3.2), layout="constrained")
    density_axis = figure.add_subplot()
    density_axis.stairs(heights.numpy(), edges.numpy(), fill=True, alpha=0.35, label=f"{n:,} draws")
    grid = torch.linspace(-dist.outer * 1.1, dist.outer * 1.1, 2001, dtype=torch.float64, device="cpu")
    grid = grid[grid != 0]
    density_axis.plot(grid.numpy(), dist.pdf(grid).numpy(), color="C0", label="density")
    density_axis.set_xlabel("w")
    density_axis.set_ylabel("density of the slabs")
    density_axis.set_ylim(0, float(dist.pdf(dist.outer)) * 1.6)

    mass_axis = density_axis.twinx()
    mass_axis.vlines(0, 0, zero_fraction, color="C3", linewidth=3, label=f"zeros: {zero_fraction:.4f}")
    mass_axis.plot([0], [dist.p_zero], "o", color="C3", fillstyle="none", label=f"p = {dist.p_zero:g}")
    mass_axis.set_ylim(0, 1)
    mass_axis.set_ylabel("mass at 0")

    handles = [h for axis in (density_axis, mass_axis) for h in axis.get_legend_handles_labels()[0]]
    density_axis.legend(handles=handles, loc="upper left", frameon=False, fontsize="small")
    density_axis.set_title(
        f"mixture_(inner={dist.inner:g}, outer={dist.outer:g}, p_zero={dist.p_zero:g})", fontsize="medium"
    )
    return figure
