"""Running a block of small tensor operations on one thread."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one of torch's intra-op threads, then restore the number it had.

    For ops far too small to share between threads; their sums' rounding then does not depend on
    the machine's thread count either.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
