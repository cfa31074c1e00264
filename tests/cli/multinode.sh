#!/usr/bin/env bash
# moeprobe across three "nodes" (network namespaces with their own addresses and hostnames,
# tests/cluster/nodes.sh), Open MPI over TCP only (--mca btl tcp,self: no shared memory, also
# between two ranks of one node), daemons started through a launch agent that enters a node:
#  - placement: 1 and 2 ranks per node land on node1..node3 as asked, and each rank sees its
#    node's rank count (OMPI_COMM_WORLD_LOCAL_SIZE, what the thread pool divides cores by);
#  - trace on tiny-olmoe (16 experts) and tiny-mixtral (8 experts: 6 ranks hold 1 or 2) with 3
#    ranks (1 per node) and 6 ranks (2 per node): the archive is bit-identical to one process
#    (h5cmp --rtol 0); the expert bytes each rank holds are reported (INFO);
#  - trace on tiny-qwen2moe (shared expert) with the exchange overlapped (the default), blocking
#    (MOEPROBE_EP_OVERLAP=0) and nonblocking without overlap (=2): bit-identical to one process;
#  - run (capture + evaluate, 3 relations) on tiny-olmoe with 3 and 6 ranks: bit-identical
#    archive to one process (only the stored config, which names the out folder, differs);
#  - afterwards no namespace of this test is left.
# A machine that cannot create namespaces fails here with the reason (never a skip).
set -u
B=$MOEPROBE_BIN; R=$MOEPROBE_ROOT; S=$MOEPROBE_SHARED; T=$MOEPROBE_TEST_TMP/multinode
CMP=$(dirname "$B")/tools/h5cmp
ok() { echo "PASS multinode/$1"; }
bad() { echo "FAIL multinode/$1: $2"; }
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then exec sudo -n -E bash "$0" "$@"; fi
  bad nodes "network namespaces need root (or passwordless sudo)"; exit 0
fi
mkdir -p "$T"
. "$R/tests/cluster/nodes.sh"
trap nodes_down EXIT
trap 'exit 1' INT TERM
nodes_up "$T/nodes" || { bad nodes "cannot create the three nodes: $NODES_ERR"; exit 0; }
ok nodes
quiet() { grep -v 'setpgid' "$@"; }  # ORTE's harmless note when the agent execs first

# placement and the per-node rank count
for ppn in 1 2; do
  got=$(nodes_mpirun "$ppn" sh -c 'echo "$OMPI_COMM_WORLD_RANK $(hostname) $OMPI_COMM_WORLD_LOCAL_SIZE"' 2>"$T/err" | sort -n | tr '\n' ' ')
  want=$(for r in $(seq 0 $((3 * ppn - 1))); do echo "$r node$((r / ppn + 1)) $ppn"; done | tr '\n' ' ')
  [ "$got" = "$want" ] && ok "placement_${ppn}_per_node" ||
    bad "placement_${ppn}_per_node" "got '$got', want '$want'; $(quiet "$T/err" | tail -3)"
done

P=(--prompt "The opposite of love is" --object hate
   --prompt "The capital of Canada is the city of" --object Ottawa
   --prompt "A farmer typically works at a" --object farm
   --prompt "Héllo wörld — naïve café" --object x)
