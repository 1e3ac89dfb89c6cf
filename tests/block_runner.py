"""Run code blocks with the interpreter that runs this file, as a reader pastes them in.

tests/test_fresh_install.py starts it with the Python of a fresh environment, one that holds only
what the site's instructions install, so it imports nothing but the standard library:

    python block_runner.py blocks.json results.json

`blocks.json` holds {"shared": bool, "blocks": [{"id": str, "code": str}, ...]}. Each block runs in
fresh globals, as `pytest --markdown-docs` runs a page's blocks; with "shared", all blocks run in one
namespace and the first error stops the run, as a notebook's cells do. `results.json` gets, for
each block that ran, what it printed to stdout and the traceback of its error (or null).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import traceback


def run(blocks: list[dict], shared: bool) -> list[dict]:
    results, namespace = [], {"__name__": "__main__"}
    for block in blocks:
        scope = namespace if shared else {"__name__": "__main__"}
        printed, error = io.StringIO(), None
        try:
            with contextlib.redirect_stdout(printed):
                exec(compile(block["code"], block["id"], "exec"), scope)
        except BaseException:  # SystemExit too: a block that exits has failed
            error = traceback.format_exc()
        results.append({"id": block["id"], "printed": printed.getvalue(), "error": error})
        if error is not None and shared:
            break
    return results


def main(source: str, target: str) -> None:
    with open(source, encoding="utf-8") as file:
        spec = json.load(file)
    results = run(spec["blocks"], spec.get("shared", False))
    with open(target, "w", encoding="utf-8") as file:
        json.dump(results, file)


if __name__ == "__main__":
    main(*sys.argv[1:])
