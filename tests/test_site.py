"""The site builds strictly, shows every snippet section, and loads nothing from another host."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from snippets_check import sections

ROOT = Path(__file__).parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md"))
INCLUDE = re.compile(r'^\s*-{1,}8<-{1,}\s+"([^":]+)(?::([\w-]+))?"\s*$', re.MULTILINE)
EXTERNAL = re.compile(
    r"""(?:src|href)\s*=\s*["']((?:https?:)?//[^"']+)["']|url\(\s*["']?((?:https?:)?//[^)"']+)"""
)


@pytest.fixture(scope="module")
def site(built_site: Path) -> Path:
    return built_site


def test_every_page_is_built(site):
    for page in PAGES:
        html = site / ("index.html" if page.stem == "index" else f"{page.stem}/index.html")
        assert html.is_file(), f"{page.name} was not built"


def test_no_include_line_is_left_on_a_page(site):
    for html in site.rglob("*.html"):
        text = html.read_text()
        assert "--8&lt;--" not in text and "--8<--" not in text, html


def test_nothing_is_loaded_from_another_host(site):
    found = []
    for path in [*site.rglob("*.html"), *site.rglob("*.css")]:
        text = path.read_text(errors="replace")
        for match in EXTERNAL.finditer(text):
            url = match.group(1) or match.group(2)
            tag = text[text.rfind("<", 0, match.start()) : match.start()]
            # Plain links (<a href>) are navigation, not loads; canonical/alternate are metadata.
            if tag.startswith("<a ") or re.search(r'rel="(canonical|alternate)"', tag):
                continue
            found.append(f"{path.relative_to(site)}: {url}")
    assert not found, "loaded from another host:\n" + "\n".join(found)


def test_math_is_marked_for_the_vendored_katex(site):
    html = (site / "parameter-initialization" / "index.html").read_text()
    assert '<div class="arithmatex">' in html and r"\begin{cases}" in html
    for asset in ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js"):
        assert (site / "assets" / "katex" / asset).is_file()
    assert list((site / "assets" / "katex" / "fonts").glob("*.woff2"))


def test_every_include_names_an_existing_section():
    for page in PAGES:
        for path, name in INCLUDE.findall(page.read_text()):
            assert (ROOT / path).is_file(), f"{page.name}: {path} does not exist"
            if name:
                assert name in {s.name for s in sections(ROOT / path)}, f"{page.name}: {path}:{name}"


def test_every_snippet_section_is_shown_on_a_page():
    shown = {(path, name) for page in PAGES for path, name in INCLUDE.findall(page.read_text())}
    for snippet in sorted((ROOT / "snippets").glob("*.py")):
        for section in sections(snippet):
            key = (f"snippets/{snippet.name}", section.name)
            assert key in shown, f"{key[0]}:{key[1]} is tested but no page shows it"


def test_every_python_block_on_a_page_is_an_include():
    fence = re.compile(r"^```(?:python|py)\b.*?\n(.*?)^```", re.MULTILINE | re.DOTALL)
    for page in PAGES:
        for body in fence.findall(page.read_text()):
            lines = [line for line in body.splitlines() if line.strip()]
            assert lines and all(INCLUDE.match(line) for line in lines), (
                f"{page.name}: a python block is typed on the page instead of included:\n{body}"
            )
