"""Independent checks of the built site: valid HTML (the Nu HTML checker) and no broken link or
anchor, inside CSS too (LinkChecker), on every page, the theme's markup included.

    .venv/bin/python scripts/check_site.py [--site DIR]      # or: make check-site

Without --site it builds the site strictly into a temporary folder first. Needs Java (for the Nu
checker, npm `vnu-jar`, installed by `npm ci`) and LinkChecker (the test extra). Works offline:
links to other hosts are listed by LinkChecker but not fetched. Exits non-zero on any error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from serve_gzip import serving

ROOT = Path(__file__).resolve().parents[1]
VNU = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
# LinkChecker: local URLs only, every anchor checked, no politeness delay towards our own server.
LINKCHECKER_CONFIG = """\
[checking]
threads=4
maxrequestspersecond=1000
[filtering]
checkextern=0
[AnchorCheck]
[output]
status=0
"""


def build(out: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=True,
    )


def check_html(site: Path) -> list[str]:
    """Every error the Nu HTML checker reports on the site's HTML files."""
    java = shutil.which("java")
    if java is None:
        return ["java is not installed (apt-get install default-jre-headless): the Nu checker needs it"]
    if not VNU.is_file():
        return [f"{VNU} is missing: run `npm ci`"]
    pages = sorted(str(p) for p in site.rglob("*.html"))
    run = subprocess.run(
        [java, "-jar", str(VNU), "--errors-only", "--format", "json", *pages],
        capture_output=True,
        text=True,
        timeout=300,
    )
    messages = json.loads(run.stderr or '{"messages": []}')["messages"]
    errors = [
        f"{Path(m.get('url', '?').removeprefix('file:')).relative_to(site)}:{m.get('lastLine', '?')}: "
        f"{m['message']}"
        for m in messages
        if m.get("type") in ("error", "non-document-error")
    ]
    if run.returncode != 0 and not errors:
        errors.append(f"the Nu checker failed: {run.stdout[-2000:]} {run.stderr[-2000:]}")
    print(f"Nu HTML checker: {len(pages)} pages, {len(errors)} errors")
    return errors


def check_links(site: Path, workdir: Path) -> list[str]:
    """Every broken link or anchor LinkChecker finds, following links from the home page and CSS."""
    linkchecker = shutil.which("linkchecker", path=str(Path(sys.executable).parent)) or shutil.which(
        "linkchecker"
    )
    if linkchecker is None:
        return ["linkchecker is not installed (pip install -e '.[test]')"]
    config = workdir / "linkcheckerrc"
    config.write_text(LINKCHECKER_CONFIG)
    config.chmod(0o644)  # run as root, LinkChecker drops to `nobody` before reading it
    workdir.chmod(0o755)
    with serving(site) as base:
        run = subprocess.run(
            [linkchecker, "--config", str(config), "--no-status", "--output=text", f"{base}/"],
            capture_output=True,
            text=True,
            timeout=600,
        )
    summary = re.search(
        r"(\d+) links? in (\d+) URLs? checked\. (\d+) warnings? found\. (\d+) errors? found", run.stdout
    )
    if summary is None:
        return [f"LinkChecker did not finish: {run.stdout[-3000:]} {run.stderr[-3000:]}"]
    links, _, warnings, errors = map(int, summary.groups())
    print(f"LinkChecker: {links} links checked, {errors} errors, {warnings} warnings")
    if errors or warnings or run.returncode != 0:
        blocks = [b for b in run.stdout.split("\n\n") if "Result     Error" in b or "Warning  " in b]
        return [b.strip() for b in blocks] or [run.stdout[-3000:]]
    return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, help="an already built site (default: build one now)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        site = args.site
        if site is None:
            site = tmp / "site"
            build(site)
        problems = check_html(site) + check_links(site, tmp)
    for problem in problems:
        print(problem, end="\n\n")
    print("check-site: " + ("OK" if not problems else f"{len(problems)} problems"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
