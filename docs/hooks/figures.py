"""MkDocs hook: draw the site's figures from the library at build time, so they cannot go stale.

Each figure is drawn twice, for the light and the dark palette, as `figures/NAME-light.svg` and
`figures/NAME-dark.svg`; a page shows them with Material's `#only-light` / `#only-dark` suffixes.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import matplotlib
from mkdocs.structure.files import File, Files

from paraminit.figures import activation_histogram_figure, depth_figure, mixture_figure, weights_figure

FIGURES: dict[str, Callable] = {
    "mixture": mixture_figure,
    "depth": depth_figure,
    "weights": weights_figure,
    "activations": activation_histogram_figure,
}
THEMES = ("light", "dark")


def render_svg(draw: Callable, theme: str) -> str:
    """The figure `draw(theme=theme)` as SVG text, the same bytes for the same code on every build."""
    buffer = io.StringIO()
    # No date and a fixed hash salt: the same code gives the same bytes on every build.
    with matplotlib.rc_context({"svg.hashsalt": "paraminit"}):
        draw(theme=theme).savefig(buffer, format="svg", metadata={"Date": None}, transparent=True)
    return buffer.getvalue()


def on_files(files: Files, config) -> Files:
    for name, draw in FIGURES.items():
        for theme in THEMES:
            uri = f"figures/{name}-{theme}.svg"
            files.append(File.generated(config, uri, content=render_svg(draw, theme)))
    return files
