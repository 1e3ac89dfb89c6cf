"""The code blocks a page shows, read the way the site and `pytest --markdown-docs` read them.

Pages never type a Python block: each block holds `--8<--` include lines, which pymdownx.snippets
expands, configured from mkdocs.yml. The root conftest.py uses `expand_snippets` so that the page
tests run exactly the bytes a reader sees; the site tests use `shown_blocks` to check each shown
line and say which file and section it comes from.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import markdown
import yaml

ROOT = Path(__file__).parents[1]
INCLUDE = re.compile(r'^\s*-{1,}8<-{1,}\s+"([^":]+)(?::([\w-]+))?"\s*$', re.MULTILINE)
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<ticks>`{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)(?P=ticks)[ \t]*$",
    re.M | re.S,
)


class _ConfigLoader(yaml.SafeLoader):
    """YAML as mkdocs.yml writes it: `!ENV NAME` (a value from the environment) is read as null,
    which no setting read here uses."""


_ConfigLoader.add_constructor("!ENV", lambda loader, node: None)


def mkdocs_yml() -> dict:
    """mkdocs.yml as YAML, its `!ENV` values read as null."""
    return yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_ConfigLoader)


@functools.cache
def snippet_config() -> dict:
    """The pymdownx.snippets options from mkdocs.yml, with base paths made absolute."""
    config = mkdocs_yml()
    for entry in config["markdown_extensions"]:
        if isinstance(entry, dict) and "pymdownx.snippets" in entry:
            options = dict(entry["pymdownx.snippets"] or {})
            options["base_path"] = [str(ROOT / p) for p in options.get("base_path", ["."])]
            return options
    raise LookupError("mkdocs.yml does not configure pymdownx.snippets")


def expand_snippets(text: str) -> str:
    """Markdown text with every `--8<--` include replaced by what the site shows."""
    md = markdown.Markdown(
        extensions=["pymdownx.snippets"], extension_configs={"pymdownx.snippets": dict(snippet_config())}
    )
    return "\n".join(md.preprocessors["snippet"].run(text.split("\n")))


@dataclass(frozen=True)
class ShownLine:
    origin: str  # "snippets/chapter.py:network", or the page itself for a line typed on it
    text: str


@dataclass(frozen=True)
class ShownBlock:
    page: Path
    index: int  # 1-based, in page order
    language: str
    lines: tuple[ShownLine, ...]

    @property
    def code(self) -> str:
        return "\n".join(line.text for line in self.lines) + "\n"

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}, block {self.index}"


@functools.cache
def shown_blocks(page: Path) -> tuple[ShownBlock, ...]:
    """Every fenced code block of a Markdown page as a reader sees it, includes expanded."""
    blocks = []
    for index, fence in enumerate(FENCE.finditer(page.read_text()), start=1):
        info = fence["info"].strip().lstrip("{").strip()
        language = re.split(r"[\s}]", info, maxsplit=1)[0].lstrip(".") if info else ""
        lines: list[ShownLine] = []
        for raw in fence["body"].splitlines():
            raw = raw.removeprefix(fence["indent"])
            match = INCLUDE.match(raw)
            if match:
                origin = f"{match[1]}:{match[2]}" if match[2] else match[1]
                lines += [ShownLine(origin, text) for text in expand_snippets(raw.strip()).split("\n")]
            else:
                lines.append(ShownLine(str(page.relative_to(ROOT)), raw))
        blocks.append(ShownBlock(page, index, language, tuple(lines)))
    return tuple(blocks)
