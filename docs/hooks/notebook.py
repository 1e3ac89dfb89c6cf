"""MkDocs hook: the chapter page as a notebook and a script, and the library as a wheel, on the site.

- `notebook/parameter-initialization.ipynb` is made from `docs/parameter-initialization.md` at
  every build: its prose becomes markdown cells and each included code block a code cell (the same
  snippet sections the page shows, without their `#>` lines). The hook executes it in a Jupyter
  kernel (a cell error fails the build; nothing is cached), and mkdocs-jupyter renders the
  executed notebook as a page, with the notebook itself next to it for download.
- It reads as a notebook, not as the page: a first cell installs what it needs; what the page
  marks `<!-- page only -->` ... `<!-- end page only -->` (how to run the page's blocks, the
  page's own install box) is left out and the text of a `<!-- notebook only: ... -->` comment is
  put in; the exercises' solutions, folded on the page, move to the end of the notebook; links
  into the site are absolute when `site_url` is set (the published site sets it), and links to
  the page itself or to a place on it become plain text.
- `notebook/parameter-initialization/parameter-initialization.py` holds the same cells as a plain
  script (jupytext's percent format: it runs as it is, and opens as a notebook in editors that
  know the format).
- `downloads/paraminit-<version>-py3-none-any.whl` is built from the working tree in-process
  with setuptools' PEP 517 backend, with a fixed timestamp so the same sources give the same bytes.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import os
import re
import shutil
import tempfile
import textwrap
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import markdown
import nbformat
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).parents[2]
PAGE = "parameter-initialization.md"
NOTEBOOK = "notebook/parameter-initialization.ipynb"
NOTEBOOK_DIR = "notebook/parameter-initialization/"  # where the page and its downloads live
SCRIPT = NOTEBOOK_DIR + "parameter-initialization.py"
OUTPUT_PREFIX = "#>"
FENCE = re.compile(r"^([ \t]*)```(\S*)[^\n]*\n(.*?)^\1```[ \t]*$", re.MULTILINE | re.DOTALL)
BLOCK_HEADER = re.compile(r'^(\s*)(!!!|\?\?\?\+?)\s+(\w+)(?:\s+"([^"]*)")?\s*$')
IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)", re.DOTALL)
PAGE_LINK = re.compile(r"\]\(([\w-]+)\.md(#[\w-]+)?\)")
HEADING_ATTRS = re.compile(r"^(#{1,6} .*?)\s*\{[^}]*\}\s*$", re.MULTILINE)
PAGE_ONLY = re.compile(
    r"^<!-- page only -->[ \t]*\n.*?^<!-- end page only -->[ \t]*$", re.MULTILINE | re.DOTALL
)
NOTEBOOK_ONLY = re.compile(r"<!-- notebook only: (.*?) -->", re.DOTALL)
SOLUTION = re.compile(r'^([ \t]*)\?\?\?\+?\s+\w+\s+"Solution"\s*$')
LIST_ITEM = re.compile(r"^(\d+)\.\s")
ON_THIS_PAGE = re.compile(r"\[([^\]]+)\]\((?:#[\w-]+|" + re.escape(NOTEBOOK) + r")\)")
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_GUIDE = "https://pytorch.org/get-started/locally/"

INSTALL_CELL = """\
# What this notebook needs, installed into this Python where it is missing:
# PyTorch's CPU build (these pages were tested with torch {torch}; for CUDA,
# install torch first as {guide} says: a torch
# already installed is left alone), then paraminit, the site's library, from
# the wheel saved next to this notebook.
import importlib
import importlib.util
import pathlib
import subprocess
import sys

pip = [sys.executable, "-m", "pip", "install"]
if importlib.util.find_spec("torch") is None:
    cpu_index = "{cpu_index}"
    subprocess.check_call([*pip, "torch", "--index-url", cpu_index])
if importlib.util.find_spec("paraminit") is None:
    wheel = pathlib.Path("{wheel}")
    if not wheel.is_file():
        raise FileNotFoundError(
            f"{{wheel}} is not next to this notebook: download it from\\n"
            "{wheel_source}\\n"
            "and save it in the notebook's folder"
        )
    subprocess.check_call([*pip, str(wheel)])
importlib.invalidate_caches()  # what pip installed can be imported now"""


