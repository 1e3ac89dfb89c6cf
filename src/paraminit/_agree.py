"""Agreeing across the ranks of a sharded model, so that a failure on one rank stops every rank.

Every rank of a sharded model runs the same program, and the next collective (gathering the
weights, the first forward pass) needs all of them. An error raised on some ranks only, say the
one whose shard is empty, leaves the others waiting in that collective until they hang or die
with "Connection closed by peer". So [apply_counter_rules][paraminit.apply_counter_rules] agrees
twice: once after every check and before the first write, and once after the last write. Each
time the ranks exchange a flag (an `all_reduce`, over every dimension of every device mesh the
model is distributed over) and, only if a rank failed, the failures themselves
(`all_gather_object`); then every rank raises the same error, of the first failing rank's type,
naming the ranks that failed. The first exchange also compares a fingerprint of what each rank
is about to draw (seed, streams, rules and shapes), so that ranks given different seeds fail
instead of building a model whose shards do not belong together.
"""

from __future__ import annotations

import builtins
import hashlib
from typing import Any

import torch

from . import _checks
from ._dtensor import meshes


class Ranks:
    """The process groups that the ranks holding `model`'s shards share; none for a plain model."""

    def __init__(self, model: torch.nn.Module, caller: str) -> None:
        self.caller = caller
        self.groups: list[tuple[Any, torch.device]] = []
        ranks: set[int] = set()
        for mesh, device in meshes(model):
            ranks.update(mesh.mesh.flatten().tolist())
            for dim in range(mesh.ndim):
                self.groups.append((mesh.get_group(dim), device))
        self.count = len(ranks)

    def agree(self, error: Exception | None, *, fingerprint: str | None = None, before_writing: bool) -> None:
        """Raise the same error on every rank if `error` is set on any; return on every rank if not.

        Without process groups (a model that is not distributed) this is `raise error` if set.
        """
        if not self.groups:
            if error is not None:
                raise error
            return
        import torch.distributed as dist

        mark = _mark(fingerprint)
        flags = None
        for group, device in self.groups:
            if flags is None:
                flags = torch.tensor([int(error is not None), mark, -mark], dtype=torch.int64, device=device)
            flags = flags.to(device)
            dist.all_reduce(flags, op=dist.ReduceOp.MAX, group=group)
        failed, highest, lowest = (int(v) for v in flags.tolist())
        if failed:
            self._raise_together(error, before_writing)
        if highest != -lowest:
            raise ValueError(
                f"{self.caller}() was called differently on different ranks: the seed, the prefix, "
                "the rules or the model differ between them, so the shards would not belong to one "
                "model. Pass every rank the same seed and rules for the same model; nothing was "
                "written on any rank"
            )

    def _raise_together(self, error: Exception | None, before_writing: bool) -> None:
        import torch.distributed as dist

        failures = [] if error is None else [(dist.get_rank(), type(error).__name__, str(error))]
        for group, _ in self.groups:
            gathered: list[Any] = [None] * dist.get_world_size(group)
            dist.all_gather_object(gathered, failures, group=group)
            failures = sorted({failure for part in gathered for failure in part})
        ranks = [rank for rank, _, _ in failures]
        _, kind, message = failures[0]
        same = all((k, m) == (kind, message) for _, k, m in failures)
        if same and len(ranks) == self.count and error is not None:
            raise error  # every rank failed alike: the error as a single process raises it
        which = f"rank {ranks[0]}" if len(ranks) == 1 else "ranks " + ", ".join(map(str, ranks))
        if before_writing:
            after = "nothing was written on any rank"
        else:
            after = "the ranks that did not fail wrote every selected parameter of their shard"
        text = f"{self.caller}() failed on {which} of {self.count}: {message} ({after})"
        try:
            together = _exception_class(kind)(text)
        except TypeError:  # a class whose constructor wants more than a message
            together = _checks.InitError(text)
        raise together from error


def _mark(fingerprint: str | None) -> int:
    if fingerprint is None:
        return 0
    return int.from_bytes(hashlib.blake2b(fingerprint.encode(), digest_size=7).digest(), "little")


def _exception_class(kind: str) -> type[Exception]:
    """The class named `kind`: one of the library's errors or a builtin exception, else InitError."""
    found = getattr(_checks, kind, None) or getattr(builtins, kind, None)
    if isinstance(found, type) and issubclass(found, Exception):
        return found
    return _checks.InitError
