#!/usr/bin/env bash
# tests/fuzz/run.sh — `make fuzz`: builds the libFuzzer harnesses tests/fuzz/fuzz_*.c with clang
# (ASan + UBSan) into build-fuzz/ and runs each for FUZZ_SECONDS (default 60) starting from its
# seed corpus tests/fuzz/corpus/<harness>/. With FUZZ_RUNS=N each harness instead runs N
# executions (libFuzzer -runs=N), with FUZZ_SECONDS only as a cap: the amount of fuzzing is then
# the same on a loaded and an idle machine (tests/cli/fuzz_short.sh). New inputs go to build-fuzz/corpus/<harness>/ (the
# committed seeds are never touched); a crash is saved as build-fuzz/crashes/<harness>/crash-*
# (add it to the seed corpus as regress-<what> once fixed).
#   FUZZ_SECONDS=N      seconds per harness (default 60); with FUZZ_RUNS, the cap
#   FUZZ_RUNS=N         executions per harness (seeds included); reaching the cap first fails
#   FUZZ_ONLY=regex     run only the matching harnesses
#   FUZZ_DIR=dir        build and work folder (default build-fuzz)
#   FUZZ_FRESH=1        start from the seeds only (forget build-fuzz/corpus/)
# Prints per harness "PASS fuzz/<h> (...)" or "FAIL fuzz/<h>: ...", then a line
# "FUZZ total: N executions, C crashes"; exit status 1 when anything crashed or did not build
# (or, with FUZZ_RUNS, stopped at the time cap before N executions).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
SECS=${FUZZ_SECONDS:-60}
RUNS=${FUZZ_RUNS:-}
ropt=(); [ -n "$RUNS" ] && ropt=(-runs="$RUNS")
DIR=${FUZZ_DIR:-build-fuzz}
export MOEPROBE_ROOT="$ROOT"
export MOEPROBE_SHARED=${MOEPROBE_SHARED:-$(cd "$ROOT/../shared" 2>/dev/null && pwd)}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if ! command -v "${FUZZ_CC:-clang}" >/dev/null; then
  echo "FAIL fuzz/build: ${FUZZ_CC:-clang} not found (scripts/install-deps.sh installs clang and libclang-rt-14-dev)"
  exit 1
fi
jobs=$(nproc 2>/dev/null || echo 2)
mkdir -p "$DIR"
if ! make -s -f tests/fuzz/fuzz.mk FUZZ_DIR="$DIR" -j"$jobs" >"$DIR/build.log" 2>&1; then
  echo "FAIL fuzz/build: the harnesses did not build; $(grep -m3 -E 'error|undefined' "$DIR/build.log")"
  exit 1
fi
total=0; crashes=0; status=0
for src in tests/fuzz/fuzz_*.c; do
  h=$(basename "$src" .c)
  [[ -n "${FUZZ_ONLY:-}" && ! "$h" =~ ${FUZZ_ONLY} ]] && continue
  work="$DIR/corpus/$h"; art="$DIR/crashes/$h"; log="$DIR/logs/$h.log"
  [ "${FUZZ_FRESH:-0}" = 1 ] && rm -rf "$work"
  mkdir -p "$work" "$art" "$(dirname "$log")"
  dict=tests/fuzz/dict/json.dict
  [ "$h" = fuzz_yaml ] && dict=tests/fuzz/dict/yaml.dict
  [ "$h" = fuzz_tokenize ] && dict=""
  dopt=(); [ -n "$dict" ] && dopt=(-dict="$dict")
  before=$(ls "$art" | wc -l)
  t0=$(date +%s)
  "$DIR/$h" -max_total_time="$SECS" -timeout=20 -rss_limit_mb=3072 -print_final_stats=1 \
    "${ropt[@]}" "${dopt[@]}" -artifact_prefix="$art/" "$work" "tests/fuzz/corpus/$h" >"$log" 2>&1
  rc=$?
  t1=$(date +%s)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  execs=${execs:-0}
  cov=$(grep -aoE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}')
  n_corpus=$(ls "$work" | wc -l)
  total=$((total + execs))
  new=$(( $(ls "$art" | wc -l) - before ))
  if [ $rc -ne 0 ] || [ $new -gt 0 ]; then
    crashes=$((crashes + 1)); status=1
    what=$(grep -a -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|fuzz invariant broken|deadly signal' "$log")
    echo "FAIL fuzz/$h: exit $rc after $((t1 - t0))s, $execs executions; $what; input: $(ls -t "$art" | head -1 | sed "s|^|$art/|"); log $log"
  elif [ -n "$RUNS" ] && [ "$execs" -lt "$RUNS" ]; then
    status=1
    echo "FAIL fuzz/$h: stopped by the ${SECS}s cap after $execs of $FUZZ_RUNS executions; log $log"
  else
    echo "PASS fuzz/$h ($execs executions in $((t1 - t0))s, coverage ${cov:-?} edges, corpus $n_corpus)"
  fi
done
if [ -n "$RUNS" ]; then
  echo "FUZZ total: $total executions, $crashes crashing harness(es), $RUNS executions each (cap ${SECS}s)"
else
  echo "FUZZ total: $total executions, $crashes crashing harness(es), ${SECS}s each"
fi
exit $status
