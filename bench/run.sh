#!/usr/bin/env bash
# make bench: runs every bench/bench_*.sh and prints one table. Each script writes rows of
# tab-separated fields to stdout:  ROW <section> <path> <what> <moeprobe> <baseline> <ratio> <notes>
# (use "-" for an empty field), where path is the kernel path that ran (avx512, avx2, neon,
# generic; "-" where no weight product runs); a row of the older form without <path> gets "-".
# Anything else a script prints goes to the log only. Baselines
# (Hugging Face tokenizers / transformers) live in .bench-venv, made by bench/venv.sh, never
# needed by the build or the tests. BENCH_FILTER=regex runs a subset.
set -u
BIN=${1:-bin}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export MOEPROBE_BIN="$ROOT/$BIN/moeprobe" MOEPROBE_ROOT="$ROOT"
export MOEPROBE_SHARED=${MOEPROBE_SHARED:-$(cd "$ROOT/../shared" 2>/dev/null && pwd)}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT="$ROOT/bench/out"; mkdir -p "$OUT"
export BENCH_OUT="$OUT"
rows="$OUT/results.tsv"; : >"$rows"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $(date -u +%Y-%m-%dT%H:%MZ); moeprobe $(git rev-parse --short HEAD 2>/dev/null)"
for b in bench/bench_*.sh; do
  [ -f "$b" ] || continue
  [[ -n "${BENCH_FILTER:-}" && ! "$b" =~ ${BENCH_FILTER} ]] && continue
  log="$OUT/$(basename "$b" .sh).log"
  echo "running $b (log: $log)" >&2
  bash "$b" >"$log.out" 2>"$log"
  rc=$?
  grep '^ROW	' "$log.out" | cut -f2- |
    awk -F'\t' -v OFS='\t' 'NF == 6 { $1 = $1 OFS "-" } { print }' >>"$rows"
  [ $rc -ne 0 ] && printf '%s\t-\t%s\t-\t-\t-\t%s\n' "$(basename "$b" .sh)" "FAILED (exit $rc)" "see $log" >>"$rows"
done
{ printf 'section\tpath\twhat\tmoeprobe\tbaseline\tratio\tnotes\n'; cat "$rows"; } | column -t -s $'\t'