def install_cell(wheel: str, site_url: str | None, torch_version: str) -> str:
    """The notebook's first code cell: torch (the CPU build) where it is missing, then the wheel."""
    source = f"{site_url}downloads/{wheel}" if site_url else "the site this notebook comes from"
    return INSTALL_CELL.format(
        torch=torch_version, guide=TORCH_GUIDE, cpu_index=CPU_INDEX, wheel=wheel, wheel_source=source
    )


def notebook_note(title: str, site_name: str, site_url: str | None) -> str:
    """What the notebook is, said where it opens."""
    if site_url:
        page, site, links = (
            f"[{title}]({site_url}{_page_path(Path(PAGE).stem)})",
            f"[{site_name}]({site_url})",
            "",
        )
    else:
        page, site = f"“{title}”", f"*{site_name}*"
        links = (
            " No address was set for the site when it was built, so the links to its other pages"
            " lead there from the notebook's page on the site, not from a downloaded copy."
        )
    return (
        f"This notebook is the page {page} of the site {site}, run when the site was built: the"
        " output under each cell is what it printed then. Run the next cell first: it installs what"
        f" the notebook needs.{links}"
    )


def for_the_notebook(text: str) -> str:
    """The page's markdown as the notebook tells it: what is marked page only is dropped, the
    text of a notebook-only comment is put in."""
    return NOTEBOOK_ONLY.sub(lambda m: m[1], PAGE_ONLY.sub("", text))


def solutions_to_the_end(text: str) -> tuple[str, list[tuple[str | None, str]]]:
    """The page without its collapsible solutions, and the solutions: (exercise number, body)."""
    lines, out, solutions, number = text.split("\n"), [], [], None
    index = 0
    while index < len(lines):
        line = lines[index]
        item = LIST_ITEM.match(line)
        number = item[1] if item else number
        header = SOLUTION.match(line)
        index += 1
        if header is None:
            out.append(line)
            continue
        body = []
        while index < len(lines) and (
            not lines[index].strip() or len(lines[index]) - len(lines[index].lstrip()) > len(header[1])
        ):
            body.append(lines[index])
            index += 1
        solutions.append((number, textwrap.dedent("\n".join(body)).strip("\n")))
    return "\n".join(out), solutions


def with_solutions_at_the_end(text: str) -> str:
    text, solutions = solutions_to_the_end(text)
    if not solutions:
        return text
    parts = [
        f"### Exercise {number}\n\n{body}" if number else f"### Solution\n\n{body}"
        for number, body in solutions
    ]
    return text.rstrip("\n") + "\n\n## Solutions\n\n" + "\n\n".join(parts) + "\n"


def _snippet_config(config) -> dict:
    for name, options in config["mdx_configs"].items():
        if name == "pymdownx.snippets":
            return dict(options)
    raise LookupError("mkdocs.yml does not configure pymdownx.snippets")


def expand(text: str, snippet_options: dict) -> str:
    """`text` with every `--8<--` include replaced by the included lines (pymdownx.snippets itself)."""
    md = markdown.Markdown(
        extensions=["pymdownx.snippets"], extension_configs={"pymdownx.snippets": snippet_options}
    )
    return "\n".join(md.preprocessors["snippet"].run(text.split("\n")))


def unwrap(text: str) -> str:
    """Admonitions and collapsible blocks as plain markdown: a bold title, then the body, dedented."""
    out, open_at = [], []
    for line in text.split("\n"):
        if line.strip():
            indent = len(line) - len(line.lstrip(" "))
            while open_at and indent <= open_at[-1]:
                open_at.pop()
        line = line[4 * len(open_at) :] if line.startswith(" " * 4 * len(open_at)) else line.lstrip(" ")
        header = BLOCK_HEADER.match(line)
        if header:
            indent, _, kind, title = header.groups()
            open_at.append(len(indent) + 4 * len(open_at))
            line = f"{indent}**{title or kind.capitalize()}.**\n"
        out.append(line)
    return "\n".join(out)


