#!/bin/bash
# A no-op apply of N containers, interleaved, 9 rounds, medians (milliseconds, wall):
#   before-pass     the code in BEFORE_DIR (a copy of an older reconciler/), the whole pass
#   after-pass      this checkout, the pass (RECONCILE_SETTLED=0)
#   after-settled   this checkout, answered by the settled receipt (the run before leaves it)
# No server in any of them. Each version has its own state directory.
#
#   git archive e108217 reconciler | tar -x -C /tmp/before
#   .venv/bin/python -m compileall -q /tmp/before/reconciler reconciler
#   benchmarks/noop_ab.sh /tmp/before 50
set -u
BEFORE=${1:?usage: noop_ab.sh BEFORE_DIR [N]}
N=${2:-50}
REPO=$(cd "$(dirname "$0")/.." && pwd)
R=$REPO/.venv/bin/reconcile
WORK=$(mktemp -d /tmp/noop-ab-XXXXXX)
trap 'RECONCILE_STATE_DIR=$WORK/state-after RECONCILE_NO_SERVER=1 $R delete -f $WORK/m -p ab$N >/dev/null 2>&1; rm -rf "$WORK"' EXIT
"$REPO/.venv/bin/python" - "$WORK/m" "$N" <<PY
import sys
sys.path.insert(0, "$REPO/benchmarks")
from pathlib import Path
import bench
bench.write_manifests(Path(sys.argv[1]), bench.Workload(base=f"noopab-{sys.argv[2]}-", n=int(sys.argv[2])))
PY
mkdir -m 700 "$WORK/state-before" "$WORK/state-after"
run() { # before|after SETTLED
  if [ "$1" = before ]; then PP=$BEFORE; SD=$WORK/state-before; else PP=; SD=$WORK/state-after; fi
  s=$(date +%s%N)
  env ${PP:+PYTHONPATH=$PP} RECONCILE_STATE_DIR="$SD" RECONCILE_NO_SERVER=1 RECONCILE_SETTLED="$2" \
    "$R" apply -f "$WORK/m" -p "ab$N" >/dev/null 2>&1
  echo $(( ($(date +%s%N) - s) / 1000000 ))
}
for _ in 1 2; do run after 0 >/dev/null; run before 0 >/dev/null; done
for _ in $(seq 9); do
  echo "before-pass $(run before 0)"
  echo "after-pass $(run after 0)"
  run after 1 >/dev/null
  echo "after-settled $(run after 1)"
done | sort -k1,1 -k2n | awk '{a[$1]=a[$1]" "$2; c[$1]++}
  END {for (k in a) {split(a[k], v, " "); print k, "median", v[int((c[k]+1)/2)], "ms; all:", a[k]}}'
