"""MkDocs hook: the interactive figure of the "why" page, in which the reader picks an init, an
activation and a depth and sees the RMS of the activations and gradients at every layer.

A page asks for it with `<div class="paraminit-explorer" id="scale-explorer"></div>`. The data is
computed at build time, in the figures' process (docs/hooks/figures.py, `scale_json`), and written
to `data/scale-by-layer.json`; once it is there (after that hook's `on_post_build`), this hook
replaces the placeholder with the figure's markup, made from the data: the controls (native
`<select>` and radio buttons, labelled), three empty chart panels whose size the stylesheet fixes,
a legend, a caption that states the chosen configuration's numbers (a live region: read out when
it changes), and a table of every layer's numbers in a `<details>`. Without JavaScript the caption
and the table show the default configuration; the controls and the empty panels are hidden
(`.no-js`, site.css). docs/assets/javascripts/scale-explorer.js fetches the data when the figure
comes near the screen and draws the charts in SVG; no library, nothing from another host.
"""

from __future__ import annotations

import html
import json
import posixpath
import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

ID = "scale-explorer"
PLACEHOLDER = re.compile(rf'<div class="paraminit-explorer" id="{ID}">\s*</div>')
DATA = "data/scale-by-layer.json"  # docs/hooks/figures.py: SCALE_DATA
SCRIPT = "assets/javascripts/scale-explorer.js"
PANELS = (
    ("h", "Activations", "RMS of <i>h</i><sub><i>l</i></sub>"),
    ("g", "Gradients, activations", "RMS of ∂<i>L</i>/∂<i>h</i><sub><i>l</i>−1</sub>"),
    ("w", "Gradients, weights", "RMS of ∂<i>L</i>/∂<i>W</i><sub><i>l</i></sub>"),
)
"""Each chart: the key of its values in the data, and its title in two lines (as the depth figure's
panels)."""

_pages: list[tuple[Path, str]] = []


def number(value: float) -> str:
    """A number as the figure writes it, 3 significant digits: `0.978`, `395`, `3.95e-48`, `4.27e+03`.

    docs/assets/javascripts/scale-explorer.js writes numbers the same way (`number` there).
    """
    exponent = int(f"{value:.2e}".split("e")[1])
    return f"{value:.{2 - exponent}f}" if -3 <= exponent < 3 else f"{value:.2e}"


def summary(data: dict, init: str, activation: str, depth: int) -> str:
    """The caption of one configuration: what it shows at both ends of the network."""
    run = data["runs"][activation][str(depth)][init]
    h, g, w = (run[key] for key in ("h", "g", "w"))
    return (
        f"{init}, activation {data['activations'][activation]}, {depth} layers: "
        f"activation RMS {number(h[0])} at layer 1 and {number(h[-1])} at layer {depth}; "
        f"gradient RMS {number(g[-1])} at layer {depth} and {number(g[0])} at layer 1; "
        f"weight-gradient RMS {number(w[-1])} at layer {depth} and {number(w[0])} at layer 1."
    )


def rows(data: dict, init: str, activation: str, depth: int) -> str:
    """The table's body for one configuration: a row per layer."""
    run = data["runs"][activation][str(depth)][init]
    return "".join(
        f"<tr><td>{layer}</td><td>{number(run['h'][layer - 1])}</td><td>{number(run['g'][layer - 1])}</td>"
        f"<td>{number(run['w'][layer - 1])}</td></tr>"
        for layer in range(1, depth + 1)
    )


