"""What the seeds guarantee across kinds of CPU: the chapter's printed outputs are the same under
ATEN_CPU_CAPABILITY=default as under this machine's own choice, although uniform_ and normal_ draw
other low bits, on tensors of any size; and within one kind the thread count does not matter for
them and the inits built on them, though it does for orthogonal_.

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
    small = {}
    for shape in ([8, 4], [1 << 16]):
        torch.manual_seed(0)
        unit = torch.empty(shape).uniform_(0, 1)
        torch.manual_seed(0)
        wide = torch.empty(shape).uniform_(-10, 10)
        small[str(shape)] = {"unit": unit.flatten().tolist(), "wide": wide.flatten().tolist()}
    torch.manual_seed(0)
    xavier = torch.nn.init.xavier_uniform_(torch.empty(8, 4)).flatten().tolist()
    chapter = sections(Path("snippets/chapter.py"))
    outputs = {s.name: with_outputs(s, run_section(s)) for s in chapter}
    print(json.dumps({"uniform": uniform, "normal": normal, "outputs": outputs, "small": small,
                      "xavier": xavier}))
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
    from torch import nn

    from paraminit import mixture_

    def draw() -> tuple[str, ...]:
        torch.manual_seed(0)
        return (
            _digest(torch.empty(1 << 20).uniform_(-10, 10)),
            _digest(torch.empty(1 << 20).normal_()),
            _digest(nn.init.xavier_uniform_(torch.empty(1024, 1024))),
            _digest(nn.init.kaiming_normal_(torch.empty(1024, 1024), nonlinearity="relu")),
            _digest(nn.Linear(1024, 1024).weight.detach()),  # the default init
            _digest(mixture_(torch.empty(1 << 20))),  # the chapter's
        )

    before = torch.get_num_threads()
    try:
        draws = []
        for threads in (1, 2, 4):
            torch.set_num_threads(threads)
            draws.append(draw())
    finally:
        torch.set_num_threads(before)
    assert draws[0] == draws[1] == draws[2]


def test_orthogonal_gives_other_bits_with_one_thread_than_with_two():
    """orthogonal_ factorizes a random matrix (QR); the factorization's sums depend on the threads."""
    before = torch.get_num_threads()
    differs = {}
    try:
        for size in (8, 64, 256):
            digests = []
            for threads in (1, 2):
                torch.set_num_threads(threads)
                torch.manual_seed(0)
                digests.append(_digest(torch.nn.init.orthogonal_(torch.empty(size, size))))
            differs[size] = digests[0] != digests[1]
    finally:
        torch.set_num_threads(before)
    assert differs[64], differs  # "for a 64 x 64 weight"


def _cpu_kind_is_not_plain() -> None:
    if torch.backends.cpu.get_cpu_capability() == "DEFAULT":
        pytest.skip("this machine already runs the plain code path: nothing to compare")


def test_uniform_rounds_once_with_avx_and_twice_on_the_plain_path_for_tensors_of_any_size(
    chapter_on_plain_cpu,
):
    """uniform_(a, b) computes x (b - a) + a from x = k / 2^24: a fused multiply-add (one rounding) in
    the AVX2/AVX-512 code, a multiply and an add (two roundings) in the plain code."""
    _cpu_kind_is_not_plain()
    for shape, plain in chapter_on_plain_cpu["small"].items():
        x = torch.tensor(plain["unit"], dtype=torch.float32)
        assert torch.equal(x * 2**24, (x * 2**24).round()), shape  # x = k / 2^24 on both paths
        twice = x * 20 + -10  # two float32 operations, two roundings
        once = (x.double() * 20 + -10).float()  # exact in float64, then one rounding
        assert torch.equal(torch.tensor(plain["wide"]), twice), shape
        torch.manual_seed(0)
        here = torch.empty(x.shape).uniform_(-10, 10)
        assert torch.equal(here, once), shape
        assert not torch.equal(once, twice), shape  # the two rules do give other bits


def test_the_chapters_8_by_4_xavier_weight_differs_in_low_bits_between_cpu_kinds(chapter_on_plain_cpu):
    _cpu_kind_is_not_plain()
    torch.manual_seed(0)
    here = torch.nn.init.xavier_uniform_(torch.empty(8, 4)).flatten()
    plain = torch.tensor(chapter_on_plain_cpu["xavier"])
    assert int((here != plain).sum()) == 18  # "differs in 18 of its 32 entries"
    assert float((here - plain).abs().max()) <= 6e-8  # "by at most 6 x 10^-8"
