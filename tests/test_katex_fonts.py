"""KaTeX's fonts, shipped cut down to the characters the site's math shows (docs/hooks/katex.py).

Each shipped font must still have every glyph the built pages ask of it, with the original's
metrics, be smaller than KaTeX's own, and be a woff2 that fontTools opens whole; the characters are
read again on every build, so a rebuilt page that shows a new character gets its glyph.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from bs4 import BeautifulSoup, SoupStrainer
from fontTools.ttLib import TTFont

ROOT = Path(__file__).parents[1]
KATEX_FONTS = ROOT / "node_modules" / "katex" / "dist" / "fonts"
SHIPPED = Path("assets") / "katex" / "fonts"


pytestmark = pytest.mark.node  # KaTeX and its fonts come from node_modules (npm ci)


def load_katex_hook():
    spec = importlib.util.spec_from_file_location("katex_hook", ROOT / "docs" / "hooks" / "katex.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def katex_html_text(html: str) -> set[str]:
    """The characters inside KaTeX's visual HTML of a page (read with BeautifulSoup, not the hook)."""
    soup = BeautifulSoup(html, "html.parser", parse_only=SoupStrainer("span", class_="katex-html"))
    return {c for span in soup.find_all("span", class_="katex-html") for c in span.get_text()}


@pytest.fixture(scope="module")
def shown(built_site: Path) -> set[str]:
    """Every character the built site's math shows, on every page."""
    characters: set[str] = set()
    for page in built_site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if "katex-html" in text:
            characters |= katex_html_text(text)
    return characters


@pytest.fixture(scope="module")
def fonts(built_site: Path) -> list[tuple[Path, Path]]:
    """(shipped, KaTeX's original) for each font the site ships."""
    shipped = sorted((built_site / SHIPPED).glob("*.woff2"))
    return [(font, KATEX_FONTS / font.name) for font in shipped]


def test_the_site_ships_a_subset_of_each_of_katexs_fonts(fonts):
    # Every font KaTeX's CSS names is there (test_site checks the CSS points to these files only).
    assert [s.name for s, _ in fonts] == sorted(p.name for p in KATEX_FONTS.glob("*.woff2"))
    assert len(fonts) >= 20


def test_each_font_keeps_every_glyph_the_math_shows_with_its_metrics(fonts, shown):
    # The chapter's math: Latin and Greek letters, digits, relations, a sum, big braces.
    assert len(shown) >= 40 and {"x", "σ", "∑", "≤", "⎧"} <= shown, sorted(shown)
    used_fonts = 0
    for shipped, original in fonts:
        before, after = TTFont(original), TTFont(shipped)
        old, new = before.getBestCmap(), after.getBestCmap()
        needed = {c for c in shown if ord(c) in old}
        missing = sorted(c for c in needed if ord(c) not in new)
        assert not missing, f"{shipped.name} lost the glyphs of {missing}"
        # The same glyph: same advance width and side bearing as in KaTeX's font.
        changed = sorted(c for c in needed if after["hmtx"][new[ord(c)]] != before["hmtx"][old[ord(c)]])
        assert not changed, f"{shipped.name}: other metrics for {changed}"
        used_fonts += bool(needed)
    assert used_fonts >= 5  # Main, Math and the big delimiters at least: the check is not empty


def test_each_font_is_smaller_than_katexs(fonts):
    grown = [
        f"{s.name}: {s.stat().st_size} >= {o.stat().st_size} bytes"
        for s, o in fonts
        if s.stat().st_size >= o.stat().st_size
    ]
    assert not grown, "fonts not cut down:\n" + "\n".join(grown)
    main = dict((s.name, s) for s, _ in fonts)["KaTeX_Main-Regular.woff2"]
    assert main.stat().st_size < 0.5 * (KATEX_FONTS / main.name).stat().st_size


def test_each_font_is_a_woff2_fonttools_opens_whole_with_notdef_and_licence(fonts):
    for shipped, original in fonts:
        assert shipped.read_bytes()[:4] == b"wOF2", shipped.name
        font = TTFont(shipped)
        assert font.flavor == "woff2"
        font.ensureDecompiled()  # every table, every glyph
        assert font.getGlyphOrder()[0] == ".notdef", shipped.name
        assert font["glyf"][".notdef"].numberOfContours > 0, f"{shipped.name}: .notdef has no outline"
        names, katex = font["name"], TTFont(original)["name"]
        for name_id in (0, 13, 14):  # copyright, licence, licence URL
            assert names.getDebugName(name_id) == katex.getDebugName(name_id), (shipped.name, name_id)


def test_the_hook_reads_the_text_of_katex_html_only():
    hook = load_katex_hook()
    page = (
        '<p>z</p><span class="katex"><span class="katex-mathml"><math><mi>q</mi></math></span>'
        '<span class="katex-html" aria-hidden="true"><span class="base"><span class="mord">a</span>'
        '<span class="mrel">&lt;</span><svg><path d="M0 0"></path></svg>'
        '<span class="vlist-s">\u200b</span></span></span></span><span>w</span>'
    )
    assert hook.katex_html_characters([page]) == {"a", "<", "\u200b"} == katex_html_text(page)
    assert hook.css_generated_characters('a:before{content:"(" counter(n) ")"}') == set("()0123456789")
    # KaTeX's CSS writes equation numbers itself, "(1)": their characters are in no katex-html text.
    katex_css = (KATEX_FONTS.parent / "katex.min.css").read_text()
    assert hook.css_generated_characters(katex_css) >= set("()0123456789")


def test_a_rebuilt_page_with_a_new_character_gets_its_glyph(tmp_path):
    # As on `mkdocs serve`: the hook's module stays loaded between builds and the site is rebuilt.
    hook = load_katex_hook()
    main = KATEX_FONTS / "KaTeX_Main-Regular.woff2"
    shipped = tmp_path / SHIPPED / main.name
    page = tmp_path / "page" / "index.html"
    page.parent.mkdir()

    def build(shown_text: str) -> set[str]:
        page.write_text(f'<span class="katex-html"><span class="mord">{shown_text}</span></span>')
        hook.ship_font_subsets(tmp_path, [main])
        return {chr(code) for code in TTFont(shipped).getBestCmap()}

    assert "x" in build("x") and "∞" not in build("x")
    first = shipped.read_bytes()
    assert "∞" in build("x∞")  # not the subset of the last build
    assert "∞" not in build("x")
    hook._subsets.clear()  # made again, not taken from the last build: the same bytes
    assert "x" in build("x") and shipped.read_bytes() == first
    # Equation numbers, written by KaTeX's CSS: their digits are kept with no digit in the math.
    (tmp_path / "assets" / "katex" / "katex.min.css").write_text(
        '.katex .eqn-num:before{content:"(" counter(katexEqnNo) ")"}'
    )
    assert set("()0123456789") <= build("x")
