"""The `torch.nn.init` functions that draw nothing, and how to fill a block of a tensor with them.

`zeros_`, `ones_`, `constant_`, `eye_` and `dirac_` compute their values from the shape alone, so
they give the same weights on every device without a seed. On a block of a larger tensor (a
`DTensor`'s local shard) `zeros_`, `ones_` and `constant_` are the same function of each
element, but `eye_` and `dirac_` place their ones by global index: called on a shard, torch's
`eye_` fails and `dirac_` puts the ones at the shard's own diagonal, which is wrong. Here they
zero the block and set the ones that fall inside it, at the global indices torch's functions use.
The other `torch.nn.init` functions draw from a torch generator.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ._dtensor import Region

DETERMINISTIC = (nn.init.zeros_, nn.init.ones_, nn.init.constant_, nn.init.eye_, nn.init.dirac_)
"""The initializers that draw nothing."""

DRAWING = (
    nn.init.uniform_,
    nn.init.normal_,
    nn.init.trunc_normal_,
    nn.init.xavier_uniform_,
    nn.init.xavier_normal_,
    nn.init.kaiming_uniform_,
    nn.init.kaiming_normal_,
    nn.init.orthogonal_,
    nn.init.sparse_,
)
"""The `torch.nn.init` functions that draw from a torch generator."""


def check(func: Callable, keywords: dict, shape: tuple[int, ...], dtype: torch.dtype) -> None:
    """Raise what `func` would raise on a tensor of this shape and dtype, without writing anything:
    it runs on a tensor on the `meta` device, which has no storage. A meta tensor holds no values,
    so `constant_`'s value is also written into two elements of this dtype, which raises when the
    dtype cannot hold it (1e5 in float16, say). Two: torch fills a tensor of one element with
    `inf` instead of raising, so a one-element parameter is held to the same check."""
    func(torch.empty(shape, dtype=dtype, device="meta"), **keywords)
    if func is nn.init.constant_:
        func(torch.empty(2, dtype=dtype, device="cpu"), **keywords)


def fill_region(func: Callable, keywords: dict, region: Region) -> None:
    """Fill `region.local` with the block of `func(full tensor)` that it holds."""
    local = region.local
    if func not in (nn.init.eye_, nn.init.dirac_):
        func(local, **keywords)
        return
    local.zero_()
    ones = _ones(func, keywords, region.global_shape)
    if not ones or not local.numel():
        return
    positions = torch.tensor(ones, dtype=torch.int64) - torch.tensor(region.offset, dtype=torch.int64)
    inside = ((positions >= 0) & (positions < torch.tensor(tuple(local.shape)))).all(dim=1)
    index = positions[inside].to(local.device)
    local[tuple(index.t())] = 1


def _ones(func: Callable, keywords: dict, shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The global indices that `eye_` or `dirac_` set to one in a tensor of `shape`."""
    if func is nn.init.eye_:
        return [(i, i) for i in range(min(shape))]
    groups = keywords.get("groups", 1)
    per_group = shape[0] // groups
    centre = tuple(size // 2 for size in shape[2:])
    return [(g * per_group + d, d, *centre) for g in range(groups) for d in range(min(per_group, shape[1]))]
