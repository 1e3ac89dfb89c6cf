"""What the seeds guarantee across kinds of CPU: the chapter's printed outputs are the same under
ATEN_CPU_CAPABILITY=default as under this machine's own choice, although uniform_ and normal_ on a
large tensor draw other low bits; and within one kind the thread count does not matter.

On the plain `default` code path (the shared process of tests/plain_cpu.py), every section of
snippets/chapter.py runs and reports what it printed, with digests of two large draws.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from plain_cpu import probe
from snippets_check import OUTPUT_PREFIX, sections

ROOT = Path(__file__).parents[1]
CHAPTER = ROOT / "snippets" / "chapter.py"

CHAPTER_PROBE = probe(
    "chapter",
    """
    import hashlib, json, torch
    from pathlib import Path
    from snippets_check import run_section, sections, with_outputs

    def digest(t):
        return hashlib.sha256(t.numpy().tobytes()).hexdigest()

    torch.manual_seed(0)
    uniform = digest(torch.empty(1 << 16).uniform_(-10, 10))
    torch.manual_seed(0)
    normal = digest(torch.empty(1 << 16).normal_())
    chapter = sections(Path("snippets/chapter.py"))
    outputs = {s.name: with_outputs(s, run_section(s)) for s in chapter}
    print(json.dumps({"uniform": uniform, "normal": normal, "outputs": outputs}))
    """,
)


def _digest(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.numpy().tobytes()).hexdigest()


@pytest.fixture(scope="module")
def chapter_on_plain_cpu(plain_cpu) -> dict:
    assert plain_cpu["capability"] == "DEFAULT"
    return json.loads(plain_cpu[CHAPTER_PROBE])


def test_the_chapters_printed_outputs_do_not_depend_on_the_cpu_kind(chapter_on_plain_cpu):
    for section in sections(CHAPTER):
        shown = [line for line in section.lines if line.lstrip().startswith(OUTPUT_PREFIX)]
        printed = [
            line
            for line in chapter_on_plain_cpu["outputs"][section.name]
            if line.lstrip().startswith(OUTPUT_PREFIX)
        ]
        assert printed == shown, section.name


def test_large_draws_differ_in_low_bits_between_cpu_kinds(chapter_on_plain_cpu):
    if torch.backends.cpu.get_cpu_capability() == "DEFAULT":
        pytest.skip("this machine already runs the plain code path: nothing to compare")
    torch.manual_seed(0)
    uniform = _digest(torch.empty(1 << 16).uniform_(-10, 10))
    torch.manual_seed(0)
    normal = _digest(torch.empty(1 << 16).normal_())
    assert uniform != chapter_on_plain_cpu["uniform"] and normal != chapter_on_plain_cpu["normal"]


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
