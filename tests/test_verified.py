"""The Verified-on page shows exactly the committed device records, and says plainly whether a
CUDA run is among them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PAGE = ROOT / "docs" / "verified.md"
NO_CUDA = "**No CUDA run has been recorded yet.**"


def device_run():
    spec = importlib.util.spec_from_file_location("device_run", ROOT / "scripts" / "device_run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return device_run().load_records()


def test_there_is_at_least_one_record(records):
    assert records


def test_the_page_table_is_the_records_table(records):
    page = PAGE.read_text()
    assert device_run().table(records) in page


def test_the_page_says_whether_cuda_was_recorded(records):
    cuda = [r for r in records if r["kind"] == "cuda"]
    assert (NO_CUDA in PAGE.read_text()) is (not cuda)


def test_every_record_is_linked_and_labelled(records):
    page = PAGE.read_text()
    for path in sorted((ROOT / "docs" / "verified").glob("*.json")):
        assert f"(verified/{path.name})" in page, f"{path.name} is not linked from the page"
        record = json.loads(path.read_text())
        if record["device"] == "cpu":  # a CPU run is never presented as a GPU run
            assert (
                record["kind"].startswith("cpu (dry run") and record["gpu"] is None and record["cuda"] is None
            )


def test_the_table_renders_a_record_as_expected():
    record = {
        "kind": "cuda",
        "date": "2030-01-02T03:04:05+00:00",
        "gpu": "Some GPU",
        "cpu": "Some CPU",
        "cpu_capability": "AVX2",
        "torch": "2.11.0",
        "cuda": "12.8",
        "pytest": {"passed": 400, "skipped": 3, "failed": 0, "errors": 1},
        "wall_s": 321.4,
        "reference_digest": {"equal": False},
    }
    row = device_run().table([record]).splitlines()[-1]
    assert row == "| 2030-01-02 03:04 | cuda | Some GPU | 2.11.0 / 12.8 | 400 | 3 | 1 | 321 s | NO |"
