"""The built site in a real browser: math is typeset offline, nothing is fetched from another host,
and the copy button copies exactly the code the tests run.

The site is built once per module with `mkdocs build --strict` and served on 127.0.0.1. Headless
Chromium comes from the system (/usr/bin/chromium), driven by the Python playwright package; no
browser is downloaded. Without them these tests are skipped with a reason, unless
PARAMINIT_REQUIRE_BROWSER=1 (as in CI), where a missing browser is a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from snippets_check import sections

pytestmark = pytest.mark.browser

ROOT = Path(__file__).parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = ["/", "/parameter-initialization/", "/library/", "/reference/"]
CHAPTER = "/parameter-initialization/"


def _missing_browser(reason: str) -> None:
    if os.environ.get("PARAMINIT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"PARAMINIT_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def site(built_site: Path) -> Iterator[str]:
    """The strictly built site served on 127.0.0.1; yields its base URL (no trailing /)."""
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _missing_browser(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing_browser("the playwright package is not installed (pip install playwright)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class Visit:
    """A page in a fresh context that can reach only the local site, recording what happens."""

    def __init__(self, browser, site: str):
        self.site = site
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site)
        # Nothing may leave the machine: abort every request to another host before it is sent.
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.url}"))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def _route(self, route):
        url = route.request.url
        if self.is_local(url):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def is_local(self, url: str) -> bool:
        return url.startswith((f"{self.site}/", "data:", "blob:"))

    def goto(self, path: str):
        self.page.goto(self.site + path, wait_until="networkidle")
        return self.page

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser, site):
    v = Visit(browser, site)
    try:
        yield v
    finally:
        v.close()


def wait_for_math(page) -> None:
    page.wait_for_selector(".arithmatex .katex", state="attached", timeout=10_000)


# Text of each .arithmatex element left once KaTeX's output is removed: raw TeX, if any survives.
RAW_TEX_JS = """() => [...document.querySelectorAll('.arithmatex')].map(el => {
    const copy = el.cloneNode(true);
    copy.querySelectorAll('.katex, .katex-display').forEach(k => k.remove());
    return copy.textContent.trim();
}).filter(t => t.length > 0)"""


def test_math_is_typeset_offline(visit, tmp_path):
    page = visit.goto(CHAPTER)
    wait_for_math(page)
    assert page.locator(".arithmatex").count() >= 5
    assert page.locator(".katex-error").count() == 0

    # Every formula was typeset: none is left as raw TeX, and KaTeX reported no error.
    leftovers = page.evaluate(RAW_TEX_JS)
    assert leftovers == [], f"math left as raw TeX: {leftovers}"
    assert "\\begin{cases}" not in page.locator("article").inner_text()
    assert visit.errors == []
    assert visit.failed == []

    # The mixture's display formula is rendered by KaTeX, as glyphs, not left as TeX source.
    displays = page.locator(".arithmatex .katex-display")
    assert displays.count() >= 1
    mixture = displays.filter(has_text="with probability").first
    # KaTeX's HTML output: no-break spaces inside \text{}, zero-width spaces between cells.
    rendered = mixture.locator(".katex-html").text_content()
    rendered = rendered.replace("\xa0", " ").replace("\u200b", "")
    assert rendered.count("with probability") == 3
    assert "U(5,10)" in rendered and "U(−10,−5)" in rendered
    assert "\\begin" not in rendered and "\\text" not in rendered
    box = mixture.bounding_box()
    assert box is not None and box["height"] > 40, f"the cases formula is not laid out: {box}"
    # A brace that reads like a brace needs KaTeX's own fonts, served from the site.
    page.evaluate("document.fonts.ready.then(() => true)")
    fonts = [u for u in visit.requests if "/assets/katex/fonts/" in u]
    assert fonts, "no KaTeX font was loaded"

    mixture.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "mixture.png"))
    mixture.screenshot(path=str(tmp_path / "mixture-formula.png"))


def test_no_request_leaves_localhost(visit):
    for path in PAGES:
        page = visit.goto(path)
        if page.locator(".arithmatex").count():
            wait_for_math(page)
        # The search box loads its index and a worker on first use: open it too.
        page.keyboard.press("/")
        page.keyboard.type("xavier")
        page.wait_for_load_state("networkidle")
    assert any(u.endswith("/search/search_index.json") for u in visit.requests)
    outside = [u for u in visit.requests if not visit.is_local(u)]
    assert outside == [], f"requests to other hosts: {outside}"
    assert visit.blocked == []
    assert visit.failed == []
    assert visit.errors == []


def test_copy_button_copies_the_tested_code(visit):
    expected = next(s for s in sections(ROOT / "snippets" / "chapter.py") if s.name == "network").code
    page = visit.goto(CHAPTER)
    block = page.locator("article .highlight").first
    block.hover()
    button = block.locator('button.md-code__button[data-md-type="copy"]')
    assert button.count() == 1, "the first code block has no copy button"
    page.evaluate("navigator.clipboard.writeText('')")
    button.click()
    page.wait_for_function("async () => (await navigator.clipboard.readText()).length > 0")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.rstrip() == expected.rstrip()
    # The copied code is what the page shows, too.
    assert block.locator("code").inner_text().rstrip() == expected.rstrip()
    assert visit.errors == []
