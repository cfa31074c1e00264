#!/usr/bin/env bash
# Crash safety of `moeprobe run`: SIGKILL at random moments of a small sweep (tiny-qwen2moe, three
# relations, every stage of the default plan), then
#   - the archive OUT/NAME.h5, when one exists, opens and everything in it equals the
#     uninterrupted run's values (bin/tools/h5cmp A REF: every dataset and attribute of A is in
#     REF and equal);
#   - every complete part (OUT/NAME.h5.parts/*.h5) reads back equal to the uninterrupted run;
#   - the units the snapshot lists all have their part;
# and after the last kill a rerun finishes, its archive identical to the uninterrupted run's in
# both directions. Kills come in chains: each trial resumes the previous trial's folder, so kills
# also land during recovery (abandoned temp files, snapshot rebuilds); every fifth trial starts
# from an empty folder. KILL_TRIALS (default 20) and KILL_SEED (default: random, printed) make a
# failure reproducible.
set -u
# Under the ASan build (tests/run.sh bin-debug) leak reports at exit would be Open MPI's own.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0
R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/kill_resume; rm -rf "$T"; mkdir -p "$T"
# private copies: a concurrent `make` relinking bin/ must not fail a trial
cp "$MOEPROBE_BIN" "$T/moeprobe"; cp "$(dirname "$MOEPROBE_BIN")/tools/h5cmp" "$T/h5cmp"
B=$T/moeprobe; H5CMP=$T/h5cmp
TRIALS=${KILL_TRIALS:-20}
SEED=${KILL_SEED:-$(( $(date +%s) % 100000 ))}
RANDOM=$SEED
# a singleton MPI process without a helper daemon: nothing is left behind by kill -9
export OMPI_MCA_ess_singleton_isolated=1
echo "INFO kill_resume: seed $SEED (KILL_SEED=$SEED reproduces the kill times)"

mkcfg() {  # FILE OUT
  cat >"$1" <<YAML
model: $R/models/tiny-qwen2moe
relations: [$R/data/lre/adj_antonym.json, $R/data/lre/country_capital_city.json, $R/data/lre/fruit_inside_color.json]
out: $2
max_samples: 8
YAML
}
SKIP=(--skip run_config_yaml --skip @moeprobe_unit_ --skip @units_complete)

# the uninterrupted reference
mkcfg "$T/ref.yaml" "$T/ref"
t0=$(date +%s%N)
if ! timeout 300 "$B" run "$T/ref.yaml" >"$T/ref.out" 2>"$T/ref.err"; then
  echo "FAIL kill_resume/reference_run: $(tail -3 "$T/ref.err")"; exit 0
fi
t1=$(date +%s%N)
REF_MS=$(( (t1 - t0) / 1000000 ))
REF=$T/ref/tiny-qwen2moe.h5
n_units=$(ls "$T/ref/tiny-qwen2moe.h5.parts" | grep -c '\.h5$')
echo "PASS kill_resume/reference_run ($n_units units in ${REF_MS} ms)"

