#!/usr/bin/env bash
# Resuming `moeprobe run`: a run killed with SIGKILL after some units completed (the kill lands
# while a chosen unit runs: test hook MOEPROBE_TEST_HOLD_UNIT), then rerun: only the remaining
# units run, the finished ones keep their commit times, and the final archive equals an
# uninterrupted run's (h5cmp). The same with 2 MPI ranks (rank 0 killed; the stopped job is
# resumed with 2 ranks). A signal (SIGUSR1) finishes the running unit and exits 75. A config
# with five mistakes gives five FILE:LINE:COLUMN messages and starts nothing (no out folder).
# Three array groups run at once on one out folder give the same archive as one run.
set -u
R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/run_resume; rm -rf "$T"; mkdir -p "$T"
cp "$MOEPROBE_BIN" "$T/moeprobe"; cp "$(dirname "$MOEPROBE_BIN")/tools/h5cmp" "$T/h5cmp"
B=$T/moeprobe; H5CMP=$T/h5cmp
export OMPI_MCA_ess_singleton_isolated=1
# Open MPI's MPI_Init leaks (reported under `make test-debug`); plan_status.sh checks plan/status
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
cd "$R"
ok() { echo "PASS run_resume/$1"; }
bad() { echo "FAIL run_resume/$1: $2"; }

mkcfg() {  # FILE OUT
  cat > "$1" <<Y
model: models/tiny-qwen2moe
relations: [adj_antonym, country_language, fruit_inside_color]
out: $2
stages: [capture, evaluate, attribute, summarise, block]
max_samples: 16
Y
}
# plan order: capture x3, summarise x3, summarise/pooled, block x3 = 10 units
mkcfg "$T/full.yaml" "$T/full"
"$B" run "$T/full.yaml" > /dev/null 2> "$T/full.err" || { bad uninterrupted "$(tail -3 "$T/full.err")"; exit 0; }
unit_times() {  # ARCHIVE -> "unit committed_unix" lines of /units
  h5dump -m %.17g -A -g /units "$1" 2>/dev/null |
    awk '/^   GROUP "/ {u = $2} /ATTRIBUTE "committed_unix"/ {c = 1} c && /\(0\)/ {print u, $2; c = 0}'
}

resume_case() {  # NAME LAUNCH...  (LAUNCH: the command prefix, e.g. mpirun -np 2)
  local name=$1; shift
  local out=$T/$name cfg=$T/$name.yaml
  mkcfg "$cfg" "$out"
  MOEPROBE_TEST_HOLD_UNIT=block/country_language:$T/never "$@" "$B" run "$cfg" > /dev/null 2> "$T/$name.err1" &
  local job=$! pid=
  for _ in $(seq 900); do
    pid=$("$B" status "$out" 2>/dev/null | sed -n 's/^  tiny-qwen2moe block\/country_language: pid \([0-9]*\) .*/\1/p')
    [ -n "$pid" ] && break; sleep 0.1
  done
  [ -n "$pid" ] || { bad "$name/held" "the held unit never ran: $(tail -3 "$T/$name.err1")"; kill -9 $job; return; }
  kill -9 "$pid"           # rank 0 (the archive writer), in the middle of a unit
  wait $job 2>/dev/null
  local before; before=$(unit_times "$out/tiny-qwen2moe.h5")
  local n_before; n_before=$(echo "$before" | grep -c .)
  [ "$n_before" = 8 ] && ok "$name/killed_after_8_units" || bad "$name/killed_after_8_units" "snapshot lists $n_before units"
  "$@" "$B" run "$cfg" > "$T/$name.out2" 2> "$T/$name.err2"; local rc=$?
  local started; started=$(grep -o 'start [a-z_]*/[a-z_]*' "$T/$name.err2" | sort | tr '\n' ' ')
  [ $rc = 0 ] && grep -q "10 units, 2 to run" "$T/$name.err2" &&
    [ "$started" = "start block/country_language start block/fruit_inside_color " ] &&
    ok "$name/rerun_runs_only_the_rest" || bad "$name/rerun_runs_only_the_rest" "rc=$rc started: $started $(head -2 "$T/$name.err2")"
  local after; after=$(unit_times "$out/tiny-qwen2moe.h5")
  local kept=1
  while read -r u t; do [ -n "$u" ] && ! grep -qxF "$u $t" <<<"$after" && kept=0; done <<<"$before"
  [ $kept = 1 ] && [ "$(echo "$after" | grep -c .)" = 10 ] && ok "$name/finished_units_kept" ||
    bad "$name/finished_units_kept" "before: $before after: $after"
  local cmp; cmp=$("$H5CMP" "$out/tiny-qwen2moe.h5" "$T/full/tiny-qwen2moe.h5" --bits --skip run_config_yaml)
  [ $? = 0 ] && ok "$name/archive_equals_uninterrupted" || bad "$name/archive_equals_uninterrupted" "$(echo "$cmp" | head -3)"
  echo "INFO run_resume $name: ${cmp##*h5cmp: }"
  [ "$(tail -1 "$T/$name.out2")" = "$out/tiny-qwen2moe.h5" ] && ok "$name/prints_archive_path" ||
    bad "$name/prints_archive_path" "$(tail -1 "$T/$name.out2")"
}
resume_case single
resume_case mpi2 mpirun --oversubscribe --allow-run-as-root -np 2

