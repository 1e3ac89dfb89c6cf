"""The one place that reads torch.distributed's private state: a DTensor's shard and where it
sits globally, the meshes a model is sharded over, and whether FSDP2 holds parameters unsharded.

`torch.distributed.tensor` publishes `DTensor`, `Shard` and `Replicate`, but the function that
turns a placement into a global offset, `compute_local_shape_and_global_offset`, lives in the
private module `torch.distributed.tensor._utils`, and FSDP2 says whether a module's parameters are
registered sharded only in its private state (`FSDPModule._get_fsdp_state()`). They are read
here and nowhere else, so a rename in a future torch release breaks this module (and its tests)
instead of silently breaking the samplers. `torch.distributed` is imported only when a tensor
could be a DTensor, so the rest of the library works on builds of torch without it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


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


def meshes(model: nn.Module) -> list[tuple[Any, torch.device]]:
    """The device meshes `model`'s parameters are distributed over, each with the device of a local
    shard on it, in parameter order; empty for a model without DTensors.

    A parameter that FSDP2 holds unsharded is a plain tensor at that moment; its sharded DTensor,
    kept in FSDP2's state, still names the mesh.
    """
    found: list[tuple[Any, torch.device]] = []
    params = [*model.parameters(), *_fsdp_sharded_params(model)]
    for param in params:
        if is_dtensor(param) and not any(param.device_mesh == mesh for mesh, _ in found):
            found.append((param.device_mesh, param.to_local().device))
    return found


def _fsdp_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    if "torch.distributed.fsdp._fully_shard._fully_shard" not in sys.modules:  # fully_shard unused
        return []
    from torch.distributed.fsdp import FSDPModule

    return [(path, module) for path, module in model.named_modules() if isinstance(module, FSDPModule)]


def _fsdp_groups(module: nn.Module) -> list[Any]:
    return list(module._get_fsdp_state()._fsdp_param_groups)


def _fsdp_sharded_params(model: nn.Module) -> list[torch.Tensor]:
    return [
        fsdp_param.sharded_param
        for _, module in _fsdp_modules(model)
        for group in _fsdp_groups(module)
        for fsdp_param in group.fsdp_params
    ]


def fsdp_unsharded(model: nn.Module) -> list[str]:
    """The paths of the FSDP2 modules in `model` whose parameters are registered unsharded now.

    After a forward pass with `reshard_after_forward=False` (or `unshard()`), FSDP2 registers the
    gathered parameters on the module; `reshard()` frees them and registers the shards again, so
    a write into the gathered copies is lost.
    """
    modules = _fsdp_modules(model)
    if not modules:
        return []
    from torch.distributed.fsdp._fully_shard._fsdp_param import ShardedState

    return [
        path
        for path, module in modules
        if any(group._sharded_state != ShardedState.SHARDED for group in _fsdp_groups(module))
    ]
