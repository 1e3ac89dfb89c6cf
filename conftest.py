"""Test setup shared by the pages, the snippets and the library tests.

1. `pytest --markdown-docs` runs the code blocks of the pages exactly as the site shows them: the
   parser below expands `--8<--` includes with pymdownx.snippets itself, configured from mkdocs.yml,
   so the test and the build see the same bytes (a missing file or section fails collection).
2. The device comes from one place, `paraminit.get_device()` (the PARAMINIT_DEVICE environment
   variable). On CUDA it becomes torch's default device, so the page blocks run unchanged there.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# OpenMP's idle threads sleep instead of spinning while they wait for work. Most of this suite's
# operations are on small tensors, and with the default (spinning) a test process that shares two
# cores with other work (a build, a notebook kernel, the ranks, a browser, other users) took up to
# a hundred times longer over them. No result changes. Set before torch loads OpenMP (below); the
# processes that tests start inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest
import torch
from hypothesis import settings
from markdown_it import MarkdownIt
from page_code import expand_snippets  # tests/, on sys.path through pyproject's `pythonpath`

from paraminit import get_device

ROOT = Path(__file__).parent
# `pytester` runs a whole pytest session in-process (tests/test_device.py), cheaper than a subprocess.
pytest_plugins = ["pytester"]

# Property tests draw the same examples on every run, so a failure is reproducible from the log.
settings.register_profile("paraminit", derandomize=True, deadline=None)
settings.load_profile("paraminit")


BLOCK_HEADER = re.compile(r"^(\s*)(?:!!!|\?\?\?\+?)\s")


def unwrap_blocks(text: str) -> str:
    """Admonitions and collapsible blocks (`!!!`, `???`) with their bodies moved out by one level.

    Their bodies are indented by 4 spaces, which CommonMark reads as an indented code block, so
    the fences inside (an exercise's solution) would be invisible to the test collector. Without
    the header and one level of indent, each fence is a fence again, with the same bytes.
    """
    out, open_at = [], []
    for line in text.split("\n"):
        if line.strip():
            indent = len(line) - len(line.lstrip(" "))
            while open_at and indent <= open_at[-1]:
                open_at.pop()
        line = line[4 * len(open_at) :] if line.startswith(" " * 4 * len(open_at)) else line.lstrip(" ")
        header = BLOCK_HEADER.match(line)
        if header:
            open_at.append(len(header.group(1)) + 4 * len(open_at))
            line = ""
        out.append(line)
    return "\n".join(out)


class _IncludingMarkdownIt(MarkdownIt):
    def parse(self, src: str, env: dict | None = None):  # type: ignore[override]
        return super().parse(unwrap_blocks(expand_snippets(src)), env)


def pytest_markdown_docs_markdown_it() -> MarkdownIt:
    return _IncludingMarkdownIt(config="commonmark")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-outputs",
        action="store_true",
        help="rewrite the '#>' output lines in snippets/ with what the code prints now",
    )


def pytest_configure(config: pytest.Config) -> None:
    try:
        device = get_device()
    except (RuntimeError, ValueError) as error:  # CUDA asked for and missing: the run must fail
        raise pytest.UsageError(str(error)) from error
    if device.type != "cpu":
        torch.set_default_device(device)


def pytest_report_header(config: pytest.Config) -> str:
    return f"paraminit device: {get_device()} (PARAMINIT_DEVICE), torch {torch.__version__}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _run_each_page_block_once(config, items)
    if get_device().type == "cuda":
        return
    skip = pytest.mark.skip(
        reason=f"needs CUDA: set PARAMINIT_DEVICE=cuda (torch.cuda.is_available()="
        f"{torch.cuda.is_available()})"
    )
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


def _run_each_page_block_once(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A page block that is a snippet section, byte for byte, runs once per test run.

    tests/test_snippets.py runs every section of snippets/ and checks what it prints against its
    `#>` lines; `pytest --markdown-docs` runs the same bytes from the page, without that check.
    When a run holds both (as `make test` does), the page's item is deselected in favour of the
    section's; `pytest --markdown-docs docs/` alone still runs every block. Blocks that include
    anything else (a section of src/, say) always run from the page.
    """
    sections = {}
    for item in items:
        callspec = getattr(item, "callspec", None)
        if item.path.name == "test_snippets.py" and callspec is not None and "section" in callspec.params:
            sections[callspec.params["section"].code.strip()] = item
    twice = [
        item
        for item in items
        if isinstance(getattr(item, "code", None), str) and item.code.strip() in sections
    ]
    if twice:
        config.hook.pytest_deselected(items=twice)
        items[:] = [item for item in items if item not in twice]


@pytest.fixture
def device() -> torch.device:
    """The device this run tests, from PARAMINIT_DEVICE."""
    return get_device()
