"""One Python process on PyTorch's plain CPU code path, shared by every test that compares with it.

PyTorch picks its CPU kernels (plain, AVX2, AVX-512) when it starts; `ATEN_CPU_CAPABILITY=default`
forces the plain ones. NumPy picks its own (it computes the counter samplers on the CPU), and
`NPY_DISABLE_CPU_FEATURES` turns off every one it could pick beyond its baseline. A test that
compares bits across CPU kinds needs a process started that way, and each such process pays a
full `import torch`. So test modules register what they want
computed there (`probe(name, code)`, at import time), and the `plain_cpu` fixture of
tests/conftest.py runs every registered probe in one process, once per test run. Each probe's
code runs in fresh globals, with the project root as working directory; what it prints is its
result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).parents[1]

PROBES: dict[str, str] = {}

_RUNNER = """
import contextlib, io, json, sys
sys.path.insert(0, "tests")
results = {}
for name, code in json.loads(sys.stdin.read()).items():
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, f"<probe {name}>", "exec"), {"__name__": f"__probe_{name}__"})
    results[name] = printed.getvalue()
import torch
try:
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
except ImportError:  # NumPy 1
    from numpy.core._multiarray_umath import __cpu_dispatch__, __cpu_features__
results["capability"] = torch.backends.cpu.get_cpu_capability()
results["numpy_features"] = [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]
print(json.dumps(results))
"""


def probe(name: str, code: str) -> str:
    """Register `code` to run on the plain code path; returns `name`, the key of its output."""
    if name in PROBES:
        raise ValueError(f"probe {name!r} is registered twice")
    PROBES[name] = textwrap.dedent(code)
    return name


def run_probes() -> dict[str, str]:
    """Run every registered probe in one process under ATEN_CPU_CAPABILITY=default.

    Returns each probe's printed output by name, `capability`: what torch ran on in that process,
    and `numpy_features`: NumPy's features beyond its baseline that it used there (none).
    """
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__
    except ImportError:  # NumPy 1
        from numpy.core._multiarray_umath import __cpu_dispatch__

    env = {
        **os.environ,
        "ATEN_CPU_CAPABILITY": "default",
        "NPY_DISABLE_CPU_FEATURES": " ".join(__cpu_dispatch__),
        "PARAMINIT_DEVICE": "cpu",
    }
    run = subprocess.run(
        [sys.executable, "-c", _RUNNER],
        input=json.dumps(PROBES),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if run.returncode != 0:
        raise RuntimeError(f"the plain-CPU process failed:\n{run.stderr[-4000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])
