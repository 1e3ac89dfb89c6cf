"""The built site in a real browser, on every page, in both palettes, on a desktop, a laptop and a phone.

The site is built once per run (the shared `built_site` fixture) and served on 127.0.0.1; headless
Chromium starts once per run and visits every page of the built site (pages are found in the build,
not listed here): at 1280, 800 and 390 px, in the light and the dark palette. Each visit records
what the tests below check: axe-core finds nothing serious, on the page as loaded and laid out in
full; code fits its box, no table hides columns at 1280 px, nothing scrolls the page sideways, what
does scroll is reachable by keyboard, formulas are typeset and inline ones never split, figures
load, read well on either background and show their text at a legible size at every width. Then
the browser follows every link of every page's table of contents at 1280 and 390 px (the heading
lands near the top, below the header, highlighted in the table of contents), opens the site for
the first time with the system in dark and in light (the palette follows it, and the toggle still
switches), and tries the copy button, the search box, the math and the interactive figure of the
"why" page (each control, by mouse and by keyboard alone, at every width in both palettes).
Screenshots of every page at 1280 and 390 px are saved under test-artifacts/screenshots/
(git-ignored; PARAMINIT_ARTIFACTS moves it).

All of that is one job, `run_in_browser`, which tests/conftest.py starts in a background thread as
the test run begins: the browser works while the library's tests use the processor, and the tests
below only read what it recorded (they wait for it, and run last).

Chromium comes from PARAMINIT_CHROMIUM (default /usr/bin/chromium), driven by the Python playwright
package; no browser is downloaded. Without it these tests are skipped with a reason, unless
PARAMINIT_REQUIRE_BROWSER=1 (as in CI), where a missing browser is a failure.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import math
import os
import re
import sys
import threading
import traceback
import urllib.parse
from pathlib import Path

import pytest
from snippets_check import sections

pytestmark = pytest.mark.browser

ROOT = Path(__file__).parents[1]
CHROMIUM = Path(os.environ.get("PARAMINIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("PARAMINIT_ARTIFACTS", ROOT / "test-artifacts"))
CHAPTER = "/parameter-initialization/"
# Each page is opened once, at 1280 px in the light palette; then the same page is narrowed to a
# laptop's 800 px and a phone's 390 px, switched to the dark palette with the theme's own toggle and
# widened again. The palettes differ in colours only (the same HTML, other CSS variables): axe runs
# all its rules at each width in the light palette and, in the dark one, the rules that depend on
# colour.
WIDTHS = (1280, 800, 390)
VIEWS = tuple(f"{width}-{palette}" for palette in ("light", "dark") for width in WIDTHS)
DESKTOP, LAPTOP, PHONE = (
    {"width": 1280, "height": 900},
    {"width": 800, "height": 900},
    {"width": 390, "height": 844},
)
SIZES = {1280: DESKTOP, 800: LAPTOP, 390: PHONE}
# The theme's palettes (mkdocs.yml): the system's, then light, then dark; the toggle goes round them.
PALETTES = {
    "default": {"index": 1, "color": {"media": "(prefers-color-scheme: light)", "scheme": "default"}},
    "slate": {"index": 2, "color": {"media": "(prefers-color-scheme: dark)", "scheme": "slate"}},
}
COLOUR_RULES = ["color-contrast", "link-in-text-block"]


def _missing_browser(reason: str) -> None:
    if os.environ.get("PARAMINIT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"PARAMINIT_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def site_pages(site_dir: Path) -> list[str]:
    """Every HTML page of the built site, as URL paths: new pages are covered without a list here."""
    found = []
    for html in sorted(site_dir.rglob("*.html")):
        rel = html.relative_to(site_dir).as_posix()
        found.append("/" + (rel.removesuffix("index.html") if rel.endswith("index.html") else rel))
    return found


class Visit:
    """A browser context that can reach only the local site, recording what happens."""

    def __init__(
        self,
        browser,
        site: str,
        width: int = 1280,
        height: int = 900,
        scheme: str | None = "default",
        system: str = "light",
    ):
        """`scheme`: the palette the reader chose before (None: a first visit, nothing chosen yet);
        `system`: the colour scheme the reader's system asks for (prefers-color-scheme)."""
        self.site = site
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=system)
        self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site)
        # Material keeps the reader's palette in localStorage (key "<scope path>.__palette").
        if scheme is not None:
            self.context.add_init_script(
                f"localStorage.setItem('/.__palette', {json.dumps(json.dumps(PALETTES[scheme]))})"
            )
        # Nothing may leave the machine: abort every request to another host before it is sent.
        self.context.route("**/*", self._route)
        self.page = self.new_page()

    def new_page(self):
        """A tab in this context, its requests, failures and errors recorded with the others."""
        page = self.context.new_page()
        page.set_default_timeout(15_000)
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.url}"))
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        return page

    def _route(self, route):
        url = route.request.url
        if self.is_local(url):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def is_local(self, url: str) -> bool:
        return url.startswith((f"{self.site}/", "data:", "blob:"))

    def goto(self, path: str, wait_until: str = "networkidle", page=None):
        page = page or self.page
        page.goto(self.site + path, wait_until=wait_until)
        page.evaluate("document.fonts.ready.then(() => true)")
        return page

    def close(self):
        self.context.close()


# ---- one visit of every page in every view, recording what the tests check ----------------------

AXE_RUN = """async ([only, skip]) => {
    const options = {resultTypes: ['violations']};
    if (only) options.runOnly = {type: 'rule', values: only};
    if (skip) options.rules = Object.fromEntries(skip.map(id => [id, {enabled: false}]));
    const result = await axe.run(document, options);
    return result.violations
        .filter(v => v.impact === 'serious' || v.impact === 'critical')
        .map(v => `${v.id} (${v.impact}): ${v.help}; ${v.nodes.length} element(s): ` +
                  v.nodes.slice(0, 4).map(n => n.target.join(' ')).join(' | '));
}"""

# Code blocks whose content is wider than their box: the reader would have to scroll.
OVERFLOWING_CODE = """() => [...document.querySelectorAll('.md-content :is(pre>code, pre:not(:has(>code)))')]
    .filter(c => c.scrollWidth > c.clientWidth + 1)
    .map(c => {
        const widest = c.textContent.split('\\n').reduce((a, l) => l.length > a.length ? l : a, '');
        return `${c.getAttribute("aria-label")}: ${c.scrollWidth}px of content in ${c.clientWidth}px, ` +
               `widest line: ${widest}`;
    })"""

# Everything in the content that scrolls sideways, and whether the keyboard can reach it.
SCROLLERS = """() => [...document.querySelectorAll('.md-content *')]
    .filter(el => el.scrollWidth > el.clientWidth + 1 &&
                  ['auto', 'scroll'].includes(getComputedStyle(el).overflowX))
    .map(el => ({
        what: el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ')[0] : ''),
        focusable: el.tabIndex >= 0 || !!el.querySelector('a[href], button, input, [tabindex="0"]'),
        named: el.hasAttribute('aria-label') || el.hasAttribute('aria-labelledby'),
        isCode: el.matches('pre > code, pre'),
    }))"""

# Figures load lazily (docs/hooks/figures.py): load them all, as a reader scrolling down would (again
# after a change of width, when a <picture> may choose another file).
LOAD_LAZY_IMAGES = """() => Promise.all([...document.querySelectorAll('img[loading]')].map(img => {
    img.loading = 'eager';
    return img.complete ? true : new Promise(done => { img.onload = img.onerror = done; });
}))"""

IMAGES = """() => [...document.querySelectorAll('.md-content img')].map(img => ({
    src: img.getAttribute('src'), alt: img.getAttribute('alt') || '',
    loaded: img.complete && img.naturalWidth > 0,
    visible: img.getBoundingClientRect().width > 0,
}))"""

# Each figure the reader sees: the file the browser chose for this width (a <picture> may offer a
# narrower drawing for phones) and the width it is drawn at, to work out its text's size on screen.
FIGURE_SIZES = """() => [...document.querySelectorAll('.md-content img')]
    .filter(img => img.checkVisibility())
    .map(img => ({src: img.getAttribute('src'), current: img.currentSrc,
                  loaded: img.complete && img.naturalWidth > 0, width: img.getBoundingClientRect().width}))"""

