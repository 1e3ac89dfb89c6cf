"""The benchmark runs and its correctness checks hold (no timing is asserted: that is the script's job)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_quick_benchmark_runs_and_measures_real_work(tmp_path):
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "benchmarks/bench_init.py", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["correctness_failures"] == []
    memory = results["memory"]["contenders"]
    assert memory["mixture_"]["fraction_of_weight"] < 0.1  # no full-size temporary
    assert 0.9 <= memory["clone (sanity)"]["fraction_of_weight"] <= 1.1  # the method sees one
    assert memory["chapter"]["fraction_of_weight"] > 1.0  # the chapter's two lines allocate