def prose(text: str, site_url: str | None = None) -> str:
    """Page markdown made fit for a notebook: links between pages point at the site's pages
    (absolute when `site_url` is known), links to a place on the page itself become their text,
    each figure becomes its alt text (the figures are drawn for the site's two palettes), and
    MkDocs-only attributes are dropped."""
    text = HEADING_ATTRS.sub(r"\1", text)

    def figure(match: re.Match) -> str:
        alt, target = match.groups()
        if "#only-dark" in target:
            return ""
        return "*Figure: " + " ".join(alt.split()) + "*"

    text = IMAGE.sub(figure, text)
    text = ON_THIS_PAGE.sub(r"\1", text)
    base = site_url or "../../"  # the notebook's page is two folders down
    text = PAGE_LINK.sub(lambda m: f"]({base}{_page_path(m.group(1))}{m.group(2) or ''})", text)
    text = text.replace("](downloads/", f"]({base}downloads/")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _page_path(stem: str) -> str:
    """Where the page `stem.md` is, from the site's root."""
    return "" if stem == "index" else f"{stem}/"


def page_cells(
    page_text: str,
    snippet_options: dict,
    wheel: str,
    *,
    site_url: str | None = None,
    site_name: str = "",
    torch_version: str = "",
) -> list[nbformat.NotebookNode]:
    """The notebook's cells: the title and what the notebook is, an install cell, then the page's
    prose and code blocks in order, and the exercises' solutions at the end."""
    text = unwrap(with_solutions_at_the_end(for_the_notebook(page_text)))
    title_line, _, text = text.partition("\n")
    if not title_line.startswith("# "):
        raise ValueError(f"{PAGE} does not start with its title: {title_line!r}")
    note = notebook_note(title_line[2:].strip(), site_name, site_url)
    cells = [
        nbformat.v4.new_markdown_cell(f"{title_line}\n\n*{note}*"),
        nbformat.v4.new_code_cell(install_cell(wheel, site_url, torch_version)),
    ]
    position = 0
    for match in FENCE.finditer(text):
        before = prose(text[position : match.start()], site_url)
        if before:
            cells.append(nbformat.v4.new_markdown_cell(before))
        indent, language, body = match.groups()
        if language in ("python", "py"):
            code = expand(textwrap.dedent(body) if indent else body, snippet_options)
            lines = [line for line in code.split("\n") if not line.lstrip().startswith(OUTPUT_PREFIX)]
            cells.append(nbformat.v4.new_code_cell("\n".join(lines).strip("\n")))
        else:
            cells.append(nbformat.v4.new_markdown_cell(textwrap.dedent(match.group(0))))
        position = match.end()
    rest = prose(text[position:], site_url)
    if rest:
        cells.append(nbformat.v4.new_markdown_cell(rest))
    return cells


def build_notebook(page_text: str, snippet_options: dict, wheel: str, **site) -> nbformat.NotebookNode:
    """The notebook; `site` holds `page_cells`' keyword arguments (site_url, site_name, ...)."""
    notebook = nbformat.v4.new_notebook(
        cells=page_cells(page_text, snippet_options, wheel, **site),
        metadata={
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"},
            "language_info": {"name": "python"},
        },
    )
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"  # stable ids: the same page gives the same notebook
    return notebook


def execute(notebook: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    """Run every cell in a fresh Python kernel; any error fails (no output is ever reused).

    The kernel's channels are encrypted (CurveZMQ, which jupyter_client provisions when the
    kernel declares it, as ipykernel does): plain TCP made the kernel warn at every build that it
    ran "over TCP without encryption"."""
    import zmq
    from nbclient import NotebookClient
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor
    from traitlets.config import Config

    config = Config()
    config.KernelManager.transport_encryption = "auto" if zmq.has("curve") else "disabled"
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(cwd)}},
        config=config,
    )
    # OpenMP's idle threads sleep instead of spinning: the kernel shares the processor with the
    # figures' process and the build, and spinning threads slowed all three.
    client.execute(env={"OMP_WAIT_POLICY": "PASSIVE", **os.environ})
    # A cell's printing arrives in as many messages as its flushes happened to make: joined into
    # one output per stream, and no timestamps, so that the same code gives the same notebook.
    notebook, _ = CoalesceStreamsPreprocessor().preprocess(notebook, {})
    for cell in notebook.cells:
        cell.get("metadata", {}).pop("execution", None)
    return notebook


