"""The site builds strictly, shows every snippet section, loads nothing from another host, ships its
math typeset (no math script), and every code block it shows fits the column and holds only what
it uses."""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from mkdocs.utils import CountHandler
from page_code import INCLUDE, shown_blocks
from snippets_check import sections

ROOT = Path(__file__).parents[1]
PAGES = sorted(p for p in (ROOT / "docs").rglob("*.md") if "hooks" not in p.parts)
MAX_LINE = 79  # the chapter column holds about 80 monospace characters at 1280 px
EXTERNAL = re.compile(
    r"""(?:src|href)\s*=\s*["']((?:https?:)?//[^"']+)["']|url\(\s*["']?((?:https?:)?//[^)"']+)"""
)
ARITHMATEX = re.compile(r'<(span|div)\s[^>]*\bclass="arithmatex"[^>]*>(.{0,120})', re.DOTALL)
MATH_SCRIPT = re.compile(
    r"<script\b[^>]*>[^<]*(?:katex|mathjax|renderMathInElement)|<script[^>]*src=[^>]*(?:katex|mathjax|auto-render)",
    re.I,
)
CSS_URL = re.compile(r"""url\(\s*["']?([^)"']+)["']?\s*\)""")


def page_id(page: Path) -> str:
    return page.relative_to(ROOT / "docs").as_posix()


@pytest.fixture(scope="module")
def site(built_site: Path) -> Path:
    return built_site


@pytest.fixture(scope="module")
def html_pages(site) -> dict[str, str]:
    """Every built HTML page's text, keyed by its path in the site."""
    return {p.relative_to(site).as_posix(): p.read_text() for p in sorted(site.rglob("*.html"))}


