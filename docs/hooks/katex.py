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
- Nothing is fetched from the network: KaTeX and its fonts come from `node_modules` (`npm ci`).
"""

from __future__ import annotations

import html
import json
import logging
import re
import shutil
import subprocess
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


# ---- the hook's events --------------------------------------------------------------------------

_renderer: Renderer | None = None


def on_files(files: Files, config) -> Files:
    """Ship KaTeX's stylesheet (woff2 fonts only), the fonts and KaTeX's licence with the site."""
    dist = KATEX / "dist"
    if not dist.is_dir():
        raise PluginError(f"KaTeX: {dist} is missing: run `npm ci` (the Makefile's targets do)")
    files.append(File.generated(config, CSS_URI, content=woff2_only((dist / "katex.min.css").read_text())))
    for font in sorted((dist / "fonts").glob("*.woff2")):
        files.append(File.generated(config, f"{ASSETS}/fonts/{font.name}", abs_src_path=str(font)))
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
    _close()


def on_build_error(error) -> None:
    _close()
