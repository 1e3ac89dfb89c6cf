"""What a reader who takes only the site gets: a fresh environment set up by the site's own
instructions, in which the notebook runs top to bottom and every block the pages show runs.

One environment per test run, shared by the tests below. It is a new virtual environment that
holds only what the instructions install: first the notebook's install cell (PyTorch's CPU build,
as this Python has no torch, then the site's wheel saved next to the notebook), then the pages'
own install commands (`snippets/install.sh`, which find everything installed). pip runs offline
there, set up through its own environment variables, not by editing a command: no configuration
file, no index, and one folder of wheels, which holds the CPU wheel of the torch this run uses and
what the pages' commands need besides (filled by `pip download` with this machine's settings and
kept in pytest's cache between runs), so that a command naming PyTorch's CPU index gets that
same wheel.

One process of the environment's Python (`tests/block_runner.py`, standard library only) runs, in
order, the notebook's cells (in one namespace), the pages' install commands, and every Python
block of every page and every example of the API reference page (each in fresh globals, as
`pytest --markdown-docs` reads them: the root conftest.py's parser, includes expanded). Each must
print what the site shows: the notebook's saved outputs, a block's `#>` lines. A chapter block that
is a notebook cell, byte for byte, is not run a second time: its cell's output is checked against
its `#>` lines.
"""

from __future__ import annotations

import ensurepip
import hashlib
import inspect
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import venv
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from page_code import shown_blocks
from pytest_markdown_docs.plugin import FenceSyntax, extract_fence_tests
from test_docstrings import objects_with_docstrings, python_fences

from paraminit import get_device

ROOT = Path(__file__).parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md"))
RUNNER = Path(__file__).with_name("block_runner.py")
NOTEBOOK = "notebook/parameter-initialization/parameter-initialization.ipynb"
INSTALL_SNIPPET = "snippets/install.sh"
TRAINING_SNIPPET = "snippets/training.py"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
WHEEL_NAME = "paraminit-0.1.0-py3-none-any.whl"
REFERENCE = re.compile(r"^::: (\S+)\n((?:[ \t]+.*\n)*)", re.MULTILINE)
MEMBERS = re.compile(r"members:\s*\[([^\]]*)\]")


def _unavailable(reason: str) -> None:
    """Skip, except in CI (PARAMINIT_REQUIRE_FRESH_ENV=1), where a missing piece is a failure."""
    if os.environ.get("PARAMINIT_REQUIRE_FRESH_ENV") == "1":
        pytest.fail(f"PARAMINIT_REQUIRE_FRESH_ENV=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def install_commands() -> list[list[str]]:
    """The `pip install` lines the pages show from snippets/install.sh, each as its arguments."""
    commands = []
    for page in PAGES:
        for block in shown_blocks(page):
            if block.lines and all(line.origin.startswith(INSTALL_SNIPPET) for line in block.lines):
                for line in block.code.splitlines():
                    words = shlex.split(line, comments=True)
                    if words and words[1:] not in commands:
                        assert words[:2] == ["pip", "install"], f"{block}: not a pip install: {line}"
                        commands.append(words[1:])
    return commands


def page_blocks(config: pytest.Config) -> list[dict]:
    """Every Python block of every page as `pytest --markdown-docs` runs it, then the examples of
    the docstrings the API reference page renders."""
    parser = config.hook.pytest_markdown_docs_markdown_it()
    blocks = []
    for page in PAGES:
        fences = extract_fence_tests(parser, page.read_text(), 0, page, fence_syntax=FenceSyntax.superfences)
        for index, fence in enumerate(fences, start=1):
            blocks.append(
                {"id": f"docs/{page.name}, block {index} (line {fence.start_line})", "code": fence.source}
            )
    for name, code in reference_examples():
        blocks.append({"id": f"docs/reference.md: {name}", "code": code})
    return blocks


def reference_examples() -> list[tuple[str, str]]:
    """The examples in the docstrings that docs/reference.md renders (`::: module` and its members)."""
    shown = {}
    for module, options in REFERENCE.findall((ROOT / "docs" / "reference.md").read_text()):
        members = MEMBERS.search(options)
        shown[module] = [m.strip() for m in members[1].split(",")] if members else None
    examples = []
    for name, obj in objects_with_docstrings():
        module = next((m for m in shown if name == m or name.startswith(m + ".")), None)
        if module is None:
            continue
        member = name.removeprefix(module + ".").split(".")[0] if name != module else None
        if member is None or shown[module] is None or member in shown[module]:
            examples += [(f"{name} #{i}", code) for i, code in enumerate(python_fences(inspect.getdoc(obj)))]
    return examples


def expected_output(code: str) -> list[str]:
    """What a block's `#>` lines say it prints, line by line."""
    lines = []
    for line in code.splitlines():
        text = line.strip()
        if text.startswith("#>"):
            lines.append(text[3:] if text.startswith("#> ") else text[2:])
    return lines


@dataclass
class FreshEnv:
    python: Path
    workdir: Path  # where the reader saved the notebook and the wheel
    pip_env: dict[str, str]
    wheels: Path
    had_torch: bool = False  # before the notebook's install cell ran
    cells: list[dict] = field(default_factory=list)  # the notebook's code cells, with their outputs
    blocks: list[dict] = field(default_factory=list)  # the pages' blocks, with what ran them
    commands: list[dict] = field(default_factory=list)  # the pages' install commands, as blocks
    results: dict[str, dict] = field(default_factory=dict)  # by block id
    log: str = ""

    def run(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            args, env=self.pip_env, cwd=self.workdir, capture_output=True, text=True, **kwargs
        )

    def run_blocks(self, blocks: list[dict]) -> None:
        spec, out = self.workdir / "blocks.json", self.workdir / "results.json"
        spec.write_text(json.dumps({"blocks": blocks}))
        # -I: nothing from PYTHONPATH, the user's site-packages or the runner's own folder.
        run = self.run([str(self.python), "-I", str(RUNNER), str(spec), str(out)], timeout=900)
        assert run.returncode == 0, f"the block runner failed:\n{run.stdout}\n{run.stderr}"
        self.results = {result["id"]: result for result in json.loads(out.read_text())}
        self.log = run.stdout + run.stderr

    def distributions(self) -> dict[str, str]:
        script = (
            "import importlib.metadata as m, json\n"
            "print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions()}))"
        )
        run = self.run([str(self.python), "-I", "-c", script])
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)