# Every table's box (the theme's scrolling wrapper, or the table itself): content wider than the box
# means columns the reader cannot see without scrolling sideways.
TABLES = """() => [...document.querySelectorAll('.md-content table')].map(table => {
    const box = table.closest('.md-typeset__scrollwrap') || table;
    return {header: [...table.querySelectorAll('th')].map(th => th.textContent.trim()).join(' | '),
            content: box.scrollWidth, box: box.clientWidth};
})"""

# Inline formulas laid out on more than one line: KaTeX's boxes split between two lines of text.
BROKEN_INLINE_MATH = """() => [...document.querySelectorAll('.md-content span.arithmatex .katex-html')]
    .filter(html => html.checkVisibility())
    .filter(html => new Set([...html.getClientRects()].filter(r => r.width > 0)
                             .map(r => Math.round(r.bottom))).size > 1)
    .map(html => html.closest('.katex').querySelector('annotation')?.textContent || html.textContent)"""

# For each visible figure: the share of its pixels, drawn over the page's own background, that
# stand out from that background by a contrast of 3:1 or more. A figure that reads well has some
# (its lines, bars and labels) but not most: a white box on the dark page stands out everywhere.
FIGURE_CONTRAST = """async () => {
    const lum = (r, g, b) => [r, g, b].map(v => v / 255)
        .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
        .reduce((acc, v, i) => acc + v * [0.2126, 0.7152, 0.0722][i], 0);
    const bg = getComputedStyle(document.body).backgroundColor.match(/\\d+/g).map(Number);
    const bgLum = lum(...bg);
    const out = [];
    for (const img of document.querySelectorAll('.md-content img')) {
        if (img.getBoundingClientRect().width === 0) continue;
        await img.decode().catch(() => {});
        const w = 400, h = Math.max(1, Math.round(img.naturalHeight * w / img.naturalWidth));
        const canvas = Object.assign(document.createElement('canvas'), {width: w, height: h});
        const ctx = canvas.getContext('2d');
        ctx.fillStyle = `rgb(${bg.join(',')})`;
        ctx.fillRect(0, 0, w, h);
        ctx.drawImage(img, 0, 0, w, h);
        const data = ctx.getImageData(0, 0, w, h).data;
        let standing = 0;
        for (let i = 0; i < data.length; i += 4) {
            const l = lum(data[i], data[i + 1], data[i + 2]);
            if ((Math.max(l, bgLum) + 0.05) / (Math.min(l, bgLum) + 0.05) >= 3) standing++;
        }
        out.push({src: img.getAttribute('src'), share: standing / (w * h)});
    }
    return out;
}"""

# The colours of a `#>` output line and of a comment, and the background of their code block.
OUTPUT_STYLE = """() => {
    const out = document.querySelector('.highlight .go');
    const comment = [...document.querySelectorAll('.highlight .c1')][0];
    if (!out || !comment) return null;
    const style = el => getComputedStyle(el);
    let bg = out, bgColor;
    while (bg && (bgColor = style(bg).backgroundColor).endsWith(', 0)') ) bg = bg.parentElement;
    return {out: style(out).color, outStyle: style(out).fontStyle, comment: style(comment).color,
            commentStyle: style(comment).fontStyle, background: bgColor};
}"""


# Each interactive figure (docs/hooks/scale_explorer.py) brought into view, as a reader scrolling
# down would: it fetches its data and draws. Its state once done ("ready"), and back to the top.
DRAW_INTERACTIVE = """async () => {
    const figures = [...document.querySelectorAll('.md-content .paraminit-explorer')];
    const states = [];
    for (const figure of figures) {
        figure.scrollIntoView();
        const deadline = Date.now() + 10000;
        while (!['ready', 'failed'].includes(figure.dataset.state) && Date.now() < deadline) {
            await new Promise(done => setTimeout(done, 50));
        }
        states.push(figure.dataset.state);
    }
    window.scrollTo(0, 0);
    return states;
}"""


def _slug(path: str) -> str:
    return path.strip("/").replace("/", "_").removesuffix(".html") or "index"


# The stylesheet lets the browser skip laying out math far down a page (content-visibility: auto);
# the checks look at every element as the reader will see it once scrolled there.
LAID_OUT = ".md-typeset * { content-visibility: visible !important; }"


def _settle(page) -> None:
    """Wait until the page has laid itself out again (the theme reacts to a resize in a frame)."""
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))")


# A JPEG is at most 65,535 pixels high, and Chromium writes an empty file for a taller page (the API
# reference at 390 px): a long page is saved in parts of this height, `name.jpeg`, `name-2.jpeg`, ...
SCREENSHOT_PART_PX = 30_000


def _screenshot(page, width: int, path: str) -> Path:
    """Save the whole page, in parts if it is tall; return the first part."""
    shot = ARTIFACTS / "screenshots" / str(width) / f"{_slug(path)}.jpeg"
    shot.parent.mkdir(parents=True, exist_ok=True)
    for old in shot.parent.glob(f"{_slug(path)}-*.jpeg"):
        old.unlink()
    height = page.evaluate("document.documentElement.scrollHeight")
    for part, top in enumerate(range(0, max(height, 1), SCREENSHOT_PART_PX), start=1):
        clip = {"x": 0, "y": top, "width": width, "height": min(SCREENSHOT_PART_PX, height - top)}
        name = shot if part == 1 else shot.with_name(f"{_slug(path)}-{part}.jpeg")
        page.screenshot(path=str(name), full_page=True, clip=clip, type="jpeg", quality=80)
    return shot


def look_at_every_page(browser, site: str, pages: list[str]) -> dict[str, dict]:
    """Every page in every view: {view: {page: what was seen}, "visit": requests}.

    Each page is loaded at 1280, 800 and 390 px in the light palette, and axe runs every rule on it
    as loaded (the top of the page in view, far content not yet laid out, figures not yet loaded):
    what a reader, or Lighthouse, meets first. Then, as a reader who scrolled through the whole
    page with every collapsible block open, each view is measured laid out in full: axe's colour
    rules (light at 1280 px, dark at every width, switched with the theme's own toggle) see the
    colours of what lies further down too.
    """
    seen: dict[str, dict] = {view: {} for view in VIEWS}
    visit = Visit(browser, site, **DESKTOP)
    scheme = "document.body.dataset.mdColorScheme"
    try:
        for path in pages:
            for width in WIDTHS:
                visit.page.set_viewport_size(SIZES[width])
                page = visit.goto(path, wait_until="load")
                page.add_script_tag(path=str(AXE))
                _settle(page)  # the theme's and site.js's resize observers have run
                seen[f"{width}-light"][path] = {
                    "scheme": page.evaluate(scheme),
                    "axe": page.evaluate(AXE_RUN, [None, None]),  # every rule
                }
            page.evaluate("document.querySelectorAll('.md-content details').forEach(d => d.open = true)")
            page.add_style_tag(content=LAID_OUT)
            # Interactive figures draw when they come near the screen: drawn, they are measured too.
            seen[f"{WIDTHS[-1]}-light"][path]["interactive"] = page.evaluate(DRAW_INTERACTIVE)
            for palette in ("light", "dark"):
                if palette == "dark":
                    page.click('label[title="Switch to dark mode"]')  # the theme's own toggle
                    page.wait_for_function(f"{scheme} === 'slate'")
                # Light from 390 px (where the page was loaded last) up, dark from 1280 px down.
                for width in reversed(WIDTHS) if palette == "light" else WIDTHS:
                    page.set_viewport_size(SIZES[width])
                    _settle(page)
                    page.evaluate(LOAD_LAZY_IMAGES)  # every figure, in the file chosen for this width
                    _settle(page)
                    record = seen[f"{width}-{palette}"].setdefault(path, {"axe": []})
                    record["scheme"] = page.evaluate(scheme)
                    record["figure_sizes"] = page.evaluate(FIGURE_SIZES)
                    if palette == "dark" or width == 1280:
                        record["axe"] += page.evaluate(AXE_RUN, [COLOUR_RULES, None])
                    if width == 1280:
                        record.update(
                            images=page.evaluate(IMAGES),
                            figures=page.evaluate(FIGURE_CONTRAST),
                            output_style=page.evaluate(OUTPUT_STYLE),
                        )
                    if (width, palette) == (1280, "light"):
                        record.update(
                            overflowing_code=page.evaluate(OVERFLOWING_CODE),
                            tables=page.evaluate(TABLES),
                        )
                    if (width, palette) == (390, "light"):
                        record.update(
                            page_width=page.evaluate(
                                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
                            ),
                            scrollers=page.evaluate(SCROLLERS),
                            broken_math=page.evaluate(BROKEN_INLINE_MATH),
                        )
                    if palette == "light" and width in (1280, 390):
                        record["screenshot"] = _screenshot(page, width, path)
        seen["visit"] = {
            "requests": list(visit.requests),
            "outside": [u for u in visit.requests if not visit.is_local(u)],
            "blocked": visit.blocked,
            "failed": visit.failed,
            "errors": visit.errors,
        }
    finally:
        visit.close()
    return seen


