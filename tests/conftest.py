"""Fixtures shared by the site tests and the browser tests."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock

ROOT = Path(__file__).parents[1]


def build_site(out: Path) -> None:
    """`mkdocs build --strict` into `out`, in this process (torch and the rest are already imported).

    The same steps as the `mkdocs build` command: load the config (strict, from mkdocs.yml), start
    the plugins, build, stop them. Any warning fails the build (mkdocs raises Abort).
    """
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    cwd = os.getcwd()
    os.chdir(ROOT)  # the snippet includes' base_path (".") is relative to the working directory
    try:
        config = load_config(str(ROOT / "mkdocs.yml"), strict=True, site_dir=str(out))
        config.plugins.on_startup(command="build", dirty=False)
        try:
            build(config)
        finally:
            config.plugins.on_shutdown()
    finally:
        os.chdir(cwd)


@contextlib.contextmanager
def coverage_paused() -> Iterator[None]:
    """Stop coverage measurement for a while, as pytest-cov's `no_cover` marker does.

    Building the site is not a test of the library, and tracing its million Python calls (Markdown,
    Jinja) made the build about half as slow again.
    """
    try:
        import coverage

        cov = coverage.Coverage.current()
    except ImportError:
        cov = None
    if cov is not None:
        cov.stop()
    try:
        yield
    finally:
        if cov is not None:
            cov.start()


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """The site, built once per test run with `mkdocs build --strict` (any warning fails it).

    Under pytest-xdist the workers share one build: the first to get here builds it under a file
    lock, the others wait and reuse it (or its failure).
    """
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's base folder, common to all workers
    out, failed, done = shared / "site", shared / "site.failed", shared / "site.done"
    with FileLock(str(shared / "site.lock")):
        if not done.exists() and not failed.exists():
            os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
            records = _LogRecords()
            logging.getLogger("mkdocs").addHandler(records)
            try:
                with coverage_paused():
                    build_site(out)
                done.touch()
            except BaseException as error:  # SystemExit and mkdocs.exceptions.Abort included
                shutil.rmtree(out, ignore_errors=True)
                failed.write_text(
                    "".join(traceback.format_exception_only(type(error), error)) + "\n".join(records.lines)
                )
            finally:
                logging.getLogger("mkdocs").removeHandler(records)
    if failed.exists():
        pytest.fail(f"mkdocs build --strict failed:\n{failed.read_text()[-6000:]}", pytrace=False)
    return out


@pytest.fixture(scope="session")
def plain_cpu() -> dict[str, str]:
    """What each registered probe printed on PyTorch's plain CPU code path (tests/plain_cpu.py).

    One process under ATEN_CPU_CAPABILITY=default runs every probe, once per test run.
    """
    from plain_cpu import run_probes

    return run_probes()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """A test may not change `sys.path`: the browser checks import in a thread of their own while
    the tests run, and when `sys.path` changes, coverage (measuring this run) recomputes what it
    traces and then removes from `sys.modules` every module imported meanwhile, including one that
    thread is still importing (coverage.py issue 2247: a `KeyError` in importlib that crashed the
    browser checks). Put a folder a test imports from on pyproject's `pythonpath` instead."""
    before = list(sys.path)
    with _processes_refused_unless_marked(item):
        result = yield
    if sys.path != before:
        added = [p for p in sys.path if p not in before]
        removed = [p for p in before if p not in sys.path]
        pytest.fail(
            f"{item.nodeid} changed sys.path (added {added}, removed {removed}): under coverage that "
            "can drop a module another thread is importing; use pyproject's pythonpath",
            pytrace=False,
        )
    return result


# The markers of the tests `make check` leaves out (the Makefile's QUICK).
LEFT_OUT_OF_CHECK = frozenset({"site", "browser", "processes", "node", "slow"})


@contextlib.contextmanager
def _processes_refused_unless_marked(item: pytest.Item) -> Iterator[None]:
    """A test that starts another process must be marked `processes`, or another marker that
    `make check` leaves out (site, browser, node, slow; a marker may come from a fixture): an
    unmarked one would slow the quick tier unseen. Page blocks (their pages' items and
    tests/test_snippets.py) run whatever the page shows. Only this thread is refused: the browser
    job starts Chromium from a thread of its own."""
    if (
        not LEFT_OUT_OF_CHECK.isdisjoint(item.keywords)
        or item.path.suffix == ".md"
        or item.path.name == "test_snippets.py"
    ):
        yield
        return
    start = subprocess.Popen._execute_child
    main = threading.current_thread()

    def refused(self, args, *rest, **kwargs):
        if threading.current_thread() is main:
            raise RuntimeError(
                f"{item.nodeid} starts another process ({str(args)[:80]}) but is not marked "
                "@pytest.mark.processes, which `make check` leaves out"
            )
        return start(self, args, *rest, **kwargs)

    subprocess.Popen._execute_child = refused
    try:
        yield
    finally:
        subprocess.Popen._execute_child = start


# Markers a test gets from the fixtures it uses, so that `make check` (-m "not site and not
# processes ...") leaves out every test that builds the site, starts other processes or needs
# the Node.js tools.
MARKED_BY_FIXTURE = {"built_site": "site", "plain_cpu": "processes", "katex_hook": "node"}


@pytest.hookimpl(tryfirst=True)  # before `-m` selects on the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that need the built site or other processes are marked so; the browser tests run
    last: they read what the browser job recorded in the meantime."""
    for item in items:
        for fixture, marker in MARKED_BY_FIXTURE.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)
    items.sort(key=lambda item: item.path.name == "test_browser.py")  # a stable sort: order kept


@pytest.fixture(scope="session", autouse=True)
def browser_checks_in_the_background(request) -> Iterator[None]:
    """Build the site and start the browser checks in a background thread as the run begins.

    Chromium then works through every page while the library's tests use the processor; the
    browser tests, last in the run, read what it recorded. Only when this run has browser tests,
    and not under pytest-xdist (there each worker would start its own browser: the browser tests
    then run the checks when they need them).
    """
    browser_items = [item for item in request.session.items if item.path.name == "test_browser.py"]
    if not browser_items or os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    module = browser_items[0].module
    with contextlib.suppress(ImportError):  # imported here, not in the job's thread (see below)
        _import_playwright_whole()
    module.JOB = module.BrowserJob(request.getfixturevalue("built_site")).start()
    try:
        yield
    finally:
        module.JOB.result()  # Chromium is closed before the run ends, whatever the tests did


def _import_playwright_whole() -> None:
    """Import playwright and every module of its implementation in this thread, before the browser
    job starts: playwright imports some of them only when it connects (`protocol_channels`, say),
    and coverage, when `sys.path` changes for a while (pytester's in-process run applies pyproject's
    `pythonpath`), drops from `sys.modules` every module imported in the meantime, including one
    the job's thread is importing (a `KeyError` in importlib, which crashed the browser checks)."""
    import importlib
    import pkgutil

    import playwright._impl
    import playwright.sync_api

    for info in pkgutil.walk_packages(playwright._impl.__path__, "playwright._impl."):
        if not info.name.rsplit(".", 1)[-1].startswith("__"):  # __pyinstaller: hooks for a bundler
            importlib.import_module(info.name)


class _LogRecords(logging.Handler):
    """Keeps the build's warnings and errors, to show why a strict build failed."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname}: {record.getMessage()}")