def script(notebook: nbformat.NotebookNode) -> str:
    """The notebook as a plain Python script in jupytext's percent format."""
    import jupytext

    bare = nbformat.from_dict(notebook)
    for cell in bare.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return jupytext.writes(bare, fmt="py:percent")


def build_wheel(root: Path = ROOT) -> tuple[str, bytes]:
    """Build the paraminit wheel from the tree at `root` (the working tree), in-process; return its
    name and bytes."""
    from setuptools import build_meta

    with tempfile.TemporaryDirectory(prefix="paraminit-wheel-") as tmp:
        source, out = Path(tmp) / "src-tree", Path(tmp) / "dist"
        source.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(root / name, source / name)
        skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
        shutil.copytree(root / "src", source / "src", ignore=skip)
        shutil.copytree(root / "LICENSES", source / "LICENSES")  # pyproject.toml's license-files
        log = io.StringIO()
        with (
            _chdir(source),
            _environ(SOURCE_DATE_EPOCH="315532800"),  # 1980-01-01: a reproducible zip
            contextlib.redirect_stdout(log),
            contextlib.redirect_stderr(log),
        ):
            name = build_meta.build_wheel(str(out))
        return name, (out / name).read_bytes()


@contextlib.contextmanager
def _chdir(path: Path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@contextlib.contextmanager
def _environ(**values: str):
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_workdir: tempfile.TemporaryDirectory | None = None
_wheel: tuple[str, bytes] | None = None
_script: str | None = None
_execution: Future | None = None


def on_config(config):
    """Make the wheel and the notebook, and start executing the notebook in a Jupyter kernel.

    The kernel is another process: it imports torch and runs the cells while this process draws
    the figures and renders the other pages. `on_pre_page` waits for it before its page is read.
    """
    global _workdir, _wheel, _script, _execution
    _finish()
    _workdir = tempfile.TemporaryDirectory(prefix="paraminit-notebook-")
    _wheel = build_wheel()
    page_text = (Path(config["docs_dir"]) / PAGE).read_text()
    notebook = build_notebook(
        page_text,
        _snippet_config(config),
        _wheel[0],
        site_url=config.get("site_url"),
        site_name=config["site_name"],
        torch_version=importlib.metadata.version("torch"),
    )
    _script = script(notebook)
    target = Path(_workdir.name) / NOTEBOOK
    target.parent.mkdir(parents=True, exist_ok=True)
    _execution = ThreadPoolExecutor(1, thread_name_prefix="notebook").submit(
        lambda: nbformat.write(execute(notebook, target.parent), target)
    )
    return config


@event_priority(100)  # before mkdocs-jupyter, which must see the notebook among the files
def on_files(files: Files, config) -> Files:
    wheel_name, wheel_bytes = _wheel
    files.append(File.generated(config, f"downloads/{wheel_name}", content=wheel_bytes))
    files.append(File(NOTEBOOK, _workdir.name, config["site_dir"], config["use_directory_urls"]))
    files.append(File.generated(config, SCRIPT, content=_script))
    return files


@event_priority(100)  # before any plugin touches the page: its file is written when the run ends
def on_pre_page(page, config, files):
    """Wait for the notebook's execution before its page is read: a cell that raised fails the
    build here. The notebook's page comes last (on_files appends it), so the other pages are
    rendered while the kernel runs."""
    if page.file.src_uri == NOTEBOOK:
        _execution.result()
    return page


def _finish() -> None:
    """Wait for a running execution (a build that failed early leaves one) and remove its folder."""
    global _workdir, _execution
    if _execution is not None:
        _execution.exception()  # waits; its error, if any, was raised by on_pre_page already
        _execution = None
    if _workdir is not None:
        _workdir.cleanup()
        _workdir = None


def on_build_error(error) -> None:
    _finish()


MATH_BLOCK = re.compile(r"\$\$(.+?)\$\$", re.DOTALL)
MATH_INLINE = re.compile(r"(?<![\\$])\$(?!\$)(.+?)(?<![\\$])\$")
RENDERED_MARKDOWN = re.compile(
    r'(<div class="jp-RenderedHTMLCommon jp-RenderedMarkdown[^"]*"[^>]*>)(.*?)(</div>)', re.DOTALL
)


def arithmatex(html: str) -> str:
    """Math in rendered markdown cells as pymdownx.arithmatex marks it on every other page."""

    def cell(match: re.Match) -> str:
        body = MATH_BLOCK.sub(
            lambda m: f'<div class="arithmatex">\\[{m.group(1).strip()}\\]</div>', match.group(2)
        )
        body = MATH_INLINE.sub(lambda m: f'<span class="arithmatex">\\({m.group(1)}\\)</span>', body)
        body = re.sub(r'<p>\s*(<div class="arithmatex">.*?</div>)\s*</p>', r"\1", body, flags=re.DOTALL)
        return match.group(1) + body + match.group(3)

    return RENDERED_MARKDOWN.sub(cell, html)


# nbconvert's template asks for MathJax (here with an empty URL) and for mermaid from a CDN; this
# site typesets math itself and loads nothing from another host.
FOREIGN_SCRIPTS = re.compile(
    r'<script src="">\s*</script>'
    r'|(?:<!-- MathJax configuration -->\s*)?<script type="text/x-mathjax-config">.*?</script>'
    r'|<script type="module">(?:(?!</script>).)*?mermaid.*?</script>',
    re.DOTALL,
)


# mkdocs-jupyter renders a notebook with JupyterLab's stylesheets (about 600 KB, inlined in the page)
# and a clipboard script of its own. The page uses the site's instead: its code cells become the
# theme's code blocks (the site's colours, copy button, keyboard access), and site.css lays out the
# few notebook classes left. Each pattern must match, so a template change fails the build.
NOTEBOOK_STYLES = re.compile(r"<style[^>]*>.*?</style>", re.DOTALL)
CLIPBOARD = re.compile(
    r'<div class="zeroclipboard-container">\s*<clipboard-copy.*?</clipboard-copy>\s*</div>'
    r"|<script>(?:(?!</script>).)*?clipboard-copy.*?</script>"
    r'|<div class="clipboard-copy-txt" id="cell-\d+">.*?</div>',  # the cell's text again, for its button
    re.DOTALL,
)
CODE_CELL = re.compile(
    r'<div class="highlight-ipynb hl-python"><pre([^>]*)>(<span></span>)?(.*?)</pre>', re.DOTALL
)
# Tab stops on wrappers that do not scroll (the <pre> inside an output gets its own).
WRAPPER_TAB_STOP = re.compile(
    r'(<div class="(?:jp-Cell-(?:input|output)Wrapper|jp-RenderedText jp-OutputArea-output)"'
    r'(?: data-mime-type="[^"]*")?) tabindex="0"'
)


def _slim(html: str) -> str:
    """The notebook's markup with the site's styles instead of JupyterLab's."""
    replaced = {}
    for name, pattern, replacement in (
        ("stylesheets", NOTEBOOK_STYLES, ""),
        ("clipboard", CLIPBOARD, ""),
        ("code cells", CODE_CELL, r'<div class="highlight"><pre\1><span></span><code>\3</code></pre>'),
        ("tab stops", WRAPPER_TAB_STOP, r"\1"),
    ):
        html, replaced[name] = pattern.subn(replacement, html)
    missing = [name for name, count in replaced.items() if not count]
    if missing:
        raise ValueError(f"the notebook page's markup changed, nothing matched: {missing}")
    return html


def on_page_content(html: str, page, config, files) -> str:
    if page.file.src_uri != NOTEBOOK:
        return html
    # The chapter page already answers every search this page would: one result, not two.
    page.meta["search"] = {"exclude": True}
    html = _slim(FOREIGN_SCRIPTS.sub("", html))
    links = (
        '<p class="notebook-downloads">Download: '
        '<a href="parameter-initialization.ipynb" download>the notebook</a> · '
        '<a href="parameter-initialization.py" download>the script</a> · '
        f'<a href="../../downloads/{_wheel_name(files)}" download>the paraminit wheel</a>. '
        "This notebook is the chapter page, executed when the site was built.</p>\n"
    )
    return links + arithmatex(html)


def _wheel_name(files: Files) -> str:
    for file in files:
        if file.src_uri.startswith("downloads/") and file.src_uri.endswith(".whl"):
            return file.src_uri.removeprefix("downloads/")
    raise LookupError("the wheel was not built")


def on_post_build(config) -> None:
    _finish()