# ---- what the browser tries besides looking: math, the copy button, search ------------------------


def check_chapter(browser, site: str) -> dict:
    """The chapter page: its math, then its first code block's copy button."""
    visit = Visit(browser, site)
    try:
        page = visit.goto(CHAPTER, wait_until="load")
        mixture = page.locator(".arithmatex .katex-display").filter(has_text="with probability").first
        record = {
            "formulas": page.locator(".arithmatex .katex").count(),
            "errors_rendered": page.locator(".katex-error").count(),
            "math_scripts": page.locator("script[src*='katex'], script[src*='mathjax']").count(),
            # Text of each formula once KaTeX's output is removed: the TeX source, if any is left.
            "leftovers": page.evaluate(
                """() => [...document.querySelectorAll('.arithmatex')].map(el => {
                    const copy = el.cloneNode(true);
                    copy.querySelectorAll('.katex, .katex-display').forEach(k => k.remove());
                    return copy.textContent.trim();
                }).filter(t => t.length > 0)"""
            ),
            "article": page.locator("article").inner_text(),
            "mixture": mixture.locator(".katex-html").text_content(),
        }
        # Scrolled to, the formula is laid out and its fonts are fetched (not before: see site.css).
        mixture.scroll_into_view_if_needed()
        _settle(page)
        page.evaluate("document.fonts.ready.then(() => true)")
        record["box"] = mixture.bounding_box()
        record["fonts"] = [u for u in visit.requests if "/assets/katex/fonts/" in u]
        record["katex_main_loaded"] = page.evaluate("document.fonts.check('16px KaTeX_Main')")
        record["problems"] = visit.errors + visit.failed

        page.evaluate("window.scrollTo(0, 0)")
        block = page.locator("article .highlight", has_text="import torch").first  # the first Python block
        block.hover()
        button = block.locator('button.md-code__button[data-md-type="copy"]')
        copy = {"buttons": button.count(), "shown": block.locator("code").inner_text()}
        page.evaluate("navigator.clipboard.writeText('')")
        button.click()
        page.wait_for_function("async () => (await navigator.clipboard.readText()).length > 0")
        copy["copied"] = page.evaluate("navigator.clipboard.readText()")
        copy["problems"] = visit.errors
        return {"math": record, "copy": copy}
    finally:
        visit.close()


# ---- jumps to a heading, and the palette of a first visit -----------------------------------------

# The page's table of contents: each link and the heading it jumps to (at 1280 px in the right-hand
# sidebar; on a phone in the navigation drawer, the same links).
TOC_LINKS = """() => [...new Set([...document.querySelectorAll('nav.md-nav--secondary a.md-nav__link')]
    .map(a => a.getAttribute('href')).filter(href => href.startsWith('#')))]"""

# Follow one TOC link as a reader does (a click), from the top of the page.
JUMP = """href => {
    window.scrollTo(0, 0);
    document.querySelector(`nav.md-nav--secondary a.md-nav__link[href="${href}"]`).click();
}"""

# The jump to `href` is done: the address shows it, and the scroll position has not changed for
# three frames in a row.
JUMPED = """async href => {
    if (decodeURIComponent(location.hash) !== decodeURIComponent(href)) return false;
    let last = scrollY;
    for (let same = 0; same < 3; ) {
        await new Promise(r => requestAnimationFrame(r));
        same = scrollY === last ? same + 1 : 0;
        last = scrollY;
    }
    return true;
}"""

# Where the heading sits now, under the header or not, and which link the TOC highlights.
LANDED = """href => {
    const heading = document.getElementById(decodeURIComponent(href.slice(1)));
    const active = document.querySelector('nav.md-nav--secondary a.md-nav__link--active');
    return {
        top: heading.getBoundingClientRect().top,
        header: document.querySelector('.md-header').getBoundingClientRect().bottom,
        scrolled: scrollY, bottom: document.documentElement.scrollHeight - innerHeight,
        active: active && active.getAttribute('href'),
    };
}"""


# After a jump: every figure within 500 px of the screen has arrived (a lazy figure that near is
# always fetched; Chromium fetches from 1250 px away), so that whatever it would move has moved.
FIGURES_NEAR_LOADED = """() => [...document.querySelectorAll('.md-content img[loading]')]
    .filter(img => img.checkVisibility())
    .filter(img => {
        const box = img.getBoundingClientRect();
        return box.bottom > -500 && box.top < innerHeight + 500;
    })
    .every(img => img.complete)"""

# Whether a figure of the page has loaded: a later jump would not meet it still loading.
FIGURE_LOADED = """() => [...document.querySelectorAll('.md-content img[loading]')]
    .some(img => img.complete && img.naturalWidth > 0)"""


def check_toc_jumps(browser, site: str, pages: list[str]) -> dict[int, dict[str, dict]]:
    """At 1280 and 390 px, every TOC link of every page followed as a reader who just opened the
    page would: from its top, nothing further down laid out or loaded yet. Where each heading lands,
    once the figures the jump brought near have loaded. (A page is loaded again for the next jump
    once a figure has loaded: an unreserved figure moves the heading only while it loads.)"""
    landed: dict[int, dict[str, dict]] = {}
    for width in (1280, 390):
        visit = Visit(browser, site, **SIZES[width])
        try:
            for path in pages:
                page = visit.goto(path, wait_until="load")
                for href in page.evaluate(TOC_LINKS):
                    if page.evaluate(FIGURE_LOADED):
                        page = visit.goto(path, wait_until="load")
                    page.evaluate(JUMP, href)
                    # The link's navigation has happened (on a busy machine it may come frames
                    # later) and the page has stopped scrolling.
                    page.wait_for_function(JUMPED, arg=href)
                    _settle(page)  # the lazy figures the jump brought near are requested
                    page.wait_for_function(FIGURES_NEAR_LOADED)
                    _settle(page)
                    landed.setdefault(width, {})[f"{path}{href}"] = page.evaluate(LANDED, href)
        finally:
            visit.close()
    return landed


# The palette on the body when the page's content starts to arrive (before the theme's script, at
# the end of the page, has run): what the reader's first paint shows.
# How often the body was marked as switching palettes (data-md-color-switching set), counted
# from the first byte of the page.
SWITCHING_MARKS = """window.__switchingMarks = 0;
new MutationObserver(changes => {
    for (const change of changes) {
        if (change.target === document.body && change.target.hasAttribute(change.attributeName)) {
            window.__switchingMarks += 1;
        }
    }
}).observe(document, {attributes: true, attributeFilter: ['data-md-color-switching'], subtree: true});"""

FIRST_PAINT_SCHEME = """new MutationObserver((changes, observer) => {
    if (document.querySelector('.md-container')) {
        window.__firstPaintScheme = document.body.dataset.mdColorScheme;
        observer.disconnect();
    }
}).observe(document, {childList: true, subtree: true});"""


