#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine (docs/slurm-local.md): installs
# slurmctld, slurmd, slurm-client and munge when missing, starts munged and both Slurm daemons
# with a generated slurm.conf in a temp dir, and submits a small sweep (tiny-olmoe with 2 ranks
# and tiny-llama with 1 rank, 2 relations, every stage) through slurm/submit.sh: one capture
# array per model, the analyses job after them. Checks: a rank-count mismatch fails the task
# with a clear message; a task stopped by USR1 mid-run (the sbatch script forwards it, moeprobe
# exits 75, the script requeues the job) resumes without redoing its finished units (their
# commit times in /units are unchanged); every job completes; the archives hold the metrics of
# the refs and every unit; the report exists; the mpirun launch (MOEPROBE_LAUNCH=mpirun) works. Daemons are stopped by PID and the temp dir
# removed, also on failure.
set -u
B=$MOEPROBE_BIN; R=$MOEPROBE_ROOT; S=$MOEPROBE_SHARED
ok() { echo "PASS slurm/$1"; }
bad() { echo "FAIL slurm/$1: $2"; }

if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then exec sudo -n -E bash "$0" "$@"; fi
  bad root "a Slurm cluster with SlurmUser=root needs root (or passwordless sudo)"; exit 0
fi

# ---- packages ------------------------------------------------------------------------------
source "$R/tests/cli/lib/slurm_common.bash"
slurm_install || exit 0

# ---- the cluster ---------------------------------------------------------------------------
T=$(mktemp -d /tmp/moeprobe-slurm.XXXXXX)
chmod 755 "$T"
W=$T/work; mkdir -p "$W" "$T/state" "$T/spool" "$T/munge"
chown munge:munge "$T/munge"; chmod 755 "$T/munge"
export SLURM_CONF=$T/slurm.conf
started=()
cleanup() {
  if [ -f "$T/slurmctld.pid" ]; then
    scancel --quiet --user=root 2>/dev/null
    for _ in $(seq 60); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.25; done
  fi
  for pf in "$T/slurmd.pid" "$T/slurmctld.pid" "$T/munge/munged.pid"; do
    [ -f "$pf" ] || continue
    pid=$(cat "$pf")
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  done
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# munge, with its own socket (an existing munged elsewhere is left alone)
slurm_munged "$T/munge" || exit 0

host=$(hostname -s)
cores=$(nproc)
mem=$(free -m | awk '/^Mem:/ {print int($2 * 0.8)}')
port=$(( 20000 + RANDOM % 20000 ))
cat > "$SLURM_CONF" <<CONF
ClusterName=moeprobetest
SlurmctldHost=$host
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge/munge.sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
CONF
slurm_conf_policy >> "$SLURM_CONF"
cat >> "$SLURM_CONF" <<CONF
NodeName=$host CPUs=$cores RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -f "$SLURM_CONF" 2>"$T/slurmctld.err" || { bad slurmctld "$(cat "$T/slurmctld.err")"; exit 0; }
slurmd -f "$SLURM_CONF" 2>"$T/slurmd.err" || { bad slurmd "$(cat "$T/slurmd.err")"; exit 0; }
for _ in $(seq 80); do
  state=$(sinfo -h -o %T 2>/dev/null | head -1)
  [ "$state" = idle ] && break; sleep 0.25
done
[ "$state" = idle ] && ok cluster_up ||
  { bad cluster_up "node state '$state'; $(tail -3 "$T/slurmctld.log" "$T/slurmd.log" 2>/dev/null)"; exit 0; }

# ---- the sweep -----------------------------------------------------------------------------
cd "$W"
mkdir -p models
cat > models/olmoe.yaml <<Y
name: tiny-olmoe
path: $R/models/tiny-olmoe
ranks: 2
Y
cat > models/llama.yaml <<Y
name: tiny-llama
path: $R/models/tiny-llama
ranks: 1
Y
cat > sweep.yaml <<Y
models: [models/olmoe.yaml, models/llama.yaml]
relations: [$R/data/lre/adj_antonym.json, $R/data/lre/country_language.json]
out: out
progress_every_s: 2
Y
export MOEPROBE=$B
SB=(--mem=400M --time=10)

# capture.sbatch refuses a task whose rank count differs from the model file's `ranks`
id=$(sbatch --parsable --array=0-0 --ntasks=1 "${SB[@]}" "$R/slurm/capture.sbatch" sweep.yaml | cut -d';' -f1)
for _ in $(seq 120); do [ -z "$(squeue -h -j "$id" 2>/dev/null)" ] && break; sleep 0.25; done
st=$(scontrol show job "$id" 2>/dev/null | grep -o 'JobState=[A-Z]*' | head -1)
log=$(cat moeprobe-capture-"${id}"_0.out 2>/dev/null)
case "$st:$log" in
  JobState=FAILED:*"asks for 2 MPI ranks"*"SLURM_NTASKS=1"*) ok rank_mismatch_fails_clearly ;;
  *) bad rank_mismatch_fails_clearly "state '$st', log: $(echo "$log" | tail -2) files: $(ls)" ;;
