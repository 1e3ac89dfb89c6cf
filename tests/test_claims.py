"""Every test that tests/claims.md names as holding a page's claim exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).parent
NODE = re.compile(r"(tests/test_\w+\.py)::(test_\w+)")


def test_every_listed_test_exists():
    table = (TESTS / "claims.md").read_text()
    nodes = NODE.findall(table)
    assert len(nodes) >= 30
    for path, name in nodes:
        tree = ast.parse((TESTS.parent / path).read_text())
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert name in defined, f"{path}::{name} is listed in claims.md but does not exist"
