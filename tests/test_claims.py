"""Every claim tests/claims.md lists is on the page it names, word for word, and every test it
names as holding that claim exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
ROOT = TESTS.parent
PAGES = {
    "chapter": "docs/parameter-initialization.md",
    "why": "docs/why-initialization.md",
    "home": "docs/index.md",
    "library": "docs/library.md",
    "large": "docs/large-models.md",
    "repro": "docs/reproducibility.md",
    "today": "docs/initialization-today.md",
}
NODE = re.compile(r"(tests/test_\w+\.py)::(test_\w+)")


def _rows() -> list[tuple[list[str], str, list[tuple[str, str]]]]:
    """(pages, quote, tests) for each row of the table."""
    rows = []
    for line in (TESTS / "claims.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not NODE.search(cells[2]):
            continue
        quote = re.fullmatch(r'"(.+)"', cells[1])
        assert quote, f"claims.md: the claim is not a quote in double quotes: {cells[1]!r}"
        pages = [p.strip() for p in cells[0].split(",")]
        rows.append((pages, quote[1], NODE.findall(cells[2])))
    return rows


def _collapsed(text: str) -> str:
    return " ".join(text.split())


ROWS = _rows()


def test_the_table_lists_the_claims():
    assert len(ROWS) >= 30
    assert {page for pages, _, _ in ROWS for page in pages} == set(PAGES)


@pytest.mark.parametrize(
    ("pages", "quote"),
    [(pages, quote) for pages, quote, _ in ROWS],
    ids=[f"{pages[0]}: {quote[:48]}" for pages, quote, _ in ROWS],
)
def test_every_quoted_claim_is_on_a_page_it_names(pages, quote):
    texts = {page: _collapsed((ROOT / PAGES[page]).read_text()) for page in pages}
    assert any(_collapsed(quote) in text for text in texts.values()), (
        f"claims.md quotes {quote!r}, which none of {pages} says (word for word): update the row "
        "to what the page says now, and check that its tests still hold the new wording"
    )


def test_every_listed_test_exists():
    defined: dict[str, set[str]] = {}  # each test module parsed once
    for _, _, nodes in ROWS:
        for path, name in nodes:
            if path not in defined:
                tree = ast.parse((ROOT / path).read_text())
                defined[path] = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            assert name in defined[path], f"{path}::{name} is listed in claims.md but does not exist"
