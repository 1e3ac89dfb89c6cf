"""Figures: what a sampler drew next to what the closed form says it should draw, and how the scale of
a signal changes with depth under each init.

Every figure comes in two themes, `"light"` and `"dark"`, drawn on a transparent background with
text and series colours chosen for the site's light and dark palettes (each series colour has a
contrast of at least 3:1 with its background, and series also differ by line style or marker).
Needs matplotlib (`pip install paraminit[docs]`); the rest of the library does not.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

import torch

from .samplers import Mixture

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Theme = Literal["light", "dark"]

THEMES: dict[str, dict[str, object]] = {
    "light": {
        "background": "#ffffff",
        "text": "#1a1a1a",
        "grid": "#d0d0d0",
        "series": ("#0072B2", "#D55E00", "#1B7837", "#7B3294", "#8C510A", "#595959"),
    },
    "dark": {
        "background": "#1e2029",
        "text": "#e2e4e9",
        "grid": "#4a4d5a",
        "series": ("#56B4E9", "#FF9E80", "#7FD1AE", "#F4A3D4", "#FFB000", "#C8C8C8"),
    },
}
"""Colours of each theme. `background` is the page behind the transparent figure (Material's white
and its `slate` scheme's background); `series` are the line and bar colours, in order."""

LINE_STYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (3, 1, 1, 1)))
MARKERS = ("o", "s", "^", "D", "v", "P")


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2 contrast ratio between two `#rrggbb` colours, from 1 (same) to 21 (black on white).

    Args:
        first: A colour as `#rrggbb`.
        second: Another.

    Returns:
        `(L1 + 0.05) / (L2 + 0.05)` with `L1 >= L2` their relative luminances.

    Raises:
        ValueError: a colour is not `#rrggbb`.

    Example:
        ```python
        from paraminit.figures import contrast_ratio

        assert round(contrast_ratio("#000000", "#ffffff"), 1) == 21.0
        ```
    """

    def luminance(colour: str) -> float:
        text = colour.removeprefix("#")
        if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
            raise ValueError(f"expected a colour as '#rrggbb', got {colour!r}")
        channels = [int(text[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _theme(theme: str) -> dict[str, object]:
    if theme not in THEMES:
        raise ValueError(f"theme must be one of {sorted(THEMES)}, got {theme!r}")
    return THEMES[theme]


@contextlib.contextmanager
def _themed(theme: str) -> Iterator[dict[str, object]]:
    """matplotlib settings of `theme` (Agg backend, transparent background) while a figure is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    colours = _theme(theme)
    text, grid = colours["text"], colours["grid"]
    settings = {
        "figure.facecolor": "none",
        "axes.facecolor": "none",
        "savefig.transparent": True,
        "text.color": text,
        "axes.labelcolor": text,
        "axes.edgecolor": text,
        "axes.titlecolor": text,
        "xtick.color": text,
        "ytick.color": text,
        "grid.color": grid,
        "legend.labelcolor": text,
        "legend.edgecolor": grid,
        "legend.facecolor": "none",
        "svg.hashsalt": "paraminit",
    }
    with matplotlib.rc_context(settings):
        yield colours


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


