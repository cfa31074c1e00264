#!/usr/bin/env bash
# The comparison tools the other tests trust (tests/tools) can say no: h5cmp compares in both
# directions (an object or attribute only B holds is a difference, unless --subset) and rejects
# unknown options, missing values and bad numbers with exit 2; metrics_cmp, summary_cmp,
# he_cmp and neurons_check exit non-zero on an unreadable input; and tool_check
# (tests/cli/lib/tool_check.bash) turns an exit status that disagrees with the printed lines
# into a FAIL.
set -u
source "$MOEPROBE_ROOT/tests/cli/lib/tool_check.bash"
BIN_DIR=$(dirname "$MOEPROBE_BIN"); TOOLS=$BIN_DIR/tools
T="$MOEPROBE_TEST_TMP/compare-tools"; rm -rf "$T"; mkdir -p "$T"
if ! "$BIN_DIR/tests/test_archive" --make-ranked "$T" >/dev/null 2>&1; then
  echo "FAIL compare_tools/archives_written: test_archive --make-ranked failed"; exit 1
fi
expect() {  # NAME WANT_EXIT PATTERN COMMAND...: exit status and output
  local name=$1 want=$2 pat=$3 out rc; shift 3
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" = "$want" ] && grep -qE -- "$pat" <<<"$out"; then echo "PASS compare_tools/$name"
  else echo "FAIL compare_tools/$name: exit $rc (want $want), output not matching /$pat/: $(head -3 <<<"$out" | tr '\n' '|')"; fi
}
# B = base plus one more dataset and one more attribute (h5copy of an existing dataset)
cp "$T/base.h5" "$T/more.h5"
h5copy -i "$T/base.h5" -o "$T/more.h5" -s /attribution/r/neuron_top4 -d /attribution/r/extra_copy 2>"$T/h5copy.err" \
  || echo "FAIL compare_tools/h5copy: $(head -2 "$T/h5copy.err")"
expect h5cmp_same 0 "0 differences" "$TOOLS/h5cmp" "$T/base.h5" "$T/base.h5"
expect h5cmp_b_has_more 1 "MISSING /attribution/r/extra_copy" "$TOOLS/h5cmp" "$T/base.h5" "$T/more.h5"
expect h5cmp_a_has_more 1 "DIFF /attribution/r/extra_copy" "$TOOLS/h5cmp" "$T/more.h5" "$T/base.h5"
expect h5cmp_subset_allows_b_more 0 "0 differences" "$TOOLS/h5cmp" "$T/base.h5" "$T/more.h5" --subset
expect h5cmp_subset_still_checks_a 1 "DIFF /attribution/r/extra_copy" "$TOOLS/h5cmp" "$T/more.h5" "$T/base.h5" --subset
expect h5cmp_unknown_option 2 "unknown option \"--rtoll\"" "$TOOLS/h5cmp" "$T/base.h5" "$T/base.h5" --rtoll 1e-3
expect h5cmp_missing_value 2 "missing value: --skip" "$TOOLS/h5cmp" "$T/base.h5" "$T/base.h5" --skip
expect h5cmp_bad_rtol 2 "--rtol \"lots\"" "$TOOLS/h5cmp" "$T/base.h5" "$T/base.h5" --rtol lots
expect h5cmp_unreadable 2 "h5cmp: .*no-such" "$TOOLS/h5cmp" "$T/base.h5" "$T/no-such.h5"
expect metrics_cmp_unreadable 1 "FAIL x: " "$TOOLS/metrics_cmp" "$T/no-such.h5" "$T/base.h5" x
expect metrics_cmp_unknown_option 2 "bad option \"--requier\"" "$TOOLS/metrics_cmp" "$T/base.h5" "$T/base.h5" x --requier n
expect summary_cmp_unreadable 1 "FAIL x: " "$TOOLS/summary_cmp" "$T/base.h5" "$T/no-such.json" x
expect he_cmp_unreadable 1 "FAIL x: " "$TOOLS/he_cmp" "$T/base.h5" "$T/no-such.json" x
expect neurons_check_unreadable 1 "FAIL x" "$TOOLS/neurons_check" "$T/no-such.h5" x
expect neurons_check_unknown_option 2 "bad option \"--top\"" "$TOOLS/neurons_check" "$T/base.h5" x --top 3
# tool_check: a crash after PASS lines, a FAIL with exit 0, and silence all become one FAIL
expect tool_check_exit_without_fail 2 "FAIL lbl/tool_exit: fake exited with status 3" \
  bash -c 'source "$0"; fake() { echo "PASS a"; return 3; }; tool_check lbl fake; [ $? = 3 ] && exit 2' \
  "$MOEPROBE_ROOT/tests/cli/lib/tool_check.bash"
expect tool_check_fail_with_exit_0 0 "FAIL lbl/tool_exit: fake exited 0 after 1 FAIL" \
  bash -c 'source "$0"; fake() { echo "FAIL a: x"; return 0; }; tool_check lbl fake' \
  "$MOEPROBE_ROOT/tests/cli/lib/tool_check.bash"
expect tool_check_silent 0 "FAIL lbl/tool_exit: fake printed no check" \
  bash -c 'source "$0"; fake() { echo "INFO nothing"; }; tool_check lbl fake' \
  "$MOEPROBE_ROOT/tests/cli/lib/tool_check.bash"
out=$(bash -c 'source "$0"; fake() { echo "PASS a"; }; tool_check lbl fake' "$MOEPROBE_ROOT/tests/cli/lib/tool_check.bash")
[ "$out" = "PASS a" ] && echo "PASS compare_tools/tool_check_agreeing_adds_nothing" \
  || echo "FAIL compare_tools/tool_check_agreeing_adds_nothing: $out"
