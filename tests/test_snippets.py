"""Each snippet file holds only its sections, each section runs alone, and prints what the page shows."""

from __future__ import annotations

import ast
import difflib
from pathlib import Path

import pytest
from snippets_check import rewrite, run_section, sections, with_outputs

from paraminit import get_device

SNIPPETS = Path(__file__).parents[1] / "snippets"
FILES = sorted(SNIPPETS.glob("*.py"))
SECTIONS = [s for path in FILES for s in sections(path)]


def test_there_are_snippets_to_check():
    assert len(FILES) >= 2 and len(SECTIONS) >= 10


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_snippet_file_holds_only_its_sections(path):
    # Every statement of the file lies in a section, so running each section alone (below) runs the
    # whole file, and nothing in it goes unshown or untested (running the file as a script too ran
    # every block a second time and checked nothing more).
    tree = ast.parse(path.read_text(), str(path))
    shown = {s.first + 1 + i for s in sections(path) for i in range(len(s.lines))}
    docstring = tree.body[:1] if tree.body and isinstance(tree.body[0], ast.Expr) else []
    outside = [n.lineno for n in tree.body if n not in docstring and n.lineno not in shown]
    assert not outside, f"{path.name}: statements outside any section, at lines {outside}"


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: f"{s.path.stem}:{s.name}")
def test_section_prints_what_the_page_shows(section, request):
    printed = run_section(section)  # also proves the section runs on its own
    if get_device().type != "cpu":
        pytest.skip("printed outputs are recorded on the CPU; CUDA draws other random numbers")
    expected = with_outputs(section, printed)
    if list(section.lines) == expected:
        return
    if request.config.getoption("--update-outputs"):
        rewrite(section, expected)
        return
    diff = "\n".join(difflib.unified_diff(section.lines, expected, "page", "printed", lineterm=""))
    pytest.fail(
        f"{section.path.name}:{section.name} prints something else than its '#>' lines show "
        f"(pytest tests/test_snippets.py --update-outputs rewrites them):\n{diff}"
    )
