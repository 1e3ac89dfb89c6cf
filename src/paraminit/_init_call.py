"""Calling one rule's init on one parameter, and the check that it wrote in place.

Shared by the rules applied now ([apply_rules][paraminit.apply_rules],
[apply_counter_rules][paraminit.apply_counter_rules]) and the rules deferred to a lazy module's
first forward pass (`deferred.py`), so that both refuse the same mistakes with the same words.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from ._checks import InitError
from ._dtensor import is_dtensor


class LabelledInit(Protocol):
    """What `call_init` needs of a rule: the init to call and the label to name it by."""

    @property
    def init(self) -> Callable[[torch.Tensor], object]: ...

    @property
    def label(self) -> str: ...


def call_init(
    rule: LabelledInit,
    param: torch.Tensor,
    name: str,
    changed: list[str],
    *,
    when: str = "",
    pending: bool = False,
) -> None:
    """`rule.init(param)` under `torch.no_grad()`; an `InitError` if it raises or does not write.

    `changed` names the parameters this call (or forward pass) already changed, for the message.
    A tensor with no elements here (an empty tensor, or a `DTensor` whose local shard is empty) has
    nothing to write, so it cannot be checked and any init is accepted for it.
    """
    if pending:
        after = "it stays pending and runs again at the next forward pass"
        done = f"; already initialized in this pass: {changed}" if changed else ""
        tail = f"; {after}{done}"
    else:
        tail = f"; already changed: {changed}" if changed else "; nothing else was changed"
    version = tensor_version(param)
    try:
        with torch.no_grad():
            rule.init(param)
    except Exception as error:
        raise InitError(
            f"rule {rule.label!r} failed on parameter {name!r}{when} ({type(error).__name__}: {error}){tail}"
        ) from error
    if version is not None and local_numel(param) and tensor_version(param) == version:
        raise InitError(
            f"rule {rule.label!r} did not write into parameter {name!r}{when}: its version counter did "
            "not move, so the init returned a new tensor, filled a copy, did nothing, or wrote through "
            "tensor.data, which hides the write. An init must fill the tensor it is given in place "
            "(e.g. tensor.uniform_(...) or a torch.nn.init function); drop .data, the init already "
            f"runs under torch.no_grad(){tail}"
        )


def local_numel(tensor: torch.Tensor) -> int:
    """The number of elements this process holds: a `DTensor`'s local shard, else the tensor's."""
    return tensor.to_local().numel() if is_dtensor(tensor) else tensor.numel()


def tensor_version(tensor: torch.Tensor) -> tuple[int, ...] | None:
    """The tensor's version counter, or `None` for an inference tensor, which keeps none.

    A DTensor has two: its own moves when it is written as a DTensor, its local shard's when the
    shard is written directly (as the counter samplers do). A write moves at least one of them.
    """
    try:
        if is_dtensor(tensor):
            return (tensor._version, tensor.to_local()._version)
        return (tensor._version,)
    except RuntimeError:
        return None