def load_hook(name: str):
    spec = importlib.util.spec_from_file_location(f"hook_{name}", ROOT / "docs" / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_page_is_built(site):
    for page in PAGES:
        rel = page.relative_to(ROOT / "docs").with_suffix("")
        html = site / ("index.html" if rel.name == "index" else f"{rel}/index.html")
        assert html.is_file(), f"{page_id(page)} was not built"


def test_no_include_line_is_left_on_a_page(html_pages):
    for name, text in html_pages.items():
        assert "--8&lt;--" not in text and "--8<--" not in text, name


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


# ---- math, typeset when the site is built ---------------------------------------------------------


def test_every_formula_is_typeset_when_the_site_is_built(html_pages):
    untypeset, formulas = [], 0
    for name, text in html_pages.items():
        for tag, start in ARITHMATEX.findall(text):
            formulas += 1
            expected = '<span class="katex-display">' if tag == "div" else '<span class="katex">'
            if not start.startswith(expected):
                untypeset.append(f"{name}: {start[:80]!r}")
    assert formulas >= 20, f"only {formulas} formulas on the whole site: is arithmatex still enabled?"
    assert not untypeset, "formulas left as TeX:\n" + "\n".join(untypeset)


def test_formulas_carry_mathml_for_screen_readers(html_pages):
    text = html_pages["parameter-initialization/index.html"]
    assert text.count('<span class="katex-mathml"><math') == text.count('<span class="katex">')
    assert 'aria-hidden="true"' in text  # KaTeX hides its visual HTML from screen readers


def test_no_page_loads_a_math_script(html_pages):
    found = [name for name, text in html_pages.items() if MATH_SCRIPT.search(text)]
    assert not found, f"pages with a math script: {found}"


def test_katex_stylesheet_is_linked_on_the_pages_with_math_only(html_pages):
    for name, text in html_pages.items():
        has_math = 'class="arithmatex"' in text
        links = len(re.findall(r'<link rel="stylesheet" href="[^"]*assets/katex/katex\.min\.css">', text))
        assert links == (1 if has_math else 0), f"{name}: math={has_math}, KaTeX stylesheet links={links}"


def test_katex_css_names_woff2_fonts_only(site):
    css = (site / "assets" / "katex" / "katex.min.css").read_text()
    fonts = CSS_URL.findall(css)
    assert len(fonts) >= 20
    assert all(url.endswith(".woff2") for url in fonts), [u for u in fonts if not u.endswith(".woff2")]
    assert not list(site.rglob("*.ttf")) and not list(site.rglob("KaTeX_*.woff"))
    assert (site / "assets" / "katex" / "LICENSE.txt").is_file()


def test_every_url_in_the_site_css_exists(site):
    missing = []
    for css in site.rglob("*.css"):
        for url in CSS_URL.findall(css.read_text()):
            if url.startswith(("data:", "#", "http:", "https:", "//")):
                continue
            if not (css.parent / url.split("?")[0].split("#")[0]).exists():
                missing.append(f"{css.relative_to(site)}: {url}")
    assert not missing, "\n".join(missing)


@pytest.fixture
def katex_hook():
    hook = load_hook("katex")
    yield hook
    hook._close()  # what on_post_build does first; there is no site to ship fonts into


def page_stub(src_uri: str = "why.md", url: str = "why/"):
    return SimpleNamespace(file=SimpleNamespace(src_uri=src_uri), url=url)


def test_a_formula_katex_cannot_parse_fails_the_strict_build(katex_hook):
    # mkdocs counts warnings and errors on its "mkdocs" logger and aborts a strict build on any.
    counter = CountHandler()
    counter.setLevel(logging.WARNING)
    logging.getLogger("mkdocs").addHandler(counter)
    try:
        bad, good = "\\(\\frac{1}{\\)", "\\(x^2\\)"
        span = '<span class="arithmatex">{}</span>'
        html = f"<head></head><p>{span.format(bad)} {span.format(good)}</p>"
        out = katex_hook.on_post_page(html, page_stub(), None)
    finally:
        logging.getLogger("mkdocs").removeHandler(counter)
    assert counter.get_counts() == [("ERROR", 1)]
    assert '<span class="katex">' in out  # the good formula is still typeset


def test_any_page_with_arithmatex_markup_is_typeset(katex_hook):
    # What a notebook page or a new page delivers: inline and display math, $-delimited, environments.
    html = (
        "<head></head>"
        '<p><span class="arithmatex">\\(a &lt; b\\)</span> <span class="arithmatex">$\\sigma^2$</span></p>'
        '<div class="arithmatex">\\[\\operatorname{Var}[w] = \\tfrac{1}{3}\\]</div>'
        '<div class="arithmatex">\\begin{aligned} a &amp;= b \\\\ c &amp;= d \\end{aligned}</div>'
    )
    out = katex_hook.on_post_page(html, page_stub(), None)
    assert out.count('<span class="katex">') == 4 and out.count('<span class="katex-display">') == 2
    assert "\\(" not in out and "\\[" not in out and "\\begin{aligned} a" not in out.split("<annotation")[0]
    assert '<link rel="stylesheet" href="../assets/katex/katex.min.css">\n</head>' in out
    assert katex_hook.on_post_page("<head></head><p>no math</p>", page_stub(), None) == (
        "<head></head><p>no math</p>"
    )


# ---- accessible, valid markup -----------------------------------------------------------------------


def test_every_code_block_is_keyboard_reachable_and_named(html_pages):
    unnamed, blocks = [], 0
    for name, text in html_pages.items():
        for pre, code in re.findall(r"(<pre[^>]*>)(?:<span></span>)?(<code[^>]*>)?", text):
            blocks += 1
            container = code or pre  # what scrolls: the <code> inside, or the <pre> itself
            if 'tabindex="0"' not in container or not re.search(r'aria-label="[^"]+"', container):
                unnamed.append(f"{name}: {container}")
    assert blocks >= 40 and not unnamed, "\n".join(unnamed)


def test_a_pre_without_code_is_keyboard_reachable_and_named():
    hook = load_hook("accessible_markup")
    html = '<pre><span></span><code>x = 1</code></pre><pre class="out">long output</pre>'
    assert hook.name_code_blocks(html) == (
        '<pre><span></span><code tabindex="0" role="group" aria-label="Code block 1">x = 1</code></pre>'
        '<pre class="out" tabindex="0" role="group" aria-label="Text block 1">long output</pre>'
    )


def test_output_lines_are_marked_apart_from_comments(html_pages):
    text = html_pages["parameter-initialization/index.html"]
    assert '<span class="c1">#&gt;' not in text
    assert text.count('<span class="go">#&gt;') >= 10


def test_the_theme_markup_is_valid_and_named(html_pages):
    for name, text in html_pages.items():
        assert not re.search(r'<input[^>]*type="checkbox"[^>]*autocomplete=', text), name
        assert 'role="dialog" aria-label="Search"' in text, name


def test_search_keeps_stop_words_and_splits_on_punctuation(site):
    config = json.loads((site / "search" / "search_index.json").read_text())["config"]
    assert "stopWordFilter" not in config["pipeline"]
    assert re.split(config["separator"], "Xavier (Glorot) uniform")[:3] == ["Xavier", "Glorot", "uniform"]


# ---- the pages' code blocks: each one an include, short lines, only what it uses ---------------


def test_every_include_names_an_existing_section():
    for page in PAGES:
        for path, name in INCLUDE.findall(page.read_text()):
            assert (ROOT / path).is_file(), f"{page_id(page)}: {path} does not exist"
            if name:
                assert name in {s.name for s in sections(ROOT / path)}, f"{page_id(page)}: {path}:{name}"


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
                f"{page_id(page)}: a python block is typed on the page instead of included:\n{body}"
            )


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_line_of_a_shown_block_fits_the_column(page):
    too_long = [
        f"{block} ({line.origin}), {len(line.text)} characters: {line.text}"
        for block in shown_blocks(page)
        for line in block.lines
        if len(line.text) > MAX_LINE
    ]
    assert not too_long, f"lines over {MAX_LINE} characters (wrap them):\n" + "\n".join(too_long)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_no_shown_block_holds_a_nested_code_fence(page):
    nested = [str(b) for b in shown_blocks(page) if any("```" in line.text for line in b.lines)]
    assert not nested, f"blocks with a code fence inside (a docstring example?): {nested}"