def check_first_visit_palette(browser, site: str) -> dict[str, dict]:
    """A first visit (nothing stored) with the system in dark and in light: the palette shown at
    first paint and once loaded; then, from the dark system's, the theme's toggle clicked round."""
    seen = {}
    scheme = "document.body.dataset.mdColorScheme"
    for system in ("dark", "light"):
        visit = Visit(browser, site, scheme=None, system=system)
        visit.context.add_init_script(FIRST_PAINT_SCHEME)
        visit.context.add_init_script(SWITCHING_MARKS)
        try:
            page = visit.goto("/", wait_until="load")
            record = {
                "first_paint": page.evaluate("window.__firstPaintScheme"),
                "marks_at_load": page.evaluate("window.__switchingMarks"),
                "loaded": page.evaluate(scheme),
            }
            if system == "dark":
                toggled = []
                for _ in range(3):
                    toggle = page.locator('form[data-md-component="palette"] label:not([hidden])')
                    title = toggle.get_attribute("title")
                    toggle.click()
                    _settle(page)
                    toggled.append(
                        {
                            "clicked": title,
                            "scheme": page.evaluate(scheme),
                            "marks": page.evaluate("window.__switchingMarks"),
                        }
                    )
                record["toggled"] = toggled
                # The reader's choice holds on the next page: light, chosen by hand on a dark system.
                page.locator('label[title="Switch to light mode"]').click()
                page = visit.goto(CHAPTER, wait_until="load")
                record["next_page"] = page.evaluate(scheme)
            seen[system] = record
        finally:
            visit.close()
    return seen


def search(page, query: str) -> list[str]:
    """Type `query` into the search box; the locations of the results once they stop changing."""
    if not page.locator("#__search").is_checked():
        page.keyboard.press("/")
    box = page.locator(".md-search__input")
    box.fill("")
    box.type(query)
    page.wait_for_function(
        """q => document.querySelector('.md-search__input').value === q &&
                /matching|No matching/.test(document.querySelector('.md-search-result__meta').textContent)""",
        arg=query,
    )
    previous = None
    for _ in range(30):  # results arrive from a worker: wait until two reads 100 ms apart agree
        links = page.eval_on_selector_all(".md-search-result__link", "els => els.map(e => e.href)")
        if links == previous:
            return links
        previous = links
        page.wait_for_timeout(100)
    return previous


FIXTURE_DOCS = [
    {
        "location": "fixture/kaiming/",
        "title": "Kaiming",
        "text": "<p>The init of Kaiming He and others (2015).</p>",
    },
    {"location": "fixture/glorot/", "title": "Xavier", "text": "<p>Xavier (Glorot) uniform weights.</p>"},
    {"location": "fixture/decoy/", "title": "Decoy", "text": "<p>Here the helpful hero helps.</p>"},
]


def check_search_configuration(browser, site: str, site_dir: Path) -> dict[str, set[str]]:
    """The site's own search configuration on a small fixture index: what each name finds."""
    index = json.loads((site_dir / "search" / "search_index.json").read_text())
    fixture = json.dumps({"config": index["config"], "docs": FIXTURE_DOCS})
    visit = Visit(browser, site, **PHONE)
    try:
        visit.context.route(
            "**/search/search_index.json",
            lambda route: route.fulfill(status=200, content_type="application/json", body=fixture),
        )
        page = visit.goto("/")
        page.click('.md-header label[for="__search"]')  # on a phone, search opens from its button
        return {
            query: {u.split("/fixture/")[-1] for u in search(page, query)}
            for query in ("Glorot", "Kaiming", "He")
        }
    finally:
        visit.close()


def check_search_of_the_site(browser, site: str, site_dir: Path) -> dict[str, dict]:
    """For each name: the pages of the site that name it, and the pages search finds for it; and
    what the search box loads on first use (its index and a worker), from where."""
    docs = json.loads((site_dir / "search" / "search_index.json").read_text())["docs"]
    visit = Visit(browser, site)
    try:
        page = visit.goto("/")  # loaded, and nothing more on the way for 500 ms
        before = list(visit.requests)
        page.click(".md-search__input")  # at 1280 px the search box is in the header
        page.keyboard.type("xavier")
        page.wait_for_load_state("networkidle")
        found = {
            "search box": {
                "before": before,
                "requests": list(visit.requests),
                "outside": [u for u in visit.requests if not visit.is_local(u)],
                "blocked": visit.blocked,
                "problems": visit.errors + visit.failed,
            }
        }
        for word in ("Glorot", "Kaiming", "He"):
            naming = {
                d["location"].split("#")[0] for d in docs if re.search(rf"\b{word}\b", d["title"] + d["text"])
            }
            results = search(page, word) if naming else []
            found[word] = {
                "naming": naming,
                "found": {u.split(site + "/")[-1].split("#")[0] for u in results},
            }
        return found
    finally:
        visit.close()


# ---- the interactive figure of the "why" page ------------------------------------------------------

WHY = "/why-initialization/"
EXPLORER_DATA = "data/scale-by-layer.json"

# What the interactive figure shows now: the form's choice, the caption, the table, and for each
# chart the configuration it draws, its lines, and the chosen line's values read back from its
# points through the chart's axes (`data-box`: left, top, width, height; `data-axis`: the decades at
# the bottom and the top), with the size of a pixel in decades.
EXPLORER_SHOWN = """() => {
    const root = document.getElementById('scale-explorer');
    const form = new FormData(root.querySelector('form'));
    const style = el => el && getComputedStyle(el);
    return {
        state: root.dataset.state,
        form: {init: form.get('init'), activation: form.get('activation'), depth: form.get('depth')},
        caption: document.getElementById('scale-explorer-summary').textContent,
        configuration: document.getElementById('scale-explorer-configuration').textContent,
        rows: [...document.querySelectorAll('#scale-explorer-rows tr')]
            .map(tr => [...tr.cells].map(td => td.textContent)),
        legend: [...root.querySelectorAll('.paraminit-explorer__legend li.is-chosen')]
            .map(li => li.textContent),
        panels: [...root.querySelectorAll('.paraminit-explorer__panel')].map(panel => {
            const svg = panel.querySelector('svg');
            const [left, top, width, height] = (svg.dataset.box || '0 0 0 0').split(' ').map(Number);
            const [low, high] = (svg.dataset.axis || '0 0').split(' ').map(Number);
            const chosen = svg.querySelector('polyline.is-chosen');
            const other = svg.querySelector('polyline:not(.is-chosen)');
            const points = chosen
                ? chosen.getAttribute('points').split(' ').map(p => p.split(',').map(Number)) : [];
            const depth = Number((svg.dataset.config || '||0').split('|')[2]);
            return {
                values: panel.dataset.values,
                config: svg.dataset.config,
                lines: [...svg.querySelectorAll('polyline')].map(line => line.dataset.init),
                chosen: chosen && chosen.dataset.init,
                layers: points.map(([x]) => 1 + (x - left) / width * (depth - 1)),
                logs: points.map(([, y]) => high - (y - top) / height * (high - low)),
                pixel: (high - low) / height,
                layerPixel: (depth - 1) / width,
                chosenWidth: parseFloat(style(chosen)?.strokeWidth),
                otherWidth: parseFloat(style(other)?.strokeWidth),
                markers: svg.querySelectorAll('circle').length,
            };
        }),
    };
}"""

# Colours and sizes of the drawn charts: each line's stroke, each text's fill and font size, the
# page's background; the charts' boxes against the figure's; the page's width.
EXPLORER_LOOKS = """() => {
    const root = document.getElementById('scale-explorer');
    const svgs = [...root.querySelectorAll('svg.paraminit-explorer__chart')];
    return {
        background: getComputedStyle(document.body).backgroundColor,
        strokes: [...new Set(svgs.flatMap(svg => [...svg.querySelectorAll('polyline')])
            .map(line => getComputedStyle(line).stroke))],
        fills: [...new Set(svgs.flatMap(svg => [...svg.querySelectorAll('text')])
            .map(text => getComputedStyle(text).fill))],
        fontSizes: svgs.flatMap(svg => [...svg.querySelectorAll('text, tspan')])
            .map(text => parseFloat(getComputedStyle(text).fontSize)),
        texts: svgs.reduce((n, svg) => n + svg.querySelectorAll('text').length, 0),
        charts: svgs.map(svg => svg.getBoundingClientRect().right),
        figure: root.getBoundingClientRect().right,
        page: [document.documentElement.scrollWidth, document.documentElement.clientWidth],
    };
}"""

