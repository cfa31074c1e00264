#!/usr/bin/env bash
# A node dies in the middle of a multi-node run (tests/cluster/nodes.sh: three namespaces, Open
# MPI over TCP). `moeprobe run` (capture, evaluate, attribute; 3 relations of tiny-qwen2moe,
# expert parallel with a shared expert) runs with 1 rank per node; once its first unit is
# committed, every process of node3 (its Open MPI daemon and rank 2) gets SIGKILL. Checks:
#  - the job ends within seconds (30 s allowed) with a non-zero status and a message that
#    names the lost node (10.77.0.3 / node3);
#  - no unit is marked complete that is not: `moeprobe status` counts as done exactly the units
#    whose "done" line was printed before the kill, and each of them is readable in the archive;
#  - a rerun on the remaining two nodes (the experts re-placed over 2 ranks) runs only the
#    missing units and the archive is bit-identical to an uninterrupted one-process run.
set -u
B=$MOEPROBE_BIN; R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/node_loss
CMP=$(dirname "$B")/tools/h5cmp
ok() { echo "PASS node_loss/$1"; }
bad() { echo "FAIL node_loss/$1: $2"; }
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then exec sudo -n -E bash "$0" "$@"; fi
  bad nodes "network namespaces need root (or passwordless sudo)"; exit 0
fi
mkdir -p "$T"
. "$R/tests/cluster/nodes.sh"
trap nodes_down EXIT
trap 'exit 1' INT TERM
nodes_up "$T/nodes" || { bad nodes "cannot create the three nodes: $NODES_ERR"; exit 0; }

for v in one three; do
  cat > "$T/$v.yaml" <<YAML
model: $R/models/tiny-qwen2moe
relations: [$R/data/lre/adj_antonym.json, $R/data/lre/country_capital_city.json, $R/data/lre/fruit_inside_color.json]
out: $T/$v
stages: [capture, evaluate, attribute]
batch_size: 4
YAML
done
"$B" run "$T/one.yaml" >/dev/null 2>"$T/err1" || { bad reference_run "$(tail -3 "$T/err1")"; exit 0; }

# the daemons are launched by mpirun itself (no tree spawn), so node3's only processes are its
# daemon and its rank
nodes_mpirun 1 --mca plm_rsh_no_tree_spawn 1 "$B" run "$T/three.yaml" >/dev/null 2>"$T/err3" &
mp=$!
for _ in $(seq 1200); do
  grep -q "done capture/" "$T/err3" 2>/dev/null && break
  kill -0 "$mp" 2>/dev/null || break
  sleep 0.1
done
procs=$(node_pids 3 2>/dev/null | xargs -r ps -o comm= -p | sort | tr '\n' ' ')
case "$procs" in
  *moeprobe*) ok "node3_runs_rank ($procs)" ;;
  *) bad node3_runs_rank "processes on node3: '$procs'; $(tail -3 "$T/err3")"; kill "$mp"; wait "$mp"; exit 0 ;;
esac
done_before=$(grep -c "done capture/" "$T/err3")
t0=$(date +%s.%N)
node_kill 3
wait "$mp"; rc=$?
t1=$(date +%s.%N)
secs=$(awk "BEGIN {printf \"%.1f\", $t1 - $t0}")
# units that printed "done" between the grep and the kill count as done too
done_log=$(sed -n 's|.*: done capture/\([a-z_0-9]*\) .*|\1|p' "$T/err3" | sort -u)
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && awk "BEGIN {exit !($t1 - $t0 < 30)}"; then
  ok "job_ends (exit $rc ${secs}s after the kill)"
else
  bad job_ends "exit $rc ${secs}s after the kill; $(grep -v setpgid "$T/err3" | tail -3)"
fi
lost=$(grep -E "lost communication|Remote daemon|Peer host|node3|10\.77\.0\.3" "$T/err3" | grep -v setpgid | head -3)
case "$lost" in
  *10.77.0.3*|*node3*) ok names_lost_node; echo "INFO the message: $(echo "$lost" | tr -s ' ' | tr '\n' '|')" ;;
  *) bad names_lost_node "no line names node3 / 10.77.0.3 in: $(grep -v setpgid "$T/err3" | head -20)" ;;
esac

# what the archive claims after the kill
st=$("$B" status "$T/three" 2>&1)
ndone=$(echo "$st" | awk '$1 == "tiny-qwen2moe" && NF == 6 {print $2}')
nlog=$(echo "$done_log" | grep -c .)
[ -n "$ndone" ] && [ "$ndone" = "$nlog" ] && [ "$nlog" -ge 1 ] &&
  ok "only_finished_units_complete ($ndone done, $nlog printed done)" ||
  bad only_finished_units_complete "status says ${ndone:-?} done, the log $nlog: $st"
miss=
for rel in $done_log; do
  h5dump -a "/units/capture%2F$rel/committed_unix" "$T/three/tiny-qwen2moe.h5" >/dev/null 2>&1 || miss="$miss $rel"
done
[ -z "$miss" ] && ok finished_units_readable || bad finished_units_readable "no commit record for:$miss"

# rerun on the two nodes left: 2 ranks, only the missing units
if NODES_USE=2 nodes_mpirun 1 "$B" run "$T/three.yaml" >/dev/null 2>"$T/err2"; then
  todo=$(sed -n 's/.*3 units, \([0-9]*\) to run.*/\1/p' "$T/err2")
  [ -n "$todo" ] && [ "$todo" -eq $((3 - ndone)) ] && ok "rerun_on_2_nodes_resumes ($todo of 3 run)" ||
    bad rerun_on_2_nodes_resumes "'${todo:-?}' units run, $ndone were done: $(grep units "$T/err2")"
  out=$("$CMP" "$T/three/tiny-qwen2moe.h5" "$T/one/tiny-qwen2moe.h5" --rtol 0 --skip run_config_yaml)
  [ $? -eq 0 ] && ok rerun_identical_to_uninterrupted || bad rerun_identical_to_uninterrupted "$(echo "$out" | head -3)"
  echo "INFO resumed archive vs one process: ${out##*h5cmp: }"
else
  bad rerun_on_2_nodes_resumes "$(grep -v setpgid "$T/err2" | tail -3)"
fi