def _bare(code: str) -> str:
    """Code without its `#>` lines and surrounding blank lines: a page block as a notebook cell."""
    return "\n".join(line for line in code.splitlines() if not line.lstrip().startswith("#>")).strip()


def _is_cpu_build(wheel: Path) -> bool:
    requires = [line.lower() for line in _metadata(wheel) if line.startswith("Requires-Dist")]
    return not any("nvidia" in line or "triton" in line for line in requires)


def _offline_wheels(cache: Path, site_wheel: Path) -> Path:
    """A folder with the CPU wheel of this run's torch, from pip's local wheels, and what the
    pages' install commands need besides (pip download, this machine's settings, torch held to
    that wheel). Kept in `cache` between runs, under a name made of what decides its contents."""
    version = torch.__version__.split("+")[0]
    commands = install_commands()
    requires = [line for line in _metadata(site_wheel) if line.startswith("Requires-Dist")]
    key = hashlib.sha256(json.dumps([torch.__version__, commands, requires]).encode()).hexdigest()[:16]
    folder = cache / f"wheels-{key}"
    if (folder / "complete").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "download", "--only-binary=:all:"]
    # pip's local wheels (find-links) hold the CPU build on this project's machines; elsewhere,
    # PARAMINIT_TORCH_CPU_INDEX names PyTorch's CPU index (as CI on GitHub does).
    index = os.environ.get("PARAMINIT_TORCH_CPU_INDEX")
    source = ["--index-url", index] if index else ["--no-index"]
    found = subprocess.run(
        [*pip, *source, "--no-deps", "-d", str(folder), f"torch=={version}"], capture_output=True, text=True
    )
    wheels = sorted(folder.glob("torch-*.whl"))
    if found.returncode or not wheels or not _is_cpu_build(wheels[0]):
        where = index or "pip's local wheels (find-links)"
        _unavailable(f"no CPU wheel of torch {version} from {where}: {found.stderr[-500:]}")
    held = folder / "torch-constraint.txt"
    held.write_text(f"torch=={wheels[0].name.split('-')[1]}\n")
    words = [
        str(site_wheel) if word == site_wheel.name else word
        for args in commands
        for word in args[1:]
        if word not in ("--index-url", CPU_INDEX)
    ]
    subprocess.run(
        [*pip, "-d", str(folder), "--find-links", str(folder), "-c", str(held), *words], check=True
    )
    site_wheel_copy = folder / site_wheel.name
    site_wheel_copy.unlink(missing_ok=True)  # the reader's wheel is the one saved next to the notebook
    (folder / "complete").touch()
    return folder


