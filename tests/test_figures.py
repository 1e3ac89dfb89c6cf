"""The figure shows what mixture_ draws, next to the closed form it should match."""

from __future__ import annotations

import importlib.util

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


FIGURE_NAMES = ["mixture", "depth", "weights", "activations", "residual", "training"]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_series_colour_has_3_to_1_contrast_with_its_background(theme):
    from paraminit.figures import THEMES, contrast_ratio

    colours = THEMES[theme]
    for colour in colours["series"]:
        assert contrast_ratio(colour, colours["background"]) >= 3.0, colour
    assert contrast_ratio(colours["text"], colours["background"]) >= 7.0


def test_contrast_ratio_rejects_a_bad_colour():
    from paraminit.figures import contrast_ratio

    with pytest.raises(ValueError, match="#rrggbb"):
        contrast_ratio("red", "#ffffff")


def test_unknown_theme_is_refused():
    with pytest.raises(ValueError, match="theme must be one of"):
        mixture_figure(n=10, theme="sepia")


def test_built_figures_come_in_both_palettes_and_are_the_same_bytes_as_a_fresh_draw(built_site):
    import importlib.util
    from pathlib import Path

    hook_path = Path(__file__).parents[1] / "docs" / "hooks" / "figures.py"
    spec = importlib.util.spec_from_file_location("figures_hook", hook_path)
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    for name in FIGURE_NAMES:
        light = (built_site / "figures" / f"{name}-light.svg").read_text()
        dark = (built_site / "figures" / f"{name}-dark.svg").read_text()
        assert light != dark and 'fill="#ffffff"' not in light.split("<g id=", 2)[1][:400]
    # Byte-identical between builds: the same code draws the same bytes.
    assert (
        hook.render_svg(hook.drawers()["depth"], "dark")
        == (built_site / "figures" / "depth-dark.svg").read_text()
    )


def test_pages_show_each_figure_lazily_with_alt_text_in_both_palettes(built_site):
    import re

    for page, names in {
        "why-initialization": ["depth", "activations", "training"],
        "parameter-initialization": ["weights"],
        "library": ["mixture"],
        "initialization-today": ["residual"],
    }.items():
        html = (built_site / page / "index.html").read_text()
        for name in names:
            for theme in ("light", "dark"):
                tag = re.search(rf'<img[^>]*src="[^"]*figures/{name}-{theme}\.svg#only-{theme}"[^>]*>', html)
                assert tag, (page, name, theme)
                alt = re.search(r'alt="([^"]+)"', tag.group(0))
                assert alt and len(alt.group(1).split()) >= 15, (page, name)
                # Lazy: the palette's other variant (display: none) is never fetched.
                assert 'loading="lazy"' in tag.group(0), (page, name, theme)


def test_pages_reserve_each_figures_size_and_offer_phones_a_narrow_drawing(built_site):
    """Every figure's <img> carries its drawing's width and height (so that the page does not move
    when it loads lazily), inside a <picture> whose <source> offers narrow screens the narrow
    drawing, with its own width and height."""
    import re

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location(
        "figures_hook_sizes", ROOT / "docs" / "hooks" / "figures.py"
    )
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    pictures = 0
    for html_file in built_site.rglob("*.html"):
        html = html_file.read_text()
        for img in re.findall(r"<img[^>]*figures/[\w-]+\.svg#only-[^>]*>", html):
            picture = re.search(r"<picture><source ([^>]*)>" + re.escape(img) + "</picture>", html)
            assert picture, f"{html_file}: a figure outside a <picture>: {img[:120]}"
            wide = re.search(r'src="([^"#]*)#', img)[1]
            narrow = re.search(r'srcset="([^"]*)"', picture[1])[1]
            assert (
                narrow == wide.removesuffix(".svg") + "-narrow.svg"
                and 'media="(max-width: 37.5em)"' in picture[1]
            )
            for tag, src in ((img, wide), (picture[1], narrow)):
                size = hook.svg_size((html_file.parent / src).read_text())
                assert f'width="{size[0]}"' in tag and f'height="{size[1]}"' in tag, (html_file, src, size)
            assert hook.svg_size((html_file.parent / narrow).read_text())[0] < 400
            pictures += 1
    assert pictures >= 8, pictures  # four figures, two palettes