def render(data: dict, page_dir: str) -> str:
    """The figure's markup, showing the data's default configuration; links relative to `page_dir`
    (the folder of the page's HTML file in the site)."""
    default = data["default"]
    init, activation, depth = default["init"], default["activation"], default["depth"]
    escape = html.escape
    options = "".join(
        f'<option value="{escape(name)}"{" selected" if name == init else ""}>{escape(name)}</option>'
        for name in data["inits"]
    )

    def radios(name: str, choices: dict[str, str], chosen: str) -> str:
        return "".join(
            f'<label><input type="radio" name="{name}" value="{escape(value)}"'
            f"{' checked' if value == chosen else ''}> {escape(label)}</label>"
            for value, label in choices.items()
        )

    depths = {str(d): f"{d} layers" for d in data["depths"]}
    chosen = ' class="is-chosen"'
    legend = "".join(
        f'<li data-init="{escape(name)}"{chosen if name == init else ""}>'
        f'<svg width="28" height="10" aria-hidden="true" focusable="false">'
        f'<line class="paraminit-explorer__line series-{index}" x1="1" y1="5" x2="27" y2="5"/></svg>'
        f"{escape(name)}</li>"
        for index, name in enumerate(data["inits"], start=1)
    )
    panels = "".join(
        f'<div class="paraminit-explorer__panel" data-values="{key}">'
        f'<p class="paraminit-explorer__title">{words}<br>{symbol}</p>'
        '<svg class="paraminit-explorer__chart" aria-hidden="true" focusable="false"></svg></div>'
        for key, words, symbol in PANELS
    )
    caption = escape(summary(data, init, activation, depth))
    configuration = escape(f"{init}, activation {data['activations'][activation]}, {depth} layers")
    source = posixpath.relpath(DATA, page_dir)
    script = posixpath.relpath(SCRIPT, page_dir)
    return (
        f'<div class="paraminit-explorer" id="{ID}" data-src="{escape(source)}" data-state="idle">'
        f'<form class="paraminit-explorer__controls" id="{ID}-controls">'
        f'<div class="paraminit-explorer__init"><label for="{ID}-init">Init</label>'
        f'<select id="{ID}-init" name="init">{options}</select></div>'
        f"<fieldset><legend>Activation</legend>{radios('activation', data['activations'], activation)}"
        "</fieldset>"
        f"<fieldset><legend>Depth</legend>{radios('depth', depths, str(depth))}</fieldset>"
        "</form>"
        f'<figure class="paraminit-explorer__figure">'
        f'<div class="paraminit-explorer__panels">{panels}</div>'
        f'<ul class="paraminit-explorer__legend" aria-hidden="true">{legend}</ul>'
        f'<figcaption><p id="{ID}-summary" aria-live="polite">{caption}</p></figcaption>'
        "</figure>"
        '<details class="paraminit-explorer__numbers"><summary>Every layer\'s numbers</summary>'
        f'<table><caption id="{ID}-configuration">{configuration}</caption>'
        '<thead><tr><th scope="col">Layer <i>l</i></th>'
        + "".join(f'<th scope="col">{words}: {symbol}</th>' for _, words, symbol in PANELS)
        + f'</tr></thead><tbody id="{ID}-rows">{rows(data, init, activation, depth)}</tbody></table>'
        "</details>"
        f'<script src="{escape(script)}" defer></script>'
        "</div>"
    )


def on_post_page(output: str, page, config) -> str:
    if PLACEHOLDER.search(output):
        # Filled in once the data is written (on_post_build), in the page as written.
        page_dir = posixpath.dirname(page.file.dest_uri)
        _pages.append((Path(config["site_dir"]) / page.file.dest_uri, page_dir))
    return output


def on_build_error(error) -> None:
    _pages.clear()


@event_priority(-110)  # after docs/hooks/figures.py's on_post_build (-100), which writes the data
def on_post_build(config) -> None:
    try:
        if not _pages:
            return
        data_file = Path(config["site_dir"]) / DATA
        if not data_file.is_file():
            raise PluginError(f"{DATA} was not written: the interactive figure has no data")
        data = json.loads(data_file.read_text(encoding="utf-8"))
        for page, page_dir in _pages:
            text = page.read_text(encoding="utf-8")
            markup = render(data, page_dir)
            page.write_text(PLACEHOLDER.sub(lambda _, markup=markup: markup, text, count=1), encoding="utf-8")
    finally:
        _pages.clear()