def _metadata(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return archive.read(name).decode().splitlines()


def _pip_env(wheels: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "PYTHON", "PARAMINIT_", "VIRTUAL_ENV"))
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull,  # no pip.conf: nothing but what is set here
        PIP_NO_INDEX="1",  # offline: an --index-url on a command line is not consulted
        PIP_FIND_LINKS=str(wheels),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        # No byte-compiling of torch's 5,000 modules at install (pip reads a --no-* switch's
        # variable the other way round: 0 turns compiling off). Nothing else changes.
        PIP_NO_COMPILE="0",
    )
    return env


@pytest.fixture(scope="session")
def fresh_env(tmp_path_factory, request) -> FreshEnv:
    if get_device().type != "cpu":
        pytest.skip("the reader's environment is set up with a CPU torch; this run tests another device")
    built_site = request.getfixturevalue("built_site")
    base = tmp_path_factory.mktemp("reader")
    # Without pytest's cache (`-p no:cacheprovider`) the folder of wheels is made again each run.
    cache = getattr(request.config, "cache", None)
    cache = cache.mkdir("reader-wheels") if cache is not None else base
    site_wheel = next((built_site / "downloads").glob("paraminit-*.whl"))
    wheels = _offline_wheels(cache, site_wheel)
    env = base / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    pip_env = _pip_env(wheels)
    # pip itself, from the wheel Python ships for `ensurepip` (run from inside the wheel, offline).
    bundled = next((Path(ensurepip.__file__).parent / "_bundled").glob("pip-*.whl"))
    subprocess.run(
        [str(python), f"{bundled}/pip", "install", "-q", "--no-index", str(bundled)],
        env=pip_env,
        check=True,
        capture_output=True,
    )
    workdir = base / "reader"
    workdir.mkdir()
    shutil.copy2(built_site / NOTEBOOK, workdir)
    shutil.copy2(site_wheel, workdir)
    notebook = json.loads((workdir / Path(NOTEBOOK).name).read_text())
    reader = FreshEnv(python, workdir, pip_env, wheels)
    reader.cells = [
        {"id": f"notebook cell {index}", "code": "".join(cell["source"]), "outputs": cell.get("outputs", [])}
        for index, cell in enumerate(notebook["cells"])
        if cell["cell_type"] == "code"
    ]
    reader.had_torch = "torch" in reader.distributions()
    by_code = {_bare(cell["code"]): cell["id"] for cell in reader.cells}
    commands = [
        {"id": f"pip {shlex.join(args)}", "code": f"import subprocess, sys\n{_pip_call(args)}"}
        for args in install_commands()
    ]
    reader.blocks = [
        dict(block, ran_as=by_code.get(_bare(block["code"]))) for block in page_blocks(request.config)
    ]
    reader.commands = commands
    reader.run_blocks(
        [{"id": c["id"], "code": c["code"], "namespace": "notebook"} for c in reader.cells]
        + commands
        + [{"id": b["id"], "code": b["code"]} for b in reader.blocks if b["ran_as"] is None]
    )
    return reader


def _pip_call(args: list[str]) -> str:
    return f"subprocess.check_call([sys.executable, '-m', 'pip', *{args!r}])"


def _printed(outputs: list[dict]) -> str:
    return "".join(
        "".join(out["text"]) for out in outputs if out["output_type"] == "stream" and out["name"] == "stdout"
    )


@pytest.mark.slow
def test_the_notebook_runs_top_to_bottom_in_a_fresh_environment_from_its_own_instructions(fresh_env):
    assert not fresh_env.had_torch
    results = [fresh_env.results[cell["id"]] for cell in fresh_env.cells]
    errors = [r for r in results if r["error"]]
    assert not errors, f"{errors[0]['id']} failed:\n{errors[0]['error']}\n{fresh_env.log[-3000:]}"
    # Each cell after the install cell prints what the site's copy of the notebook shows.
    for cell, result in list(zip(fresh_env.cells, results, strict=True))[1:]:
        assert result["printed"] == _printed(cell["outputs"]), cell["code"]