def test_a_narrow_drawing_stacks_the_panels_in_one_column():
    from pathlib import Path

    from paraminit.figures import depth_figure, weights_figure
    from paraminit.propagation import compare_inits

    spec = importlib.util.spec_from_file_location(
        "figures_hook_narrow", Path(__file__).parents[1] / "docs" / "hooks" / "figures.py"
    )
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    depth = hook.narrow(depth_figure(compare_inits(["Xavier", "Kaiming"], depth=4, width=8)))
    assert depth.get_figwidth() == hook.NARROW_WIDTH_INCHES
    columns = {axis.get_subplotspec().colspan.start for axis in depth.axes}
    rows = sorted(axis.get_subplotspec().rowspan.start for axis in depth.axes)
    assert columns == {0} and rows == [0, 1, 2]  # three panels: activations, two gradients
    # The panels to the right shared the y axis: stacked, each shows its own tick labels again.
    assert all(axis.yaxis.get_tick_params()["labelleft"] for axis in depth.axes[1:])
    weights = hook.narrow(weights_figure(layers=5))
    assert sorted(axis.get_subplotspec().rowspan.start for axis in weights.axes) == [0, 1, 2, 3]
    assert weights.get_figheight() == 4 * 1.8  # 3/4 of a 2.3-inch row, at least 1.8 inches


def test_depth_figure_draws_each_profile_on_log_axes():
    from paraminit.figures import depth_figure
    from paraminit.propagation import compare_inits, predicted_profile

    profiles = compare_inits(["Xavier", "Kaiming"], depth=6, width=16)
    figure = depth_figure(profiles, theme="dark")
    forward, backward, weights = figure.axes
    assert forward.get_yscale() == backward.get_yscale() == weights.get_yscale() == "log"
    for axis in (forward, backward, weights):
        assert [line.get_label() for line in axis.get_lines()] == ["Xavier", "Kaiming"]
    assert "h_l" in forward.get_title() and "h_{l-1}" in backward.get_title() and "W_l" in weights.get_title()
    assert list(weights.get_lines()[1].get_ydata()) == list(profiles["Kaiming"].weight_gradients)
    assert backward.xaxis_inverted() and weights.xaxis_inverted() and not forward.xaxis_inverted()
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["Xavier", "Kaiming"]
    with pytest.raises(ValueError, match="at least one profile"):
        depth_figure({})
    with pytest.raises(ValueError, match=r"needs measured profiles with weight gradients; \['Kaiming'\]"):
        depth_figure({"Kaiming": predicted_profile("Kaiming", depth=6, width=16)})


def test_weights_and_activation_figures_draw_their_panels():
    from paraminit.figures import activation_histogram_figure, weights_figure

    weights = weights_figure(layers=20, theme="dark")
    assert [axis.get_title() for axis in weights.axes][2] == "Xavier uniform"
    assert len(weights.axes) == 4
    with pytest.raises(ValueError, match="layers must be a positive integer"):
        weights_figure(layers=0)
    histograms = activation_histogram_figure(layers=(1, 3), depth=3, width=16)
    assert [axis.get_title() for axis in histograms.axes] == ["Xavier", "Kaiming"]
    labels = [text.get_text() for text in histograms.axes[0].get_legend().get_texts()]
    assert labels == ["layer 1", "layer 3"]


