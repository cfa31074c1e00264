# nodes.sh — three "nodes" on one machine for the multi-node tests: one network namespace per
# node with a veth link to a switch namespace holding a bridge, addresses 10.77.0.1-3/24 and, per
# command, a UTS namespace with the node's own hostname (node1..node3). Source it, then:
#
#   nodes_up DIR          creates the namespaces (names carry this shell's PID, so concurrent
#                         runs do not collide) and writes DIR/agent, the launch agent for
#                         `mpirun --mca plm_rsh_agent DIR/agent` (host 10.77.0.N -> node N);
#                         returns 1 with the reason in NODES_ERR when the machine cannot
#   node_exec N CMD...    runs CMD on node N (its netns and hostname); with NODES_OWN_TMP=1
#                         also with a /tmp and a /dev/shm of its own (empty tmpfs in a mount
#                         namespace), as real nodes have: daemons that name files there after
#                         the job only (Slurm's PMIx plugin) collide otherwise. Paths under
#                         /tmp are then not shared between nodes: keep shared files elsewhere.
#   nodes_mpirun PPN MPIRUN_ARGS...
#                         mpirun started on node1 with PPN ranks per node on every node, the
#                         TCP BTL forced (no shared memory, also between ranks of one node) and
#                         Open MPI's daemons launched on node2.. through DIR/agent;
#                         NODES_USE=K (default all) limits the job to node1..nodeK;
#                         it is killed after NODES_TIMEOUT seconds (default 300), never hangs
#   node_pids N           PIDs of every process on node N (in its network namespace)
#   node_kill N           SIGKILLs every process on node N (a node that dies)
#   nodes_down            removes everything nodes_up made; safe to call twice, from a trap
#
# The root namespace is left untouched: the bridge lives in its own namespace, so nothing here
# routes to or from the host's network. Commands enter a node with nsenter --net, not `ip netns
# exec`: the latter also mounts a fresh /sys, which hides /sys/fs/cgroup (slurmd needs it).
# Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN).
NODES_N=3
NODES_TAG=mp$$
NODES_ERR=
NODES_MADE=()

nodes_ns() { echo "${NODES_TAG}n$1"; }
nodes_addr() { echo "10.77.0.$1"; }

nodes_down() {
  local ns p
  for ns in "${NODES_MADE[@]}"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  done
  for ns in "${NODES_MADE[@]}"; do ip netns del "$ns" 2>/dev/null; done
  NODES_MADE=()
}

nodes_up() {  # DIR
  local dir=$1 sw=${NODES_TAG}sw i ns out
  if [ "$(id -u)" -ne 0 ]; then NODES_ERR="network namespaces need root (uid $(id -u))"; return 1; fi
  for c in ip nsenter unshare hostname; do
    command -v $c >/dev/null 2>&1 || { NODES_ERR="$c not found (iproute2 / util-linux)"; return 1; }
  done
  out=$(ip netns add "$sw" 2>&1) || { NODES_ERR="ip netns add $sw: $out"; return 1; }
  NODES_MADE+=("$sw")
  out=$( { ip -n "$sw" link add br0 type bridge &&
           ip -n "$sw" link set br0 up && ip -n "$sw" link set lo up; } 2>&1) ||
    { NODES_ERR="bridge in $sw: $out"; return 1; }
  for i in $(seq "$NODES_N"); do
    ns=$(nodes_ns "$i")
    out=$(ip netns add "$ns" 2>&1) || { NODES_ERR="ip netns add $ns: $out"; return 1; }
    NODES_MADE+=("$ns")
    out=$( { ip link add "${NODES_TAG}v$i" netns "$sw" type veth peer name eth0 netns "$ns" &&
             ip -n "$sw" link set "${NODES_TAG}v$i" master br0 &&
             ip -n "$sw" link set "${NODES_TAG}v$i" up &&
             ip -n "$ns" addr add "$(nodes_addr "$i")/24" dev eth0 &&
             ip -n "$ns" link set eth0 up && ip -n "$ns" link set lo up; } 2>&1) ||
      { NODES_ERR="veth for $ns: $out"; return 1; }
  done
  out=$(node_exec 1 hostname 2>&1)
  [ "$out" = node1 ] || { NODES_ERR="a UTS namespace with hostname node1 gave '$out'"; return 1; }
  # the bridge learns addresses in a moment; wait until node1 reaches every other node
  # (a TCP connect to a closed port: "refused" means the node answered; no ping needed)
  for i in $(seq 2 "$NODES_N"); do
    for _ in $(seq 50); do
      out=$(ip netns exec "$(nodes_ns 1)" timeout 1 bash -c \
            "echo > /dev/tcp/$(nodes_addr "$i")/9" 2>&1)
      case $out in *refused*) break ;; esac
      sleep 0.1
    done
    case $out in *refused*) ;;
      *) NODES_ERR="node1 cannot reach $(nodes_addr "$i") over the bridge: $out"; return 1 ;;
    esac
  done
  # the launch agent: Open MPI's rsh launcher calls `agent HOST COMMAND...` (COMMAND is one
  # shell line for the remote shell); the host is a node's address
  mkdir -p "$dir"
  cat > "$dir/agent" <<AGENT
