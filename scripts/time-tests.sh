#!/usr/bin/env bash
# How long the whole pytest run of `make test` takes (or, with --build, a strict build of the site;
# with --check, the quick tier `make check`), as a multiple of a bare `import torch`, both measured
# in this one run on this machine. The targets: the pytest run at most 30x, the build at most 6x,
# `make check` at most 8x.
#
#   scripts/time-tests.sh [N]           # N bare imports before and after the run (default 5)
#   scripts/time-tests.sh --build [N]   # the same for `mkdocs build --strict` into a fresh folder
#   scripts/time-tests.sh --check [N]   # the same for `make check` (lint included)
#
# Machines and their load differ, so only the ratio means anything. The load average is printed
# before and after: on a busy machine, run it again later. The processor time (user + system, of
# every process the run waited for) is printed as a ratio too: on a busy machine it says how much
# work the run did, which the elapsed time does not; the targets are on the elapsed time.
set -euo pipefail
cd "$(dirname "$0")/.."
what=pytest target=30
case "${1:-}" in
  --build) what=build target=6; shift ;;
  --check) what=check target=8; shift ;;
esac
N="${1:-5}"
PY=.venv/bin/python
[[ -x "$PY" ]] || { echo "run 'make .venv/.test-installed' first" >&2; exit 1; }
log=$(mktemp) site=$(mktemp -d) clock=$(mktemp)
trap 'rm -rf "$log" "$site" "$clock"' EXIT

# Elapsed and processor seconds of a command, as "elapsed cpu" in $clock (GNU time's format).
timed() { command time -f '%e %U %S' -o "$clock" "$@"; }
seconds() { awk '{printf "%s %.2f\n", $1, $2 + $3}' "$clock"; }
imports() {
  for _ in $(seq "$N"); do
    timed "$PY" -c "import torch"
    seconds
  done
}
run() {
  if [[ $what == build ]]; then
    # The build of `make build`, into a folder of its own (nothing left from an earlier build).
    NO_MKDOCS_2_WARNING=1 timed .venv/bin/mkdocs build --strict --quiet --site-dir "$site/site"
  elif [[ $what == check ]]; then
    timed make -s check  # lint and the quick tier's pytest run, exactly as a developer types it
  else
    timed make -s pytest  # the pytest command of `make test`, exactly (see the Makefile)
  fi
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
before=$(imports)
if run >"$log" 2>&1; then status=passed; else status=FAILED; fi
read -r run_s run_cpu < <(seconds)
after=$(imports)
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
import_s=$(printf '%s\n%s\n' "$before" "$after" | cut -d' ' -f1 | median)
import_cpu=$(printf '%s\n%s\n' "$before" "$after" | cut -d' ' -f2 | median)
[[ $what != build || $status == FAILED ]] && tail -n 1 "$log"
printf 'bare import torch: median %.2f s of %d runs (%s), processor %.2f s\n' "$import_s" "$((2 * N))" \
  "$(printf '%s\n%s\n' "$before" "$after" | cut -d' ' -f1 | tr '\n' ' ' | sed 's/ $//')" "$import_cpu"
printf '%s (%s): %.1f s, processor %.1f s\n' "$what" "$status" "$run_s" "$run_cpu"
printf 'ratio: %.1fx (target <= %dx); processor: %.1fx\n' "$(echo "$run_s / $import_s" | bc -l)" "$target" \
  "$(echo "$run_cpu / $import_cpu" | bc -l)"
