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
#   FUZZ_SEED=N         libFuzzer's random seed (-seed): N for a harness's first run, N+1 after
#                       its first restart on an HDF5 fault, and so on (a restart with the same
#                       seed would meet the same fault again). With FUZZ_FRESH=1 and FUZZ_RUNS
#                       the inputs are then the same on every machine and every run; unset, each
#                       run draws its own seed (libFuzzer's default)
#   FUZZ_HDF5_DIVISOR=D the HDF5 harnesses (fuzz_part, fuzz_archive, fuzz_report) run FUZZ_RUNS/D
#                       executions (default 20): each one writes, checksums and reads whole HDF5
#                       files, ~100 times slower
# HDF5 HARNESSES (fuzz_part, fuzz_archive) feed damaged HDF5 files to libhdf5, which is not
# hardened against hostile files and may crash inside itself. tests/fuzz/classify_crash.py tells
# such a fault (the faulting frame inside libhdf5, on memory that libhdf5 allocated) from one of
# ours (anything else, including HDF5 overrunning a buffer we sized); HDF5's are printed as NOTE
# lines, kept in build-fuzz/hdf5-faults/<h>/ with their logs, and the harness restarts from its
# corpus until its executions are done; ours fail the run as for any harness.
# Prints per harness "PASS fuzz/<h> (N executions in Ts[, target N], ...)" or "FAIL fuzz/<h>: ...",
# then a line "FUZZ total: N executions, C crashes"; exit status 1 when anything crashed or did
# not build (or, with FUZZ_RUNS, stopped at the time cap before its executions were done).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
SECS=${FUZZ_SECONDS:-60}
RUNS=${FUZZ_RUNS:-}
HDF5_HARNESSES='^fuzz_(part|archive)$'    # damaged HDF5 files: HDF5's own crashes are recorded
SLOW_HARNESSES='^fuzz_(part|archive|report)$' # whole HDF5 files per input: FUZZ_RUNS/HDF5_DIV
HDF5_DIV=${FUZZ_HDF5_DIVISOR:-20}
DIR=${FUZZ_DIR:-build-fuzz}
export MOEPROBE_ROOT="$ROOT"
export MOEPROBE_SHARED=${MOEPROBE_SHARED:-$(cd "$ROOT/../shared" 2>/dev/null && pwd)}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
# HDF5's own leaks on damaged files are suppressed (tests/fuzz/lsan_hdf5.supp says which and why);
# set here, not defaulted: tests/run.sh exports its own suppressions for the test suite
export LSAN_OPTIONS="suppressions=$ROOT/tests/fuzz/lsan_hdf5.supp:print_suppressions=0"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if ! command -v "${FUZZ_CC:-clang}" >/dev/null; then
  echo "FAIL fuzz/build: ${FUZZ_CC:-clang} not found (scripts/install-deps.sh installs clang and libclang-rt-14-dev)"
  exit 1
fi
# the harnesses' scratch folders go in one folder of this run, removed at the end: a harness that
# crashes (HDF5's faults included) cannot run its own clean-up
if [ -z "${FUZZ_TMPDIR:-}" ]; then
  base=/tmp; [ -w /dev/shm ] && base=/dev/shm
  FUZZ_TMPDIR=$(mktemp -d "$base/moeprobe-fuzz-run.XXXXXX") || exit 1
  export FUZZ_TMPDIR
  trap 'rm -rf "$FUZZ_TMPDIR"' EXIT
fi
jobs=$(nproc 2>/dev/null || echo 2)
mkdir -p "$DIR"
if ! make -s -f tests/fuzz/fuzz.mk FUZZ_DIR="$DIR" -j"$jobs" >"$DIR/build.log" 2>&1; then
  echo "FAIL fuzz/build: the harnesses did not build; $(grep -m3 -E 'error|undefined' "$DIR/build.log")"
  exit 1