def _root_conftest():
    """The root conftest.py: the parser `pytest --markdown-docs` reads the pages with."""
    spec = importlib.util.spec_from_file_location("root_conftest_for_site", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SHOWN_CODE = re.compile(
    r'<div class="(?:[\w-]+ )*highlight(?: [\w-]+)*"[^>]*>\s*<pre[^>]*>(?:<span></span>)?'
    r"<code[^>]*>(.*?)</code>",
    re.DOTALL,
)


@pytest.mark.parametrize("page", [p for p in PAGES if "```" in p.read_text()], ids=page_id)
def test_each_page_shows_the_bytes_its_tests_run(page, html_pages):
    """The code blocks of a built page, as a reader sees (and copies) them, are the fences that
    `pytest --markdown-docs` runs from it through conftest.py's include expansion: the same text,
    blank lines included, in the same order."""
    import html as html_module

    markdown_it = _root_conftest().pytest_markdown_docs_markdown_it()
    tested = [t.content.rstrip("\n") for t in markdown_it.parse(page.read_text()) if t.type == "fence"]
    built = page_id(page).removesuffix(".md").removesuffix("index").rstrip("/")
    shown = [
        html_module.unescape(re.sub(r"<[^>]+>", "", code)).rstrip("\n")
        for code in SHOWN_CODE.findall(html_pages[f"{built}/index.html".lstrip("/")])
    ]
    assert tested and shown == tested


@pytest.mark.processes
def test_every_shown_python_block_imports_only_what_it_uses(tmp_path):
    blocks = {}
    for page in PAGES:
        for block in shown_blocks(page):
            if block.language in ("python", "py"):
                path = tmp_path / f"{page.stem}-{block.index}.py"
                path.write_text(block.code)
                blocks[path.name] = block
    assert len(blocks) >= 20
    run = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--select", "F401",
         "--output-format", "json", str(tmp_path)],
        capture_output=True,
        text=True,
    )  # fmt: skip
    unused = [f"{blocks[Path(f['filename']).name]}: {f['message']}" for f in json.loads(run.stdout)]
    assert not unused, "a shown block imports names it never uses:\n" + "\n".join(unused)


# ---- the nav and the home page -----------------------------------------------------------------


def _nav() -> list:
    from page_code import mkdocs_yml

    return mkdocs_yml()["nav"]


def _nav_files(entries) -> list[str]:
    files = []
    for entry in entries:
        ((_, target),) = entry.items()
        files += _nav_files(target) if isinstance(target, list) else [target]
    return files


def test_the_nav_puts_the_chapter_apart_from_the_library_and_its_engineering():
    sections = {
        title: _nav_files(target)
        for entry in _nav()
        for title, target in entry.items()
        if isinstance(target, list)
    }
    assert sections["The chapter"] == [
        "parameter-initialization.md",
        "why-initialization.md",
        "initialization-today.md",
        "notebook/parameter-initialization.ipynb",
    ]
    assert sections["The library and its engineering"] == [
        "library.md",
        "reproducibility.md",
        "large-models.md",
        "reference.md",
        "verified.md",
    ]
    nav_pages = {f for f in _nav_files(_nav()) if f.endswith(".md")}
    assert nav_pages == {page_id(p) for p in PAGES if p.parent == ROOT / "docs"}


def test_the_home_page_links_every_page_of_the_nav():
    home = (ROOT / "docs" / "index.md").read_text()
    linked = set(re.findall(r"\]\(([\w/.-]+\.(?:md|ipynb))\)", home))
    missing = [f for f in _nav_files(_nav()) if f != "index.md" and f not in linked]
    assert not missing, f"the home page does not link {missing}"