@pytest.mark.processes
def test_a_figure_that_fails_to_draw_fails_the_build(monkeypatch):
    """The figures are drawn in a process of their own; its error stops the build with its output."""
    import importlib.util
    import subprocess
    import sys
    from pathlib import Path

    from mkdocs.exceptions import PluginError

    spec = importlib.util.spec_from_file_location(
        "figures_hook_failing", Path(__file__).parents[1] / "docs" / "hooks" / "figures.py"
    )
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    failing = subprocess.Popen(
        [sys.executable, "-c", "raise SystemExit('depth_figure: no profiles')"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    monkeypatch.setattr(hook, "_drawing", failing)
    with pytest.raises(PluginError, match=r"figures failed \(exit status 1\):\ndepth_figure: no profiles"):
        hook.on_post_build({"site_dir": "unused: nothing is written when the drawing failed"})


def test_residual_stream_figure_draws_both_runs_from_block_0():
    from paraminit.figures import residual_stream_figure
    from paraminit.gpt2 import residual_stream_rms

    figure = residual_stream_figure(n_layer=4, theme="dark")
    (axis,) = figure.axes
    lines = axis.get_lines()
    assert [line.get_label() for line in lines] == ["std 0.02 on every weight", "c_proj std 0.02 / √(2L)"]
    assert list(lines[0].get_xdata()) == [0, 1, 2, 3, 4]
    assert tuple(lines[0].get_ydata()) == residual_stream_rms(4, scale_residual=False)
    assert tuple(lines[1].get_ydata()) == residual_stream_rms(4)
    assert axis.get_ylim()[0] == 0 and "L = 4 blocks" in axis.get_title()


def test_training_figure_draws_loss_and_accuracy_and_labels_a_run_off_the_axis():
    from matplotlib.colors import to_hex

    from paraminit.figures import THEMES, training_figure
    from paraminit.training import compare_training

    runs = compare_training(depth=6, width=16, steps=20)  # all six inits, small
    figure = training_figure(runs, theme="dark", window=5)
    loss_axis, accuracy_axis = figure.axes
    assert loss_axis.get_ylim() == (0.0, 3.2) and accuracy_axis.get_ylim() == (0.0, 1.0)
    labels = [text.get_text() for text in figure.legends[0].get_texts()]
    exploding = runs["N(0, 1)"]
    assert exploding.initial_loss > 3.2 and labels[1] == (
        f"N(0, 1): loss {exploding.initial_loss:.1e} at step 0".replace("e+", "e")
        + (f", NaN from step {exploding.first_nonfinite_step}" if exploding.diverged else "")
    )
    assert labels[5] == "Kaiming"
    kaiming = accuracy_axis.get_lines()[5]  # then the chance line
    assert list(kaiming.get_xdata()) == [5, 10, 15, 20]
    # Six series: the theme's six series colours, in order.
    colours = [to_hex(line.get_color()) for line in accuracy_axis.get_lines()[:6]]
    assert colours == [c.lower() for c in THEMES["dark"]["series"]]
    with pytest.raises(ValueError, match="at least one run"):
        training_figure({})


def test_training_figure_draws_the_pages_runs_by_default():
    from paraminit.figures import training_figure
    from paraminit.training import compare_training

    figure = training_figure()
    labels = [text.get_text() for text in figure.legends[0].get_texts()]
    assert labels == [
        "N(0, 0.01²)",
        "N(0, 1): loss 2.1e15 at step 0, NaN from step 2",
        "constant 1/64",
        "PyTorch default",
        "Xavier",
        "Kaiming",
    ]
    kaiming = figure.axes[0].get_lines()[-1]  # the loss: step 0, then one point every 10 steps
    assert len(kaiming.get_xdata()) == 31
    assert kaiming.get_ydata()[-1] == pytest.approx(compare_training()["Kaiming"].smoothed(10)[1][-1])


def test_the_depth_figures_alt_text_states_what_the_runs_measured():
    """Every number in the depth figure's alt text, checked against the runs the figure draws."""
    import re
    from pathlib import Path

    from paraminit.propagation import compare_inits

    page = (Path(__file__).parents[1] / "docs" / "why-initialization.md").read_text()
    alts = re.findall(r"!\[([^\]]*)\]\(figures/depth-(?:light|dark)\.svg", page)
    assert len(alts) == 2 and alts[0] == alts[1]
    alt = " ".join(alts[0].split())
    runs = compare_inits(depth=50, width=256)

    def about(value: float, stated: float) -> bool:  # "about 4e-48": equal to one significant digit
        return f"{value:.0e}" == f"{stated:.0e}"

    def near(value: float, stated: float) -> bool:  # "flat near 2e-46": within a factor of 2
        return stated / 2 <= value <= stated * 2

    normal, default, xavier = runs["N(0, 0.01²)"], runs["PyTorch default"], runs["Xavier"]
    too_large = runs["N(0, 0.1²)"]
    held = [runs["Xavier, ReLU gain"], runs["Kaiming"]]
    checks = {
        "six inits against the layer from 1 to 50": len(runs) == 6 and normal.depth == 50,
        "falls in a straight line to about 4e-48 in the first two panels": about(
            normal.activations[-1], 4e-48
        )
        and about(normal.gradients[0], 4e-48),
        "its weight gradients lie flat near 2e-46 in every layer": all(
            near(w, 2e-46) for w in normal.weight_gradients
        ),
        "Xavier falls to about 2e-8 in the first two panels": about(xavier.activations[-1], 2e-8)
        and about(xavier.gradients[0], 2e-8),
        "lies flat near 2e-7 in the third": all(near(w, 2e-7) for w in xavier.weight_gradients),
        "PyTorch's default activations fall to about 0.03 within a few layers and stay there": all(
            round(a, 2) == 0.03 for a in default.activations[4:]
        ),
        "its activation gradients fall to about 5e-20": about(default.gradients[0], 5e-20),
        "weight gradients fall from about 0.15 in layer 50 to about 7e-19 in layer 1": round(
            default.weight_gradients[-1], 2
        )
        == 0.15
        and about(default.weight_gradients[0], 7e-19),
        "stay between 0.6 and 1.5 in the first two panels and between 2.7 and 6.1 in the third": all(
            0.6 < v < 1.5 for p in held for v in p.activations + p.gradients
        )
        and all(2.7 < w < 6.1 for p in held for w in p.weight_gradients),
        "rises to about 400 in the first two panels and lies flat near 2000 in the third": about(
            too_large.activations[-1], 400
        )
        and about(too_large.gradients[0], 400)
        and all(near(w, 2000) for w in too_large.weight_gradients),
    }
    for phrase, holds in checks.items():
        assert phrase in alt, phrase
        assert holds, phrase