for m in olmoe mixtral; do
  if ! "$B" trace --model "$S/fixtures/models/$m" "${P[@]}" --out "$T/$m-1.h5" >/dev/null 2>"$T/err"; then
    bad "trace/$m/single" "$(tail -3 "$T/err")"; continue
  fi
  for ppn in 1 2; do
    n=$((3 * ppn))
    if ! nodes_mpirun "$ppn" "$B" trace --model "$S/fixtures/models/$m" "${P[@]}" --stats --out "$T/$m-np$n.h5" >/dev/null 2>"$T/err$n"; then
      bad "trace/$m/np$n" "mpirun failed: $(quiet "$T/err$n" | tail -3)"; continue
    fi
    out=$("$CMP" "$T/$m-np$n.h5" "$T/$m-1.h5" --rtol 0)
    [ $? -eq 0 ] && ok "trace/$m/np${n}_${ppn}_per_node_identical" ||
      bad "trace/$m/np${n}_${ppn}_per_node_identical" "$(echo "$out" | head -3)"
    per=$(sed -n 's/^moeprobe:   rank \([0-9]*\):.* \([0-9]*\) experts\/layer owned, expert weights \([0-9]*\) bytes.*/\1:\2x\/\3B/p' "$T/err$n" | tr '\n' ' ')
    nr=$(echo "$per" | wc -w)
    [ "$nr" = "$n" ] && ok "trace/$m/np$n/expert_bytes_reported" ||
      bad "trace/$m/np$n/expert_bytes_reported" "$nr of $n ranks in: $(quiet "$T/err$n" | tail -4)"
    echo "INFO $m np=$n ($ppn per node) rank:experts-per-layer/expert-bytes $per"
  done
done

# the exchange overlapped with the shared expert (MPI_Ialltoallv, the default), blocking
# (MOEPROBE_EP_OVERLAP=0) and nonblocking without overlap (=2): tiny-qwen2moe has a shared
# expert; every way gives the one-process archive to the bit
m=qwen2moe
if "$B" trace --model "$S/fixtures/models/$m" "${P[@]}" --out "$T/$m-1.h5" >/dev/null 2>"$T/err"; then
  for ov in 1 0 2; do
    if ! MOEPROBE_EP_OVERLAP=$ov nodes_mpirun 1 "$B" trace --model "$S/fixtures/models/$m" "${P[@]}" --out "$T/$m-ov$ov.h5" >/dev/null 2>"$T/err"; then
      bad "trace/$m/overlap_$ov" "mpirun failed: $(quiet "$T/err" | tail -3)"; continue
    fi
    out=$("$CMP" "$T/$m-ov$ov.h5" "$T/$m-1.h5" --rtol 0)
    [ $? -eq 0 ] && ok "trace/$m/np3_overlap_${ov}_identical" ||
      bad "trace/$m/np3_overlap_${ov}_identical" "$(echo "$out" | head -3)"
  done
else
  bad "trace/$m/single" "$(tail -3 "$T/err")"
fi

# run: capture + evaluate; one process, then 3 and 6 ranks over the nodes
for n in 1 3 6; do
  cat > "$T/run$n.yaml" <<YAML
model: $R/models/tiny-olmoe
relations: [$R/data/lre/adj_antonym.json, $R/data/lre/country_language.json, $R/data/lre/fruit_inside_color.json]
out: $T/run$n
stages: [capture, evaluate]
YAML
done
if "$B" run "$T/run1.yaml" >/dev/null 2>"$T/err"; then
  for ppn in 1 2; do
    n=$((3 * ppn))
    if ! nodes_mpirun "$ppn" "$B" run "$T/run$n.yaml" >/dev/null 2>"$T/err$n"; then
      bad "run/np$n" "mpirun failed: $(quiet "$T/err$n" | tail -3)"; continue
    fi
    out=$("$CMP" "$T/run$n/tiny-olmoe.h5" "$T/run1/tiny-olmoe.h5" --rtol 0 --skip run_config_yaml)
    [ $? -eq 0 ] && ok "run/np${n}_${ppn}_per_node_identical" ||
      bad "run/np${n}_${ppn}_per_node_identical" "$(echo "$out" | head -3)"
    echo "INFO run olmoe np=$n: ${out##*h5cmp: }"
  done
else
  bad run/single "$(tail -3 "$T/err")"
fi

tag=$NODES_TAG
nodes_down
left=$(ip netns list 2>/dev/null | grep "^$tag")
[ -z "$left" ] && ok nodes_removed || bad nodes_removed "left: $left"
