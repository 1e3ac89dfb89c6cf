"""The benchmark runs and its correctness checks hold (no timing is asserted: that is the script's job)."""

from __future__ import annotations

import importlib
import json

import pytest


@pytest.mark.processes  # one child process per memory measurement
def test_quick_benchmark_runs_and_measures_real_work(tmp_path, monkeypatch, capsys):
    # In this process, which has imported torch already: the script's own child processes (one per
    # memory measurement, forked from a server that imports torch once) are what it measures. The
    # script is importable by name: benchmarks/ is on pyproject's pythonpath.
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", str(128 * 1024))  # what the script sets, undone after
    bench = importlib.import_module("bench_init")
    out = tmp_path / "bench.json"
    status = bench.main(["--quick", "--rounds", "2", "--json", str(out)])  # rounds: timing precision only
    printed = capsys.readouterr().out
    assert status == 0, printed[-3000:]
    results = json.loads(out.read_text())
    assert results["correctness_failures"] == []
    memory = results["memory"]["contenders"]
    assert memory["mixture_"]["fraction_of_weight"] < 0.1  # no full-size temporary
    assert memory["counter_mixture_"]["extra_mib"] < 8.0  # buffers of one chunk, whatever the weight
    assert 0.9 <= memory["clone (sanity)"]["fraction_of_weight"] <= 1.1  # the method sees one
    assert memory["chapter"]["fraction_of_weight"] > 1.0  # the chapter's two lines allocate
