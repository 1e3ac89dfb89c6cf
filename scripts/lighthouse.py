"""Lighthouse (mobile preset) on the built site, served gzipped on 127.0.0.1 as a real host serves it.

Builds the site strictly (or takes an already built one with --site), serves it with
scripts/serve_gzip.py, runs Lighthouse 3 times on the chapter page and once on every other page,
and prints the median performance score, the accessibility score of every page and the bytes the
chapter page transfers. Exits non-zero when a target is missed:

    performance >= 99 (median of the runs, chapter page)   bytes transferred <= 150 KiB
    accessibility = 100 on every page

Run on demand (it takes a few minutes and a quiet machine; it is not part of the test suite):

    .venv/bin/python scripts/lighthouse.py [--runs 3] [--site DIR] [--page /parameter-initialization/]

Needs `npm ci` (Lighthouse 12 from package.json) and Chromium: PARAMINIT_CHROMIUM, default
/usr/bin/chromium. Scores swing on a busy machine: check `uptime` first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from check_site import build
from serve_gzip import serving

ROOT = Path(__file__).resolve().parents[1]
LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu --no-first-run --disable-background-networking"
TARGETS = {"performance": 99, "accessibility": 100, "kib": 150}


def pages(site: Path) -> list[str]:
    """Every HTML page of the built site, as URL paths."""
    found = []
    for html in sorted(site.rglob("*.html")):
        rel = html.relative_to(site).as_posix()
        found.append("/" + (rel.removesuffix("index.html") if rel.endswith("index.html") else rel))
    return found


def lighthouse(url: str, out: Path, chromium: str) -> dict:
    """One Lighthouse run (mobile preset, the default); returns the parsed JSON report."""
    subprocess.run(
        [
            str(LIGHTHOUSE),
            url,
            "--quiet",
            "--only-categories=performance,accessibility",
            "--output=json",
            f"--output-path={out}",
            f"--chrome-flags={CHROME_FLAGS}",
        ],
        env={**os.environ, "CHROME_PATH": chromium},
        check=True,
        timeout=300,
    )
    return json.loads(out.read_text())


def summary(report: dict) -> dict:
    audits = report["audits"]
    failed = [
        key
        for key, audit in audits.items()
        if key in {ref["id"] for ref in report["categories"]["accessibility"]["auditRefs"]}
        and audit.get("score") is not None
        and audit["score"] < 1
        and audit.get("scoreDisplayMode") == "binary"
    ]
    return {
        "performance": round(report["categories"]["performance"]["score"] * 100),
        "accessibility": round(report["categories"]["accessibility"]["score"] * 100),
        "kib": audits["total-byte-weight"]["numericValue"] / 1024,
        "lcp_ms": audits["largest-contentful-paint"]["numericValue"],
        "tbt_ms": audits["total-blocking-time"]["numericValue"],
        "cls": audits["cumulative-layout-shift"]["numericValue"],
        "a11y_failed": failed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs on the measured page (default 3)")
    parser.add_argument("--page", default="/parameter-initialization/", help="the page measured N times")
    parser.add_argument("--site", type=Path, help="an already built site (default: build one now)")
    args = parser.parse_args()
    chromium = os.environ.get("PARAMINIT_CHROMIUM", "/usr/bin/chromium")
    if not LIGHTHOUSE.exists():
        sys.exit(f"{LIGHTHOUSE} is missing: run `npm ci` first")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        site = args.site
        if site is None:
            site = tmp / "site"
            build(site)
        others = [p for p in pages(site) if p != args.page]
        with serving(site) as base:
            runs = []
            for index in range(args.runs):
                runs.append(summary(lighthouse(base + args.page, tmp / f"run{index}.json", chromium)))
                r = runs[-1]
                print(
                    f"run {index + 1}: performance {r['performance']}, accessibility {r['accessibility']},"
                    f" {r['kib']:.1f} KiB, LCP {r['lcp_ms']:.0f} ms, TBT {r['tbt_ms']:.0f} ms,"
                    f" CLS {r['cls']:.3f}",
                    flush=True,
                )
            per_page = {args.page: min(r["accessibility"] for r in runs)}
            failed = {args.page: sorted({a for r in runs for a in r["a11y_failed"]})}
            for path in others:
                r = summary(lighthouse(base + path, tmp / "page.json", chromium))
                per_page[path], failed[path] = r["accessibility"], r["a11y_failed"]

    median = {key: statistics.median(r[key] for r in runs) for key in ("performance", "accessibility", "kib")}
    print(f"\n{args.page}, Lighthouse mobile preset, served gzipped, median of {len(runs)}:")
    print(f"  performance    {median['performance']:g}  (target >= {TARGETS['performance']})")
    print(f"  transferred    {median['kib']:.1f} KiB  (target <= {TARGETS['kib']} KiB)")
    print("accessibility, every page:")
    for path, score in per_page.items():
        print(f"  {score:3d}  {path}" + (f"  failing: {', '.join(failed[path])}" if failed[path] else ""))
    ok = (
        median["performance"] >= TARGETS["performance"]
        and median["kib"] <= TARGETS["kib"]
        and all(score >= TARGETS["accessibility"] for score in per_page.values())
    )
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
