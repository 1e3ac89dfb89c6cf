"""Run code blocks with the interpreter that runs this file, as a reader pastes them in.

tests/test_fresh_install.py starts it with the Python of a fresh environment, one that holds only
what the site's instructions install, so it imports nothing but the standard library:

    python block_runner.py blocks.json results.json

`blocks.json` holds {"blocks": [{"id": str, "code": str, "namespace": str or absent}, ...]}, run in
order. A block without a namespace runs in fresh globals, as `pytest --markdown-docs` runs a
page's blocks; blocks that name the same namespace share their globals, as a notebook's cells do.
`results.json` gets, for each block, what it printed to stdout and the traceback of its error (or
null). One process runs them all: torch is imported once.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import traceback


def run(blocks: list[dict]) -> list[dict]:
    results, namespaces = [], {}
    for block in blocks:
        name = block.get("namespace")
        scope = namespaces.setdefault(name, {"__name__": "__main__"}) if name else {"__name__": "__main__"}
        printed, error = io.StringIO(), None
        try:
            with contextlib.redirect_stdout(printed):
                exec(compile(block["code"], block["id"], "exec"), scope)
        except BaseException:  # SystemExit too: a block that exits has failed
            error = traceback.format_exc()
        results.append({"id": block["id"], "printed": printed.getvalue(), "error": error})
    return results


def main(source: str, target: str) -> None:
    with open(source, encoding="utf-8") as file:
        blocks = json.load(file)["blocks"]
    with open(target, "w", encoding="utf-8") as file:
        json.dump(run(blocks), file)


if __name__ == "__main__":
    main(*sys.argv[1:])
