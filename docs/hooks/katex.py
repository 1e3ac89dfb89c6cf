r"""MkDocs hook: typeset every formula when the site is built, so that no page loads a math script.

`pymdownx.arithmatex` (`generic: true`) marks math as `<span class="arithmatex">\(...\)</span>` and
`<div class="arithmatex">\[...\]</div>`. After each page is rendered, this hook sends the page's
formulas to one Node.js process running KaTeX (from `node_modules`, the version pinned in
package.json) and puts KaTeX's output in their place: HTML for the eye and MathML for screen
readers. It works on the final HTML of every page, so any page that delivers this markup (Markdown,
a notebook) is typeset the same way.

- A formula KaTeX cannot parse is logged as an error naming the page and the TeX: the build, strict
  as `mkdocs.yml` asks, fails.
- Only pages with math link KaTeX's stylesheet, and the site ships it with its `.woff2` fonts only:
  the `.woff` and `.ttf` fallbacks (never fetched by a browser that reads woff2) are removed from
  the CSS, so no link in it points to a missing file.
- Each font is shipped cut down to the characters the site's math shows: once every page is built,
  the text of KaTeX's visual HTML (`<span class="katex-html">`) on every page of the built site, and
  what KaTeX's CSS writes itself (equation numbers), is collected, and each of KaTeX's fonts is
  subset to it with fontTools (layout features, hinting, `.notdef` and the name records, licence
  included, kept). Every build subsets the fonts from `node_modules` again, so a page that shows a
  new character gets its glyph, also on `mkdocs serve`'s rebuilds; the same pages give the same bytes.
- Nothing is fetched from the network: KaTeX and its fonts come from `node_modules` (`npm ci`).
"""

from __future__ import annotations

import html
import io
import json
import logging
import re
import shutil
import subprocess
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.utils import get_relative_url

log = logging.getLogger("mkdocs.hooks.katex")

ROOT = Path(__file__).resolve().parents[2]
KATEX = ROOT / "node_modules" / "katex"
RENDERER = Path(__file__).with_name("katex_render.cjs")
ASSETS = "assets/katex"
CSS_URI = f"{ASSETS}/katex.min.css"
FONTS = f"{ASSETS}/fonts"

# An element that arithmatex marked as math; its body is HTML-escaped TeX with its delimiters.
MATH = re.compile(
    r'<(?P<tag>span|div)(?P<attrs>\s[^>]*?\bclass="(?:[^"]*\s)?arithmatex(?:\s[^"]*)?"[^>]*)>'
    r"(?P<body>.*?)</(?P=tag)>",
    re.DOTALL,
)
DELIMITERS = [(r"\(", r"\)", False), (r"\[", r"\]", True), ("$$", "$$", True), ("$", "$", False)]
ENVIRONMENT = re.compile(r"^\\begin\{(?P<env>[a-zA-Z*]+)\}.*\\end\{(?P=env)\}$", re.DOTALL)
# In KaTeX's CSS each @font-face lists woff2, then woff and ttf fallbacks: keep the woff2 alone.
FALLBACK_FONT = re.compile(r',\s*url\([^)]*\.(?:woff|ttf)\)\s*format\("(?:woff|truetype)"\)')


