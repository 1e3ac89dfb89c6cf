"""MkDocs hook: make the built HTML accessible and valid where the theme's markup is not.

After each page is rendered:

- Every code block's scroll container (`<pre><code>`) can be reached by keyboard and has a name:
  `tabindex="0"`, `role="group"` and `aria-label="Code block N"`, in the HTML itself, not added by
  a script. (The theme's script removes the `tabindex` again from a block that does not scroll.)
  A `<pre>` without `<code>` (a notebook's output, say) scrolls itself and gets the same.
  Display formulas, which scroll sideways on a narrow screen, get `tabindex="0"` the same way.
- The `#>` lines that show what a block prints are marked as output (Pygments' `go` token class)
  instead of comments, so that the stylesheet can tell them apart from comments at a glance.
- Code blocks, display formulas and paragraphs with inline math carry what the browser needs to
  know their height before laying them out: the stylesheet lets it skip laying out those far down
  a page until the reader gets near (`content-visibility: auto`) and uses that height meanwhile, so
  that the page does not change length as they are laid out. A code block's height follows from its
  number of lines (it never wraps), a formula's from the heights KaTeX gives its lines (struts):
  `--paraminit-height`, in em. A paragraph's depends on the column's width, so it carries its
  length in characters (`--paraminit-chars`, the math counted as drawn) and the stylesheet divides
  by the characters a line holds at the screen's width. With estimates far off, a jump to a heading
  landed away from it, the table of contents highlighted the section before, and the footer moved
  under axe's measurement.
- The theme's search dialog gets an accessible name, and its hidden drawer and search toggles lose
  `autocomplete="off"`, an attribute HTML does not allow on a checkbox (the Nu HTML checker
  reports it; docs/assets/javascripts/site.js resets the toggles on back navigation instead).

Each rewrite checks that the markup it expects is there: if a theme upgrade changes it, the build
fails here instead of silently shipping the old problem.
"""

from __future__ import annotations

import html as html_module
import logging
import re

log = logging.getLogger("mkdocs.hooks.accessible_markup")

CODE = re.compile(r"<pre>(<span></span>)?<code>")
# A <pre> that scrolls itself, with no <code> inside (a notebook's cells and outputs, for example).
BARE_PRE = re.compile(r"<pre((?:\s[^>]*)?)>(?!(?:<span></span>)?<code[\s>])")
OUTPUT_LINE = re.compile(r'<span class="c1">(#&gt;(?: [^<]*)?)</span>')
DISPLAY_MATH = re.compile(r'<div class="arithmatex">')
SEARCH_DIALOG = '<div class="md-search" data-md-component="search" role="dialog">'
TOGGLE = re.compile(
    r'(<input class="md-toggle" data-md-toggle="(?:drawer|search)" type="checkbox" id="__\w+")'
    r' autocomplete="off">'
)
NAMED_DIALOG = SEARCH_DIALOG.replace('role="dialog"', 'role="dialog" aria-label="Search"')

# A code block: the theme's <div class="... highlight ..."> around a <pre> (the lines inside).
HIGHLIGHT = re.compile(r'<div class="((?:[\w-]+ )*highlight(?: [\w-]+)*)">(\s*<pre\b.*?</pre>)', re.DOTALL)
# Laid out, a code block is 3.31em (its padding and the <pre>'s margins) + 1.19em a line (the code's
# font is 0.85em, its line height 1.4), in the block's own font size: measured in Chromium on every
# code block of the site, to within a pixel, at 390 and 1280 px.
CODE_HEIGHT_EM = (3.31, 1.19)
STRUT = re.compile(r'<span class="strut" style="height:([\d.]+)em;')
# Laid out, a display formula is 2em (the margins around it) + 1.21 (KaTeX's font size) times its
# tallest line (KaTeX's strut height), in the formula's font size: measured the same way.
MATH_HEIGHT_EM = (2.0, 1.21)
# A paragraph with inline math (the math is most of the page's elements, so those far down are
# left unstyled and unlaid until near), and the parts of it a reader does not see as characters.
MATH_PARAGRAPH = re.compile(r'<p>((?:(?!</p>).)*?<span class="arithmatex">.*?)</p>', re.DOTALL)
HIDDEN_MATHML = re.compile(r'<span class="katex-mathml">.*?</math></span>', re.DOTALL)
TAG = re.compile(r"<[^>]+>")


