#!/usr/bin/env bash
# h5cmp --ranked, the comparison the multi-rank and resume tests use for neuron top-N lists:
# entries of equal score may come in either order (also at the cut), nothing else may differ.
# The archives come from `test_archive --make-ranked` (see there what each one changes).
set -u
BIN_DIR=$(dirname "$MOEPROBE_BIN")
T="$MOEPROBE_TEST_TMP/h5cmp-ranked"; rm -rf "$T"; mkdir -p "$T"
CMP="$BIN_DIR/tools/h5cmp"
if ! "$BIN_DIR/tests/test_archive" --make-ranked "$T"; then
  echo "FAIL h5cmp_ranked/archives_written: test_archive --make-ranked failed"; exit 1
fi
check() {  # NAME WANT_EXIT FILE [h5cmp options]
  local name=$1 want=$2 f=$3 out rc; shift 3
  out=$("$CMP" "$T/$f.h5" "$T/base.h5" "$@" 2>&1); rc=$?
  [ "$rc" = "$want" ] && echo "PASS h5cmp_ranked/$name" || echo "FAIL h5cmp_ranked/$name: exit $rc, want $want: $(echo "$out" | head -3)"
}
check identical_passes 0 base --ranked neuron_top
check tied_swap_passes 0 tied --ranked neuron_top
check tie_at_cut_passes 0 cut --ranked neuron_top
check untied_swap_fails 1 untied --ranked neuron_top
check new_neuron_fails 1 new --ranked neuron_top
check tied_swap_fails_without_ranked 1 tied
out=$("$CMP" "$T/tied.h5" "$T/base.h5" --ranked neuron_top)
case "$out" in *"TIES /attribution/r/neuron_top4: 2 positions"*) echo "PASS h5cmp_ranked/ties_reported";;
  *) echo "FAIL h5cmp_ranked/ties_reported: $out";; esac
