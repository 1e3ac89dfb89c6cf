"""MkDocs hook: draw the site's figures from the library at build time, so they cannot go stale."""

from __future__ import annotations

import io

import matplotlib
from mkdocs.structure.files import File, Files

from paraminit.figures import mixture_figure

FIGURES = {"figures/mixture.svg": mixture_figure}


def on_files(files: Files, config) -> Files:
    for uri, draw in FIGURES.items():
        buffer = io.StringIO()
        # No date and a fixed hash salt: the same code gives the same bytes on every build.
        with matplotlib.rc_context({"svg.hashsalt": "paraminit"}):
            draw().savefig(buffer, format="svg", metadata={"Date": None})
        files.append(File.generated(config, uri, content=buffer.getvalue()))
    return files
