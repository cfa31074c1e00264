#!/usr/bin/env bash
# Exit statuses of `moeprobe run` mean what README and docs/interface.md say (#13 point 6):
#   - `--unit ID` naming no unit of the plan is a usage error (2), not "nothing selected" (0);
#   - two runs of one config on one out at once: the second does not fail on the unit the
#     first holds, it waits for it (and for what needs it) while running the rest, so both end
#     with 0, every unit committed once, and the report written;
#   - SIGTERM to mpirun itself (Slurm signals every process of a job) exits mpirun with 1 even
#     though every rank stopped cleanly with 75: rank 0 writes 75 to MOEPROBE_STATUS_FILE when
#     the signal arrives, and slurm/capture.sbatch, signalled as Slurm does (script and mpirun;
#     then also the ranks), requeues (a stand-in scontrol records the call).
# Units are held deterministically with MOEPROBE_TEST_HOLD_UNIT (cli/cmd_run_units.c).
set -u
R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/exit_status; rm -rf "$T"; mkdir -p "$T"
cp "$MOEPROBE_BIN" "$T/moeprobe"; B=$T/moeprobe
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0
ok() { echo "PASS exit_status/$1${2:+ ($2)}"; }
bad() { echo "FAIL exit_status/$1: $2"; }
mkcfg() {  # FILE OUT [extra lines]
  local f=$1 o=$2; shift 2
  { echo "model: $R/models/tiny-qwen2moe"
    echo "relations: [$R/data/lre/adj_antonym.json, $R/data/lre/country_capital_city.json]"
    echo "out: $o"; echo "max_samples: 4"; printf '%s\n' "$@"; } >"$f"
}
wait_for() {  # FILE REGEX SECONDS
  local i
  for i in $(seq 1 $(( $3 * 20 ))); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}

# ---- --unit with an ID outside the plan ------------------------------------------------------
mkcfg "$T/u.yaml" "$T/u"
timeout 60 "$B" run "$T/u.yaml" --unit capture/country_capitol_city >"$T/u.out" 2>"$T/u.err"; rc=$?
if [ $rc = 2 ] && grep -q "unit capture/country_capitol_city: no such unit in the plan.*did you mean 'capture/country_capital_city'" "$T/u.err" \
   && [ ! -e "$T/u/tiny-qwen2moe.h5" ]; then ok unknown_unit_is_usage_error "exit 2"
else bad unknown_unit_is_usage_error "exit $rc: $(head -c 300 "$T/u.err")"; fi
timeout 60 "$B" run "$T/u.yaml" --unit capture/adj_antonym --unit nope/x >/dev/null 2>"$T/u2.err"; rc=$?
[ $rc = 2 ] && grep -q "nope/x: no such unit" "$T/u2.err" && ok one_unknown_unit_among_known "exit 2" \
  || bad one_unknown_unit_among_known "exit $rc: $(head -c 300 "$T/u2.err")"

# ---- two runs on one out -----------------------------------------------------------------------
# A holds capture/country_capital_city; B starts meanwhile, must run the rest and wait for it
mkcfg "$T/c.yaml" "$T/c" "report: {plots: svg}"
MOEPROBE_TEST_HOLD_UNIT="capture/country_capital_city:$T/go" timeout 300 "$B" run "$T/c.yaml" \
  >"$T/a.out" 2>"$T/a.err" &
pa=$!
if ! wait_for "$T/a.err" "start capture/country_capital_city" 120; then
  bad concurrent_setup "run A never started the held unit: $(tail -3 "$T/a.err")"; touch "$T/go"; wait $pa
else
  timeout 300 "$B" run "$T/c.yaml" >"$T/b.out" 2>"$T/b.err" &
  pb=$!
  wait_for "$T/b.err" "capture/country_capital_city waits: another process runs it" 120; waited=$?
  sleep 1
  touch "$T/go"
  wait $pa; ra=$?; wait $pb; rb=$?
  [ $waited = 0 ] && ok second_run_waits_for_held_unit || bad second_run_waits_for_held_unit "$(grep -v ' done \| start ' "$T/b.err" | head -3)"
  [ $ra = 0 ] && [ $rb = 0 ] && ok both_runs_exit_0 \
    || bad both_runs_exit_0 "A exit $ra, B exit $rb: $(grep -v ' done \| start ' "$T/a.err" "$T/b.err" | tail -4 | tr '\n' '|')"
  na=$(grep -c ' start ' "$T/a.err"); nb=$(grep -c ' start ' "$T/b.err")
  nu=$(sed -n 's/.* \([0-9]*\) units, .*/\1/p' "$T/a.err" | head -1)
  dup=$(cat "$T/a.err" "$T/b.err" | sed -n 's/.* start \([^ ]*\) .*/\1/p' | sort | uniq -d | tr '\n' ' ')
  [ -z "$dup" ] && [ $((na + nb)) = "${nu:-x}" ] && ok each_unit_run_once "A ran $na, B ran $nb of $nu" \
    || bad each_unit_run_once "A ran $na, B ran $nb of ${nu:-?}; twice: $dup"
  st=$("$B" status "$T/c" 2>&1)
  [ -s "$T/c/report/index.html" ] && ok report_written_after_concurrent_runs || bad report_written_after_concurrent_runs "no $T/c/report/index.html; status: $st"
  [ "$(tail -1 "$T/b.out")" = "$T/c/tiny-qwen2moe.h5" ] && [ "$(tail -1 "$T/a.out")" = "$T/c/tiny-qwen2moe.h5" ] \
    && ok both_print_archive_path || bad both_print_archive_path "A: $(tail -1 "$T/a.out"), B: $(tail -1 "$T/b.out")"