#!/usr/bin/env bash
# launch agent for mpirun --mca plm_rsh_agent, in the role of ssh: it stays on the node that
# launched it and runs the command on the node with that address. When the remote side is
# killed (the node dies), it waits a moment before exiting, as ssh notices a lost connection
# only after the peers have: Open MPI then reports the lost daemon and its node, not a daemon
# that "failed to start".
host=\$1; shift
case \$host in
  10.77.0.[1-9]) n=\${host##*.} ;;
  node[1-9]) n=\${host#node} ;;
  *) echo "agent: unknown host \$host" >&2; exit 255 ;;
esac
nsenter --net=/run/netns/${NODES_TAG}n\$n unshare --uts /bin/sh -c "hostname node\$n && \$*"
rc=\$?
[ \$rc -ge 128 ] && sleep 3
exit \$rc
AGENT
  chmod +x "$dir/agent"
  NODES_DIR=$dir
  for i in $(seq "$NODES_N"); do echo "$(nodes_addr "$i") slots=8"; done > "$dir/hosts"
}

nodes_mpirun() {  # PPN ARGS...
  local ppn=$1 k=${NODES_USE:-$NODES_N}; shift
  head -n "$k" "$NODES_DIR/hosts" > "$NODES_DIR/hosts$k"
  node_exec 1 timeout "${NODES_TIMEOUT:-300}" mpirun --allow-run-as-root --hostfile "$NODES_DIR/hosts$k" \
    -np $((ppn * k)) --map-by "ppr:$ppn:node" --bind-to none \
    --mca plm_rsh_agent "$NODES_DIR/agent" --mca btl tcp,self \
    --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 "$@"
}

node_exec() {  # N CMD...
  local n=$1; shift
  if [ -n "${NODES_OWN_TMP:-}" ]; then
    nsenter --net="/run/netns/$(nodes_ns "$n")" unshare --uts --mount --propagation private \
      /bin/sh -c 'hostname "$0" && mount -t tmpfs -o size=512m,mode=1777 tmpfs /tmp &&
                  mount -t tmpfs -o size=512m,mode=1777 tmpfs /dev/shm && exec "$@"' \
      "node$n" "$@"
  else
    nsenter --net="/run/netns/$(nodes_ns "$n")" unshare --uts /bin/sh -c 'hostname "$0" && exec "$@"' \
      "node$n" "$@"
  fi
}

node_pids() { ip netns pids "$(nodes_ns "$1")" 2>/dev/null; }

node_kill() {
  local p
  for p in $(node_pids "$1"); do kill -9 "$p" 2>/dev/null; done
}
