"""What the seeds guarantee across kinds of CPU: the chapter's printed outputs are the same under
ATEN_CPU_CAPABILITY=default as under this machine's own choice, although uniform_ and normal_ on a
large tensor draw other low bits; and within one kind the thread count does not matter.

One subprocess (it imports torch): it runs every section of snippets/chapter.py under the plain
`default` code path and reports what each printed, plus digests of two large draws.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from snippets_check import OUTPUT_PREFIX, sections

ROOT = Path(__file__).parents[1]
CHAPTER = ROOT / "snippets" / "chapter.py"

CHILD = """
import hashlib, json, sys, torch
sys.path.insert(0, "tests")
from pathlib import Path
from snippets_check import run_section, sections, with_outputs

def digest(t):
    return hashlib.sha256(t.numpy().tobytes()).hexdigest()

torch.manual_seed(0)
uniform = digest(torch.empty(1 << 16).uniform_(-10, 10))
torch.manual_seed(0)
normal = digest(torch.empty(1 << 16).normal_())
outputs = {s.name: with_outputs(s, run_section(s)) for s in sections(Path("snippets/chapter.py"))}
print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), "uniform": uniform,
                  "normal": normal, "outputs": outputs}))
"""


def _digest(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.numpy().tobytes()).hexdigest()


@pytest.fixture(scope="module")
def plain_cpu() -> dict:
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default", "PARAMINIT_DEVICE": "cpu"}
    run = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_chapters_printed_outputs_do_not_depend_on_the_cpu_kind(plain_cpu):
    assert plain_cpu["capability"] == "DEFAULT"
    for section in sections(CHAPTER):
        shown = [line for line in section.lines if line.lstrip().startswith(OUTPUT_PREFIX)]
        printed = [
            line for line in plain_cpu["outputs"][section.name] if line.lstrip().startswith(OUTPUT_PREFIX)
        ]
        assert printed == shown, section.name


def test_large_draws_differ_in_low_bits_between_cpu_kinds(plain_cpu):
    if torch.backends.cpu.get_cpu_capability() == "DEFAULT":
        pytest.skip("this machine already runs the plain code path: nothing to compare")
    torch.manual_seed(0)
    uniform = _digest(torch.empty(1 << 16).uniform_(-10, 10))
    torch.manual_seed(0)
    normal = _digest(torch.empty(1 << 16).normal_())
    assert uniform != plain_cpu["uniform"] and normal != plain_cpu["normal"]


def test_the_thread_count_does_not_change_the_draws():
    before = torch.get_num_threads()
    try:
        draws = []
        for threads in (1, 2, 4):
            torch.set_num_threads(threads)
            torch.manual_seed(0)
            draws.append(
                (_digest(torch.empty(1 << 20).uniform_(-10, 10)), _digest(torch.empty(1 << 20).normal_()))
            )
    finally:
        torch.set_num_threads(before)
    assert draws[0] == draws[1] == draws[2]
