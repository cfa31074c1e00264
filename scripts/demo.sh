#!/usr/bin/env bash
# The embedded default, from a fresh clone to a report: installs the Debian packages when
# something is missing (scripts/install-deps.sh, which also brings make and gcc), builds, and
# runs configs/demo.yaml — every analysis of the paper on the six tiny fixture models and the
# 12 LRE relations — with 2 MPI ranks. Rerunning resumes (finished units are skipped).
#   scripts/demo.sh [NP]      NP = MPI ranks (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
np=${1:-2}
scripts/install-deps.sh
make -j"$(nproc)" bin/moeprobe
root=()
[ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)
t0=$(date +%s)
mpirun --oversubscribe "${root[@]}" -np "$np" bin/moeprobe run configs/demo.yaml >/dev/null
echo
echo "demo finished in $(( $(date +%s) - t0 )) s with $np ranks"
echo "archives: $(ls runs/demo/*.h5 | tr '\n' ' ')"
if [ -f runs/demo/report/index.html ]; then
  echo "report:   runs/demo/report/index.html"
elif [ -f runs/demo/report/report.md ]; then
  echo "report:   runs/demo/report/report.md"
fi
echo "status:   bin/moeprobe status runs/demo"
