"""The counter benchmark runs (a smoke run, in this process; no timing is asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_quick_counter_benchmark_reports_every_contender_against_uniform(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_counter", ROOT / "benchmarks" / "bench_counter.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "counter.json"
    assert bench.main(["--quick", "--rounds", "1", "--json", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    assert set(results) == set(bench.contenders())
    assert results["uniform_"]["ratio_median"] == 1.0
    assert all(r["min_ms"] > 0 for r in results.values())
    assert "target counter_uniform_ <= 1.2x uniform_" in capsys.readouterr().out
