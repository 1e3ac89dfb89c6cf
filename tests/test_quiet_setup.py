"""The project's own steps print no warning that the project can avoid: npm's advisory about
dependencies' install scripts at `npm ci`, the Jupyter kernel's "running over TCP without
encryption" at every build."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def test_every_dependency_with_an_install_script_has_a_reviewed_policy():
    """npm (11.16 and later) lists, at every install, the packages whose install scripts
    package.json's `allowScripts` does not cover; npm 12 will not run them. Each one is decided."""
    lock = json.loads((ROOT / "package-lock.json").read_text())
    policy = json.loads((ROOT / "package.json").read_text()).get("allowScripts", {})
    scripted = sorted(
        path.rsplit("node_modules/", 1)[-1]
        for path, package in lock["packages"].items()
        if path and package.get("hasInstallScript")
    )
    assert scripted, "no dependency has an install script: allowScripts can go"
    assert [name for name in scripted if name not in policy] == []
    assert sorted(policy) == scripted  # and no entry for a package that is gone


def test_the_nu_checker_runs_on_the_systems_java_so_its_java_download_is_denied():
    """vnu-jar's install script downloads a Java runtime where none is found; the site check runs
    the checker with the system's `java` (README: it needs Java), so the script is denied."""
    policy = json.loads((ROOT / "package.json").read_text())["allowScripts"]
    assert policy == {"vnu-jar": False}
    assert 'shutil.which("java")' in (ROOT / "scripts" / "check_site.py").read_text()


@pytest.mark.processes
def test_the_notebook_kernel_runs_without_the_unencrypted_tcp_warning(tmp_path, capfd):
    """The build's kernel warned at every build that it ran "over TCP without encryption"; its
    channels are now encrypted (CurveZMQ)."""
    import nbformat

    spec = importlib.util.spec_from_file_location("notebook_hook", ROOT / "docs" / "hooks" / "notebook.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    executed = hook.execute(notebook, tmp_path)
    assert executed.cells[0].outputs[0]["text"] == "42\n"
    captured = capfd.readouterr()
    assert "without encryption" not in captured.err + captured.out
