"""MkDocs hook: draw the site's figures from the library at build time, so they cannot go stale.

Each figure is drawn twice, for the light and the dark palette, as `figures/NAME-light.svg` and
`figures/NAME-dark.svg`; a page shows them with Material's `#only-light` / `#only-dark` suffixes.
Each is drawn a second time for phones, `figures/NAME-THEME-narrow.svg`: its panels stacked in one
column of a narrower figure, with text of the same size, so that on a phone's screen the labels are
not scaled down to a few pixels. The pages offer it in a `<picture>` for narrow screens.

Every figure's `<img>` (and the phone's `<source>`) carries the width and height of its drawing,
read from the SVG files once drawn, so that the browser reserves the figure's box before it loads:
a figure loaded lazily pushes nothing down (a jump to a heading below it stays where it landed).

The same process writes the data of the interactive figure on the "why" page (`scale_json`): the
RMS of activations and gradients at every layer, for each init, activation and depth the reader
can pick, from `paraminit.propagation`. docs/hooks/scale_explorer.py puts the figure on the page.

The figures are drawn by this file run as a script, in a process of its own started when the
configuration is loaded: it imports torch and matplotlib and draws while the build renders and
writes the pages. The build knows the figures' files from the start (links to them are checked),
and writes them last, when the drawing is done (`on_post_build`). A figure that fails to draw fails
the build with the script's error.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

FIGURES = ("mixture", "depth", "weights", "activations", "residual", "training")
"""The site's figures, by name: `paraminit.figures.<name>_figure` draws each (see `drawers`)."""
THEMES = ("light", "dark")
NARROW_SUFFIX = "-narrow"
NARROW_MEDIA = "(max-width: 37.5em)"
"""Screens narrower than 600 px get the narrow drawing. The wide one is 504 pt (672 px) across with
its smallest text at 8.3 pt (11 px): scaled to a column under 545 px (a screen under about 577 px),
that text would be drawn under 9 px."""
NARROW_WIDTH_INCHES = 3.6  # 346 px: about a phone's column (358 px at 390 px), its text at 1:1

SCALE_DATA = "data/scale-by-layer.json"
"""The interactive figure's data, relative to the site."""
SCALE_ACTIVATIONS = {"relu": "ReLU", "tanh": "tanh", "linear": "none"}
"""The activations the reader can pick (keys of `paraminit.propagation.ACTIVATIONS`), with labels."""
SCALE_DEPTHS = (10, 20, 50)
SCALE_DEFAULT = {"init": "Kaiming", "activation": "relu", "depth": 50}
SCALE_SIZES = {"width": 256, "batch": 64, "seed": 0}
"""The sizes and seed of the depth figure, so that its runs are among the data's."""

_drawing: subprocess.Popen | None = None
_out: tempfile.TemporaryDirectory | None = None


def drawers() -> dict[str, Callable]:
    """Name to the function that draws it, `draw(theme=...)` -> a matplotlib Figure."""
    from paraminit.figures import (
        activation_histogram_figure,
        depth_figure,
        mixture_figure,
        residual_stream_figure,
        training_figure,
        weights_figure,
    )

    found = {
        "mixture": mixture_figure,
        "depth": depth_figure,
        "weights": weights_figure,
        "activations": activation_histogram_figure,
        "residual": residual_stream_figure,
        "training": training_figure,
    }
    assert tuple(found) == FIGURES
    return found


def narrow(figure, width: float = NARROW_WIDTH_INCHES):
    """The same figure for a phone: its grid of panels stacked in one column, `width` inches wide.

    Panels keep their order (row by row) and their text sizes; each gets a height of 3/4 of its
    row's height in the wide figure, between 1.8 and 2.6 inches. A panel whose tick labels were
    hidden because it shared an axis with its left-hand neighbour shows its own again. A twin axis
    (`twinx`) moves with its panel.
    """
    cells: dict[tuple[int, int], list] = {}
    grid = None
    for axis in figure.axes:
        spec = axis.get_subplotspec()
        if spec is None:
            continue  # an inset or a colour bar placed by hand stays where it was put
        grid = spec.get_gridspec()
        cells.setdefault((spec.rowspan.start, spec.colspan.start), []).append(axis)
    if grid is None:
        raise ValueError("narrow() needs a figure whose panels sit in a grid (subplots), found none")
    if figure.get_layout_engine() is None:
        figure.set_layout_engine("constrained")
    row_height = figure.get_figheight() / grid.nrows
    order = sorted(cells)
    if grid.ncols > 1:
        column = figure.add_gridspec(len(order), 1)
        for index, cell in enumerate(order):
            for axis in cells[cell]:
                axis.set_subplotspec(column[index, 0])
            first = cells[cell][0]
            if cell[1] > 0 and len(first.get_shared_y_axes().get_siblings(first)) > 1:
                first.tick_params(axis="y", labelleft=True)
    panel = min(max(0.75 * row_height, 1.8), 2.6)
    figure.set_size_inches(width, panel * (len(order) if grid.ncols > 1 else grid.nrows))
    return figure


