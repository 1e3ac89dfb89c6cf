"""The one place that reads a DTensor's layout: its local shard and where that shard sits globally.

`torch.distributed.tensor` publishes `DTensor`, `Shard` and `Replicate`, but the function that
turns a placement into a global offset, `compute_local_shape_and_global_offset`, lives in the
private module `torch.distributed.tensor._utils`. It is imported here and nowhere else, so a
rename in a future torch release breaks this module (and its test) instead of silently breaking
the samplers. `torch.distributed` is imported only when a tensor could be a DTensor, so the rest of
the library works on builds of torch without it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Region:
    """A block of a global tensor: the local tensor holds `global[offset[d] : offset[d] + local.shape[d]]`."""

    local: torch.Tensor
    global_shape: tuple[int, ...]
    offset: tuple[int, ...]


def is_dtensor(tensor: object) -> bool:
    """Whether `tensor` is a `torch.distributed.tensor.DTensor` (without importing it needlessly)."""
    if "torch.distributed.tensor" not in sys.modules:  # nobody made a DTensor in this process
        return False
    from torch.distributed.tensor import DTensor

    return isinstance(tensor, DTensor)


def dtensor_region(tensor: torch.Tensor) -> Region:
    """The local shard of a DTensor, the global shape and the shard's global offset.

    Only `Shard(dim)` and `Replicate()` placements describe a block of the global tensor; any other
    placement (`Partial`, the strided shards that FSDP2 combined with tensor parallelism produces)
    is rejected, since filling its local part from global offsets would give wrong weights.

    Raises:
        ValueError: a placement is neither `Shard` nor `Replicate`.
    """
    from torch.distributed.tensor import Replicate, Shard
    from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

    placements = tuple(tensor.placements)
    for placement in placements:
        # _StridedShard subclasses Shard in some releases: compare the exact type.
        if type(placement) not in (Shard, Replicate):
            raise ValueError(
                f"cannot fill a DTensor with placement {placement!r} from global offsets: only "
                "Shard(dim) and Replicate() describe a block of the global tensor "
                f"(placements {placements})"
            )
    local = tensor.to_local()
    global_shape = tuple(tensor.shape)
    local_shape, offset = compute_local_shape_and_global_offset(global_shape, tensor.device_mesh, placements)
    if not offset:  # this rank is not part of the mesh: it holds nothing
        return Region(local, global_shape, (0,) * len(global_shape))
    if tuple(local_shape) != tuple(local.shape):
        raise ValueError(
            f"DTensor local shard has shape {tuple(local.shape)}, but its placements {placements} "
            f"on a global shape {global_shape} give {tuple(local_shape)}"
        )
    return Region(local, global_shape, tuple(offset))