fi
# The harnesses are independent one-thread processes: up to nproc of them run at once (each in
# fuzz_one, in the background), then their lines are printed harness by harness, in the same
# order as one after the other. With FUZZ_RUNS the time cap (a guard against a hang) grows
# with the number of harnesses sharing the machine.
cap=$SECS; [ -n "$RUNS" ] && cap=$((SECS * jobs))
fuzz_one() {  # HARNESS: prints its NOTE and PASS/FAIL lines; LOG.sum gets "EXECS CRASHED FAILED"
  h=$1; crashed=0; failed=0
  work="$DIR/corpus/$h"; art="$DIR/crashes/$h"; log="$DIR/logs/$h.log"
  [ "${FUZZ_FRESH:-0}" = 1 ] && rm -rf "$work"
  mkdir -p "$work" "$art" "$(dirname "$log")"
  dict=tests/fuzz/dict/json.dict
  [ "$h" = fuzz_yaml ] && dict=tests/fuzz/dict/yaml.dict
  [ "$h" = fuzz_tokenize ] && dict=""
  dopt=(); [ -n "$dict" ] && dopt=(-dict="$dict")
  # the HDF5 harnesses: fewer executions (each writes, checks and reads whole HDF5 files), and a
  # crash inside HDF5 is recorded, not a failure (see the top of this file)
  hdf5=0; want=$RUNS
  [[ "$h" =~ $HDF5_HARNESSES ]] && hdf5=1
  [[ "$h" =~ $SLOW_HARNESSES ]] && [ -n "$RUNS" ] && want=$(( (RUNS + HDF5_DIV - 1) / HDF5_DIV ))
  faults="$DIR/hdf5-faults/$h"; [ $hdf5 = 1 ] && mkdir -p "$faults"
  t0=$(date +%s); execs=0; n_hdf5=0; rc=0; new=0; ours=""; : >"$log"
  while :; do
    before=$(ls "$art" | wc -l)
    left=$(( cap - ($(date +%s) - t0) )); [ $left -lt 1 ] && left=1
    ropt=(); [ -n "$want" ] && ropt=(-runs=$(( want - execs )))
    [ -n "${FUZZ_SEED:-}" ] && ropt+=(-seed=$(( FUZZ_SEED + n_hdf5 )))
    "$DIR/$h" -max_total_time="$left" -timeout=20 -rss_limit_mb=3072 -print_final_stats=1 \
      "${ropt[@]}" "${dopt[@]}" -artifact_prefix="$art/" "$work" "tests/fuzz/corpus/$h" >"$log.part" 2>&1
    rc=$?
    cat "$log.part" >>"$log"
    e=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log.part" | tail -1)
    execs=$((execs + ${e:-0}))
    new=$(( $(ls "$art" | wc -l) - before ))
    [ $rc -eq 0 ] && [ $new -eq 0 ] && break
    # a crash: HDF5's own (recorded with its log, and the run goes on) or ours (the run fails)
    [ $hdf5 = 1 ] || break
    verdict=$(/usr/bin/python3 tests/fuzz/classify_crash.py "$log.part")
    [ $? -eq 0 ] || { ours=$verdict; break; }
    n_hdf5=$((n_hdf5 + 1))
    input=$(ls -t "$art" | head -1)
    if [ -n "$input" ]; then
      mv "$art/$input" "$faults/$input"; cp "$log.part" "$faults/$input.log"
    fi
    echo "NOTE fuzz/$h: HDF5's own fault on a damaged file (pipeline/archive/archive.h, HOSTILE FILES), input kept as $faults/$input: $verdict"
    new=0; rc=0
    [ $n_hdf5 -ge 50 ] && { ours="50 HDF5 faults before the end: too many to go on"; rc=1; break; }
    [ -n "$want" ] && [ $execs -ge $want ] && break
    [ $(( $(date +%s) - t0 )) -ge $cap ] && break
  done
  rm -f "$log.part"
  t1=$(date +%s)
  cov=$(grep -aoE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}')
  n_corpus=$(ls "$work" | wc -l)
  hnote=""; [ $hdf5 = 1 ] && hnote=", $n_hdf5 HDF5 fault(s) recorded"
  if [ $rc -ne 0 ] || [ $new -gt 0 ] || [ -n "$ours" ]; then
    crashed=1; failed=1
    what=$(grep -a -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|fuzz invariant broken|deadly signal' "$log")
    [ -n "$ours" ] && what="$ours"
    echo "FAIL fuzz/$h: exit $rc after $((t1 - t0))s, $execs executions; $what; input: $(ls -t "$art" | head -1 | sed "s|^|$art/|"); log $log"
  elif [ -n "$want" ] && [ "$execs" -lt "$want" ]; then
    failed=1
    echo "FAIL fuzz/$h: stopped by the ${cap}s cap after $execs of $want executions; log $log"
  else
    echo "PASS fuzz/$h ($execs executions in $((t1 - t0))s${want:+, target $want}, coverage ${cov:-?} edges, corpus $n_corpus$hnote${FUZZ_SEED:+, seed $FUZZ_SEED})"
  fi
  echo "$execs $crashed $failed" >"$log.sum"
}
hs=()
for src in tests/fuzz/fuzz_*.c; do
  h=$(basename "$src" .c)
  [[ -n "${FUZZ_ONLY:-}" && ! "$h" =~ ${FUZZ_ONLY} ]] && continue
  hs+=("$h")
  rm -f "$DIR/logs/$h.log.sum"
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  mkdir -p "$DIR/logs"
  fuzz_one "$h" >"$DIR/logs/$h.out" 2>&1 &
done
wait
total=0; crashes=0; status=0
for h in "${hs[@]}"; do
  cat "$DIR/logs/$h.out"
  if read -r e c f 2>/dev/null <"$DIR/logs/$h.log.sum"; then
    total=$((total + e)); crashes=$((crashes + c)); [ "$f" = 1 ] && status=1
  else
    echo "FAIL fuzz/$h: its run ended without a verdict; $(tail -2 "$DIR/logs/$h.out" | tr '\n' ' ')"; status=1
  fi
done
if [ -n "$RUNS" ]; then
  echo "FUZZ total: $total executions, $crashes crashing harness(es), $RUNS executions each, $(( (RUNS + HDF5_DIV - 1) / HDF5_DIV )) for the HDF5 harnesses (cap ${cap}s)"
else
  echo "FUZZ total: $total executions, $crashes crashing harness(es), ${SECS}s each"
fi
exit $status
