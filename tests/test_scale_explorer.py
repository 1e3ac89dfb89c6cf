"""The interactive figure of the "why" page: its data is what paraminit.propagation computes today
(the depth figure's and the tanh block's runs among them), small and written at build time; the
page shows the default configuration's numbers without a script, with native labelled controls.
What the figure does in a browser is checked by tests/test_browser.py."""

from __future__ import annotations

import html
import importlib.util
import json
import re
from pathlib import Path

import pytest
from mkdocs.exceptions import PluginError
from snippets_check import sections

from paraminit.propagation import ACTIVATION_GAIN, compare_inits, signal_profile

ROOT = Path(__file__).parents[1]
DATA = "data/scale-by-layer.json"
WHY = "why-initialization/index.html"


def load_hook(name: str):
    spec = importlib.util.spec_from_file_location(f"hook_{name}", ROOT / "docs" / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def three_digits(values) -> list[float]:
    return [float(f"{v:.3g}") for v in values]


@pytest.fixture(scope="module")
def figures_hook():
    return load_hook("figures")


@pytest.fixture(scope="module")
def explorer_hook():
    return load_hook("scale_explorer")


@pytest.fixture(scope="module")
def built_data(built_site: Path) -> dict:
    return json.loads((built_site / DATA).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def why_page(built_site: Path) -> str:
    return (built_site / WHY).read_text(encoding="utf-8")


def test_the_data_the_build_wrote_equals_a_fresh_computation(built_data, figures_hook):
    fresh = json.loads(figures_hook.scale_json())
    assert built_data == fresh
    assert built_data["inits"] == [
        "N(0, 0.01²)",
        "PyTorch default",
        "Xavier",
        ACTIVATION_GAIN,
        "Kaiming",
        "N(0, 0.1²)",
    ]
    assert list(built_data["activations"]) == ["relu", "tanh", "linear"]
    assert built_data["depths"] == [10, 20, 50]
    for activation in built_data["activations"]:
        for depth in built_data["depths"]:
            for init in built_data["inits"]:
                run = built_data["runs"][activation][str(depth)][init]
                assert [len(run[key]) for key in "hgw"] == [depth] * 3, (activation, depth, init)


def test_relu_at_50_layers_is_the_depth_figures_runs(built_data):
    """The figure's default activation and depth show the runs of the depth figure, rounded."""
    runs = built_data["runs"]["relu"]["50"]
    for name, profile in compare_inits(depth=50, width=256).items():
        shown = runs[ACTIVATION_GAIN if name == "Xavier, ReLU gain" else name]
        assert shown["h"] == three_digits(profile.activations), name
        assert shown["g"] == three_digits(profile.gradients), name
        assert shown["w"] == three_digits(profile.weight_gradients), name
    assert (built_data["width"], built_data["batch"], built_data["seed"]) == (256, 64, 0)


def test_tanh_at_50_layers_is_the_tanh_blocks_runs(built_data):
    """Xavier under tanh is the page's gain-1 run; the activation's gain under tanh, its 5/3 run.
    (`signal_profile` gives `tanh_profile`'s numbers to the last bit: tests/test_propagation.py.)"""
    runs = built_data["runs"]["tanh"]["50"]
    for name in ("Xavier", ACTIVATION_GAIN):
        profile = signal_profile(name, activation="tanh", depth=50, width=256)
        assert runs[name]["h"] == three_digits(profile.activations), name
        assert runs[name]["g"] == three_digits(profile.gradients), name
    # What the tanh block prints: h_1 0.63, h_50 0.10, grad l=1 / grad l=50 0.11 under gain 1.
    xavier = runs["Xavier"]
    assert (round(xavier["h"][0], 2), round(xavier["h"][-1], 2)) == (0.63, 0.10)
    assert round(xavier["g"][0] / xavier["g"][-1], 2) == 0.11


def test_the_data_is_small_and_rounded_to_3_significant_digits(built_site):
    text = (built_site / DATA).read_text(encoding="utf-8")
    assert len(text.encode()) < 40_000
    runs = text.split('"runs":', 1)[1]
    numbers = re.findall(r"(?<=[\[,])([-\d.e+]+)(?=[,\]])", runs)
    assert len(numbers) == 6 * 3 * (10 + 20 + 50) * 3
    digits = [len(re.sub(r"^0\.0*|\.|e.*$", "", n).lstrip("0")) for n in numbers]
    assert max(digits) <= 3, [n for n, d in zip(numbers, digits, strict=True) if d > 3][:5]


def _printed_row(name: str) -> list[float]:
    """The numbers the depth block prints for one init: h_1, h_50, grad l=50, grad l=1."""
    depth = next(s for s in sections(ROOT / "snippets" / "why.py") if s.name == "depth")
    line = next(line for line in depth.code.splitlines() if line.startswith(f"#> {name} "))
    return [float(v) for v in line.removeprefix(f"#> {name} ").split()]


def test_the_default_view_is_kaiming_relu_50_layers_as_the_page_prints_it(
    built_data, why_page, explorer_hook
):
    default = built_data["default"]
    assert default == {"init": "Kaiming", "activation": "relu", "depth": 50}
    caption = re.search(r'<p id="scale-explorer-summary" aria-live="polite">([^<]*)</p>', why_page)
    assert caption, "no caption in the built page"
    expected = explorer_hook.summary(built_data, "Kaiming", "relu", 50)
    assert html.unescape(caption[1]) == expected
    assert expected.startswith(
        "Kaiming, activation ReLU, 50 layers: activation RMS 0.978 at layer 1 and 0.825 at layer 50; "
        "gradient RMS 0.999 at layer 50 and 0.892 at layer 1"
    )
    # The same numbers the page prints under the depth figure, to the digits both show.
    run = built_data["runs"]["relu"]["50"]["Kaiming"]
    shown = [run["h"][0], run["h"][-1], run["g"][-1], run["g"][0]]
    for printed, value in zip(_printed_row("Kaiming"), shown, strict=True):
        assert value == pytest.approx(printed, rel=6e-3), (printed, value)
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td></tr>", why_page)
    assert [int(r[0]) for r in rows] == list(range(1, 51))
    assert [r[1:] for r in rows] == [
        tuple(explorer_hook.number(run[key][layer]) for key in "hgw") for layer in range(50)
    ]


def test_the_figure_is_on_the_why_page_only_with_native_labelled_controls(built_site, why_page):
    for page in built_site.rglob("*.html"):
        if page.relative_to(built_site).as_posix() != WHY:
            text = page.read_text(encoding="utf-8")
            assert "scale-explorer" not in text and "scale-by-layer" not in text, page
    assert why_page.count('id="scale-explorer"') == 1
    assert '<label for="scale-explorer-init">Init</label><select id="scale-explorer-init"' in why_page
    fieldsets = re.findall(r"<fieldset><legend>([^<]+)</legend>(.*?)</fieldset>", why_page)
    assert [legend for legend, _ in fieldsets] == ["Activation", "Depth"]
    for _, radios in fieldsets:
        labelled = re.findall(
            r'<label><input type="radio" name="\w+" value="[^"]+"(?: checked)?> [^<]+</label>', radios
        )
        assert len(labelled) == 3 and radios.count(" checked>") == 1, radios
    assert 'data-src="../data/scale-by-layer.json"' in why_page
    assert '<script src="../assets/javascripts/scale-explorer.js" defer></script>' in why_page


def test_numbers_are_written_with_3_significant_digits(explorer_hook):
    written = [explorer_hook.number(v) for v in (0.978, 1.0, 395.0, 3.95e-48, 4270.0, 0.00138, 1.43e-4)]
    assert written == ["0.978", "1.00", "395", "3.95e-48", "4.27e+03", "0.00138", "1.43e-04"]


def test_data_that_cannot_be_drawn_on_a_log_axis_is_refused(figures_hook):
    for bad in (0.0, float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="an RMS must be a finite number > 0"):
            figures_hook._three_digits((1.0, bad))


def test_a_page_that_asks_for_the_figure_without_its_data_fails_the_build(explorer_hook, tmp_path):
    page = tmp_path / "why" / "index.html"
    page.parent.mkdir()
    page.write_text('<div class="paraminit-explorer" id="scale-explorer"></div>')
    explorer_hook.on_post_page(page.read_text(), _Page("why/index.html"), {"site_dir": str(tmp_path)})
    with pytest.raises(PluginError, match=r"data/scale-by-layer\.json was not written"):
        explorer_hook.on_post_build({"site_dir": str(tmp_path)})
    assert explorer_hook._pages == []  # nothing left over for the next build


class _Page:
    def __init__(self, dest_uri: str):
        self.file = type("File", (), {"dest_uri": dest_uri})()