@pytest.mark.slow
def test_the_notebook_installs_the_cpu_build_of_torch_and_no_cuda_package(fresh_env):
    installed = fresh_env.distributions()
    torch_wheel = next(fresh_env.wheels.glob("torch-*.whl"))
    assert installed["torch"] == torch_wheel.name.split("-")[1]
    assert _is_cpu_build(torch_wheel)
    assert not [name for name in installed if name.startswith(("nvidia", "triton"))]
    run = fresh_env.run([str(fresh_env.python), "-I", "-c", "import torch; print(torch.version.cuda)"])
    assert run.stdout.split()[-1] == "None"


@pytest.mark.slow
def test_the_environment_holds_only_torch_the_wheel_and_what_they_declare(fresh_env):
    installed = fresh_env.distributions()
    offered = {
        re.split(r"-\d", w.name, maxsplit=1)[0].replace("_", "-").lower()
        for w in fresh_env.wheels.glob("*.whl")
    }
    normalized = {name.replace("_", "-") for name in installed}
    assert "scikit-learn" not in normalized
    assert normalized <= offered | {"pip", "paraminit"}, normalized - offered
    assert {"torch", "numpy", "paraminit"} <= normalized  # NumPy: declared by the wheel


@pytest.mark.slow
def test_every_page_block_runs_and_prints_its_output_lines_with_only_torch_and_the_wheel(fresh_env):
    commands = [fresh_env.results[c["id"]] for c in fresh_env.commands]
    assert len(commands) == 2 and not [c for c in commands if c["error"]], commands
    blocks = fresh_env.blocks
    assert len(blocks) >= 60 and sum(1 for b in blocks if b["ran_as"]) >= 20
    results = [fresh_env.results[block["ran_as"] or block["id"]] for block in blocks]
    failed = [
        f"{b['id']} ({r['id']}):\n{r['error']}" for b, r in zip(blocks, results, strict=True) if r["error"]
    ]
    assert not failed, f"{len(failed)} of {len(blocks)} blocks failed:\n" + "\n".join(failed)
    wrong = [
        f"{block['id']}: printed {result['printed']!r}"
        for block, result in zip(blocks, results, strict=True)
        if [line.rstrip() for line in result["printed"].splitlines()] != expected_output(block["code"])
    ]
    assert not wrong, "blocks printing something else than their #> lines:\n" + "\n".join(wrong)


@pytest.mark.slow
def test_the_training_blocks_and_exercises_11_to_13_run_with_only_torch_and_the_wheel(fresh_env):
    """The blocks that train on the digits, which the wheel ships (scikit-learn is not there): the
    why page's, run as page blocks, and the chapter's exercises 11 to 13, run as notebook cells."""
    by_code = {_bare(block["code"]): block for block in fresh_env.blocks}
    for page, count, where in (
        ("why-initialization.md", 3, "page"),
        ("parameter-initialization.md", 3, "notebook"),
    ):
        shown = [
            _bare(block.code)
            for block in shown_blocks(ROOT / "docs" / page)
            if any(line.origin.startswith(TRAINING_SNIPPET) for line in block.lines)
        ]
        assert len(shown) == count, page
        for code in shown:
            block = by_code.get(code)
            assert block is not None, f"docs/{page}: a training block was not run:\n{code}"
            assert (block["ran_as"] or "").startswith("notebook cell") is (where == "notebook"), block["id"]
            result = fresh_env.results[block["ran_as"] or block["id"]]
            assert result["error"] is None, f"{block['id']}:\n{result['error']}"
            assert result["printed"], block["id"]
    assert "scikit-learn" not in fresh_env.distributions()


def test_the_pages_name_the_torch_the_site_was_built_with_and_both_builds(built_site):
    """The version is the build's own (`{{ torch_version }}` on the page), not typed in."""
    for page in ("index.html", "parameter-initialization/index.html"):
        html = (built_site / page).read_text()
        assert f"tested with torch {torch.__version__}" in " ".join(html.split()), page
        assert CPU_INDEX in html and "https://pytorch.org/get-started/locally/" in html, page
    for page in built_site.rglob("*.html"):
        assert "torch_version" not in page.read_text(), page
    for source in ("index.md", "parameter-initialization.md"):
        assert "torch {{ torch_version }}" in (ROOT / "docs" / source).read_text()
    assert install_commands() == [["install", "torch", "--index-url", CPU_INDEX], ["install", WHEEL_NAME]]
