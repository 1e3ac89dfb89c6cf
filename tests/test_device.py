"""get_device: one place for the device; asking for CUDA without it fails, never falls back."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from paraminit import get_device
from paraminit.device import ENV_VAR


def test_default_is_cpu(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert get_device() == torch.device("cpu")


def test_environment_variable_is_read(monkeypatch):
    monkeypatch.setenv(ENV_VAR, " cpu ")
    assert get_device() == torch.device("cpu")
    monkeypatch.setenv(ENV_VAR, "")
    assert get_device() == torch.device("cpu")


def test_auto_picks_cuda_only_when_available():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert get_device("auto").type == expected


def test_unknown_names_are_rejected_with_the_value():
    with pytest.raises(ValueError, match="'gpu0' is not a device name"):
        get_device("gpu0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_cuda_fails_instead_of_falling_back():
    with pytest.raises(RuntimeError, match="sees no CUDA device"):
        get_device("cuda")


@pytest.mark.cuda
def test_cuda_index_out_of_range_is_an_error():
    with pytest.raises(RuntimeError, match=r"only .* CUDA device"):
        get_device(f"cuda:{torch.cuda.device_count()}")


@pytest.mark.cuda
def test_cuda_run_really_uses_cuda(device):
    assert device.type == "cuda"
    assert torch.empty(1).device.type == "cuda"  # the default device conftest set


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_test_run_that_asks_for_cuda_without_it_fails(pytester, monkeypatch):
    # A whole pytest run with the project's conftest.py, in this process (torch is imported already).
    root = Path(__file__).parents[1]
    monkeypatch.setenv(ENV_VAR, "cuda")
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--rootdir", str(root), "-c", str(root / "pyproject.toml"),
        str(root / "tests" / "test_device.py"), "-q",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "sees no CUDA device" in result.stdout.str() + result.stderr.str()