class Renderer:
    """One Node.js process that typesets with KaTeX, a page's formulas at a time."""

    def __init__(self, node: str | None = None):
        node = node or shutil.which("node")
        if node is None:
            raise PluginError("KaTeX: Node.js is not installed; the site's math is typeset with it")
        if not (KATEX / "package.json").is_file():
            raise PluginError(f"KaTeX: {KATEX} is missing: run `npm ci` (the Makefile's targets do)")
        self.process = subprocess.Popen(
            [node, str(RENDERER)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def render(self, items: list[tuple[str, bool]]) -> list[dict]:
        """KaTeX's output for each (tex, display) pair: {"html": ...} or {"error": ...}."""
        request = {"items": [{"tex": tex, "display": display} for tex, display in items]}
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            answer = self.process.stdout.readline()
        except BrokenPipeError:
            answer = ""
        if not answer:
            self.process.kill()
            stderr = self.process.stderr.read() if self.process.stderr else ""
            raise PluginError(f"KaTeX: the Node.js renderer stopped: {stderr[-2000:]}")
        return json.loads(answer)["results"]

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def split_math(body: str) -> tuple[str, bool]:
    """The TeX inside an arithmatex element and whether it is display math."""
    text = html.unescape(body).strip()
    for left, right, display in DELIMITERS:
        if text.startswith(left) and text.endswith(right) and len(text) >= len(left) + len(right):
            return text[len(left) : len(text) - len(right)], display
    if ENVIRONMENT.match(text):
        return text, True
    raise ValueError(f"not arithmatex math markup (no \\(...\\), \\[...\\] or environment): {text[:80]!r}")


def typeset(page_html: str, renderer: Renderer) -> tuple[str, list[str], int]:
    """The page with every arithmatex element typeset; also the errors and the number of formulas."""
    matches = list(MATH.finditer(page_html))
    if not matches:
        return page_html, [], 0
    items, errors = [], []
    for match in matches:
        try:
            items.append(split_math(match["body"]))
        except ValueError as error:
            items.append(("", False))
            errors.append(str(error))
    results = renderer.render(items)
    out, last = [], 0
    for match, (tex, _), result in zip(matches, items, results, strict=True):
        out.append(page_html[last : match.start()])
        if "error" in result:
            errors.append(f"{result['error']} (in {tex!r})")
            out.append(match.group(0))  # left as it was; the build fails anyway
        else:
            out.append(f"<{match['tag']}{match['attrs']}>{result['html']}</{match['tag']}>")
        last = match.end()
    out.append(page_html[last:])
    return "".join(out), errors, len(matches)


def link_stylesheet(page_html: str, page_url: str) -> str:
    """The page with KaTeX's stylesheet linked at the end of its <head>."""
    href = get_relative_url(CSS_URI, page_url)
    return page_html.replace("</head>", f'<link rel="stylesheet" href="{href}">\n</head>', 1)


def woff2_only(css: str) -> str:
    """KaTeX's CSS with the .woff and .ttf fallbacks of every @font-face removed."""
    css = FALLBACK_FONT.sub("", css)
    if re.search(r"url\([^)]*\.(?:woff|ttf)\)", css):
        raise PluginError("KaTeX: its CSS still names a .woff or .ttf font after the fallbacks were removed")
    return css


# ---- fonts cut down to the characters the math shows ------------------------------------------

# Text KaTeX's CSS puts on the page itself: `content: "..."` strings, and counters (equation numbers).
CSS_CONTENT = re.compile(r"content:(?P<value>[^;}]*)")
CSS_STRING = re.compile(r""""([^"]*)"|'([^']*)'""")


class KatexHtmlText(HTMLParser):
    """The characters of the text inside KaTeX's visual HTML (`<span class="katex-html">`) of pages."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.characters: set[str] = set()
        self._depth = 0  # open <span>s inside the current katex-html span, itself included

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "span":
            return
        if self._depth:
            self._depth += 1
        elif "katex-html" in (dict(attrs).get("class") or "").split():
            self._depth = 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._depth:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth:
            self.characters.update(data)


def katex_html_characters(pages: Iterable[str]) -> set[str]:
    """Every character of the text inside KaTeX's visual HTML on the given pages (their HTML)."""
    characters: set[str] = set()
    for page_html in pages:
        if "katex-html" in page_html:
            parser = KatexHtmlText()
            parser.feed(page_html)
            parser.close()
            characters |= parser.characters
    return characters


def css_generated_characters(css: str) -> set[str]:
    """The characters KaTeX's CSS writes itself: its `content` strings, and digits for counters."""
    values = (match["value"] for match in CSS_CONTENT.finditer(css))
    strings = (m[1] or m[2] or "" for value in values for m in CSS_STRING.finditer(value))
    characters = {c for string in strings for c in string}
    return characters | set("0123456789") if "counter(" in css else characters


def subset_woff2(source: Path, characters: Iterable[str]) -> bytes:
    """The font at `source` cut down to the glyphs of `characters` (those it has), as woff2 bytes.

    What the glyphs need stays: every layout feature and legacy kerning, hinting, the `.notdef`
    glyph with its outline and every name record (copyright and licence). Timestamps are not
    recalculated, so the same font and characters give the same bytes.

    The kept glyphs have KaTeX's outlines and metrics, so the math is laid out as before. Where
    FreeType's auto-hinter draws the text (Chromium on Linux), it measures a script's reference
    letters (for Greek: capitals and lower case that a formula may not show) to align that
    script's glyphs: without them a few anti-aliased pixels of a Greek letter can come out other
    than with the whole font. Keeping them would cost about 3.4 KiB on the chapter page.
    """
    try:
        import brotli  # noqa: F401  (fontTools writes woff2 with it)
        from fontTools import subset
    except ImportError as error:
        raise PluginError(
            f"KaTeX: subsetting the fonts needs fontTools and brotli ({error}): "
            "pip install -c constraints.txt -e '.[docs]'"
        ) from error
    options = subset.Options()
    options.flavor = "woff2"
    options.layout_features = ["*"]
    options.legacy_kern = True
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.recalc_timestamp = False
    # KaTeX's .ttf files date themselves at 0 on the Unix clock: fontTools reads that as 1970 (as
    # the .woff2 made from them say) and warns about it, for each font; nothing to tell the reader.
    head_log = logging.getLogger("fontTools.ttLib.tables._h_e_a_d")
    level = head_log.level
    head_log.setLevel(logging.ERROR)
    try:
        font = subset.load_font(str(source), options)
        try:
            subsetter = subset.Subsetter(options)
            subsetter.populate(unicodes=sorted(ord(c) for c in set(characters)))
            subsetter.subset(font)
            out = io.BytesIO()
            subset.save_font(font, out, options)
        finally:
            font.close()
    finally:
        head_log.setLevel(level)
    return out.getvalue()


# One subset per font, kept between `mkdocs serve`'s rebuilds: (source's stat, characters) -> bytes.
_subsets: dict[str, tuple[tuple, bytes]] = {}


def ship_font_subsets(site_dir: Path, sources: Iterable[Path]) -> tuple[int, int, int]:
    """Write each KaTeX woff2 font of `sources`, subset to what the built site's math shows, into the site.

    The characters come from every HTML page under `site_dir` (so also the pages a `--dirty` build
    did not rebuild) and from KaTeX's CSS there. Returns (characters, bytes before, bytes after).
    """
    pages = sorted(site_dir.rglob("*.html"))
    characters = katex_html_characters(page.read_text(encoding="utf-8") for page in pages)
    css = site_dir / CSS_URI
    if css.is_file():
        characters |= css_generated_characters(css.read_text(encoding="utf-8"))
    before = after = 0
    for font in sources:
        # Read from the .ttf KaTeX made the .woff2 from, where there is one: the same glyphs and
        # the same subset bytes, in half the time (a woff2 is decoded whole before it is subset).
        master = font.with_suffix(".ttf") if font.with_suffix(".ttf").is_file() else font
        stat = master.stat()
        key = (str(master), stat.st_mtime_ns, stat.st_size, frozenset(characters))
        cached = _subsets.get(font.name)
        if cached is None or cached[0] != key:
            cached = _subsets[font.name] = (key, subset_woff2(master, characters))
        target = site_dir / FONTS / font.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(cached[1])
        before, after = before + font.stat().st_size, after + len(cached[1])
    return len(characters), before, after


def katex_fonts() -> list[Path]:
    """KaTeX's woff2 fonts in node_modules, the ones the site ships."""
    return sorted((KATEX / "dist" / "fonts").glob("*.woff2"))


# ---- the hook's events --------------------------------------------------------------------------

_renderer: Renderer | None = None


def on_files(files: Files, config) -> Files:
    """Ship KaTeX's stylesheet (woff2 fonts only), the fonts and KaTeX's licence with the site."""
    dist = KATEX / "dist"
    if not dist.is_dir():
        raise PluginError(f"KaTeX: {dist} is missing: run `npm ci` (the Makefile's targets do)")
    files.append(File.generated(config, CSS_URI, content=woff2_only((dist / "katex.min.css").read_text())))
    for font in katex_fonts():  # copied whole; on_post_build writes their subsets over them
        files.append(File.generated(config, f"{FONTS}/{font.name}", abs_src_path=str(font)))
    files.append(File.generated(config, f"{ASSETS}/LICENSE.txt", abs_src_path=str(KATEX / "LICENSE")))
    return files


def on_post_page(output: str, page, config) -> str:
    global _renderer
    if "arithmatex" not in output:
        return output
    if _renderer is None:
        _renderer = Renderer()
    output, errors, count = typeset(output, _renderer)
    for error in errors:
        log.error(f"{page.file.src_uri}: KaTeX cannot typeset a formula: {error}")
    return link_stylesheet(output, page.url) if count else output


def _close() -> None:
    global _renderer
    if _renderer is not None:
        _renderer.close()
        _renderer = None


def on_post_build(config) -> None:
    """Close KaTeX's process, then ship each font cut down to the characters the built site shows."""
    _close()
    count, before, after = ship_font_subsets(Path(config.site_dir), katex_fonts())
    log.info(f"KaTeX: fonts subset to the {count} characters the math shows ({before} -> {after} bytes)")


def on_build_error(error) -> None:
    _close()
