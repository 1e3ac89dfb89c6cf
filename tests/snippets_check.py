"""Run the named sections of a snippet file and check the `#>` lines that show what they print.

A section is the code between `# --8<-- [start:NAME]` and `# --8<-- [end:NAME]`, the unit a page
includes. It runs alone, in fresh globals, compiled with the file's own line numbers (so tracebacks
and coverage point into the snippet). Everything printed while a top-level statement runs, also from
library code it calls, is recorded and written as `#> ` lines right after that statement.
"""

from __future__ import annotations

import ast
import builtins
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

MARKER = re.compile(r"^\s*# --8<-- \[(start|end):([\w-]+)\]\s*$")
OUTPUT_PREFIX = "#>"


@dataclass(frozen=True)
class Section:
    path: Path
    name: str
    first: int  # 0-based index of the first line inside the markers
    lines: tuple[str, ...]

    @property
    def code(self) -> str:
        return "\n".join(self.lines) + "\n"


def sections(path: Path) -> list[Section]:
    """The named sections of `path`, in file order; unbalanced markers are an error."""
    lines = path.read_text().splitlines()
    found, open_at = [], {}
    for index, line in enumerate(lines):
        match = MARKER.match(line)
        if not match:
            continue
        kind, name = match.groups()
        if kind == "start":
            if name in open_at:
                raise ValueError(f"{path}:{index + 1}: section {name!r} started twice")
            open_at[name] = index
        else:
            if name not in open_at:
                raise ValueError(f"{path}:{index + 1}: section {name!r} ends before it starts")
            start = open_at.pop(name)
            found.append(Section(path, name, start + 1, tuple(lines[start + 1 : index])))
    if open_at:
        raise ValueError(f"{path}: section(s) never ended: {sorted(open_at)}")
    return sorted(found, key=lambda s: s.first)


def run_section(section: Section) -> dict[int, str]:
    """Execute the section alone; return printed text keyed by the file line its statement ends on."""
    filename = str(section.path)
    source = "\n" * section.first + section.code
    tree = ast.parse(source, filename)
    ends = [(node.lineno, node.end_lineno) for node in tree.body]
    printed: dict[int, str] = {}

    def recording_print(*args, sep=" ", end="\n", file=None, flush=False):
        if file not in (None, sys.stdout):
            return builtins_print(*args, sep=sep, end=end, file=file, flush=flush)
        # The section's own top-level frame: a print inside a function the section defines (or
        # a library function it calls) belongs to the top-level statement that called it.
        frame, line = sys._getframe(1), ends[-1][1]
        while frame is not None:
            if frame.f_code is code:
                line = frame.f_lineno
                break
            frame = frame.f_back
        statement_end = next((e for s, e in ends if s <= line <= e), ends[-1][1])
        buffer = io.StringIO()
        builtins_print(*args, sep=sep, end=end, file=buffer)
        printed[statement_end] = printed.get(statement_end, "") + buffer.getvalue()

    builtins_print = builtins.print
    code = compile(tree, filename, "exec")
    with mock.patch.object(builtins, "print", recording_print):
        exec(code, {"__name__": f"snippet_{section.name}", "__file__": filename})
    return printed


def with_outputs(section: Section, printed: dict[int, str]) -> list[str]:
    """The section's lines with its `#>` lines replaced by `printed`."""
    result = []
    for offset, line in enumerate(section.lines):
        if line.lstrip().startswith(OUTPUT_PREFIX):
            continue
        result.append(line)
        text = printed.get(section.first + offset + 1)
        if text is not None:
            for out in text.removesuffix("\n").split("\n"):
                result.append(f"{OUTPUT_PREFIX} {out}".rstrip())
    return result


def rewrite(section: Section, new_lines: list[str]) -> None:
    """Replace the section's lines in its file with `new_lines`."""
    lines = section.path.read_text().splitlines()
    # Locate by marker, not by stored offsets: an earlier rewrite may have moved this section.
    start = next(
        i for i, line in enumerate(lines) if MARKER.match(line) and f"[start:{section.name}]" in line
    )
    end = next(i for i, line in enumerate(lines) if MARKER.match(line) and f"[end:{section.name}]" in line)
    lines[start + 1 : end] = new_lines
    section.path.write_text("\n".join(lines) + "\n")