esac
rm -f moeprobe-capture-*.out

# the real submission; unit block/adj_antonym of tiny-olmoe waits for $T/release
t0=$(date +%s)
export MOEPROBE_TEST_HOLD_UNIT=block/adj_antonym:$T/release
if ! sub=$("$R/slurm/submit.sh" sweep.yaml --parallel 2 -- "${SB[@]}" 2>&1); then
  bad submit "$sub"; exit 0
fi
unset MOEPROBE_TEST_HOLD_UNIT
olmoe=$(echo "$sub" | awk '/^capture tiny-olmoe:/ {print $5}')
llama=$(echo "$sub" | awk '/^capture tiny-llama:/ {print $5}')
analyses=$(echo "$sub" | awk '/^analyses:/ {print $3}')
[ -n "$olmoe" ] && [ -n "$llama" ] && [ -n "$analyses" ] && ok submit ||
  { bad submit "could not read the job ids from: $sub"; exit 0; }

# wait until the held unit runs (its lock is held: status says running)
held=0
for _ in $(seq 240); do
  "$B" status out 2>/dev/null | grep -q "tiny-olmoe block/adj_antonym: pid" && { held=1; break; }
  sleep 0.25
done
[ $held = 1 ] && ok status_shows_running_unit ||
  { bad status_shows_running_unit "$("$B" status out 2>&1 | tail -4)"; exit 0; }
snap=out/tiny-olmoe.h5
unit_time() { h5dump -m %.17g -a "/units/$1/committed_unix" "$snap" 2>/dev/null | awk '/\(0\)/ {print $2}'; }
before_cap=$(unit_time capture%2Fadj_antonym)
before_sum=$(unit_time summarise%2Fadj_antonym)
[ -n "$before_cap" ] && [ -n "$before_sum" ] && ok finished_units_in_snapshot ||
  bad finished_units_in_snapshot "no committed_unix for capture/summarise of adj_antonym in $snap"

# USR1 to the batch script (as --signal=B:USR1@120 would): moeprobe abandons the held unit,
# exits 75, the script requeues the task; then it is started again at once (slurm-local.md)
task=${olmoe}_0
scancel --signal=USR1 --batch "$task"
pend=0
for _ in $(seq 240); do
  s=$(squeue -h -j "$task" -o %T 2>/dev/null)
  [ "$s" = PENDING ] && { pend=1; break; }
  sleep 0.25
done
[ $pend = 1 ] && ok requeued_on_exit_75 ||
  bad requeued_on_exit_75 "task $task is '$s'; log: $(tail -3 "moeprobe-tiny-olmoe-${olmoe}_0.out" 2>/dev/null)"
sleep 2
touch "$T/release"
t_requeue=$(date +%s)
scontrol update jobid="$task" StartTime=now >/dev/null 2>&1

# wait for every job (capture arrays, analyses)
for _ in $(seq 600); do
  [ -z "$(squeue -h 2>/dev/null)" ] && break
  sleep 0.25