def mixture_figure(
    dist: Mixture | None = None, *, n: int = 200_000, seed: int = 0, bins: int = 60, theme: Theme = "light"
) -> Figure:
    """Plot `n` draws of [mixture_][paraminit.mixture_] against the mixture's density and atom.

    Bars: the histogram of the nonzero draws; line: `dist.pdf`; the stem at 0: the fraction of
    exact zeros, next to `p_zero` (a mass, read on the right-hand axis).

    Args:
        dist: The mixture; default the chapter's.
        n: Number of draws (on the CPU, from a generator seeded with `seed`).
        seed: Seed of the draws, so the figure is the same on every build.
        bins: Histogram bins.
        theme: `"light"` or `"dark"`: the colours of `THEMES[theme]`.

    Returns:
        A matplotlib `Figure`.
    """
    from matplotlib.figure import Figure

    dist = dist if dist is not None else Mixture()
    # On the CPU whatever the default device, so the figure is the same on every machine.
    samples = dist.sample_(torch.empty(n, device="cpu"), generator=torch.Generator().manual_seed(seed))
    edges, heights, zero_fraction = mixture_histogram(samples, dist, bins)

    with _themed(theme) as colours:
        bar, atom = colours["series"][0], colours["series"][1]
        figure = Figure(figsize=(7.0, 3.2), layout="constrained")
        density_axis = figure.add_subplot()
        density_axis.stairs(
            heights.numpy(), edges.numpy(), fill=True, alpha=0.35, color=bar, label=f"{n:,} draws"
        )
        grid = torch.linspace(-dist.outer * 1.1, dist.outer * 1.1, 2001, dtype=torch.float64, device="cpu")
        grid = grid[grid != 0]
        density_axis.plot(grid.numpy(), dist.pdf(grid).numpy(), color=bar, label="density")
        density_axis.set_xlabel("w")
        density_axis.set_ylabel("density of the slabs")
        density_axis.set_ylim(0, float(dist.pdf(dist.outer)) * 1.6)

        mass_axis = density_axis.twinx()
        mass_axis.vlines(0, 0, zero_fraction, color=atom, linewidth=3, label=f"zeros: {zero_fraction:.4f}")
        mass_axis.plot([0], [dist.p_zero], "o", color=atom, fillstyle="none", label=f"p = {dist.p_zero:g}")
        mass_axis.set_ylim(0, 1)
        mass_axis.set_ylabel("mass at 0")

        handles = [h for axis in (density_axis, mass_axis) for h in axis.get_legend_handles_labels()[0]]
        density_axis.legend(handles=handles, loc="upper left", frameon=False, fontsize="small")
        density_axis.set_title(
            f"mixture_(inner={dist.inner:g}, outer={dist.outer:g}, p_zero={dist.p_zero:g})",
            fontsize="medium",
        )
    return figure


