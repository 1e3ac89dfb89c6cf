"""MkDocs hook: draw the site's figures from the library at build time, so they cannot go stale.

Each figure is drawn twice, for the light and the dark palette, as `figures/NAME-light.svg` and
`figures/NAME-dark.svg`; a page shows them with Material's `#only-light` / `#only-dark` suffixes.

The figures are drawn by this file run as a script, in a process of its own started when the
configuration is loaded: it imports torch and matplotlib and draws while the build renders and
writes the pages. The build knows the figures' files from the start (links to them are checked),
and writes them last, when the drawing is done (`on_post_build`). A figure that fails to draw fails
the build with the script's error.
"""

from __future__ import annotations

import io
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


def render_svg(draw: Callable, theme: str) -> str:
    """The figure `draw(theme=theme)` as SVG text, the same bytes for the same code on every build."""
    import matplotlib

    buffer = io.StringIO()
    # No date and a fixed hash salt: the same code gives the same bytes on every build.
    with matplotlib.rc_context({"svg.hashsalt": "paraminit"}):
        draw(theme=theme).savefig(buffer, format="svg", metadata={"Date": None}, transparent=True)
    return buffer.getvalue()


def draw_all(out: Path) -> None:
    """Write every figure in every theme to `out` as `figures/NAME-THEME.svg`."""
    (out / "figures").mkdir(parents=True, exist_ok=True)
    for name, draw in drawers().items():
        for theme in THEMES:
            (out / f"figures/{name}-{theme}.svg").write_text(render_svg(draw, theme))


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
    for name in FIGURES:
        for theme in THEMES:
            uri = f"figures/{name}-{theme}.svg"
            files.append(_Drawing(uri, _out.name, config["site_dir"], config["use_directory_urls"]))
    return files


# A figure's <img>: loaded lazily, so that the variant of the palette not shown (display: none) is
# never fetched, and one further down the page only when the reader gets near it.
FIGURE_IMG = re.compile(
    r'<img (?![^>]*\bloading=)([^>]*\bsrc="[^"]*figures/[\w-]+\.svg#only-(?:light|dark)")'
)


def on_post_page(output: str, page, config) -> str:
    return FIGURE_IMG.sub(r'<img loading="lazy" decoding="async" \1', output)


def on_build_error(error) -> None:
    _finish()


@event_priority(-100)  # last: the other hooks' work (the fonts) runs while the drawing ends
def on_post_build(config) -> None:
    """Wait for the drawing, then write the figures into the site."""
    global _drawing
    output, _ = _drawing.communicate()
    status, _drawing = _drawing.returncode, None
    if status != 0:
        _finish()
        raise PluginError(f"drawing the site's figures failed (exit status {status}):\n{output}")
    for name in FIGURES:
        for theme in THEMES:
            uri = f"figures/{name}-{theme}.svg"
            target = Path(config["site_dir"]) / uri
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(_out.name) / uri, target)
    _finish()


if __name__ == "__main__":
    draw_all(Path(sys.argv[1]))