# axe on the interactive figure alone, every rule (the page around it is checked by the survey).
AXE_ON_EXPLORER = """async () => {
    const result = await axe.run('#scale-explorer', {resultTypes: ['violations']});
    return result.violations
        .filter(v => v.impact === 'serious' || v.impact === 'critical')
        .map(v => `${v.id} (${v.impact}): ${v.help}; ` +
                  v.nodes.slice(0, 4).map(n => n.target.join(' ')).join(' | '));
}"""

EXPLORER_READY = "document.getElementById('scale-explorer').dataset.state === 'ready'"
# The caption once it differs from `text`: the figure has taken in a change.
CAPTION_CHANGED = "text => document.getElementById('scale-explorer-summary').textContent !== text"

# Each control in turn, each choice a change from the one before: (control, value).
EXPLORER_STEPS = (
    ("init", "Xavier"),
    ("activation", "tanh"),
    ("depth", "10"),
    ("activation", "linear"),
    ("init", "N(0, 0.1²)"),
    ("depth", "20"),
    ("init", "Xavier, activation's gain"),
    ("activation", "tanh"),
    ("depth", "50"),
    ("init", "PyTorch default"),
    ("activation", "relu"),
    ("init", "Kaiming"),
)


def _choose(page, control: str, value: str) -> None:
    if control == "init":
        page.select_option("#scale-explorer-init", value)
    else:
        page.check(f'#scale-explorer input[name="{control}"][value="{value}"]')


def check_scale_explorer(browser, site: str) -> dict:
    """The interactive figure of the "why" page: when its data is fetched; what it shows after each
    choice of each control; the same by keyboard alone; axe, colours, sizes and the page's width
    at every width in both palettes."""
    record: dict = {}
    visit = Visit(browser, site, **DESKTOP)
    try:
        page = visit.goto(WHY, wait_until="load")
        _settle(page)
        record["on_load"] = {
            "shown": page.evaluate(EXPLORER_SHOWN),
            "requests": [u for u in visit.requests if u.endswith(EXPLORER_DATA)],
        }
        page.locator("#scale-explorer").scroll_into_view_if_needed()
        page.wait_for_function(EXPLORER_READY)
        record["drawn"] = page.evaluate(EXPLORER_SHOWN)
        record["requests"] = [u for u in visit.requests if u.endswith(EXPLORER_DATA)]
        steps = []
        for control, value in EXPLORER_STEPS:
            before = page.evaluate(EXPLORER_SHOWN)["caption"]
            _choose(page, control, value)
            page.wait_for_function(CAPTION_CHANGED, arg=before)
            steps.append({"control": control, "value": value, **page.evaluate(EXPLORER_SHOWN)})
        record["steps"] = steps

        # Keyboard alone, from the permalink of the figure's heading (the last stop before it).
        page = visit.goto(WHY, wait_until="load")
        page.locator('a.headerlink[href="#any-init-activation-and-depth"]').focus()
        keys = []
        for key in ("Tab", "ArrowUp", "Tab", "ArrowRight", "Tab", "ArrowLeft", "Tab", "Enter"):
            page.keyboard.press(key)
            _settle(page)
            if key != "Tab":
                page.wait_for_function(EXPLORER_READY)
            keys.append(
                {
                    "key": key,
                    "focused": page.evaluate(
                        """() => { const el = document.activeElement;
                        return {tag: el.tagName.toLowerCase(), id: el.id, name: el.name || '',
                                value: el.value || '', outline: getComputedStyle(el).outlineStyle,
                                open: !!el.closest('details')?.open}; }"""
                    ),
                    **page.evaluate(EXPLORER_SHOWN),
                }
            )
        record["keyboard"] = keys

        # Drawn at every width in both palettes: axe, colours, sizes, the page's width.
        looks = {}
        for scheme in ("default", "slate"):
            palette = Visit(browser, site, **DESKTOP, scheme=scheme)
            try:
                page = palette.goto(WHY, wait_until="load")
                page.add_script_tag(path=str(AXE))
                page.locator("#scale-explorer").scroll_into_view_if_needed()
                page.wait_for_function(EXPLORER_READY)
                page.evaluate("document.querySelector('#scale-explorer details').open = true")
                for width in WIDTHS:
                    page.set_viewport_size(SIZES[width])
                    _settle(page)
                    _settle(page)  # the charts are drawn again for the new width
                    looks[f"{width}-{'light' if scheme == 'default' else 'dark'}"] = {
                        **page.evaluate(EXPLORER_LOOKS),
                        "axe": page.evaluate(AXE_ON_EXPLORER),
                        "shown": page.evaluate(EXPLORER_SHOWN),
                    }
                record.setdefault("problems", []).extend(palette.errors + palette.failed)
                record.setdefault("outside", []).extend(
                    [u for u in palette.requests if not palette.is_local(u)] + palette.blocked
                )
            finally:
                palette.close()
        record["looks"] = looks

        # Without JavaScript: what is on show, and the table opened as a reader would.
        plain = browser.new_context(viewport=PHONE, java_script_enabled=False)
        try:
            page = plain.new_page()
            page.route(
                "**/*",
                lambda route: route.continue_() if route.request.url.startswith(site) else route.abort(),
            )
            page.goto(site + WHY, wait_until="load")
            page.locator("#scale-explorer details > summary").click()
            # The table opens when the click is handled (on a busy machine, frames later).
            for _ in range(50):
                if page.evaluate("document.querySelector('#scale-explorer details').open"):
                    break
                page.wait_for_timeout(100)
            record["without_script"] = page.evaluate(
                """() => {
                const root = document.getElementById('scale-explorer');
                const shown = el => !!el && el.checkVisibility();
                return {
                    controls: shown(root.querySelector('form')),
                    charts: shown(root.querySelector('.paraminit-explorer__panels')),
                    caption: shown(document.getElementById('scale-explorer-summary')) &&
                        document.getElementById('scale-explorer-summary').textContent,
                    rows: [...document.querySelectorAll('#scale-explorer-rows tr')].filter(shown).length,
                    wide: document.documentElement.scrollWidth > document.documentElement.clientWidth,
                };
            }"""
            )
        finally:
            plain.close()
        record["problems"] += visit.errors + visit.failed
        record["outside"] += [u for u in visit.requests if not visit.is_local(u)] + visit.blocked
        return record
    finally:
        visit.close()


# ---- the job: everything above, once, with one Chromium ------------------------------------------


def _attempt(check, *args):
    """A check's record, or the traceback it raised: one broken check does not hide the others."""
    try:
        return {"record": check(*args)}
    except Exception:
        return {"error": traceback.format_exc()}


def run_in_browser(site_dir: Path) -> dict:
    """Serve the built site, start Chromium once and run every browser check; what each recorded."""
    if not CHROMIUM.exists():
        return {
            "missing": f"{CHROMIUM} is not installed (apt-get install chromium, or set PARAMINIT_CHROMIUM)"
        }
    if not AXE.is_file():
        return {"missing": f"{AXE} is missing: run `npm ci` (make test does)"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"missing": "the playwright package is not installed (pip install playwright)"}
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{server.server_address[1]}"
    pages = site_pages(site_dir)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                return {
                    "pages": pages,
                    "survey": _attempt(look_at_every_page, browser, site, pages),
                    "chapter": _attempt(check_chapter, browser, site),
                    "search_configuration": _attempt(check_search_configuration, browser, site, site_dir),
                    "search_site": _attempt(check_search_of_the_site, browser, site, site_dir),
                    "toc_jumps": _attempt(check_toc_jumps, browser, site, pages),
                    "first_visit": _attempt(check_first_visit_palette, browser, site),
                    "scale_explorer": _attempt(check_scale_explorer, browser, site),
                }
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()