mkcfg "$T/run.yaml" "$T/out"
A=$T/out/tiny-qwen2moe.h5
P=$T/out/tiny-qwen2moe.h5.parts
pass=0; fail=0; killed_mid=0; parts_checked=0; attempts=0; fresh=1; state=finished
declare -A VERIFIED
# until TRIALS kills have landed while the run was working (at most 3 x TRIALS attempts)
while [ $killed_mid -lt "$TRIALS" ] && [ $attempts -lt $((3 * TRIALS)) ]; do
  attempts=$((attempts + 1)); i=$attempts
  # a fresh folder after a run that finished, and every fifth kill; else resume the last one
  done_before=$(ls "$P" 2>/dev/null | grep -c '\.h5$')
  if [ "$state" = finished ] || [ "$done_before" -ge "$n_units" ] ||
     [ $(( killed_mid % 5 )) -eq 0 -a $fresh -eq 0 ]; then
    rm -rf "$T/out"; fresh=1; done_before=0
  else
    fresh=0
  fi
  # kill somewhere in the work left (start-up ~0.6 s, then the remaining units' share)
  left_ms=$(( (600 + REF_MS * (n_units - done_before) / n_units) * 4 / 5 ))
  delay_ms=$(( 20 + (RANDOM * 32768 + RANDOM) % left_ms ))
  # no `timeout` wrapper: the kill must hit moeprobe itself, not a parent
  "$B" run "$T/run.yaml" >"$T/trial$i.out" 2>"$T/trial$i.err" &
  pid=$!
  sleep "$(awk "BEGIN{printf \"%.3f\", $delay_ms / 1000}")"
  state=killed
  kill -9 "$pid" 2>/dev/null || state=finished
  wait "$pid" 2>/dev/null
  [ "$state" = killed ] && killed_mid=$((killed_mid + 1))
  why=""
  if [ -e "$A" ]; then
    if ! "$H5CMP" "$A" "$REF" --subset "${SKIP[@]}" >"$T/cmp$i.txt" 2>&1; then
      why="archive differs from or fails to open against the reference: $(grep -m2 -E 'DIFF|h5cmp:' "$T/cmp$i.txt" | tr '\n' ' ')"
    fi
  fi
  n_parts=0
  if [ -z "$why" ] && [ -d "$P" ]; then
    for part in "$P"/*.h5; do
      [ -e "$part" ] || continue
      n_parts=$((n_parts + 1))
      # a part already verified and not touched since (same inode, size, mtime) is not re-read
      sig=$(stat -c '%i %s %Y.%y' "$part")
      [ "${VERIFIED[$part]:-}" = "$sig" ] && continue
      VERIFIED[$part]=$sig
      if ! "$H5CMP" "$part" "$REF" --subset "${SKIP[@]}" >"$T/cmp$i.part" 2>&1; then
        why="complete part $(basename "$part") differs from the reference: $(grep -m2 -E 'DIFF|h5cmp:' "$T/cmp$i.part" | tr '\n' ' ')"
        break
      fi
    done
    parts_checked=$((parts_checked + n_parts))
  fi
  if [ -z "$why" ] && [ -e "$A" ]; then
    # every unit the snapshot lists has its complete part
    listed=$(h5ls "$A/units" 2>/dev/null | awk '{print $1}')
    for u in $listed; do
      [ -e "$P/$u.h5" ] || { why="snapshot lists unit $u but its part is missing"; break; }
    done
  fi
  label="trial$i (${state} at ${delay_ms} ms, $done_before -> $n_parts complete parts)"
  if [ -z "$why" ]; then pass=$((pass + 1)); echo "PASS kill_resume/$label"
  else fail=$((fail + 1)); echo "FAIL kill_resume/$label: $why"; fi
done
echo "INFO kill_resume: $attempts runs, $killed_mid killed while working, $pass passed; $parts_checked complete parts found after the kills, each equal to the uninterrupted run"
[ $killed_mid -ge "$TRIALS" ] && echo "PASS kill_resume/kills_landed ($killed_mid of $attempts runs killed mid-way)" \
  || echo "FAIL kill_resume/kills_landed: only $killed_mid of $TRIALS kills landed while the run was working"

# the final rerun completes and equals the uninterrupted run, both ways
if timeout 300 "$B" run "$T/run.yaml" >"$T/final.out" 2>"$T/final.err"; then
  if "$H5CMP" "$A" "$REF" "${SKIP[@]}" >"$T/final.cmp" 2>&1 &&
     "$H5CMP" "$REF" "$A" "${SKIP[@]}" >"$T/final.rcmp" 2>&1; then
    echo "PASS kill_resume/final_rerun_identical ($(tail -1 "$T/final.cmp"))"
  else
    echo "FAIL kill_resume/final_rerun_identical: $(grep -m3 DIFF "$T/final.cmp" "$T/final.rcmp" | tr '\n' ' ')"
  fi
  n_final=$(ls "$P" | grep -c '\.h5$')
  [ "$n_final" -eq "$n_units" ] && echo "PASS kill_resume/final_all_units ($n_final)" \
    || echo "FAIL kill_resume/final_all_units: $n_final parts, expected $n_units"
  [ "$(tail -1 "$T/final.out")" = "$A" ] && echo "PASS kill_resume/final_prints_archive" \
    || echo "FAIL kill_resume/final_prints_archive: last line '$(tail -1 "$T/final.out")'"
else
  echo "FAIL kill_resume/final_rerun: exit $?: $(tail -3 "$T/final.err")"
fi
