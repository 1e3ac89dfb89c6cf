"""The same weights on every device: the fixed model's counter init has the CPU's digest.

Run on the CPU, this pins the digest; run with PARAMINIT_DEVICE=cuda (`make test-cuda`), the same
test proves that CUDA reproduces the CPU's weights bit for bit, and the CUDA-only test shows
what the counter samplers are for: from the same seed, CUDA's own generator draws other numbers.
"""

from __future__ import annotations

import pytest
import torch
from reference_model import PINNED_DIGEST, digest

from paraminit import counter_uniform_


def test_reference_model_init_has_the_pinned_digest_on_this_device(device):
    assert digest(device) == PINNED_DIGEST


@pytest.mark.cuda
def test_cuda_draws_other_numbers_than_the_cpu_but_the_counter_samplers_do_not(device):
    torch.manual_seed(0)
    cpu, cuda = torch.rand(1000, device="cpu"), torch.rand(1000, device=device)
    assert not torch.equal(cpu, cuda.cpu())
    same_cpu = counter_uniform_(torch.empty(1000, device="cpu"), seed=0, stream="w")
    same_cuda = counter_uniform_(torch.empty(1000, device=device), seed=0, stream="w")
    assert torch.equal(same_cpu, same_cuda.cpu())