# SIGUSR1 while a unit runs: the unit finishes, the run stops with 75, the rerun completes
mkcfg "$T/sig.yaml" "$T/sig"
MOEPROBE_TEST_HOLD_UNIT=summarise/adj_antonym:$T/go "$B" run "$T/sig.yaml" > /dev/null 2> "$T/sig.err" &
job=$!
for _ in $(seq 900); do "$B" status "$T/sig" 2>/dev/null | grep -q "summarise/adj_antonym: pid" && break; sleep 0.1; done
kill -USR1 $job; sleep 0.3; touch "$T/go"; wait $job; rc=$?
n=$(unit_times "$T/sig/tiny-qwen2moe.h5" | grep -c .)
# the hold saw the signal first: the held unit is abandoned (pending), 3 captures are done
[ $rc = 75 ] && [ "$n" = 3 ] && grep -q "stopped by signal" "$T/sig.err" && ok signal_stops_with_75 ||
  bad signal_stops_with_75 "rc=$rc, $n units; $(tail -3 "$T/sig.err")"
"$B" run "$T/sig.yaml" > /dev/null 2> "$T/sig2.err"; rc=$?
[ $rc = 0 ] && grep -q "10 units, 7 to run" "$T/sig2.err" && ok signal_then_rerun_completes || bad signal_then_rerun_completes "rc=$rc $(head -2 "$T/sig2.err")"

# five mistakes: five FILE:LINE:COLUMN messages, nothing started
cat > "$T/five.yaml" <<Y
model: models/tiny-olmoe
relations: [adj_antonym, no_such_relation]
out: $T/five-out
batchsize: 8
max_samples: many
block:
  mode: zero
archive:
  deflate: 12
Y
"$B" run "$T/five.yaml" > "$T/five.out" 2> "$T/five.err"; rc=$?
n=$(grep -cE "^$T/five.yaml:[0-9]+:[0-9]+: " "$T/five.err")
[ $rc = 1 ] && [ "$n" = 5 ] && ok five_mistakes_five_messages || bad five_mistakes_five_messages "rc=$rc, $n messages: $(cat "$T/five.err")"
[ ! -e "$T/five-out" ] && [ ! -s "$T/five.out" ] && ok five_mistakes_nothing_started || bad five_mistakes_nothing_started "$(ls "$T/five-out" 2>&1)"
mpirun --oversubscribe --allow-run-as-root -np 2 "$B" run "$T/five.yaml" > /dev/null 2> "$T/five2.err"; rc=$?
n=$(grep -cE "^$T/five.yaml:[0-9]+:[0-9]+: " "$T/five2.err")
[ $rc != 0 ] && [ "$n" = 5 ] && [ ! -e "$T/five-out" ] && ok five_mistakes_mpi || bad five_mistakes_mpi "rc=$rc, $n messages"

# concurrent array groups on one out folder (as Slurm array tasks): the three relation groups at
# once, then the final group; the archive equals the sequential run's, no unit lost
mkcfg "$T/conc.yaml" "$T/conc"
for g in 0 1 2; do "$B" run "$T/conc.yaml" --array-index $g > /dev/null 2> "$T/conc$g.err" & done
wait
"$B" run "$T/conc.yaml" --array-index 3 > /dev/null 2> "$T/conc3.err"; rc=$?
n=$(unit_times "$T/conc/tiny-qwen2moe.h5" | grep -c .)
cmp=$("$H5CMP" "$T/conc/tiny-qwen2moe.h5" "$T/full/tiny-qwen2moe.h5" --bits --skip run_config_yaml); crc=$?
[ $rc = 0 ] && [ "$n" = 10 ] && [ $crc = 0 ] && ! grep -qi "warning\|error" "$T"/conc?.err &&
  ok concurrent_groups_same_archive || bad concurrent_groups_same_archive "rc=$rc, $n units; $(echo "$cmp" | head -2); $(cat "$T"/conc?.err | grep -i "warning\|error" | head -3)"