fi

# ---- SIGTERM to mpirun --------------------------------------------------------------------------
mkcfg "$T/m.yaml" "$T/m"
MOEPROBE_STATUS_FILE=$T/m.status MOEPROBE_TEST_HOLD_UNIT="block/country_capital_city:$T/never" \
  timeout 300 mpirun --oversubscribe --allow-run-as-root -np 2 -x MOEPROBE_STATUS_FILE -x MOEPROBE_TEST_HOLD_UNIT \
  "$B" run "$T/m.yaml" >"$T/m.out" 2>"$T/m.err" &
pm=$!
if wait_for "$T/m.err" "start block/country_capital_city" 120; then
  # the ranks first, then mpirun (Slurm signals both at once; mpirun may SIGKILL the ranks
  # before they handle theirs, which the sbatch scripts cover: see below). The handler must
  # have written 75 at once, whatever mpirun does next.
  sleep 0.3
  for p in $(pgrep -f "moeprobe run $T/m.yaml"); do
    [ "$(cat /proc/$p/comm 2>/dev/null)" = moeprobe ] && kill -TERM "$p"
  done
  wait_for "$T/m.status" . 10
  kill -TERM $pm; wait $pm; rm_=$?
  st=$(cat "$T/m.status" 2>/dev/null)
  [ "$st" = 75 ] && ok status_file_says_75 "mpirun exited $rm_, MOEPROBE_STATUS_FILE 75" \
    || bad status_file_says_75 "mpirun exited $rm_, status file '${st}': $(tail -3 "$T/m.err" | tr '\n' '|')"
else
  bad status_file_says_75 "the held unit never started: $(tail -3 "$T/m.err")"; kill -9 $pm 2>/dev/null; wait $pm
fi

# capture.sbatch as a Slurm array task launched with mpirun, stopped as Slurm stops a job:
# SIGTERM to the script's process group (script, mpirun), in the second case also to the ranks
# (Slurm signals every process of the job; Open MPI puts ranks in their own process groups)
mkdir -p "$T/fakebin"
printf '#!/bin/sh\necho "$@" >>"$SCONTROL_LOG"\n' >"$T/fakebin/scontrol"; chmod +x "$T/fakebin/scontrol"
sbatch_case() {  # NAME ALSO_RANKS
  local name=$1 also=$2 d=$T/sb-$1 pid pg rc
  mkdir -p "$d/submit"; mkcfg "$d/s.yaml" "$d/s"
  (cd "$d/submit" && PATH="$T/fakebin:$PATH" SCONTROL_LOG="$d/scontrol.log" SLURM_ARRAY_TASK_ID=1 \
    SLURM_NTASKS=2 SLURM_JOB_ID=4242 SLURM_SUBMIT_DIR="$d/submit" MOEPROBE="$B" MOEPROBE_LAUNCH=mpirun \
    MOEPROBE_TEST_HOLD_UNIT="block/country_capital_city:$T/never" \
    exec setsid bash "$R/slurm/capture.sbatch" "$d/s.yaml") >"$d/out" 2>"$d/err" &
  pid=$!
  ( sleep 300; kill -9 -- "-$pid" 2>/dev/null ) & local guard=$!
  if ! wait_for "$d/err" "start block/country_capital_city" 120; then
    bad "$name" "the held unit never started: $(tail -5 "$d/err" | tr '\n' '|')"
    kill -9 -- "-$pid" 2>/dev/null; wait $pid; kill $guard 2>/dev/null; return
  fi
  sleep 0.3
  local ranks; ranks=$(pgrep -f "moeprobe run $d/s.yaml" | tr '\n' ' ')
  kill -TERM -- "-$pid"
  [ "$also" = 1 ] && kill -TERM $ranks 2>/dev/null
  wait $pid; rc=$?
  kill $guard 2>/dev/null; wait $guard 2>/dev/null
  if [ $rc = 0 ] && grep -qx "requeue 4242" "$d/scontrol.log" 2>/dev/null; then
    ok "$name" "script exit 0, scontrol requeue 4242; $(grep -m1 -E 'using moeprobe|treating it' "$d/err" | cut -c1-100)"
  else
    bad "$name" "script exit $rc, scontrol: $(cat "$d/scontrol.log" 2>/dev/null); $(grep -v ' done \| start ' "$d/err" | tail -4 | tr '\n' '|')"
  fi
  ls -A "$d/submit" | grep -q moeprobe-status && bad "$name/status_file_removed" "$(ls -A "$d/submit")" \
    || ok "$name/status_file_removed"
}
sbatch_case sbatch_requeues_sigterm_to_script_and_mpirun 0
sbatch_case sbatch_requeues_sigterm_to_every_process 1
