"""The chapter as a notebook, a script and the library as a wheel, on the built site; the figures."""

from __future__ import annotations

import importlib.util
import json
import re
import textwrap
import zipfile
from pathlib import Path

import pytest
from page_code import snippet_config
from snippets_check import OUTPUT_PREFIX, sections

ROOT = Path(__file__).parents[1]
NOTEBOOK_DIR = "notebook/parameter-initialization"
INCLUDE = re.compile(r'--8<-- "snippets/([\w-]+)\.py:([\w-]+)"')


def _hook():
    spec = importlib.util.spec_from_file_location("notebook_hook", ROOT / "docs" / "hooks" / "notebook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def notebook(built_site: Path) -> dict:
    return json.loads((built_site / NOTEBOOK_DIR / "parameter-initialization.ipynb").read_text())


def _expected_output(includes: list[tuple[str, str]]) -> str:
    """The `#>` lines of the included sections: `(file stem, section name)` pairs from snippets/."""
    lines = []
    for stem, name in includes:
        by_name = {s.name: s for s in sections(ROOT / "snippets" / f"{stem}.py")}
        for line in by_name[name].lines:
            if line.lstrip().startswith(OUTPUT_PREFIX):
                lines.append(line.lstrip()[len(OUTPUT_PREFIX) + 1 :])
    return "\n".join(lines)


def test_notebook_outputs_equal_the_pages_output_lines(notebook):
    """Every block of the page is a cell (the solutions moved to the end), printing its `#>` lines."""
    page = (ROOT / "docs" / "parameter-initialization.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, re.DOTALL)
    code_cells = [c for c in notebook["cells"] if c["cell_type"] == "code"][1:]  # after the install cell
    assert len(code_cells) == len(blocks) >= 29
    by_code = {"".join(cell["source"]): cell for cell in code_cells}
    hook, options = _hook(), snippet_config()
    for block in blocks:
        names = INCLUDE.findall(block)
        code = "\n".join(
            line
            for line in hook.expand(textwrap.dedent(block), options).split("\n")
            if not line.lstrip().startswith(OUTPUT_PREFIX)
        )
        cell = by_code[code.strip("\n")]
        printed = "".join(
            "".join(out["text"])
            for out in cell["outputs"]
            if out["output_type"] == "stream" and out["name"] == "stdout"
        )
        assert all(out["output_type"] == "stream" for out in cell["outputs"]), cell["outputs"]
        assert printed.rstrip("\n") == _expected_output(names), block


def test_each_cell_prints_in_one_output_so_every_build_gives_the_same_notebook(notebook):
    """The kernel sends a cell's printing in as many messages as its flushes happened to make: kept
    as they came, one build shows a cell's output as one block and the next as two."""
    for cell in notebook["cells"]:
        names = [out["name"] for out in cell.get("outputs", []) if out["output_type"] == "stream"]
        assert len(names) == len(set(names)), (cell["source"][:80], cell["outputs"])


def test_notebook_cells_are_the_pages_code_without_output_lines(notebook):
    sources = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    assert 'find_spec("paraminit")' in sources[0] and "paraminit-0.1.0-py3-none-any.whl" in sources[0]
    assert not any(
        OUTPUT_PREFIX in line.split("#", 1)[0] or line.lstrip().startswith(OUTPUT_PREFIX)
        for src in sources
        for line in src.splitlines()
    )
    assert any("def my_init(module):" in src for src in sources)


def test_notebook_keeps_the_prose_and_math_and_drops_site_only_markup(notebook):
    text = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown")
    assert "$$" in text and r"\begin{cases}" in text and r"\tfrac{1}{4}" in text
    assert "--8<--" not in text and "???" not in text and "!!!" not in text and "#only-" not in text
    assert "## Solutions" in text and "### Exercise 8" in text and "*Figure: " in text


def test_notebook_page_has_typeset_math_downloads_and_no_foreign_scripts(built_site):
    """The notebook's math is marked as on every page, so the build typesets it the same way."""
    html = (built_site / NOTEBOOK_DIR / "index.html").read_text()
    chapter = (built_site / "parameter-initialization" / "index.html").read_text()
    inline = '<span class="arithmatex"><span class="katex">'
    assert html.count(inline) == chapter.count(inline) > 20
    display = re.findall(r'<div class="arithmatex"[^>]*><span class="katex-display">', html)
    assert len(display) == chapter.count('<span class="katex-display">') >= 2
    assert '<annotation encoding="application/x-tex">w \\sim \\begin{cases}' in html
    assert "<p><div" not in html
    body = html[html.find('class="jupyter-wrapper"') :]
    body = re.sub(r"<style.*?</style>", "", body, flags=re.DOTALL)
    text = re.sub(r"<[^>]+>", "", re.sub(r'<div class="highlight-ipynb.*?</div>', "", body, flags=re.DOTALL))
    assert not re.search(r"(?<!\\)\$[^$\s]", text.split("Download:")[0]), "raw $ math left"
    assert 'src=""' not in html and "x-mathjax-config" not in html and "cdnjs" not in html
    for target in ("parameter-initialization.ipynb", "parameter-initialization.py"):
        assert f'href="{target}" download' in html and (built_site / NOTEBOOK_DIR / target).is_file()
    assert 'href="../../downloads/paraminit-0.1.0-py3-none-any.whl" download' in html


def test_the_script_is_the_notebook_in_percent_format_and_runs(built_site, notebook, capsys):
    script = (built_site / NOTEBOOK_DIR / "parameter-initialization.py").read_text()
    assert script.count("# %%") == sum(1 for c in notebook["cells"]) - sum(
        1 for c in notebook["cells"] if c["cell_type"] == "markdown"
    ) + script.count("# %% [markdown]")
    exec(compile(script, "parameter-initialization.py", "exec"), {"__name__": "__main__"})
    assert "Init weight torch.Size([8, 4])" in capsys.readouterr().out


def test_the_wheel_holds_the_library_its_data_and_their_licences_byte_for_byte(built_site):
    wheel = built_site / "downloads" / "paraminit-0.1.0-py3-none-any.whl"
    package = ROOT / "src" / "paraminit"
    files = {
        f"paraminit/{path.relative_to(package).as_posix()}": path
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert "paraminit/datasets/digits.csv.gz" in files
    licences = {
        f"paraminit-0.1.0.dist-info/licenses/LICENSES/{p.name}": p for p in (ROOT / "LICENSES").iterdir()
    }
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for name, path in {**files, **licences}.items():
            assert archive.read(name) == path.read_bytes(), name
        assert {n for n in names if n.startswith("paraminit/")} == set(files)
        metadata = archive.read("paraminit-0.1.0.dist-info/METADATA").decode()
    assert (
        "Name: paraminit" in metadata and "Version: 0.1.0" in metadata and "Requires-Dist: torch" in metadata
    )
    # The digits ship in the wheel: no extra brings scikit-learn for them.
    assert "Provides-Extra: data" not in metadata
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist: scikit-learn")]
    assert requires and all('extra == "test"' in line for line in requires)
    name, again = _hook().build_wheel()
    assert name == wheel.name and again == wheel.read_bytes()  # the same sources, the same bytes


def test_pages_link_the_wheel_and_the_notebook(built_site):
    for page in ("index.html", "parameter-initialization/index.html"):
        html = (built_site / page).read_text()
        assert "downloads/paraminit-0.1.0-py3-none-any.whl" in html
        assert "notebook/parameter-initialization/" in html


def test_every_relative_link_on_the_notebook_page_reaches_a_built_file(built_site):
    """The chapter's links are rewritten for the notebook's place on the site (two folders down)."""
    page = built_site / NOTEBOOK_DIR / "index.html"
    html = page.read_text()
    body = html[html.find('class="jupyter-wrapper"') :]
    targets = set(re.findall(r'href="((?!https?:|#|mailto:)[^"]+)"', body))
    assert len(targets) >= 5
    broken = []
    for target in sorted(targets):
        path = (page.parent / target.split("#")[0]).resolve()
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            broken.append(target)
    assert not broken, f"links from the notebook page to nothing: {broken}"


def test_search_indexes_the_chapter_once_not_again_as_the_notebook(built_site):
    docs = json.loads((built_site / "search" / "search_index.json").read_text())["docs"]
    pages = {doc["location"].split("#")[0] for doc in docs}
    assert "parameter-initialization/" in pages
    assert not [page for page in pages if page.startswith("notebook/")]


# ------------------------------------------------------------------------------------------------
# The notebook reads as a notebook, wherever it is opened

SITE_URL = "https://example.org/paraminit/"
WHEEL = "paraminit-0.1.0-py3-none-any.whl"
LINK = re.compile(r"\]\(([^)\s]+)\)|href=\"([^\"]+)\"")


def _notebook_for(site_url: str | None) -> dict:
    """The notebook the hook makes from the chapter page (not executed), for a site at `site_url`."""
    hook = _hook()
    page = (ROOT / "docs" / "parameter-initialization.md").read_text()
    return hook.build_notebook(
        page, snippet_config(), WHEEL, site_url=site_url, site_name="Site", torch_version="9.9"
    )


def _markdown(notebook) -> list[str]:
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown"]


def _links(notebook) -> list[str]:
    return [a or b for text in _markdown(notebook) for a, b in LINK.findall(text)]


def test_the_notebook_has_no_page_instructions_and_no_link_to_itself(notebook):
    text = "\n".join(_markdown(notebook))
    for page_only in ("#>", "pytest", "markdown-docs", "page only", "notebook only", "<!--", "{{"):
        assert page_only not in text, page_only
    assert not [link for link in _links(notebook) if link.startswith("#") or link.endswith(".ipynb")]
    assert text.startswith("# 6.3 Parameter Initialization\n\n*This notebook is the page")


def test_the_pages_notebook_only_text_is_in_the_notebook_and_not_on_the_page(built_site, notebook):
    text = " ".join("\n".join(_markdown(notebook)).split())
    assert "The solutions are at the end of this notebook, after the references" in text
    chapter = (built_site / "parameter-initialization" / "index.html").read_text()
    assert "The solutions are at the end" not in re.sub(r"<!--.*?-->", "", chapter, flags=re.DOTALL)
    assert "open it after you have tried" in chapter and "pytest --markdown-docs" in chapter


def test_solutions_are_at_the_end_after_every_exercise_and_the_references(notebook):
    """Read top to bottom, the notebook shows every exercise, then the references, and only then
    the solutions, each under the number of its exercise, code included."""
    text = "\n".join(
        "".join(c["source"]) if c["cell_type"] == "markdown" else "<code cell>" for c in notebook["cells"]
    )
    exercises, references = text.index("\n## Exercises\n"), text.index("\n## References\n")
    solutions = text.index("\n## Solutions\n")
    assert exercises < references < solutions and text.count("\n## Solutions\n") == 1
    assert "<code cell>" not in text[exercises:solutions] and "Solution" not in text[:solutions]
    page = (ROOT / "docs" / "parameter-initialization.md").read_text()
    count = page.count('??? success "Solution"')
    shown = re.findall(r"^### Exercise (\d+)$", text[solutions:], re.MULTILINE)
    assert count >= 8 and shown == [str(n) for n in range(1, count + 1)]
    assert text[solutions:].count("<code cell>") == page[page.index("## Exercises") :].count("```python")


def test_with_a_site_url_every_link_is_absolute_and_reaches_a_built_page(built_site):
    notebook = _notebook_for(SITE_URL)
    links = _links(notebook)
    assert len(links) >= 10
    assert [link for link in links if not link.startswith("https://")] == []
    ours = [link.removeprefix(SITE_URL) for link in links if link.startswith(SITE_URL)]
    assert len(ours) >= 6
    for path in ours:
        target = built_site / path.split("#")[0]
        assert (target / "index.html" if target.is_dir() else target).is_file(), path
    install = "".join(notebook["cells"][1]["source"])
    assert f"{SITE_URL}downloads/{WHEEL}" in install


def test_without_a_site_url_the_notebook_says_why_its_site_links_are_relative(notebook):
    assert "No address was set for the site when it was built" in _markdown(notebook)[0]
    assert "No address was set" not in _markdown(_notebook_for(SITE_URL))[0]


def _run_install_cell(source, folder, monkeypatch, *, have=(), wheel_saved=True):
    """Run the install cell with pip replaced by a recorder; return the pip commands it ran."""
    import importlib.util
    import subprocess

    monkeypatch.chdir(folder)
    if wheel_saved:
        (folder / WHEEL).write_bytes(b"")
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: (
            (object() if name in have else None) if name in ("torch", "paraminit") else find_spec(name, *a)
        ),
    )
    commands = []
    monkeypatch.setattr(
        subprocess, "check_call", lambda args: commands.append(args[4:])
    )  # after "pip install"
    exec(compile(source, "install cell", "exec"), {})
    return commands


def test_the_install_cell_installs_the_cpu_torch_only_where_there_is_none_then_the_wheel(
    tmp_path, monkeypatch
):
    cell = _hook().install_cell(WHEEL, SITE_URL, "9.9")
    cpu = ["torch", "--index-url", "https://download.pytorch.org/whl/cpu"]
    assert _run_install_cell(cell, tmp_path, monkeypatch) == [cpu, [WHEEL]]
    assert _run_install_cell(cell, tmp_path, monkeypatch, have={"torch"}) == [[WHEEL]]  # left alone
    assert _run_install_cell(cell, tmp_path, monkeypatch, have={"torch", "paraminit"}) == []
    assert "https://pytorch.org/get-started/locally/" in cell and "tested with torch 9.9" in cell


def test_the_install_cell_gives_the_wheels_address_when_it_is_missing(tmp_path, monkeypatch):
    cell = _hook().install_cell(WHEEL, SITE_URL, "9.9")
    with pytest.raises(FileNotFoundError, match=re.escape(f"{SITE_URL}downloads/{WHEEL}")):
        _run_install_cell(cell, tmp_path, monkeypatch, have={"torch"}, wheel_saved=False)


def test_the_built_notebooks_install_cell_names_the_torch_the_site_was_built_with(notebook):
    import torch

    install = "".join(notebook["cells"][1]["source"])
    assert install == _hook().install_cell(WHEEL, None, torch.__version__)
