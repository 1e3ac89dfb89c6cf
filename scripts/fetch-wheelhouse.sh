#!/usr/bin/env bash
# Download the wheels that `make test-cuda` needs beyond what the GPU machine's Python already has
# (torch, pytest, hypothesis, scipy, numpy, matplotlib, markdown-it-py), at the versions pinned in
# constraints.txt, for CPython VERSION (default 3.12; give the full version, e.g. 3.12.3, when a
# package requires a patch release) on manylinux x86_64, into DIR (default
# wheelhouse/, git-ignored). scripts/device_run.py unpacks them there without pip or an index.
#   scripts/fetch-wheelhouse.sh [VERSION] [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-3.12}
out=${2:-wheelhouse}
mapfile -t pins < <(grep -iE '^(pytest-markdown-docs|pymdown-extensions|markdown|pyyaml)==' constraints.txt)
if [ "${#pins[@]}" -ne 4 ]; then
  echo "constraints.txt should pin pytest-markdown-docs, pymdown-extensions, Markdown and PyYAML" >&2
  exit 1
fi
rm -rf "$out"
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version "$version" --implementation cp \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 \
  --dest "$out" "${pins[@]}"
ls -1 "$out"
du -sh "$out"
