"""The one place that decides which device the examples and tests run on."""

from __future__ import annotations

import os

import torch

ENV_VAR = "PARAMINIT_DEVICE"
"""Environment variable read by [get_device][paraminit.get_device]: `cpu` (default), `cuda`, `cuda:N`
or `auto`."""


def get_device(name: str | None = None) -> torch.device:
    """Return the device to run on, from `name` or else the `PARAMINIT_DEVICE` environment variable.

    `auto` picks CUDA when it is available and the CPU otherwise. Asking for CUDA explicitly on a
    machine without it is an error, never a silent fall back to the CPU: a GPU run that quietly
    tested the CPU would prove nothing.

    Args:
        name: `"cpu"`, `"cuda"`, `"cuda:N"` or `"auto"`. Defaults to the environment variable, then `"cpu"`.

    Returns:
        The selected `torch.device`.

    Raises:
        RuntimeError: CUDA was asked for and is not available, or the index is out of range.
        ValueError: `name` is not a device name torch understands.

    Example:
        ```python
        import torch
        from paraminit import get_device

        assert get_device("cpu") == torch.device("cpu")
        ```
    """
    requested = (name if name is not None else os.environ.get(ENV_VAR, "cpu")).strip() or "cpu"
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as error:
        raise ValueError(
            f"{ENV_VAR}={requested!r} is not a device name; expected 'cpu', 'cuda', 'cuda:N' or 'auto'"
        ) from error
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device {requested!r} was asked for, but torch {torch.__version__} sees no CUDA "
                "device (torch.cuda.is_available() is False)"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(
                f"device {requested!r} was asked for, but only {torch.cuda.device_count()} CUDA "
                "device(s) exist"
            )
    return device
