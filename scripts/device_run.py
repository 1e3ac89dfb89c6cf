"""Run every test, page block and snippet on one device, and write a JSON record of the run.

    python3 scripts/device_run.py --device cuda            # what `make test-cuda` runs
    python3 scripts/device_run.py --device cpu             # the same run on the CPU (a dry run)
    python3 scripts/device_run.py --table                  # the Verified-on table of the records

It uses the interpreter it is started with: no virtual environment, no package index. `src/` and
`tests/` go on `PYTHONPATH`; Python packages the interpreter lacks (pytest-markdown-docs,
pymdown-extensions, Markdown, PyYAML) are unpacked from the wheels in `--wheelhouse` (made by
`scripts/fetch-wheelhouse.sh`) into `--site` and put on `PYTHONPATH` too.

The run is `pytest` with PARAMINIT_DEVICE set, so conftest.py makes the device torch's default and
every test, every snippet section and every page block (`--markdown-docs`) runs there; CUDA-only
tests run instead of being skipped. The tests of the built site and the MkDocs build hooks are left
out: they need the MkDocs stack and a browser, not a device, and run in the CPU job. So is the
check of the shipped digits against scikit-learn's (it needs scikit-learn, not a device).

The record (`docs/verified/<device>-<date>.json`): date, device kind, GPU or CPU name, Python,
torch and CUDA versions, pytest's counts, wall time, and the digest of the fixed model's counter
init (`tests/reference_model.py`) on the device and on the CPU. The exit status is 0 only if
pytest passed and the two digests are equal. Asking for CUDA where torch sees none fails at once
(exit status 2): a GPU job that quietly tested the CPU would prove nothing.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "docs" / "verified"
SITE_TESTS = [
    "tests/test_site.py",
    "tests/test_browser.py",
    "tests/test_fresh_install.py",
    "tests/test_sources.py",
    "tests/test_quiet_setup.py",
    "tests/test_digits.py",
    "docs/hooks",
]
"""The built site's tests, the reader's CPU environment, the MkDocs build hooks (which
`--markdown-docs` would import) and the check of the shipped digits against scikit-learn's: they
need the MkDocs stack, a browser, a package index or scikit-learn, not a device, and run in the
CPU job."""
NEEDED = {
    "markdown": "Markdown",
    "yaml": "PyYAML",
    "pymdownx": "pymdown-extensions",
    "pytest_markdown_docs": None,
}
"""Modules the run imports beyond torch, pytest, hypothesis, scipy, numpy and matplotlib."""


def unpack_wheelhouse(wheelhouse: Path, site: Path) -> list[str]:
    """Unpack every wheel of `wheelhouse` into `site` (what `pip install --target` does for these
    pure-Python and binary wheels, without pip or an index). Returns the wheel names."""
    if site.exists():
        shutil.rmtree(site)  # our own folder: no wheel of an earlier run stays behind
    site.mkdir(parents=True)
    names = []
    for wheel in sorted(wheelhouse.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
        names.append(wheel.name)
    return names


def missing_modules(env: dict[str, str]) -> list[str]:
    code = (
        "import importlib.util, sys\n"
        f"print(' '.join(m for m in {sorted(NEEDED)!r} if importlib.util.find_spec(m) is None))"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return done.stdout.split()


def pytest_counts(junit: Path) -> dict[str, int]:
    """passed / failed / errors / skipped / total from a JUnit XML report."""
    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) for s in suites)
    errors = sum(int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    return {
        "passed": total - failed - errors - skipped,
        "failed": failed,
        "errors": errors,
        "skipped": skipped,
        "total": total,
    }


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover - not Linux
        pass
    return platform.processor() or platform.machine()  # pragma: no cover - not Linux


def environment(env: dict[str, str], device: str) -> dict | None:
    """Versions and names, and the reference digest on the device and on the CPU, from a child
    process that sees exactly the run's PYTHONPATH."""
    code = """
import json, platform, torch
import reference_model
from paraminit import get_device
device = get_device(DEVICE)
info = {
    "python": platform.python_version(),
    "torch": torch.__version__,
    "cuda": torch.version.cuda,
    "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
    "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    "digest_device": reference_model.digest(device),
    "digest_cpu": reference_model.digest("cpu"),
    "digest_pinned": reference_model.PINNED_DIGEST,
}
print(json.dumps(info))
""".replace("DEVICE", repr(device))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"could not use device {device!r}:\n{done.stderr.strip()[-2000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout)


