"""The library's modules import one another one way: no two modules import each other, directly
or through others, counting imports inside functions and those made only for type checking."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "src" / "paraminit"


def imported_modules(path: Path) -> set[str]:
    """The modules of the package that `path` imports anywhere in its source."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:  # from .rules import Rule
                found.add(node.module.split(".")[0])
            elif node.level == 1:  # from . import rules
                found.update(alias.name for alias in node.names)
            elif node.module and node.module.startswith("paraminit."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("paraminit."))
    return found


def test_the_modules_import_one_another_one_way():
    graph = {
        path.stem: imported_modules(path) - {path.stem}
        for path in PACKAGE.glob("*.py")
        if path.stem != "__init__"
    }
    assert {"rules", "deferred", "sharded"} <= graph.keys()
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise AssertionError(f"modules that import each other: {error.args[1]}") from None
    assert order.index("deferred") < order.index("rules") < order.index("sharded")