def name_code_blocks(html: str) -> str:
    counter = iter(range(1, 10**6))
    attributes = 'tabindex="0" role="group" aria-label="Code block {}"'
    html = CODE.sub(lambda m: f"<pre>{m[1] or ''}<code {attributes.format(next(counter))}>", html)
    texts = iter(range(1, 10**6))
    return BARE_PRE.sub(
        lambda m: (
            m[0]
            if "tabindex" in m[1]
            else f'<pre{m[1]} tabindex="0" role="group" aria-label="Text block {next(texts)}">'
        ),
        html,
    )


def mark_output_lines(html: str) -> str:
    return OUTPUT_LINE.sub(r'<span class="go">\1</span>', html)


def focusable_display_math(html: str) -> str:
    return DISPLAY_MATH.sub('<div class="arithmatex" tabindex="0">', html)


def laid_out_heights(html: str) -> str:
    """Each code block and display formula with its height once laid out (`--paraminit-height`)."""

    def code(match: re.Match) -> str:
        lines = match[2].count("\n")
        height = CODE_HEIGHT_EM[0] + CODE_HEIGHT_EM[1] * lines
        return f'<div class="{match[1]}" style="--paraminit-height: {height:.2f}em">{match[2]}'

    html = HIGHLIGHT.sub(code, html)
    out, rest = [], html
    while (start := rest.find('<div class="arithmatex"')) != -1:
        tag_end = rest.index(">", start)
        # The formula's markup runs to the next formula or the end of the page: no other <div>
        # lies inside KaTeX's output, so its struts are those up to the next "<div".
        following = rest.find("<div", tag_end)
        body = rest[tag_end : following if following != -1 else len(rest)]
        struts = [float(h) for h in STRUT.findall(body)]
        tag = rest[start:tag_end]
        if struts:
            height = MATH_HEIGHT_EM[0] + MATH_HEIGHT_EM[1] * max(struts)
            tag += f' style="--paraminit-height: {height:.2f}em"'
        out.append(rest[:start] + tag)
        rest = rest[tag_end:]
    html = "".join(out) + rest

    def paragraph(match: re.Match) -> str:
        chars = len(html_module.unescape(TAG.sub("", HIDDEN_MATHML.sub("", match[1]))))
        return f'<p class="paraminit-math" style="--paraminit-chars: {chars}">{match[1]}</p>'

    return MATH_PARAGRAPH.sub(paragraph, html)


def fix_theme(html: str, page: str) -> str:
    if SEARCH_DIALOG not in html:
        log.error(f"{page}: the theme's search dialog markup changed; update docs/hooks/accessible_markup.py")
    html = html.replace(SEARCH_DIALOG, NAMED_DIALOG)
    html, toggles = TOGGLE.subn(r"\1>", html)
    if toggles != 2:
        log.error(f"{page}: expected the theme's 2 toggles with autocomplete=off, found {toggles}")
    return html


def on_post_page(output: str, page, config) -> str:
    output = name_code_blocks(output)
    output = mark_output_lines(output)
    output = focusable_display_math(output)
    output = laid_out_heights(output)
    return fix_theme(output, page.file.src_uri)


def on_post_template(output: str, template_name: str, config) -> str:
    """The theme's static pages (404.html) carry the same search dialog and toggles."""
    if template_name.endswith(".html") and "<body" in output:
        return fix_theme(output, template_name)
    return output
