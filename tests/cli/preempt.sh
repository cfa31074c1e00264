#!/usr/bin/env bash
# Preemption: SIGTERM / SIGUSR1 (what Slurm sends before a time limit; slurm/*.sbatch forward it
# as USR1) make `moeprobe run` finish or abandon the running unit, write the archive and exit 75
# (EX_TEMPFAIL, on which the sbatch scripts requeue). After every stop:
#   - no partial unit is marked complete (no part for the abandoned unit, no temp part left);
#   - the archive lists exactly the complete parts (it was flushed) and equals the
#     uninterrupted run on everything it holds (bin/tools/h5cmp);
#   - a rerun runs only the remaining units and ends identical to the uninterrupted run.
# Cases: one process (held unit + SIGTERM; SIGTERM while a unit computes; two signals), and
# under mpirun -np 3 (SIGUSR1 to mpirun, forwarded to every rank; SIGTERM to one rank only:
# the ranks agree between units, nobody waits in a collective). Every run has a timeout.
set -u
# Under the ASan build (tests/run.sh bin-debug) leak reports at exit would be Open MPI's own.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0
R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/preempt; rm -rf "$T"; mkdir -p "$T"
cp "$MOEPROBE_BIN" "$T/moeprobe"; cp "$(dirname "$MOEPROBE_BIN")/tools/h5cmp" "$T/h5cmp"
B=$T/moeprobe; H5CMP=$T/h5cmp
MPI=(mpirun --oversubscribe --allow-run-as-root)
# Runs with 2-3 ranks are compared with a 1-rank reference: bit for bit on every kernel path
# (pipeline/ops/kern.h), the decision-margin diagnostics and the order of tied neurons included.
SKIP=(--bits --skip run_config_yaml --skip @moeprobe_unit_ --skip @units_complete)
ok() { echo "PASS preempt/$1${2:+ ($2)}"; }
bad() { echo "FAIL preempt/$1: $2"; }

mkcfg() {  # FILE OUT
  cat >"$1" <<YAML
model: $R/models/tiny-qwen2moe
relations: [$R/data/lre/adj_antonym.json, $R/data/lre/country_capital_city.json, $R/data/lre/fruit_inside_color.json]
out: $2
max_samples: 8
YAML
}
mkcfg "$T/ref.yaml" "$T/ref"
if ! timeout 300 "$B" run "$T/ref.yaml" >"$T/ref.out" 2>"$T/ref.err"; then
  bad reference_run "$(tail -3 "$T/ref.err")"; exit 0
fi
REF=$T/ref/tiny-qwen2moe.h5
N=$(ls "$T/ref/tiny-qwen2moe.h5.parts" | grep -c '\.h5$')
ok reference_run "$N units"

wait_for() {  # FILE REGEX SECONDS: 0 when REGEX appears in FILE in time
  local i
  for i in $(seq 1 $(( $3 * 20 ))); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}
pid_of_rank() {  # CONFIG RANK: the process of that rank of a running mpirun job
  local p
  for p in $(pgrep -f "moeprobe run $1"); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && { echo "$p"; return; }
  done
}