class BrowserJob:
    """`run_in_browser` in a background thread, started as the test run begins (tests/conftest.py)."""

    def __init__(self, site_dir: Path):
        self.site_dir = site_dir
        self.outcome: dict | None = None
        self.thread = threading.Thread(target=self._run, name="browser-checks", daemon=True)

    def start(self) -> BrowserJob:
        self.thread.start()
        return self

    def _run(self) -> None:
        sys.settrace(None)  # not traced by coverage: this thread tests the site, not the library
        try:
            self.outcome = run_in_browser(self.site_dir)
        except BaseException:
            self.outcome = {"crashed": traceback.format_exc()}

    def result(self, timeout: float = 600) -> dict:
        self.thread.join(timeout)
        if self.thread.is_alive():
            return {"crashed": f"the browser checks did not finish within {timeout} s"}
        return self.outcome or {"crashed": "the browser checks recorded nothing"}


JOB: BrowserJob | None = None  # started by tests/conftest.py as the test run begins


@pytest.fixture(scope="session")
def browser_results(built_site: Path) -> dict:
    """What the browser job recorded: from the background thread if one was started, else now."""
    outcome = JOB.result() if JOB is not None else run_in_browser(built_site)
    if "missing" in outcome:
        _missing_browser(outcome["missing"])
    if "crashed" in outcome:
        pytest.fail(f"the browser checks crashed:\n{outcome['crashed']}", pytrace=False)
    return outcome


def _record(browser_results, name: str):
    part = browser_results[name]
    if "error" in part:
        pytest.fail(f"the {name} check raised:\n{part['error']}", pytrace=False)
    return part["record"]


@pytest.fixture(scope="session")
def survey(browser_results) -> dict:
    return _record(browser_results, "survey")


@pytest.fixture(scope="session")
def pages(browser_results) -> list[str]:
    assert CHAPTER in browser_results["pages"] and len(browser_results["pages"]) >= 4
    return browser_results["pages"]


# ---- the tests: each reads what the job recorded ----------------------------------------------------


def _pages(survey, view):
    return survey[view]


def test_each_view_shows_its_palette(survey):
    for view in VIEWS:
        expected = "slate" if view.endswith("dark") else "default"
        for path, record in _pages(survey, view).items():
            assert record["scheme"] == expected, f"{view} {path}: palette {record['scheme']!r}"


def test_axe_finds_nothing_serious_on_any_page_at_any_width_in_either_palette(survey):
    found = [
        f"{view} {path}: {violation}"
        for view in VIEWS
        for path, record in _pages(survey, view).items()
        for violation in record["axe"]
    ]
    assert not found, "axe-core, serious or critical:\n" + "\n".join(found)


def test_no_table_hides_columns_at_1280px(survey):
    hidden = [
        f"{path}: table ({table['header']}) is {table['content']} px wide in a {table['box']} px box"
        for path, record in _pages(survey, "1280-light").items()
        for table in record["tables"]
        if table["content"] > table["box"]
    ]
    assert any(record["tables"] for record in _pages(survey, "1280-light").values()), "no table on any page"
    assert not hidden, "tables the reader must scroll sideways at 1280 px:\n" + "\n".join(hidden)


def test_no_code_block_is_wider_than_its_box_at_1280px(survey):
    found = [
        f"{path}: {block}"
        for path, record in _pages(survey, "1280-light").items()
        for block in record["overflowing_code"]
    ]
    assert not found, "code blocks the reader must scroll sideways at 1280 px:\n" + "\n".join(found)


def test_no_page_scrolls_sideways_on_a_phone(survey):
    wide = {
        path: record["page_width"]
        for path, record in _pages(survey, "390-light").items()
        if record["page_width"][0] > record["page_width"][1]
    }
    assert not wide, f"pages wider than a 390 px screen ([content, screen] px): {wide}"


def test_what_scrolls_on_a_phone_is_reachable_by_keyboard_and_named(survey):
    found = []
    for path, record in _pages(survey, "390-light").items():
        for scroller in record["scrollers"]:
            if not scroller["focusable"] or (scroller["isCode"] and not scroller["named"]):
                found.append(f"{path}: {scroller}")
    assert not found, (
        "scrolling regions a keyboard cannot reach, or code blocks without a name:\n" + "\n".join(found)
    )


def test_every_figure_loads_and_has_alt_text(survey):
    images = [
        (path, image) for path, record in _pages(survey, "1280-light").items() for image in record["images"]
    ]
    assert images, "no figure on any page"
    broken = [f"{path}: {image}" for path, image in images if not image["loaded"] and image["visible"]]
    unnamed = [f"{path}: {image['src']}" for path, image in images if len(image["alt"].strip()) < 10]
    assert not broken and not unnamed, f"not loaded: {broken}; without real alt text: {unnamed}"
    dark = [i for record in _pages(survey, "1280-dark").values() for i in record["images"] if i["visible"]]
    assert all(i["loaded"] for i in dark), f"figures not loaded in the dark palette: {dark}"


# The smallest text a figure may show on screen, in CSS pixels (labels, ticks, legends, titles; not
# the sub- and superscripts of a formula).
SMALLEST_FIGURE_TEXT_PX = 9.0


def svg_text_sizes(svg: str) -> tuple[float, list[float]]:
    """The width of an SVG's viewBox and the font size of each text it draws, in viewBox units.

    matplotlib draws text as glyph outlines at 100 units to the font size: each text is a group
    `translate(x y) scale(s -s)`, whose font size is 100 * s (sub- and superscripts are scaled
    again inside it)."""
    view_box = re.search(r'<svg[^>]*\bviewBox="([\d.\s-]+)"', svg)
    assert view_box, "an SVG figure without a viewBox"
    sizes = [
        100 * float(s) for s in re.findall(r'transform="translate\([^)]*\) scale\(([\d.]+) -[\d.]+\)"', svg)
    ]
    return float(view_box[1].split()[2]), sizes


def test_figure_text_is_legible_at_every_width(survey, built_site):
    """Each figure's smallest text, as drawn on screen: at least 9 px at 390, 800 and 1280 px, in
    both palettes (a figure drawn for a desktop column is scaled down on a phone)."""
    small, checked = [], set()
    for view in VIEWS:
        for path, record in _pages(survey, view).items():
            for figure in record["figure_sizes"]:
                assert figure["loaded"], f"{view} {path}: {figure['current']} did not load"
                file = built_site / urllib.parse.urlsplit(figure["current"]).path.lstrip("/")
                view_width, sizes = svg_text_sizes(file.read_text())
                assert sizes, f"{file.name}: no text found in the figure"
                smallest = min(sizes) * figure["width"] / view_width
                checked.add((view, file.name))
                if smallest < SMALLEST_FIGURE_TEXT_PX:
                    small.append(
                        f"{view} {path} {file.name}: text {smallest:.1f} px at {figure['width']:.0f} px wide"
                    )
    assert {view for view, _ in checked} == set(VIEWS), f"views without a figure checked: {checked}"
    assert not small, f"figure text under {SMALLEST_FIGURE_TEXT_PX} px on screen:\n" + "\n".join(small)


def test_no_inline_formula_is_split_over_two_lines_on_a_phone(survey):
    broken = [
        f"{path}: {tex}"
        for path, record in _pages(survey, "390-light").items()
        for tex in record["broken_math"]
    ]
    assert not broken, "inline formulas broken across lines at 390 px:\n" + "\n".join(broken)


def test_figures_read_well_in_both_palettes(survey):
    problems, checked = [], 0
    for view in ("1280-light", "1280-dark"):
        for path, record in _pages(survey, view).items():
            for figure in record["figures"]:
                checked += 1
                if not 0.005 <= figure["share"] <= 0.5:
                    problems.append(
                        f"{view} {path} {figure['src']}: {figure['share']:.0%} of its pixels stand out from "
                        "the page background (a figure that reads well: between 0.5% and 50%; "
                        "a white box on the dark page: nearly all)"
                    )
    assert checked >= 2, "no visible figure was checked in the two palettes"
    assert not problems, "\n".join(problems)


def _rgb(css: str) -> tuple[float, ...]:
    return tuple(float(v) for v in re.findall(r"[\d.]+", css)[:3])