def render_svg(draw: Callable, theme: str, *, narrow_layout: bool = False) -> str:
    """The figure `draw(theme=theme)` as SVG text, the same bytes for the same code on every build;
    with `narrow_layout`, laid out for a phone by `narrow`."""
    import matplotlib

    buffer = io.StringIO()
    # No date and a fixed hash salt: the same code gives the same bytes on every build.
    with matplotlib.rc_context({"svg.hashsalt": "paraminit"}):
        figure = draw(theme=theme)
        if narrow_layout:
            figure = narrow(figure)
        figure.savefig(buffer, format="svg", metadata={"Date": None}, transparent=True)
    return buffer.getvalue()


def figure_files() -> list[str]:
    """Every figure file of the site, relative to the site: `figures/NAME-THEME[-narrow].svg`."""
    return [
        f"figures/{name}-{theme}{suffix}.svg"
        for name in FIGURES
        for theme in THEMES
        for suffix in ("", NARROW_SUFFIX)
    ]


def scale_inits() -> tuple[str, ...]:
    """The inits the reader can pick: the depth figure's, in its order (so in its colours), with
    Xavier under the activation's own gain in place of Xavier under the ReLU gain."""
    from paraminit.propagation import ACTIVATION_GAIN, INITS

    return tuple(ACTIVATION_GAIN if name == "Xavier, ReLU gain" else name for name in INITS)


def _three_digits(values: tuple[float, ...]) -> str:
    """A JSON array of `values` rounded to 3 significant digits, as short as Python writes them."""
    bad = [v for v in values if not (v > 0 and v < float("inf"))]
    if bad:
        raise ValueError(f"an RMS must be a finite number > 0 to be drawn on a log axis, got {bad[:3]}")
    return "[" + ",".join(f"{v:.3g}" for v in values) + "]"


def scale_json() -> str:
    """The interactive figure's data, as JSON text: for every activation, depth and init, the RMS
    of the activations (`h`), of the gradients with respect to them (`g`) and of the weights'
    gradients (`w`) at each layer, from `paraminit.propagation.profile_grid` with the depth
    figure's sizes and seed, rounded to 3 significant digits.

    Computed on one thread: matrices of 64 x 256 gain nothing from a second one, and on a busy
    machine the two threads of each product wait for each other (several times slower here). The
    last bits of a product may depend on the number of threads; the 3 digits kept do not.
    """
    from paraminit._threads import one_thread
    from paraminit.propagation import profile_grid

    with one_thread():
        grid = profile_grid(scale_inits(), tuple(SCALE_ACTIVATIONS), SCALE_DEPTHS, **SCALE_SIZES)
    runs = []
    for activation in SCALE_ACTIVATIONS:
        depths = []
        for depth in SCALE_DEPTHS:
            inits = []
            for name in scale_inits():
                profile = grid[name, activation, depth]
                arrays = (
                    f'"{key}":{_three_digits(values)}'
                    for key, values in (
                        ("h", profile.activations),
                        ("g", profile.gradients),
                        ("w", profile.weight_gradients),
                    )
                )
                inits.append(f"{json.dumps(name, ensure_ascii=False)}:{{{','.join(arrays)}}}")
            depths.append(f'"{depth}":{{{",".join(inits)}}}')
        runs.append(f'"{activation}":{{{",".join(depths)}}}')
    head = {
        **SCALE_SIZES,
        "inits": list(scale_inits()),
        "activations": SCALE_ACTIVATIONS,
        "depths": list(SCALE_DEPTHS),
        "default": SCALE_DEFAULT,
    }
    head_text = json.dumps(head, ensure_ascii=False, separators=(",", ":"))
    return head_text[:-1] + ',"runs":{' + ",".join(runs) + "}}\n"


def draw_all(out: Path) -> None:
    """Write every figure in every theme, wide and narrow, to `out` (see `figure_files`), then the
    interactive figure's data (`SCALE_DATA`)."""
    (out / "figures").mkdir(parents=True, exist_ok=True)
    for name, draw in drawers().items():
        for theme in THEMES:
            (out / f"figures/{name}-{theme}.svg").write_text(render_svg(draw, theme))
            narrow_svg = render_svg(draw, theme, narrow_layout=True)
            (out / f"figures/{name}-{theme}{NARROW_SUFFIX}.svg").write_text(narrow_svg)
    (out / SCALE_DATA).parent.mkdir(parents=True, exist_ok=True)
    (out / SCALE_DATA).write_text(scale_json(), encoding="utf-8")


def _finish() -> None:
    global _drawing, _out
    if _drawing is not None:
        _drawing.kill()
        _drawing.wait()
        _drawing = None
    if _out is not None:
        _out.cleanup()
        _out = None


