"""The site offers its sources: an archive of the files the repository tracks, which unpacks into a
tree that builds the site's wheel and passes `make check`."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
# What `make test` and `make check` need besides the library and its tests.
NEEDED = [
    "Makefile",
    "pyproject.toml",
    "constraints.txt",
    "package.json",
    "package-lock.json",
    "conftest.py",
    "mkdocs.yml",
    "tests/conftest.py",
    "docs/index.md",
    "snippets/chapter.py",
    "src/paraminit/__init__.py",
    "LICENSES/CC-BY-SA-4.0.txt",
]


def _hook(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_hook", ROOT / "docs" / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _git_files() -> list[str]:
    """What git tracks in this checkout, and new files it does not ignore, that are on disk."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"not a git checkout, nothing to compare the archive with: {error}")
    return sorted(name for name in set(listed.split("\0")) if name and (ROOT / name).is_file())


@pytest.fixture(scope="module")
def archive(built_site: Path) -> Path:
    return built_site / "downloads" / _hook("install").archive_name()


@pytest.fixture(scope="module")
def unpacked(archive: Path, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sources")
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    (tree,) = folder.iterdir()
    return tree


def test_the_source_archive_holds_every_file_git_tracks_as_it_is_and_nothing_else(archive):
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        prefix = f"paraminit-{_hook('install').project_version()}/"
        assert all(m.name.startswith(prefix) for m in members)
        names = [m.name.removeprefix(prefix) for m in members]
        assert names == _git_files()
        for member in members:
            path = ROOT / member.name.removeprefix(prefix)
            assert tar.extractfile(member).read() == path.read_bytes(), member.name
            assert member.mode == (0o755 if path.stat().st_mode & 0o100 else 0o644), member.name
    assert set(NEEDED) <= set(names)


def test_the_same_files_give_the_same_archive(archive):
    assert _hook("install").source_archive() == archive.read_bytes()


def test_an_unpacked_archive_gives_the_same_archive_again_without_git(archive, unpacked):
    """Outside a git checkout the files are those .gitignore does not ignore: the same ones."""
    assert not (unpacked / ".git").exists()
    assert _hook("install").source_archive(unpacked) == archive.read_bytes()


def test_the_sources_build_the_sites_wheel_byte_for_byte(built_site, unpacked):
    name, wheel = _hook("notebook").build_wheel(unpacked)
    assert wheel == (built_site / "downloads" / name).read_bytes()


def test_pages_link_the_sources_where_they_speak_of_the_repository(built_site):
    name = _hook("install").archive_name()
    for page in ("index.html", "library/index.html", "parameter-initialization/index.html"):
        html = (built_site / page).read_text()
        assert f'downloads/{name}"' in html, page


def test_a_configured_repository_is_linked_next_to_each_link_to_the_sources():
    hook = _hook("install")
    html = '<p>From <a href="../downloads/x.tar.gz">the sources</a>.</p>'
    assert hook.with_repository_links(html, "x.tar.gz", None) == html
    linked = hook.with_repository_links(html, "x.tar.gz", "https://example.org/r")
    assert linked == (
        '<p>From <a href="../downloads/x.tar.gz">the sources</a> '
        '(or <a href="https://example.org/r">the repository</a>).</p>'
    )


@pytest.mark.slow
@pytest.mark.processes
@pytest.mark.skipif(
    os.environ.get("CI") != "true",
    reason="runs `make check` again, in the unpacked sources: in CI only (CI=true)",
)
def test_make_check_passes_in_the_unpacked_sources(unpacked):
    """The quick tier in the unpacked tree, with this run's toolchain (the tree's own library first
    on the path): the archive holds what the tests need. Everything else the tests need the
    Makefile makes (.venv, node_modules). It repeats what `make check` runs in this tree, so it
    runs where CI sets CI=true (GitHub's runners and .ci/run do)."""
    venv = Path(sys.prefix)
    if not (venv / ".test-installed").is_file():
        pytest.skip(f"{venv} is not the Makefile's venv (no .test-installed)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_CORE_"))}
    env.update(PYTHONPATH=str(unpacked / "src"), PARAMINIT_DEVICE="cpu")
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import paraminit; print(paraminit.__file__)"],
        cwd=unpacked,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(unpacked)
    run = subprocess.run(
        ["make", "--no-print-directory", "check", f"VENV={venv}"],
        cwd=unpacked,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert " passed" in run.stdout
