#!/usr/bin/env bash
# How long the whole pytest run of `make test` takes, as a multiple of a bare `import torch`,
# both measured in this one run on this machine (the target is 15x or less).
#
#   scripts/time-tests.sh [N]        # N bare imports before and after the run (default 5)
#
# Machines and their load differ, so only the ratio means anything. The load average is printed
# before and after: on a busy machine, run it again later.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-5}"
PY=.venv/bin/python
[[ -x "$PY" ]] || { echo "run 'make .venv/.test-installed' first" >&2; exit 1; }

now() { date +%s.%N; }
imports() {
  for _ in $(seq "$N"); do
    local t0; t0=$(now)
    "$PY" -c "import torch"
    echo "$(now) - $t0" | bc
  done
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
before=$(imports)
t0=$(now)
# The pytest command of `make test`, exactly (see the Makefile).
if make -s pytest >/tmp/time-tests.$$.log 2>&1; then status=passed; else status=FAILED; fi
pytest_s=$(echo "$(now) - $t0" | bc)
after=$(imports)
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
import_s=$(printf '%s\n%s\n' "$before" "$after" | median)
tail -n 1 /tmp/time-tests.$$.log
rm -f /tmp/time-tests.$$.log
printf 'bare import torch: median %.2f s of %d runs (%s)\n' "$import_s" "$((2 * N))" "$(echo $before $after | tr '\n' ' ')"
printf 'pytest run (%s): %.1f s\n' "$status" "$pytest_s"
printf 'ratio: %.1fx (target <= 15x)\n' "$(echo "$pytest_s / $import_s" | bc -l)"