# After a stop: CASE OUT ERR RC [ABANDONED-UNIT]; sets D = the number of complete units
check_stopped() {
  local name=$1 out=$2 err=$3 rc=$4 unit=${5:-}
  local A=$out/tiny-qwen2moe.h5 P=$out/tiny-qwen2moe.h5.parts why=""
  if [ "$rc" -ne 75 ]; then why="exit $rc, expected 75; $(grep -v -E 'start|done' "$err" | tail -3 | tr '\n' '|')"
  elif ! grep -q "stopped by signal" "$err"; then why="no 'stopped by signal' message"
  elif [ -n "$unit" ] && [ -e "$P/$(echo "$unit" | sed 's|/|%2F|').h5" ]; then why="abandoned unit $unit has a complete part"
  elif ls "$P" | grep -q '\.tmp$'; then why="temp part left: $(ls "$P" | grep '\.tmp$' | tr '\n' ' ')"
  elif [ ! -e "$A" ]; then why="no archive written"
  elif ! "$H5CMP" "$A" "$REF" --subset "${SKIP[@]}" >"$out.cmp" 2>&1; then why="archive differs: $(grep -m2 DIFF "$out.cmp" | tr '\n' ' ')"
  else
    local listed parts
    listed=$(h5ls "$A/units" 2>/dev/null | awk '{print $1}' | sort | tr '\n' ' ')
    parts=$(ls "$P" | grep '\.h5$' | sed 's/\.h5$//' | sort | tr '\n' ' ')
    [ "$listed" = "$parts" ] || why="archive lists [$listed] but complete parts are [$parts]"
    for p in "$P"/*.h5; do
      [ -n "$why" ] && break
      "$H5CMP" "$p" "$REF" --subset "${SKIP[@]}" >"$out.pcmp" 2>&1 || why="part $(basename "$p") differs"
    done
  fi
  D=$(ls "$P" 2>/dev/null | grep -c '\.h5$')  # complete units, for check_rerun
  if [ -z "$why" ]; then ok "$name" "exit 75, $D of $N units complete${unit:+, $unit abandoned}"
  else bad "$name" "$why"; fi
}

# The rerun of a stopped folder runs only what is left and equals the reference.
check_rerun() {  # CASE CONFIG OUT DONE-BEFORE [LAUNCH...]
  local name=$1 cfg=$2 out=$3 before=$4; shift 4
  if ! timeout 300 "$@" "$B" run "$cfg" >"$out.rerun.out" 2>"$out.rerun.err"; then
    bad "$name" "rerun failed: $(tail -3 "$out.rerun.err" | tr '\n' '|')"; return
  fi
  local todo
  todo=$(sed -n "s/.* $N units, \([0-9]*\) to run.*/\1/p" "$out.rerun.err" | head -1)
  if [ "$todo" != $((N - before)) ]; then
    bad "$name" "rerun ran $todo units, expected $((N - before))"
  elif ! "$H5CMP" "$out/tiny-qwen2moe.h5" "$REF" "${SKIP[@]}" >"$out.f1" 2>&1 ||
       ! "$H5CMP" "$REF" "$out/tiny-qwen2moe.h5" "${SKIP[@]}" >"$out.f2" 2>&1; then
    bad "$name" "final archive differs: $(grep -m3 DIFF "$out.f1" "$out.f2" | tr '\n' ' ')"
  else
    ok "$name" "$todo units rerun, archive identical to the uninterrupted run"
  fi
}

# 1. one process, SIGTERM while a unit is held (MOEPROBE_TEST_HOLD_UNIT): abandoned, exit 75
mkcfg "$T/c1.yaml" "$T/c1"
MOEPROBE_TEST_HOLD_UNIT="block/adj_antonym:$T/never" timeout 120 "$B" run "$T/c1.yaml" \
  >"$T/c1.out" 2>"$T/c1.err" &
pid=$!
if wait_for "$T/c1.err" "start block/adj_antonym" 60; then
  sleep 0.3; kill -TERM "$(pgrep -P $pid -f moeprobe || echo $pid)" 2>/dev/null
  # the timeout wrapper's child is moeprobe; signal it, not the wrapper
fi
wait $pid; rc=$?
check_stopped term_held_unit "$T/c1" "$T/c1.err" $rc block/adj_antonym
check_rerun term_held_unit_rerun "$T/c1.yaml" "$T/c1" "$D"

# 2. one process, SIGTERM right after a capture unit starts: that unit finishes and is committed,
#    nothing after it starts
mkcfg "$T/c2.yaml" "$T/c2"
timeout 120 "$B" run "$T/c2.yaml" >"$T/c2.out" 2>"$T/c2.err" &
pid=$!
wait_for "$T/c2.err" "start capture/country_capital_city" 60
kill -TERM "$(pgrep -P $pid -f moeprobe || echo $pid)" 2>/dev/null
wait $pid; rc=$?
check_stopped term_finishes_unit "$T/c2" "$T/c2.err" $rc
started=$(grep -c "start " "$T/c2.err"); finished=$(grep -c "done " "$T/c2.err")
if [ "$started" = "$finished" ] && [ "$finished" = "$D" ]; then
  ok term_finishes_running_unit "$started started, $finished finished and committed"
else
  bad term_finishes_running_unit "$started units started, $finished done, $D complete parts"
fi
check_rerun term_finishes_unit_rerun "$T/c2.yaml" "$T/c2" "$D"