def on_config(config):
    global _drawing, _out
    _finish()
    _out = tempfile.TemporaryDirectory(prefix="paraminit-figures-")
    _drawing = subprocess.Popen(
        [sys.executable, __file__, _out.name],
        cwd=Path(__file__).parents[2],
        # OpenMP's idle threads sleep instead of spinning: the drawing shares the processor with
        # the notebook's kernel and the build, and spinning threads slowed all three.
        env={"OMP_WAIT_POLICY": "PASSIVE", **os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return config


class _Drawing(File):
    """A figure still being drawn: not copied with the other files, written by on_post_build."""

    def copy_file(self, dirty: bool = False) -> None:
        pass


def on_files(files: Files, config) -> Files:
    for uri in [*figure_files(), SCALE_DATA]:
        files.append(_Drawing(uri, _out.name, config["site_dir"], config["use_directory_urls"]))
    return files


# A figure's <img>: loaded lazily, so that the variant of the palette not shown (display: none) is
# never fetched, and one further down the page only when the reader gets near it.
FIGURE_IMG = re.compile(
    r'<img (?![^>]*\bloading=)([^>]*\bsrc="[^"]*figures/[\w-]+\.svg#only-(?:light|dark)")'
)
# The same <img> once lazy, in a written page: the figure's address, its folder and its name.
LAZY_FIGURE = re.compile(
    r'<img loading="lazy" decoding="async" (?P<attrs>[^>]*?\bsrc="(?P<base>[^"]*?)'
    r'(?P<name>figures/[\w-]+)\.svg#only-(?:light|dark)"[^>]*?)\s*/?>'
)
SVG_SIZE = re.compile(r'<svg\b[^>]*?\swidth="([\d.]+)(pt|px)?"[^>]*?\sheight="([\d.]+)(pt|px)?"')
PX_PER = {"pt": 4 / 3, "px": 1.0, None: 1.0}

_pages_with_figures: list[Path] = []


def svg_size(svg: str) -> tuple[int, int]:
    """An SVG's width and height in CSS pixels, from its own width and height attributes."""
    found = SVG_SIZE.search(svg)
    if found is None:
        raise PluginError(f"a figure's SVG has no width and height: {svg[:200]!r}")
    width, width_unit, height, height_unit = found.groups()
    return round(float(width) * PX_PER[width_unit]), round(float(height) * PX_PER[height_unit])


def sized_figures(html: str, sizes: dict[str, tuple[int, int]]) -> str:
    """Each lazy figure <img> with its width and height, in a <picture> that offers the narrow
    drawing to narrow screens (with its own width and height). `sizes`: `figures/NAME-THEME` and
    `figures/NAME-THEME-narrow` to (width, height) in CSS pixels."""

    def picture(match: re.Match) -> str:
        name, base = match["name"], match["base"]
        if name not in sizes or name + NARROW_SUFFIX not in sizes:
            raise PluginError(f"{name}.svg is shown on a page but was not drawn")
        (width, height), (narrow_width, narrow_height) = sizes[name], sizes[name + NARROW_SUFFIX]
        return (
            f'<picture><source media="{NARROW_MEDIA}" srcset="{base}{name}{NARROW_SUFFIX}.svg" '
            f'width="{narrow_width}" height="{narrow_height}">'
            f'<img loading="lazy" decoding="async" {match["attrs"]} width="{width}" height="{height}">'
            "</picture>"
        )

    return LAZY_FIGURE.sub(picture, html)


def on_post_page(output: str, page, config) -> str:
    output = FIGURE_IMG.sub(r'<img loading="lazy" decoding="async" \1', output)
    if LAZY_FIGURE.search(output):
        # Sized when the figures are drawn (on_post_build), in the page as written.
        _pages_with_figures.append(Path(config["site_dir"]) / page.file.dest_uri)
    return output


def on_build_error(error) -> None:
    _pages_with_figures.clear()
    _finish()


@event_priority(-100)  # last: the other hooks' work (the fonts) runs while the drawing ends
def on_post_build(config) -> None:
    """Wait for the drawing, write the figures into the site, then give each page's figures their
    sizes."""
    global _drawing
    output, _ = _drawing.communicate()
    status, _drawing = _drawing.returncode, None
    if status != 0:
        _pages_with_figures.clear()
        _finish()
        raise PluginError(f"drawing the site's figures failed (exit status {status}):\n{output}")
    sizes = {}
    for uri in figure_files():
        target = Path(config["site_dir"]) / uri
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(_out.name) / uri, target)
        sizes[uri.removesuffix(".svg")] = svg_size(target.read_text())
    (Path(config["site_dir"]) / SCALE_DATA).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(_out.name) / SCALE_DATA, Path(config["site_dir"]) / SCALE_DATA)
    _finish()
    try:
        for html in _pages_with_figures:
            html.write_text(sized_figures(html.read_text(), sizes))
    finally:
        _pages_with_figures.clear()


if __name__ == "__main__":
    draw_all(Path(sys.argv[1]))
