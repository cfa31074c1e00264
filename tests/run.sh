#!/usr/bin/env bash
# Runs every test program: the C unit/golden tests in BIN/tests/ and the shell tests in
# tests/cli/*.sh. Each prints one line per check, "PASS name" or "FAIL name: why"; a program
# that exits non-zero without a FAIL line (a crash, a sanitizer report) counts as one failure.
# A check that cannot run here for a reason no package fixes (no permission to mount, say)
# prints "SKIP name: why"; one whose tool the deps script installs is a FAIL when missing.
# Ends with the line "N passed, N failed", plus ", N skipped" when anything was skipped.
# TEST_FILTER=regex runs a subset.
set -u
BIN=${1:-bin}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export MOEPROBE_BIN="$ROOT/$BIN/moeprobe"
export MOEPROBE_ROOT="$ROOT"
export MOEPROBE_SHARED=${MOEPROBE_SHARED:-$(cd "$ROOT/../shared" 2>/dev/null && pwd)}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# sanitizer builds (make test-debug): leaks are checked; Open MPI's own threads keep a few
# allocations (tests/lsan.supp), and the suppression needs full stacks (fast_unwind_on_malloc=0)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:fast_unwind_on_malloc=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/moeprobe-tests.XXXXXX")
export MOEPROBE_TEST_TMP="$TMP"
trap 'rm -rf "$TMP"' EXIT
pass=0; fail=0; skip=0
run_one() {  # name, command...
  local name=$1; shift
  local log="$TMP/$(echo "$name" | tr '/ ' '__').log"
  local t0=$(date +%s.%N)
  "$@" >"$log" 2>&1
  local rc=$?
  local t1=$(date +%s.%N)
  local p f s
  p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^SKIP ' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1; echo "FAIL $name: exited with status $rc without a FAIL line" >>"$log"
  fi
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then
    f=1; echo "FAIL $name: printed no check at all" >>"$log"
  fi
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
  printf '%-40s %4d passed %3d failed  %6.1fs%s\n' "$name" "$p" "$f" "$(awk "BEGIN{print $t1 - $t0}")" \
    "$([ "$s" -gt 0 ] && echo "  ($s skipped)")"
  if [ "$f" -ne 0 ]; then grep -E '^(FAIL|WORST)' "$log" | head -20 | sed 's/^/    /'; tail -n 15 "$log" | sed 's/^/    | /'; fi
  grep -E '^(WORST|INFO|SKIP) ' "$log" | sed 's/^/    /' || true
}
# the kernel paths this CPU runs (pipeline/ops/kern.h): the golden forward test runs once per
# path under its name (unit/test_forward_golden_avx2 ...); portable C is slow, so it takes
# two models (an MoE one and a sliding-window one) — test_kern and cli/isa_paths check that
# every path gives the same bits anyway
ISAS=$("$BIN/moeprobe" --version 2>/dev/null | sed -n 's/^kernel paths: \([a-z0-9 ]*\).*/\1/p')
[ -n "$ISAS" ] || ISAS=unknown
export MOEPROBE_ISAS="$ISAS"
for t in "$BIN"/tests/test_*; do
  [ -x "$t" ] || continue
  n=unit/$(basename "$t")
  if [ "$n" = unit/test_forward_golden ]; then
    for isa in $ISAS; do
      m=${n}_$isa
      [[ -n "${TEST_FILTER:-}" && ! "$m" =~ ${TEST_FILTER} ]] && continue
      if [ "$isa" = generic ]; then
        run_one "$m" bash -c 'MOEPROBE_ISA=generic "$1" olmoe && MOEPROBE_ISA=generic "$1" mistral' _ "$t"
      else
        run_one "$m" env MOEPROBE_ISA="$isa" "$t"
      fi
    done
    continue
  fi
  [[ -n "${TEST_FILTER:-}" && ! "$n" =~ ${TEST_FILTER} ]] && continue
  run_one "$n" "$t"
done
for t in tests/cli/*.sh; do
  [ -f "$t" ] || continue
  n=cli/$(basename "$t" .sh)
  [[ -n "${TEST_FILTER:-}" && ! "$n" =~ ${TEST_FILTER} ]] && continue
  run_one "$n" bash "$t"
done
echo "$pass passed, $fail failed$([ "$skip" -gt 0 ] && echo ", $skip skipped")"
[ "$fail" -eq 0 ]