done
left=$(squeue -h 2>/dev/null)
[ -z "$left" ] && ok all_jobs_finished || bad all_jobs_finished "still queued: $left"
states=$(for j in "$olmoe" "$llama" "$analyses"; do scontrol show job "$j" 2>/dev/null; done |
         grep -o 'JobState=[A-Z_]*' | sort | uniq -c | tr -s ' ' | tr '\n' ' ')
case "$states" in
  " 5 JobState=COMPLETED ") ok jobs_completed ;;
  *) bad jobs_completed "job states: $states; logs: $(tail -n 3 moeprobe-*.out | tail -20)" ;;
esac
log0=$(cat "moeprobe-tiny-olmoe-${olmoe}_0.out" 2>/dev/null)
case "$log0" in
  *"requeueing job"*"restart 1"*"done block/adj_antonym"*) ok requeued_task_resumed ;;
  *) bad requeued_task_resumed "log of task 0: $(echo "$log0" | tail -5)" ;;
esac
case "$log0" in
  *"restart 1"*"start capture/adj_antonym"*) bad no_unit_redone "capture/adj_antonym ran again after the requeue" ;;
  *) ok no_unit_redone_in_log ;;
esac

# finished units were not redone: the same commit times; the held unit committed after
after_cap=$(unit_time capture%2Fadj_antonym)
after_sum=$(unit_time summarise%2Fadj_antonym)
blk=$(unit_time block%2Fadj_antonym)
if [ -n "$before_cap" ] && [ "$before_cap" = "$after_cap" ] && [ "$before_sum" = "$after_sum" ] &&
   [ -n "$blk" ] && awk -v b="$blk" -v t="$t_requeue" 'BEGIN {exit !(b >= t - 1)}'; then
  ok commit_times_kept_across_requeue
else
  bad commit_times_kept_across_requeue "capture $before_cap -> $after_cap, summarise $before_sum -> $after_sum, block $blk (requeue at $t_requeue)"
fi

# the archives: every unit complete, metrics as the refs, the report
st=$("$B" status out 2>&1)
echo "$st" | grep -Eq '^total +20 +0 +0 +0 +20$' && ok status_all_done ||
  bad status_all_done "$(echo "$st" | head -8)"
attr() { h5dump -m %.17g -a "/metrics/$2/$3" "$1" 2>/dev/null | awk '/\(0\)/ {print $2}'; }
for m in olmoe llama; do
  for rel in adj_antonym country_language; do
    msg=
    for a in hit10 mrr n; do
      got=$(attr "out/tiny-$m.h5" "$rel" "$a"); want=$(attr "$S/fixtures/refs/$m.h5" "$rel" "$a")
      [ -n "$got" ] && [ -n "$want" ] && awk -v g="$got" -v w="$want" 'BEGIN {d = g - w; exit !(d < 1e-6 && d > -1e-6)}' ||
        msg="$msg $a=${got:-missing} (ref ${want:-missing})"
    done
    [ -z "$msg" ] && ok "metrics/$m/$rel" || bad "metrics/$m/$rel" "$msg"
  done
done
[ -s out/report/index.html ] && ok report_written || bad report_written "no out/report/index.html"

# the mpirun launch (MOEPROBE_LAUNCH=mpirun) of a finished group: both ranks start, nothing to run
id=$(MOEPROBE_LAUNCH=mpirun sbatch --parsable --array=0-0 --ntasks=2 "${SB[@]}" "$R/slurm/capture.sbatch" sweep.yaml | cut -d';' -f1)
for _ in $(seq 200); do [ -z "$(squeue -h -j "$id" 2>/dev/null)" ] && break; sleep 0.25; done
st=$(scontrol show job "$id" 2>/dev/null | grep -o 'JobState=[A-Z]*' | head -1)
log=$(cat moeprobe-capture-"${id}"_0.out 2>/dev/null)
case "$st:$log" in
  JobState=COMPLETED:*"12 units, 0 to run"*) ok mpirun_launch ;;
  *) bad mpirun_launch "state '$st', log: $(echo "$log" | tail -3)" ;;
esac
echo "INFO slurm sweep: submission to all done in $(( $(date +%s) - t0 )) s (incl. the requeue)"
