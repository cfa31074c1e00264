#!/usr/bin/env bash
# Shapes up to the limits of pipeline/model/limits.h run without overflowing a buffer (#13
# point 8): a random checkpoint (make-model) with 300 experts and top-260 routing — beyond the
# old fixed 256-slot stack array of the MoE combine — is traced by the ASan/UBSan build
# (bin-debug, built here when missing or stale, as bad_inputs.sh does) with no sanitizer report,
# and the release build gives the same file; a config beyond a limit is refused naming the key.
set -u
R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/model_limits; rm -rf "$T"; mkdir -p "$T"
B=$MOEPROBE_BIN; CMP=$(dirname "$B")/tools/h5cmp
export OMPI_MCA_ess_singleton_isolated=1
ok() { echo "PASS model_limits/$1${2:+ ($2)}"; }
bad() { echo "FAIL model_limits/$1: $2"; }
/usr/bin/python3 - "$R/models/tiny-olmoe/config.json" "$T" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d.update(num_experts=300, num_experts_per_tok=260, num_hidden_layers=1)
json.dump(d, open(sys.argv[2] + "/config.json", "w"))
d.update(num_experts=70000, num_experts_per_tok=4)
json.dump(d, open(sys.argv[2] + "/over.json", "w"))
PY
if ! "$B" make-model --config "$T/config.json" --out "$T/m" >"$T/mm.log" 2>&1; then
  bad make_model "$(tail -2 "$T/mm.log")"; exit 0
fi
cp "$R/models/tiny-olmoe/tokenizer.json" "$T/m/"
P=(--prompt "The capital of Canada is" --object Ottawa --prompt "Apples are" --object red)
DBG=$R/bin-debug/moeprobe
stale=""
[ -x "$DBG" ] && stale=$(find "$R/pipeline" "$R/cli" "$R/stages" "$R/jobs" "$R/report" "$R/tools" -name '*.[ch]' -newer "$DBG" 2>/dev/null | head -1)
if [ ! -x "$DBG" ] || [ -n "$stale" ]; then
  (cd "$R" && timeout 900 make -s MODE=debug BUILD=build-debug BIN=bin-debug -j"$(nproc)" bin-debug/moeprobe) >"$T/make-debug.log" 2>&1 \
    || { bad debug_build "$(grep -m1 error "$T/make-debug.log")"; DBG=""; }
fi
if [ -n "$DBG" ]; then
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    timeout 300 "$DBG" trace --model "$T/m" "${P[@]}" --out "$T/dbg.h5" >/dev/null 2>"$T/dbg.err"; rc=$?
  if [ $rc = 0 ] && ! grep -qE 'Sanitizer|runtime error' "$T/dbg.err"; then ok top260_of_300_experts_sanitizer_clean
  else bad top260_of_300_experts_sanitizer_clean "exit $rc: $(grep -m1 -E 'Sanitizer|runtime error|moeprobe' "$T/dbg.err")"; fi
fi
if timeout 300 "$B" trace --model "$T/m" "${P[@]}" --out "$T/rel.h5" >/dev/null 2>"$T/rel.err"; then
  if [ -e "$T/dbg.h5" ]; then
    out=$("$CMP" "$T/rel.h5" "$T/dbg.h5" --rtol 1e-4 2>&1) && ok release_equals_debug "${out##*h5cmp: }" \
      || bad release_equals_debug "$(head -3 <<<"$out")"
  fi
else
  bad release_trace "$(tail -2 "$T/rel.err")"
fi
"$B" make-model --config "$T/over.json" --out "$T/over" >/dev/null 2>"$T/over.err"; rc=$?
[ $rc != 0 ] && grep -q 'num_experts.*70000.*at most 65536' "$T/over.err" && ok experts_beyond_limit_refused \
  || bad experts_beyond_limit_refused "exit $rc: $(head -2 "$T/over.err")"