def _contrast(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    def lum(c):
        v = [x / 255 for x in c]
        v = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in v]
        return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_output_lines_are_told_apart_from_comments_in_both_palettes(survey):
    for view in ("1280-light", "1280-dark"):
        style = survey[view][CHAPTER]["output_style"]
        assert style is not None, f"{view}: the chapter shows no #> output line next to a comment"
        out, comment, background = _rgb(style["out"]), _rgb(style["comment"]), _rgb(style["background"])
        assert _contrast(out, background) >= 4.5, (
            f"{view}: output line contrast {_contrast(out, background):.2f}"
        )
        assert style["outStyle"] != style["commentStyle"], (
            f"{view}: outputs and comments share {style['outStyle']}"
        )
        # Different hue, not just a shade: the colours differ by a third of the range in some channel.
        assert max(abs(x - y) for x, y in zip(out, comment, strict=True)) > 85, f"{view}: {style}"


def test_every_toc_jump_lands_its_heading_below_the_header_near_the_top(browser_results):
    """Each TOC link, followed at 1280 and 390 px: its heading in view within the top 150 px, not
    under the sticky header, and the TOC highlights it, whatever lazily loaded figure lies above."""
    landed = _record(browser_results, "toc_jumps")
    problems, jumps = [], 0
    for width, jumps_at_width in landed.items():
        for target, where in jumps_at_width.items():
            jumps += 1
            href = "#" + target.split("#", 1)[1]
            if not where["header"] <= where["top"] <= 150:
                problems.append(
                    f"{width} px {target}: heading at {where['top']:.0f} px (header ends at "
                    f"{where['header']:.0f} px; scrolled {where['scrolled']:.0f} of {where['bottom']:.0f})"
                )
            elif where["active"] != href:
                problems.append(f"{width} px {target}: the TOC highlights {where['active']}")
    assert jumps >= 2 * 20, f"only {jumps} TOC jumps tried"
    assert not problems, "TOC jumps that land badly:\n" + "\n".join(problems)


def test_a_first_visit_follows_the_system_palette_and_the_toggle_still_switches(browser_results):
    seen = _record(browser_results, "first_visit")
    for system, expected in (("dark", "slate"), ("light", "default")):
        assert seen[system]["loaded"] == expected, f"system {system}: palette {seen[system]['loaded']!r}"
        # Already on the first paint, not switched over when the theme's script runs at the end.
        assert seen[system]["first_paint"] == expected, f"system {system}: first paint {seen[system]}"
    assert [(t["clicked"], t["scheme"]) for t in seen["dark"]["toggled"]] == [
        ("Switch to light mode", "default"),
        ("Switch to dark mode", "slate"),
        ("Switch to system preference", "slate"),
    ]
    assert seen["dark"]["next_page"] == "default", "light chosen by hand is not kept on the next page"


def test_the_palette_switching_mark_is_left_out_at_load_and_set_on_each_switch(browser_results):
    """docs/assets/javascripts/palette-at-load.js: the theme's mark, which turns transitions off
    while palettes switch, restyled the whole page twice at load, when there is nothing to switch
    from; each switch by the toggle is still marked."""
    seen = _record(browser_results, "first_visit")
    assert [seen[system]["marks_at_load"] for system in ("dark", "light")] == [0, 0], seen
    assert [t["marks"] for t in seen["dark"]["toggled"]] == [1, 2, 3], seen["dark"]["toggled"]


def test_math_is_typeset_when_built_and_drawn_with_katex_fonts(browser_results):
    math = _record(browser_results, "chapter")["math"]
    assert math["formulas"] >= 5 and math["errors_rendered"] == 0 and math["math_scripts"] == 0
    assert math["leftovers"] == [], f"math left as raw TeX: {math['leftovers']}"
    assert "\\begin{cases}" not in math["article"]
    # The mixture's display formula: laid out by KaTeX's CSS, as glyphs, not left as TeX source.
    rendered = math["mixture"].replace("\xa0", " ").replace("\u200b", "")
    assert rendered.count("with probability") == 3
    assert "U(5,10)" in rendered and "U(−10,−5)" in rendered
    assert "\\begin" not in rendered and "\\text" not in rendered
    box = math["box"]
    assert box is not None and box["height"] > 40, f"the cases formula is not laid out: {box}"
    # A brace that reads like a brace needs KaTeX's own fonts, served from the site.
    assert math["fonts"] and all(u.endswith(".woff2") for u in math["fonts"]), math["fonts"]
    assert math["katex_main_loaded"] and math["problems"] == [], math["problems"]


def test_screenshots_of_every_page_at_both_widths_are_saved(survey, pages):
    for view in ("1280-light", "390-light"):
        for path in pages:
            shot = survey[view][path]["screenshot"]
            parts = [shot, *sorted(shot.parent.glob(f"{shot.stem}-*.jpeg"))]
            assert all(part.is_file() and part.stat().st_size > 5_000 for part in parts), parts


def test_no_request_leaves_localhost(survey, browser_results):
    record = survey["visit"]  # every page, at both widths, in both palettes
    assert record["outside"] == [] and record["blocked"] == [], f"requests to other hosts: {record}"
    assert record["failed"] == [] and record["errors"] == [], record
    search_box = _record(browser_results, "search_site")["search box"]
    assert any(u.endswith("/search/search_index.json") for u in search_box["requests"])
    assert search_box["outside"] == [] and search_box["blocked"] == [] and search_box["problems"] == []


def test_the_search_index_is_loaded_only_when_search_is_opened(survey, browser_results):
    """A reader who never searches never downloads the text of every page (the index): not on
    load, not while reading, scrolling or switching palettes on any page; a reader who opens search
    gets it (the search tests use it, opened from the box at 1280 px and from the button on a phone)."""
    index = "/search/search_index.json"
    read = [u for u in survey["visit"]["requests"] if u.endswith(index)]
    assert read == [], f"the search index was loaded by pages where search was never opened: {read}"
    search_box = _record(browser_results, "search_site")["search box"]
    assert not any(u.endswith(index) for u in search_box["before"]), search_box["before"]
    assert any(u.endswith(index) for u in search_box["requests"])


def test_copy_button_copies_the_tested_code(browser_results):
    expected = next(s for s in sections(ROOT / "snippets" / "chapter.py") if s.name == "network").code
    copy = _record(browser_results, "chapter")["copy"]
    assert copy["buttons"] == 1, "the first code block has no copy button"
    assert copy["copied"].rstrip() == expected.rstrip()
    assert copy["shown"].rstrip() == expected.rstrip()  # the copied code is what the page shows, too
    assert copy["problems"] == []


def test_search_configuration_finds_glorot_kaiming_and_he(browser_results):
    # The site's own search configuration, on a small fixture index: the names must be found whatever
    # the pages say today, "He" as a word (not only as the start of "help"), "Glorot" in parentheses.
    found = _record(browser_results, "search_configuration")
    assert "glorot/" in found["Glorot"], found
    assert "kaiming/" in found["Kaiming"], found
    assert "kaiming/" in found["He"], found


def test_search_finds_every_page_that_names_glorot_kaiming_or_he(browser_results):
    problems = []
    for word, record in _record(browser_results, "search_site").items():
        if word == "search box":
            continue
        if not record["naming"]:
            problems.append(f"no page names {word!r}")
        elif not record["naming"] <= record["found"]:
            problems.append(
                f"{word!r}: pages naming it {sorted(record['naming'])}, found {sorted(record['found'])}"
            )
    assert not problems, "\n".join(problems)


# ---- the interactive figure of the "why" page ------------------------------------------------------


@pytest.fixture(scope="session")
def explorer(browser_results) -> dict:
    return _record(browser_results, "scale_explorer")