# 3. two signals: the second stops at once (exit 75); whatever ran is abandoned, not committed
mkcfg "$T/c3.yaml" "$T/c3"
timeout 120 "$B" run "$T/c3.yaml" >"$T/c3.out" 2>"$T/c3.err" &
pid=$!
wait_for "$T/c3.err" "start capture/fruit_inside_color" 60
child=$(pgrep -P $pid -f moeprobe || echo $pid)
kill -TERM "$child" 2>/dev/null; sleep 0.01; kill -TERM "$child" 2>/dev/null
wait $pid; rc=$?
A3=$T/c3/tiny-qwen2moe.h5; P3=$T/c3/tiny-qwen2moe.h5.parts
n3=$(ls "$P3" | grep -c '\.h5$')
if [ $rc -eq 75 ] && grep -qE "second signal|stopped by signal" "$T/c3.err"; then
  why=""
  for p in "$P3"/*.h5; do "$H5CMP" "$p" "$REF" --subset "${SKIP[@]}" >/dev/null 2>&1 || why="part $(basename "$p") differs"; done
  [ -z "$why" ] && ok two_signals_stop_at_once "exit 75, $n3 complete parts intact" || bad two_signals_stop_at_once "$why"
else
  bad two_signals_stop_at_once "exit $rc; $(grep -v -E 'start|done' "$T/c3.err" | tail -2 | tr '\n' '|')"
fi
check_rerun two_signals_rerun "$T/c3.yaml" "$T/c3" "$n3"

# 4. mpirun -np 3, SIGUSR1 to mpirun (Open MPI forwards it to every rank) during a held unit
mkcfg "$T/c4.yaml" "$T/c4"
MOEPROBE_TEST_HOLD_UNIT="block/country_capital_city:$T/never" "${MPI[@]}" -np 3 \
  -x MOEPROBE_TEST_HOLD_UNIT "$B" run "$T/c4.yaml" >"$T/c4.out" 2>"$T/c4.err" &
pid=$!
( sleep 120; kill -9 $pid 2>/dev/null ) & guard=$!
wait_for "$T/c4.err" "start block/country_capital_city" 60 && sleep 0.3
kill -USR1 $pid 2>/dev/null
wait $pid; rc=$?
kill $guard 2>/dev/null; wait $guard 2>/dev/null
check_stopped mpi_usr1_forwarded "$T/c4" "$T/c4.err" $rc block/country_capital_city
n_sig=$(grep -c "signal received" "$T/c4.err")
[ "$n_sig" = 3 ] && ok mpi_usr1_reaches_every_rank "3 ranks" || bad mpi_usr1_reaches_every_rank "$n_sig of 3 ranks reported the signal"
check_rerun mpi_usr1_rerun "$T/c4.yaml" "$T/c4" "$D" "${MPI[@]}" -np 2

# 5. mpirun -np 3, SIGTERM to rank 2 only (as when one node is preempted first): all ranks
#    agree to stop between units; the job ends with 75, nobody hangs in a collective
mkcfg "$T/c5.yaml" "$T/c5"
"${MPI[@]}" -np 3 "$B" run "$T/c5.yaml" >"$T/c5.out" 2>"$T/c5.err" &
pid=$!
( sleep 120; kill -9 $pid 2>/dev/null ) & guard=$!
wait_for "$T/c5.err" "start capture/country_capital_city" 60
victim=$(pid_of_rank "$T/c5.yaml" 2)
t0=$(date +%s)
[ -n "$victim" ] && kill -TERM "$victim"
wait $pid; rc=$?
t1=$(date +%s)
kill $guard 2>/dev/null; wait $guard 2>/dev/null
if [ -z "$victim" ]; then bad mpi_term_one_rank "could not find rank 2"
else
  check_stopped mpi_term_one_rank "$T/c5" "$T/c5.err" $rc
  [ $((t1 - t0)) -lt 60 ] && ok mpi_term_one_rank_no_hang "stopped $((t1 - t0)) s after the signal" \
    || bad mpi_term_one_rank_no_hang "$((t1 - t0)) s"
  check_rerun mpi_term_one_rank_rerun "$T/c5.yaml" "$T/c5" "$D"
fi

# 6. the Slurm scripts requeue on the status moeprobe uses
for s in "$R"/slurm/*.sbatch; do
  [ -e "$s" ] || continue
  if grep -qE '(-eq|==) *75' "$s" && grep -q 'scontrol requeue' "$s"; then
    ok "slurm_requeues_on_75/$(basename "$s")"
  else
    bad "slurm_requeues_on_75/$(basename "$s")" "no requeue on exit status 75"
  fi
done