def depth_figure(
    profiles: dict | None = None, *, theme: Theme = "light", depth: int = 50, width: int = 256
) -> Figure:
    """The RMS of activations, of their gradients and of the weights' gradients, layer by layer.

    Left: RMS of the activations `h_l` for `l = 1 .. depth`. Middle: RMS of the gradient with respect
    to the activations that reaches the input of layer `l`, read from the top (`l = depth`, one layer
    back) down to `l = 1` (every layer back). Right: RMS of the gradient with respect to layer `l`'s
    weights, in the same order. One line per init, on a shared log axis. Data from
    [compare_inits][paraminit.propagation.compare_inits].

    Args:
        profiles: Name to `SignalProfile` (measured: with weight gradients); default
            `compare_inits(depth=depth, width=width)`.
        theme: `"light"` or `"dark"`.
        depth: Depth for the default profiles.
        width: Width for the default profiles.

    Returns:
        A matplotlib `Figure` with three log-scale axes and a legend below them.

    Raises:
        ValueError: no profiles, or a profile without weight gradients (a predicted one).
    """
    from matplotlib.figure import Figure

    if profiles is None:
        profiles = dict(_depth_profiles(depth, width))  # a copy: the cached dict stays as it was
    if not profiles:
        raise ValueError("depth_figure() needs at least one profile, got none")
    missing = [name for name, profile in profiles.items() if len(profile.weight_gradients) != profile.depth]
    if missing:
        raise ValueError(f"depth_figure() needs measured profiles with weight gradients; {missing} have none")
    with _themed(theme) as colours:
        figure = Figure(figsize=(7.0, 3.9), layout="constrained")
        forward, backward, weights = figure.subplots(1, 3, sharey=True)
        for index, (name, profile) in enumerate(profiles.items()):
            style = {
                "color": colours["series"][index % len(colours["series"])],
                "linestyle": LINE_STYLES[index % len(LINE_STYLES)],
                "marker": MARKERS[index % len(MARKERS)],
                "markevery": max(profile.depth // 5, 1),
                "markersize": 4,
                "linewidth": 1.6,
                "label": name,
            }
            layers = range(1, profile.depth + 1)
            forward.plot(layers, profile.activations, **style)
            backward.plot(layers, profile.gradients, **style)
            weights.plot(layers, profile.weight_gradients, **style)
        for axis, title in (
            (forward, "activations\nRMS of $h_l$"),
            (backward, "gradients, activations\nRMS of $\\partial L / \\partial h_{l-1}$"),
            (weights, "gradients, weights\nRMS of $\\partial L / \\partial W_l$"),
        ):
            axis.set_yscale("log")
            axis.set_xlabel("layer $l$")
            axis.set_title(title, fontsize="medium")
            axis.grid(True, which="major", linewidth=0.5)
        forward.set_ylabel("RMS (log scale)")
        backward.invert_xaxis()  # the gradients travel from the last layer back to the first
        weights.invert_xaxis()
        figure.legend(
            *forward.get_legend_handles_labels(),
            loc="outside lower center",
            ncols=3,
            fontsize="small",
            frameon=False,
        )
    return figure


@functools.lru_cache(maxsize=4)
def _depth_profiles(depth: int, width: int) -> dict:
    """`compare_inits(depth=depth, width=width)` (cached: both themes, wide and narrow, share them;
    the profiles are frozen dataclasses)."""
    from .propagation import compare_inits

    return compare_inits(depth=depth, width=width)


@functools.lru_cache(maxsize=4)
def _chapter_weight_samples(layers: int, seed: int) -> dict[str, torch.Tensor]:
    """`layers` independently initialized 8 x 4 weights per init, pooled (cached: both themes share them)."""
    from torch import nn

    from .samplers import mixture_

    draws = {
        "PyTorch default: U(-1/2, 1/2)": lambda: nn.Linear(4, 8, device="cpu").weight,
        "N(0, 0.01²)": lambda: nn.init.normal_(torch.empty(8, 4, device="cpu"), 0.0, 0.01),
        "Xavier uniform": lambda: nn.init.xavier_uniform_(torch.empty(8, 4, device="cpu")),
        "mixture_ (the custom init)": lambda: mixture_(torch.empty(8, 4, device="cpu")),
    }
    samples = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name, draw in draws.items():
            samples[name] = torch.cat([draw().detach().reshape(-1) for _ in range(layers)])
    return samples


def weights_figure(*, theme: Theme = "light", layers: int = 2_000, seed: int = 0) -> Figure:
    """Histograms of the chapter's first-layer weights (fan_in 4, fan_out 8) under four inits.

    Each panel pools `layers` independently initialized 8 x 4 weights: PyTorch's default, the
    chapter's N(0, 0.01^2), Xavier uniform, and the chapter's mixture. Dashed lines mark the Xavier
    bound `sqrt(6 / (4 + 8)) = 0.707` in every panel.

    Args:
        theme: `"light"` or `"dark"`.
        layers: How many 8 x 4 weights to draw for each panel.
        seed: Seed of the draws.

    Returns:
        A matplotlib `Figure` with four panels.
    """
    from matplotlib.figure import Figure

    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
        raise ValueError(f"layers must be a positive integer, got {layers!r}")
    bound = math.sqrt(6 / (4 + 8))
    samples = _chapter_weight_samples(layers, seed)
    with _themed(theme) as colours:
        figure = Figure(figsize=(7.0, 4.6), layout="constrained")
        axes = figure.subplots(2, 2).reshape(-1)
        for index, (axis, (name, values)) in enumerate(zip(axes, samples.items(), strict=True)):
            colour = colours["series"][index]
            span = 11.0 if "mixture" in name else 1.0
            axis.hist(values.numpy(), bins=80, range=(-span, span), density=True, color=colour, alpha=0.75)
            for x in (-bound, bound):
                axis.axvline(x, color=colours["text"], linestyle="--", linewidth=1)
            axis.set_xlim(-span, span)
            axis.set_title(name, fontsize="medium")
            axis.set_yticks([])
            axis.text(
                bound, 0.97, " ±0.707", transform=axis.get_xaxis_transform(), va="top", fontsize="small"
            )
        axes[0].set_ylabel("density")
        axes[2].set_ylabel("density")
        axes[2].set_xlabel("weight")
        axes[3].set_xlabel("weight")
    return figure


def activation_histogram_figure(
    *, theme: Theme = "light", layers: tuple[int, ...] = (1, 10, 25, 50), depth: int = 50, width: int = 256
) -> Figure:
    """Where the activations of a deep ReLU MLP lie at several depths, under Xavier and Kaiming.

    Histograms of `log10` of the positive activations `h_l` (ReLU zeroes about half of them) at the
    chosen layers, from the same seeded runs as the depth figure. Under Xavier (gain 1) each
    histogram sits about `log10(sqrt(2)) = 0.15` decades left of the previous layer's; under Kaiming
    they stay in place.

    Args:
        theme: `"light"` or `"dark"`.
        layers: 1-based layers to show.
        depth: Depth of the MLP.
        width: Width of the MLP.

    Returns:
        A matplotlib `Figure` with two panels.
    """
    from matplotlib.figure import Figure

    from .propagation import layer_activations

    runs = {name: layer_activations(name, layers, depth=depth, width=width) for name in ("Xavier", "Kaiming")}
    logs = {
        name: {layer: h[h > 0].log10() for layer, h in by_layer.items()} for name, by_layer in runs.items()
    }
    low = math.floor(min(float(v.min()) for by_layer in logs.values() for v in by_layer.values()))
    high = math.ceil(max(float(v.max()) for by_layer in logs.values() for v in by_layer.values()))
    with _themed(theme) as colours:
        figure = Figure(figsize=(7.0, 3.4), layout="constrained")
        axes = figure.subplots(1, 2, sharex=True, sharey=True)
        for axis, (name, by_layer) in zip(axes, logs.items(), strict=True):
            for index, (layer, values) in enumerate(by_layer.items()):
                axis.hist(
                    values.numpy(),
                    bins=120,
                    range=(low, high),
                    density=True,
                    histtype="step",
                    linewidth=1.6,
                    color=colours["series"][index % len(colours["series"])],
                    linestyle=LINE_STYLES[index % len(LINE_STYLES)],
                    label=f"layer {layer}",
                )
            axis.set_title(name, fontsize="medium")
            axis.set_xlabel("$\\log_{10} h$ (units with $h > 0$)")
            axis.set_yticks([])
        axes[0].set_ylabel("density")
        axes[0].legend(loc="upper left", fontsize="small", frameon=False)
    return figure


def residual_stream_figure(*, theme: Theme = "light", n_layer: int = 48) -> Figure:
    """The RMS of a GPT-2-style residual stream after each block, with and without GPT-2's scaling.

    Two runs of [residual_stream_rms][paraminit.gpt2.residual_stream_rms] with `n_layer` blocks: every
    weight drawn with standard deviation 0.02, and the same with the `c_proj` weights' standard
    deviation divided by `sqrt(2 n_layer)`. Block 0 is the stream right after the embeddings.

    Args:
        theme: `"light"` or `"dark"`.
        n_layer: Number of blocks.

    Returns:
        A matplotlib `Figure` with one axis.
    """
    from matplotlib.figure import Figure

    from .gpt2 import residual_stream_rms

    runs = {
        "std 0.02 on every weight": residual_stream_rms(n_layer, scale_residual=False),
        "c_proj std 0.02 / √(2L)": residual_stream_rms(n_layer),
    }
    with _themed(theme) as colours:
        figure = Figure(figsize=(7.0, 3.4), layout="constrained")
        axis = figure.add_subplot()
        for index, (name, rms) in enumerate(runs.items()):
            axis.plot(
                range(len(rms)),
                rms,
                color=colours["series"][index],
                linestyle=LINE_STYLES[index],
                marker=MARKERS[index],
                markevery=max(n_layer // 8, 1),
                markersize=4,
                linewidth=1.6,
                label=name,
            )
        axis.set_xlabel("block $l$ (0: after the embeddings)")
        axis.set_ylabel("RMS of the residual stream")
        axis.set_title(f"GPT-2-style stack of L = {n_layer} blocks, width 128", fontsize="medium")
        axis.set_ylim(bottom=0)
        axis.grid(True, linewidth=0.5)
        axis.legend(loc="upper left", fontsize="small", frameon=False)
    return figure


def training_figure(runs: dict | None = None, *, theme: Theme = "light", window: int = 10) -> Figure:
    """Loss and accuracy against steps for the same deep MLP trained on the digits under each init.

    Left: the cross-entropy (the mean over each `window` steps of the minibatch losses, after the
    loss on all digits at step 0); a run whose loss is off the axis or not finite is marked at the
    top edge and says so in its legend label. Right: the fraction of each window's minibatch digits
    classified right, with chance (0.1) dashed. Data from
    [compare_training][paraminit.training.compare_training].

    Args:
        runs: Name to `TrainingRun`; default `compare_training()` (SGD, the "why" page's runs).
        theme: `"light"` or `"dark"`.
        window: Steps averaged into each point.

    Returns:
        A matplotlib `Figure` with two axes.

    Raises:
        ValueError: no runs.
    """
    from matplotlib.figure import Figure

    from .training import compare_training

    if runs is None:
        runs = compare_training()
    if not runs:
        raise ValueError("training_figure() needs at least one run, got none")
    top = 3.2  # the loss axis: log 10 = 2.30 and every start but an exploding one fit below it
    styles, markers = LINE_STYLES, MARKERS  # six of each, as many as the theme's series colours
    with _themed(theme) as colours:
        palette = colours["series"]
        figure = Figure(figsize=(7.0, 3.6), layout="constrained")
        loss_axis, accuracy_axis = figure.subplots(1, 2, sharex=True)
        for index, (name, run) in enumerate(runs.items()):
            steps, losses, accuracies = run.smoothed(window)
            x = (0, *steps)
            y = (run.initial_loss, *losses)
            label = name
            if not all(math.isfinite(v) and v <= top for v in y):
                bad = run.first_nonfinite_step
                start = f"{run.initial_loss:.1e}".replace("e+", "e")
                label = f"{name}: loss {start} at step 0" + (f", NaN from step {bad}" if bad else "")
            style = {
                "color": palette[index % len(palette)],
                "linestyle": styles[index % len(styles)],
                "marker": markers[index % len(markers)],
                # Staggered, so that the markers of curves lying on top of each other all show.
                "markevery": (index % max(len(x) // 6, 1), max(len(x) // 6, 1)),
                "markersize": 4,
                "linewidth": 1.6,
                "clip_on": False,
            }
            shown = [min(v, top) if math.isfinite(v) else math.nan for v in y]
            loss_axis.plot(x, shown, label=label, **style)
            if label != name:  # off the axis: its start marked on the top edge
                loss_axis.plot([0], [top], **{**style, "markevery": None})
            accuracy_axis.plot(steps, accuracies, label=label, **style)
        loss_axis.set_ylim(0, top)
        loss_axis.set_ylabel("cross-entropy")
        loss_axis.set_title("loss", fontsize="medium")
        accuracy_axis.axhline(0.1, color=colours["text"], linestyle="--", linewidth=0.8)
        accuracy_axis.text(
            1.0,
            0.095,
            "chance ",
            transform=accuracy_axis.get_yaxis_transform(),
            ha="right",
            va="top",
            fontsize="small",
        )
        accuracy_axis.set_ylim(0, 1)
        accuracy_axis.set_ylabel("fraction right")
        accuracy_axis.set_title("accuracy on each step's minibatch", fontsize="medium")
        for axis in (loss_axis, accuracy_axis):
            axis.set_xlabel("step")
            axis.grid(True, linewidth=0.5)
        figure.legend(
            *loss_axis.get_legend_handles_labels(),
            loc="outside lower center",
            ncols=2,
            fontsize="small",
            frameon=False,
        )
    return figure