def run(device: str, wheelhouse: Path, site: Path, record_dir: Path, extra: list[str]) -> int:
    started = time.perf_counter()
    date = datetime.datetime.now(datetime.timezone.utc)
    paths = [str(ROOT / "src"), str(ROOT / "tests"), str(site)]
    env = {
        **os.environ,
        "PARAMINIT_DEVICE": device,
        "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]),
        "NO_MKDOCS_2_WARNING": "1",
    }
    unpacked = unpack_wheelhouse(wheelhouse, site) if wheelhouse.is_dir() else []
    missing = missing_modules(env)
    if missing:
        raise SystemExit(
            f"modules {missing} are missing and not in the wheelhouse {wheelhouse}: run "
            "scripts/fetch-wheelhouse.sh on a machine with a package index, and carry the folder here"
        )
    info = environment(env, device)
    if info is None:  # before any test: no record of a run that did not happen
        return 2
    print(f"device {device}: {info['gpu'] or cpu_name()}; torch {info['torch']}, CUDA {info['cuda']}")
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--junitxml={junit}",
            *[f"--ignore={path}" for path in SITE_TESTS],
            *extra,
        ]
        tests = subprocess.run(command, cwd=ROOT, env=env)
        counts = pytest_counts(junit) if junit.exists() else {}
    wall = time.perf_counter() - started
    equal = info["digest_device"] == info["digest_cpu"] == info["digest_pinned"]
    record = {
        "kind": "cuda" if device.startswith("cuda") else f"{device} (dry run of the device command, no GPU)",
        "date": date.isoformat(timespec="seconds"),
        "device": device,
        "gpu": info["gpu"],
        "cpu": cpu_name(),
        "cpu_capability": info["cpu_capability"],
        "python": info["python"],
        "torch": info["torch"],
        "cuda": info["cuda"],
        "pytest": {**counts, "exit_status": tests.returncode},
        "left_out": SITE_TESTS,
        "wheels_unpacked": unpacked,
        "wall_s": round(wall, 1),
        "reference_digest": {
            "device": info["digest_device"],
            "cpu": info["digest_cpu"],
            "pinned": info["digest_pinned"],
            "equal": equal,
        },
        "command": " ".join(["python", "scripts/device_run.py", "--device", device, *extra]),
    }
    record_dir.mkdir(parents=True, exist_ok=True)
    path = record_dir / f"{device.replace(':', '')}-{date.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"record: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    print(f"pytest {counts}, digest equal to the CPU's: {equal}, {wall:.0f} s")
    return 0 if tests.returncode == 0 and equal else 1


# --------------------------------------------------------------------------------------------
# The Verified-on page's table


def load_records(record_dir: Path = RECORDS) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(record_dir.glob("*.json"))]


def table(records: list[dict]) -> str:
    """The Markdown table of the records, newest first, as docs/verified.md shows it."""
    lines = [
        "| date (UTC) | run | hardware | torch / CUDA | passed | skipped | failed | wall | digest equal |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in sorted(records, key=lambda r: r["date"], reverse=True):
        hardware = r["gpu"] or f"{r['cpu']} ({r['cpu_capability']})"
        failed = r["pytest"].get("failed", 0) + r["pytest"].get("errors", 0)
        lines.append(
            f"| {r['date'][:16].replace('T', ' ')} | {r['kind']} | {hardware} | "
            f"{r['torch']} / {r['cuda'] or 'none'} | {r['pytest']['passed']} | "
            f"{r['pytest']['skipped']} | {failed} | {r['wall_s']:.0f} s | "
            f"{'yes' if r['reference_digest']['equal'] else 'NO'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--wheelhouse", type=Path, default=ROOT / "wheelhouse")
    parser.add_argument("--site", type=Path, default=ROOT / ".device-site")
    parser.add_argument("--record-dir", type=Path, default=RECORDS)
    parser.add_argument("--table", action="store_true", help="print the Verified-on table and exit")
    args, extra = parser.parse_known_args(argv)
    if args.table:
        print(table(load_records(args.record_dir)))
        return 0
    return run(args.device, args.wheelhouse, args.site, args.record_dir, extra)


if __name__ == "__main__":
    sys.exit(main())
