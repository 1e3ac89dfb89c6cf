"""House rules for the code the chapter, why, today, library and home pages show: every line fits 79
columns (`#>` lines included), each block imports only what it uses, its imports sit together,
and no shown block holds a docstring with a nested code fence."""

from __future__ import annotations

import ast
import importlib.util
import itertools
import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def _root_conftest():
    """The root conftest.py: the same include expansion the page tests use."""
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_CONFTEST = _root_conftest()

PAGES = [
    "parameter-initialization.md",
    "why-initialization.md",
    "initialization-today.md",
    "library.md",
    "index.md",
]
FENCE = re.compile(r"^([ \t]*)```(?:python|py)\b[^\n]*\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def blocks(page: str) -> list[str]:
    text = _CONFTEST.unwrap_blocks(_CONFTEST.expand_snippets((ROOT / "docs" / page).read_text()))
    return [textwrap.dedent(body) for _, body in FENCE.findall(text)]


BLOCKS = [pytest.param(code, id=f"{page}#{i}") for page in PAGES for i, code in enumerate(blocks(page))]


def test_the_pages_show_code():
    assert len(BLOCKS) >= 39  # 24 chapter, 7 why, 8 library


@pytest.mark.parametrize("code", BLOCKS)
def test_every_shown_line_fits_79_columns(code):
    long = [line for line in code.splitlines() if len(line) > 79]
    assert not long, long


@pytest.mark.parametrize("code", BLOCKS)
def test_a_shown_block_imports_only_what_it_uses(code):
    tree = ast.parse(code)
    imported = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                imported[(alias.asname or alias.name).split(".")[0]] = node.lineno
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                imported[alias.asname or alias.name] = node.lineno
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert not set(imported) - used, f"imported but unused: {sorted(set(imported) - used)}"


@pytest.mark.parametrize("code", BLOCKS)
def test_a_shown_blocks_imports_are_not_spread_apart(code):
    """Between two imports at most one blank line (isort's between groups): a block that includes
    several import sections shows one compact import block, not lines two blank lines apart."""
    statements = ast.parse(code).body
    lines = code.splitlines()
    for before, after in itertools.pairwise(statements):
        if isinstance(before, ast.Import | ast.ImportFrom) and isinstance(after, ast.Import | ast.ImportFrom):
            gap = lines[before.end_lineno : after.lineno - 1]
            assert len(gap) <= 1, (
                f"{len(gap)} blank lines between {lines[before.lineno - 1]!r} and {lines[after.lineno - 1]!r}"
            )


@pytest.mark.parametrize("code", BLOCKS)
def test_no_shown_docstring_holds_a_code_fence(code):
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
            assert "```" not in (ast.get_docstring(node) or ""), node.name