@pytest.fixture(scope="session")
def explorer_data(built_site) -> dict:
    return json.loads((built_site / EXPLORER_DATA).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def explorer_hook():
    spec = importlib.util.spec_from_file_location(
        "scale_explorer_hook", ROOT / "docs/hooks/scale_explorer.py"
    )
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    return hook


def _expected_view(data: dict, hook, init: str, activation: str, depth: int) -> dict:
    run = data["runs"][activation][str(depth)][init]
    return {
        "caption": hook.summary(data, init, activation, depth),
        "configuration": f"{init}, activation {data['activations'][activation]}, {depth} layers",
        "rows": [
            [str(layer), *(hook.number(run[key][layer - 1]) for key in "hgw")]
            for layer in range(1, depth + 1)
        ],
    }


def _check_view(shown: dict, data: dict, hook) -> list[str]:
    """What is wrong with one view of the figure: the caption, table, legend and each chart against
    the data of the configuration its form shows."""
    form = shown["form"]
    init, activation, depth = form["init"], form["activation"], int(form["depth"])
    config = f"{init}|{activation}|{depth}"
    expected = _expected_view(data, hook, init, activation, depth)
    problems = [
        f"{config}: {key} {shown[key]!r}, expected {expected[key]!r}"
        for key in ("caption", "configuration", "rows")
        if shown[key] != expected[key]
    ]
    if shown["legend"] != [init]:
        problems.append(f"{config}: the legend marks {shown['legend']}")
    run = data["runs"][activation][str(depth)][init]
    for panel in shown["panels"]:
        where = f"{config} chart {panel['values']}"
        if (
            panel["config"] != config
            or panel["chosen"] != init
            or sorted(panel["lines"]) != sorted(data["inits"])
        ):
            problems.append(
                f"{where}: draws {panel['config']}, lines {panel['lines']}, chosen {panel['chosen']}"
            )
            continue
        # The points' coordinates are written to a tenth of a pixel: each within a pixel of its layer.
        if len(panel["layers"]) != depth or any(
            abs(layer - k) > panel["layerPixel"] for k, layer in enumerate(panel["layers"], start=1)
        ):
            problems.append(f"{where}: points at layers {panel['layers']}")
        values = run[panel["values"]]
        off = [
            (layer, log, math.log10(value))
            for layer, (log, value) in enumerate(zip(panel["logs"], values, strict=True), start=1)
            if abs(log - math.log10(value)) > panel["pixel"]
        ]
        if off:
            problems.append(
                f"{where}: points more than a pixel from the data (layer, drawn, data): {off[:3]}"
            )
        if not panel["chosenWidth"] >= 1.5 * panel["otherWidth"] or panel["markers"] < 5:
            problems.append(f"{where}: the chosen line is not drawn thick and marked: {panel}")
    return problems


def test_the_interactive_figure_fetches_its_data_only_near_the_screen(explorer):
    on_load = explorer["on_load"]
    assert on_load["requests"] == [] and on_load["shown"]["state"] == "idle", on_load
    assert len(explorer["requests"]) == 1 and explorer["drawn"]["state"] == "ready", explorer["requests"]


def test_each_control_of_the_interactive_figure_changes_its_charts_caption_and_table(
    explorer, explorer_data, explorer_hook
):
    """The default as built, then each control in turn: every view shows the data of the form's
    choice (caption, table, legend, and every chart's points to a pixel), and every choice changes
    the charts and the caption."""
    drawn, built = explorer["drawn"], explorer["on_load"]["shown"]
    assert drawn["form"] == {"init": "Kaiming", "activation": "relu", "depth": "50"}
    assert built["caption"] == drawn["caption"] and built["rows"] == drawn["rows"]  # as the build wrote it
    problems = _check_view(drawn, explorer_data, explorer_hook)
    previous = drawn
    for step in explorer["steps"]:
        assert step["form"][step["control"]] == step["value"], step["form"]
        problems += _check_view(step, explorer_data, explorer_hook)
        if step["caption"] == previous["caption"] or step["panels"] == previous["panels"]:
            problems.append(
                f"choosing {step['control']} {step['value']} did not change the caption and charts"
            )
        previous = step
    controls = {(step["control"], step["value"]) for step in explorer["steps"]}
    assert {c for c, _ in controls} == {"init", "activation", "depth"} and len(controls) >= 10
    assert not problems, "\n".join(problems)


def test_the_interactive_figure_works_by_keyboard_alone(explorer, explorer_data, explorer_hook):
    """Tab to the init (arrow up: the one above Kaiming), Tab to the activation (arrow right: tanh),
    Tab to the depth (arrow left: 20 layers), Tab to the table and Enter opens it; each key's
    effect shown in the caption, table and charts, and the focused control outlined."""
    keys = explorer["keyboard"]
    focused = [(k["key"], k["focused"]["tag"], k["focused"]["id"] or k["focused"]["name"]) for k in keys]
    assert focused == [
        ("Tab", "select", "scale-explorer-init"),
        ("ArrowUp", "select", "scale-explorer-init"),
        ("Tab", "input", "activation"),
        ("ArrowRight", "input", "activation"),
        ("Tab", "input", "depth"),
        ("ArrowLeft", "input", "depth"),
        ("Tab", "summary", ""),
        ("Enter", "summary", ""),
    ], focused
    forms = [k["form"] for k in keys]
    assert forms[1] == {"init": "Xavier, activation's gain", "activation": "relu", "depth": "50"}
    assert forms[3] == {"init": "Xavier, activation's gain", "activation": "tanh", "depth": "50"}
    assert forms[5] == {"init": "Xavier, activation's gain", "activation": "tanh", "depth": "20"}
    assert keys[-1]["focused"]["open"], "Enter on the table's summary did not open it"
    problems = [p for k in keys[1:6:2] for p in _check_view(k, explorer_data, explorer_hook)]
    assert not problems, "\n".join(problems)
    assert all(k["focused"]["outline"] != "none" for k in keys), [k["focused"] for k in keys]


def _blend(css: str, background: tuple[float, ...]) -> tuple[float, ...]:
    """A CSS colour, rgb() or rgba(), as seen over `background`."""
    values = [float(v) for v in re.findall(r"[\d.]+", css)]
    alpha = values[3] if len(values) > 3 else 1.0
    return tuple(alpha * c + (1 - alpha) * b for c, b in zip(values[:3], background, strict=True))


def test_the_interactive_figure_passes_axe_fits_and_reads_well_at_every_width_in_both_palettes(explorer):
    """Drawn at 1280, 800 and 390 px in both palettes: axe finds nothing serious, no chart sticks out
    of the figure and the page does not scroll sideways, every line has 3:1 against the page and
    every text 4.5:1, and no text is under 9 px."""
    looks = explorer["looks"]
    assert set(looks) == set(VIEWS)
    problems = []
    for view, seen in looks.items():
        background = _rgb(seen["background"])
        problems += [f"{view}: axe: {v}" for v in seen["axe"]]
        if seen["page"][0] > seen["page"][1] or max(seen["charts"]) > seen["figure"] + 0.5:
            problems.append(f"{view}: wider than the screen or the figure: {seen['page']}, {seen['charts']}")
        if len(seen["strokes"]) != 6:
            problems.append(
                f"{view}: {len(seen['strokes'])} line colours, not one per init: {seen['strokes']}"
            )
        problems += [
            f"{view}: line {stroke} has {_contrast(_blend(stroke, background), background):.2f}:1"
            for stroke in seen["strokes"]
            if _contrast(_blend(stroke, background), background) < 3
        ]
        problems += [
            f"{view}: text {fill} has {_contrast(_blend(fill, background), background):.2f}:1"
            for fill in seen["fills"]
            if _contrast(_blend(fill, background), background) < 4.5
        ]
        if seen["texts"] < 3 * 8 or min(seen["fontSizes"]) < SMALLEST_FIGURE_TEXT_PX:
            problems.append(f"{view}: {seen['texts']} texts, the smallest {min(seen['fontSizes'])} px")
        if seen["shown"]["state"] != "ready" or not all(p["config"] for p in seen["shown"]["panels"]):
            problems.append(f"{view}: not drawn: {seen['shown']['state']}")
    assert not problems, "\n".join(problems)
    assert explorer["problems"] == [] and explorer["outside"] == [], explorer


def test_without_javascript_the_interactive_figure_shows_the_default_numbers_and_no_dead_controls(
    explorer, explorer_data, explorer_hook
):
    seen = explorer["without_script"]
    assert seen == {
        "controls": False,
        "charts": False,
        "caption": explorer_hook.summary(explorer_data, "Kaiming", "relu", 50),
        "rows": 50,
        "wide": False,
    }


def test_the_survey_sees_the_interactive_figure_drawn(survey):
    drawn = {path: record["interactive"] for path, record in _pages(survey, "390-light").items()}
    assert drawn[WHY] == ["ready"]
    assert all(states == [] for path, states in drawn.items() if path != WHY), drawn
